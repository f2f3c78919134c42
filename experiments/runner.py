"""Simulation of a SimulationConfig: draws randomness, runs an engine chunk by chunk, records
observables, stops on divergence, and returns a labelled xarray Dataset.

Two engines run the same pre-drawn randomness (docs/engine.md): the propagator engine
(solvers/propagator.py) moves the (d+1)² Gram matrix P and the shared neuron propagator Φ, exact
and O(d²) per step at any width; the direct engine (solvers/kernels.py) moves (W, a), O(md) per
step, and is the only one for the oscillation experiment. Each chunk is `record_every` steps of one
jitted step or map; between chunks Python records the observables (solvers/observables.py: per-neuron
statistics from one compiled pass, the rest from the Gram matrices P = ZZᵀ, ΔZ₀ᵀ and ΔΔᵀ), updates the progress bar and
checks the state. `paths` > 1 runs that many noise paths from the same data and initialisation on a
thread pool (the kernels release the GIL) and stacks them along a `path` dimension.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from lnsgd.experiments.config import SimulationConfig
from lnsgd.experiments.paths import stack_paths
from lnsgd.experiments.phases import phase_one_time, phase_two_time
from lnsgd.experiments.provenance import provenance_attrs
from lnsgd.experiments.schedules import DeltaOverride, delta_values
from lnsgd.solvers import kernels, propagator
from lnsgd.solvers.observables import QUANTILES, Grams, Reference, neuron_snapshot, observe
from lnsgd.solvers.problem import Problem, init_params, make_problem, output_scale
from lnsgd.solvers.sampling import BatchSampler, label_noise, noise_generators, oscillation_drive, start_generators
from lnsgd.solvers.stability import stability_warnings
from lnsgd.solvers.status import Status


class StabilityWarning(UserWarning):
    """η is beyond a stability edge at initialisation."""


@dataclass(frozen=True)
class Start:
    """The data and the initialisation of a config: what every noise path and prediction shares."""

    problem: Problem
    s: float
    W0: np.ndarray  # (m, d)
    a0: np.ndarray  # (m,)


def initial_state(config: SimulationConfig) -> Start:
    """Data and initialisation drawn from `config.seed` (streams data, init): the one place they are drawn."""
    rngs = start_generators(config.seed)
    problem = make_problem(config.n, config.d, rngs["data"])
    s = output_scale(config.parametrization, config.m)
    W0, a0 = init_params(config.m, config.d, config.parametrization, config.alpha, rngs["init"])
    return Start(problem, s, W0, a0)


def engine_params(config: SimulationConfig, s: float) -> np.ndarray:
    """The float64 parameter vector of the steps and maps (layout in solvers/kernels.py)."""
    params = np.zeros(kernels.N_PARAMS)
    params[kernels.P_S] = s
    params[kernels.P_ETA] = config.eta
    params[kernels.P_RHO] = config.rho
    params[kernels.P_NORMALIZE] = 1.0 if config.algorithm == "sam" else 0.0
    params[kernels.P_EPS] = config.osc_eps
    return params


def select_step(config: SimulationConfig) -> Callable:
    """The jitted direct step of the configured algorithm (chosen once, outside the hot loop)."""
    if config.algorithm == "oscillation":
        return kernels.oscillation_step
    sam = config.algorithm in ("sam", "usam")
    if config.full_batch:
        return kernels.sam_full_batch_step if sam else kernels.gd_full_batch_step
    return kernels.sam_minibatch_step if sam else kernels.sgd_minibatch_step


def select_map(config: SimulationConfig) -> Callable:
    """The jitted shared map of the configured algorithm (propagator engine)."""
    return propagator.sam_map if config.algorithm in ("sam", "usam") else propagator.sgd_map


class DirectEngine:
    """(W, a) moved by the direct steps; `H` carries the probes of the next minibatch."""

    name = "direct"

    def __init__(self, config: SimulationConfig, start: Start, ref: Reference, first_rows: np.ndarray):
        m, d = config.m, config.d
        self.problem, self.ref = start.problem, ref
        self.Wt = np.ascontiguousarray(start.W0.T).copy()
        self.a = start.a0.copy()
        self.step = select_step(config)
        self.params = engine_params(config, start.s)
        n_xi = config.n if config.full_batch else config.batch_size
        self.wm, self.wd, self.wq = np.zeros((3, m)), np.zeros((3, d)), np.zeros((2, n_xi))
        self.beta = start.s * (self.Wt @ self.a)
        self.H = (
            np.ascontiguousarray(start.problem.X[first_rows[0]] @ self.Wt)
            if not config.full_batch
            else np.zeros((1, m))
        )

    def advance(self, L, idx, xi, delta, zeta, loss_bound):
        p = self.problem
        return kernels.run_chunk(
            self.step,
            L,
            self.Wt,
            self.a,
            self.H,
            self.beta,
            p.X,
            p.y,
            idx,
            xi,
            delta,
            zeta,
            self.params,
            self.wm,
            self.wd,
            self.wq,
            loss_bound,
        )

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        return self.Wt, self.a

    def grams(self) -> Grams:
        return Grams.of_state(self.Wt, self.a, self.ref)

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.Wt)) and np.all(np.isfinite(self.a)))


class PropagatorEngine:
    """P = Z Zᵀ and the shared propagator Φ (Z = Φ Z₀) moved by the shared map; O(d²) per step."""

    name = "propagator"

    def __init__(self, config: SimulationConfig, start: Start, ref: Reference, first_rows: np.ndarray):
        self.problem, self.ref = start.problem, ref
        self.P = ref.N0.copy()
        self.Phi = np.eye(config.d + 1)
        self.map = select_map(config)
        self.params = engine_params(config, start.s)
        self.work = propagator.work_arrays(config.d)

    def advance(self, L, idx, xi, delta, zeta, loss_bound):
        p = self.problem
        return propagator.propagate_chunk(
            self.map, L, self.P, self.Phi, p.X, p.y, idx, xi, delta, self.params, self.work, loss_bound
        )

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """(Wᵀ, a) of Z = Φ Z₀: O(m d²), at record times only."""
        Zt = self.Phi @ self.ref.Z0t
        return Zt[1:], Zt[0]

    def grams(self) -> Grams:
        return Grams.of_propagator(self.P, self.Phi, self.ref)

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.P)) and np.all(np.isfinite(self.Phi)))


ENGINES = {"direct": DirectEngine, "propagator": PropagatorEngine}


@dataclass
class Records:
    """The records of one run: steps, observable rows, noisy losses, δ, neuron snapshots."""

    steps: list[int] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    noisy_loss: list[float] = field(default_factory=list)
    delta: list[float] = field(default_factory=list)
    snap_steps: list[int] = field(default_factory=list)
    snaps: list[dict] = field(default_factory=list)
    states: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (P, Φ) when kept


def simulate(
    config: SimulationConfig,
    *,
    progress: bool = True,
    delta_schedule: DeltaOverride = None,
    workers: int | None = None,
) -> xr.Dataset:
    """Run the simulation; the Dataset's attrs carry status ('completed', 'diverged' or
    'interrupted'), a message, the engine, the full config, seeds and provenance
    (docs/results-schema.md). With `config.paths` > 1 the noise paths run on `workers` threads
    (default: the usable cores) and every record gets a `path` dimension.

    BLAS runs single-threaded inside (see lnsgd/__init__.py), also when numpy was imported first.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        start = initial_state(config)
        for text in stability_warnings(start.W0, start.a0, start.problem, start.s, config.eta, config.batch_size):
            warnings.warn(text, StabilityWarning, stacklevel=2)
        if config.paths == 1:
            return _simulate(config, start, progress, delta_schedule)
        return _simulate_paths(config, start, progress, delta_schedule, workers)


def path_config(config: SimulationConfig, j: int) -> SimulationConfig:
    """The single-path config of path j of an ensemble: noise_seed + j."""
    return dataclasses.replace(config, noise_seed=config.noise_seed + j, paths=1)


def _simulate_paths(config, start, progress, delta_schedule, workers) -> xr.Dataset:
    workers = workers or len(os.sched_getaffinity(0))
    stop = threading.Event()
    bar = tqdm(total=config.paths, disable=not progress, unit="path", desc=f"{config.algorithm} paths")

    def one(j: int) -> xr.Dataset:
        ds = _simulate(path_config(config, j), start, False, delta_schedule, stop)
        bar.update(1)
        return ds

    with ThreadPoolExecutor(max_workers=min(workers, config.paths)) as pool:
        futures = [pool.submit(one, j) for j in range(config.paths)]
        try:
            results = [f.result() for f in futures]
        except KeyboardInterrupt:
            stop.set()
            results = [f.result() for f in futures]
        finally:
            bar.close()
    return combine_paths(config, results)


def combine_paths(config: SimulationConfig, results: list[xr.Dataset]) -> xr.Dataset:
    """Stack single-path Datasets along `path` (`paths.stack_paths`) with the engine's attributes."""
    ds = stack_paths(config, results)
    first = results[0].attrs
    ds.attrs.update(engine=first["engine"], s=first["s"], tau=first["tau"], delta_schedule=first["delta_schedule"])
    return ds


@dataclass
class Run:
    """A finished single-path run: its engine (final state: `engine.state()`), records and status."""

    config: SimulationConfig
    engine: DirectEngine | PropagatorEngine
    records: Records
    status: Status
    message: str
    steps_done: int


def _simulate(
    config: SimulationConfig,
    start: Start,
    progress: bool,
    delta_schedule: DeltaOverride,
    stop: threading.Event | None = None,
) -> xr.Dataset:
    run = run_engine(config, start, progress=progress, delta_schedule=delta_schedule, stop=stop)
    ds = _to_dataset(
        config, run.records, run.status, run.message, run.steps_done, start.s, start.problem.tau, delta_schedule
    )
    ds.attrs["engine"] = run.engine.name
    return ds


def run_engine(
    config: SimulationConfig,
    start: Start | None = None,
    *,
    progress: bool = False,
    delta_schedule: DeltaOverride = None,
    stop: threading.Event | None = None,
    keep_states: bool = False,
) -> Run:
    """One noise path of `config` (its `paths` is ignored) on its resolved engine, records kept;
    with `keep_states` (propagator engine) also (P, Φ) at every record, for fluctuation studies."""
    start = initial_state(config) if start is None else start
    rngs = noise_generators(config.seed, config.noise_seed)
    problem = start.problem
    ref = Reference.at_init(problem, start.s, np.ascontiguousarray(start.W0.T), start.a0)
    sampler = BatchSampler(config.n, config.batch_size, config.replacement, rngs["batches"])
    n_xi = config.n if config.full_batch else config.batch_size
    all_rows = np.tile(np.arange(config.n, dtype=np.int64), (config.record_every + 1, 1)) if config.full_batch else None
    next_rows = all_rows[:1] if config.full_batch else sampler.draw(1)
    engine = ENGINES[config.resolved_engine](config, start, ref, next_rows)
    empty_zeta = np.zeros((0, config.m))

    snap_at = set(_snapshot_steps(config))
    rec = Records()
    keep = keep_states and isinstance(engine, PropagatorEngine)
    _record(rec, 0, engine, ref, np.nan, float(delta_values(config, np.array([0]), delta_schedule)[0]), snap_at, keep)
    status, message, done = Status.COMPLETED, f"completed {config.steps} steps", 0
    bar = tqdm(total=config.steps, disable=not progress, unit="step", unit_scale=True, desc=config.algorithm)
    try:
        while done < config.steps:
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            L = min(config.record_every, config.steps - done)
            t_steps = np.arange(done, done + L)
            if config.full_batch:
                idx = all_rows[: L + 1]
            else:
                new_rows = sampler.draw(L)
                idx = np.concatenate([next_rows, new_rows])  # row t: batch of step t; row L: next chunk's first
                next_rows = new_rows[-1:]
            xi = label_noise(rngs["labels"], config.noise, (L, n_xi))
            delta = delta_values(config, t_steps, delta_schedule)
            zeta = (
                oscillation_drive(rngs["oscillation"], config.osc_kind, t_steps, config.m, config.osc_period)
                if config.algorithm == "oscillation"
                else empty_zeta
            )
            ran, total, bad = engine.advance(L, idx, xi, delta, zeta, config.loss_bound)
            bar.update(ran)
            if ran < L or not engine.finite():
                step_bad = done + ran
                why = "non-finite" if not np.isfinite(bad) else f"{bad:.3g} > loss_bound = {config.loss_bound:g}"
                status = Status.DIVERGED
                message = (
                    f"diverged at step {step_bad}: minibatch loss {why}; records up to step "
                    f"{rec.steps[-1]} kept (eta = {config.eta:g} may be beyond the stability edge)"
                )
                done = step_bad
                break
            done += L
            _record(
                rec,
                done,
                engine,
                ref,
                total / L,
                float(delta_values(config, np.array([done]), delta_schedule)[0]),
                snap_at,
                keep,
            )
            bar.set_postfix(
                w=f"{rec.rows[-1]['w_norm_mean']:.3f}", cos=f"{rec.rows[-1]['cos_abs_mean']:.3f}", refresh=False
            )
    except KeyboardInterrupt:
        status, message = Status.INTERRUPTED, f"interrupted by the user after {done} steps; records kept"
    finally:
        bar.close()
    return Run(config, engine, rec, status, message, done)


def _snapshot_steps(config: SimulationConfig) -> list[int]:
    """The recorded steps nearest to `snapshots` evenly spaced points of [0, steps]."""
    if config.snapshots == 0:
        return []
    recorded = np.append(np.arange(0, config.steps, config.record_every), config.steps)
    grid = np.linspace(0, config.steps, config.snapshots)
    return sorted({int(recorded[np.argmin(np.abs(recorded - g))]) for g in grid})


def _record(
    rec: Records, step: int, engine, ref: Reference, noisy: float, delta: float, snap_at, keep: bool = False
) -> None:
    if keep:
        rec.states.append((engine.P.copy(), engine.Phi.copy()))
    Wt, a = engine.state()
    snap = neuron_snapshot(Wt, a, ref)
    rec.steps.append(step)
    rec.rows.append(observe(engine.grams(), Wt, a, ref, snap))
    rec.noisy_loss.append(noisy)
    rec.delta.append(delta)
    if step in snap_at:
        rec.snap_steps.append(step)
        rec.snaps.append(snap)


def _to_dataset(config, rec: Records, status, message, done, s, tau, override) -> xr.Dataset:
    steps = np.asarray(rec.steps, dtype=np.int64)
    data = {}
    for key in rec.rows[0]:
        values = np.array([row[key] for row in rec.rows], dtype=np.float64)
        dims = ("step", "quantile") if values.ndim == 2 else ("step",)
        data[key] = (dims, values)
    data["noisy_loss"] = ("step", np.asarray(rec.noisy_loss))
    data["delta"] = ("step", np.asarray(rec.delta))
    for key in ("w_norm_k", "a_k", "cos_k"):
        arr = np.array([snap[key] for snap in rec.snaps]).reshape(len(rec.snaps), config.m)
        data[key] = (("snapshot", "neuron"), arr)
    t1 = phase_one_time(steps, data["w_norm_mean"][1])
    t2 = phase_two_time(steps, data["cos_abs_mean"][1])
    ds = xr.Dataset(
        data,
        coords={
            "step": steps,
            "time": ("step", config.eta * steps),
            "quantile": np.asarray(QUANTILES),
            "snapshot_step": ("snapshot", np.asarray(rec.snap_steps, dtype=np.int64)),
            "neuron": np.arange(config.m),
        },
    )
    ds["T_I"] = xr.DataArray(t1.step, attrs={"reason": t1.reason, "units": "steps"})
    ds["T_II"] = xr.DataArray(t2.step, attrs={"reason": t2.reason, "units": "steps"})
    ds.attrs.update(provenance_attrs(config.to_json(), config.digest(), config.seed))
    ds.attrs.update(
        status=Status(status).value,
        message=message,
        steps_done=int(done),
        s=float(s),
        tau=float(tau),
        noise_seed=int(config.noise_seed),
        paths=1,
        delta_schedule="config" if override is None else repr(override)[:200],
    )
    return ds
