"""Direct simulation of a SimulationConfig: draws randomness, runs the kernel chunk by chunk,
records observables, stops on divergence, and returns a labelled xarray Dataset.

Each chunk is `record_every` steps of one jitted step function (solvers/kernels.py); between
chunks Python records the observables, updates the progress bar and checks the state.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from lnsgd.experiments.config import SimulationConfig
from lnsgd.experiments.provenance import provenance_attrs
from lnsgd.experiments.schedules import DeltaOverride, delta_values
from lnsgd.solvers import kernels
from lnsgd.solvers.observables import QUANTILES, Reference, neuron_snapshot, observe
from lnsgd.solvers.phases import phase_one_time, phase_two_time
from lnsgd.solvers.problem import init_params, make_problem, output_scale
from lnsgd.solvers.sampling import BatchSampler, label_noise, oscillation_drive, spawn_generators
from lnsgd.solvers.stability import stability_warnings


class StabilityWarning(UserWarning):
    """η is beyond a stability edge at initialisation."""


def select_step(config: SimulationConfig) -> Callable:
    """The jitted step of the configured algorithm (chosen once, outside the hot loop)."""
    if config.algorithm == "oscillation":
        return kernels.oscillation_step
    sam = config.algorithm in ("sam", "usam")
    if config.full_batch:
        return kernels.sam_full_batch_step if sam else kernels.gd_full_batch_step
    return kernels.sam_minibatch_step if sam else kernels.sgd_minibatch_step


@dataclass
class _Records:
    steps: list[int] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    noisy_loss: list[float] = field(default_factory=list)
    delta: list[float] = field(default_factory=list)
    snap_steps: list[int] = field(default_factory=list)
    snaps: list[dict] = field(default_factory=list)


def simulate(
    config: SimulationConfig, *, progress: bool = True, delta_schedule: DeltaOverride = None
) -> xr.Dataset:
    """Run the direct simulation; the Dataset's attrs carry status ('completed', 'diverged' or
    'interrupted'), a message, the full config, seed and provenance (docs/results-schema.md).

    BLAS runs single-threaded inside (see lnsgd/__init__.py), also when numpy was imported first.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _simulate(config, progress, delta_schedule)


def _simulate(config: SimulationConfig, progress: bool, delta_schedule: DeltaOverride) -> xr.Dataset:
    rngs = spawn_generators(config.seed)
    problem = make_problem(config.n, config.d, rngs["data"])
    s = output_scale(config.parametrization, config.m)
    W0, a0 = init_params(config.m, config.d, config.parametrization, config.alpha, rngs["init"])
    for text in stability_warnings(W0, a0, problem, s, config.eta, config.batch_size):
        warnings.warn(text, StabilityWarning, stacklevel=2)

    Wt = np.ascontiguousarray(W0.T)
    a = a0.copy()
    ref = Reference.at_init(problem, s, Wt, a)
    step_fn = select_step(config)
    sampler = BatchSampler(config.n, config.batch_size, config.replacement, rngs["batches"])
    n_xi = config.n if config.full_batch else config.batch_size
    m = config.m
    params = np.zeros(kernels.N_PARAMS)
    params[kernels.P_S] = s
    params[kernels.P_ETA] = config.eta
    params[kernels.P_RHO] = config.rho
    params[kernels.P_NORMALIZE] = 1.0 if config.algorithm == "sam" else 0.0
    params[kernels.P_EPS] = config.osc_eps
    wm, wd, wq = np.zeros((3, m)), np.zeros((3, config.d)), np.zeros((2, n_xi))
    beta = s * (Wt @ a)
    next_rows = sampler.draw(1)
    H = np.ascontiguousarray(problem.X[next_rows[0]] @ Wt) if not config.full_batch else np.zeros((1, m))
    empty_zeta = np.zeros((0, m))

    snap_at = set(_snapshot_steps(config))
    rec = _Records()
    _record(rec, 0, Wt, a, ref, np.nan, float(delta_values(config, np.array([0]), delta_schedule)[0]), snap_at)
    status, message, done = "completed", f"completed {config.steps} steps", 0
    bar = tqdm(total=config.steps, disable=not progress, unit="step", unit_scale=True, desc=config.algorithm)
    try:
        while done < config.steps:
            L = min(config.record_every, config.steps - done)
            t_steps = np.arange(done, done + L)
            new_rows = sampler.draw(L)
            idx = np.concatenate([next_rows, new_rows])  # row t: batch of step t; row L: next chunk's first
            next_rows = new_rows[-1:]
            xi = label_noise(rngs["labels"], config.noise, (L, n_xi))
            delta = delta_values(config, t_steps, delta_schedule)
            zeta = (oscillation_drive(rngs["oscillation"], config.osc_kind, t_steps, m, config.osc_period)
                    if config.algorithm == "oscillation" else empty_zeta)
            ran, total, bad = kernels.run_chunk(
                step_fn, L, Wt, a, H, beta, problem.X, problem.y, idx, xi, delta, zeta, params,
                wm, wd, wq, config.loss_bound,
            )
            bar.update(ran)
            if ran < L or not (np.all(np.isfinite(Wt)) and np.all(np.isfinite(a))):
                step_bad = done + ran
                why = "non-finite" if not np.isfinite(bad) else f"{bad:.3g} > loss_bound = {config.loss_bound:g}"
                status = "diverged"
                message = (f"diverged at step {step_bad}: minibatch loss {why}; records up to step "
                           f"{rec.steps[-1]} kept (eta = {config.eta:g} may be beyond the stability edge)")
                done = step_bad
                break
            done += L
            _record(rec, done, Wt, a, ref, total / L, float(delta_values(config, np.array([done]), delta_schedule)[0]), snap_at)
            bar.set_postfix(w=f"{rec.rows[-1]['w_norm_mean']:.3f}", cos=f"{rec.rows[-1]['cos_abs_mean']:.3f}", refresh=False)
    except KeyboardInterrupt:
        status, message = "interrupted", f"interrupted by the user after {done} steps; records kept"
    finally:
        bar.close()
    return _to_dataset(config, rec, status, message, done, s, problem.tau, delta_schedule)


def _snapshot_steps(config: SimulationConfig) -> list[int]:
    if config.snapshots == 0:
        return []
    """The recorded steps nearest to `snapshots` evenly spaced points of [0, steps]."""
    recorded = np.append(np.arange(0, config.steps, config.record_every), config.steps)
    grid = np.linspace(0, config.steps, config.snapshots)
    return sorted({int(recorded[np.argmin(np.abs(recorded - g))]) for g in grid})


def _record(rec: _Records, step: int, Wt, a, ref: Reference, noisy: float, delta: float, snap_at) -> None:
    rec.steps.append(step)
    rec.rows.append(observe(Wt, a, ref))
    rec.noisy_loss.append(noisy)
    rec.delta.append(delta)
    if step in snap_at:
        rec.snap_steps.append(step)
        rec.snaps.append(neuron_snapshot(Wt, a, ref.problem.beta_star))


def _to_dataset(config, rec: _Records, status, message, done, s, tau, override) -> xr.Dataset:
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
            "step": steps, "time": ("step", config.eta * steps), "quantile": np.asarray(QUANTILES),
            "snapshot_step": ("snapshot", np.asarray(rec.snap_steps, dtype=np.int64)),
            "neuron": np.arange(config.m),
        },
    )
    ds["T_I"] = xr.DataArray(t1.step, attrs={"reason": t1.reason, "units": "steps"})
    ds["T_II"] = xr.DataArray(t2.step, attrs={"reason": t2.reason, "units": "steps"})
    ds.attrs.update(provenance_attrs(config.to_json(), config.digest(), config.seed))
    ds.attrs.update(status=status, message=message, steps_done=int(done), s=float(s), tau=float(tau),
                    delta_schedule="config" if override is None else repr(override)[:200])
    return ds
