"""Simulation of a ModelConfig: data, declared init, the generic engine chunk by chunk, observables.

Randomness is drawn exactly as for the two-layer simulation (solvers/sampling.py): data and init
from `seed` (streams data, init; blocks drawn in declaration order), minibatches and ξ from
(`seed`, `noise_seed`). Observables at every record (docs/declaring-models.md): the clean loss
L = (1/2n)‖Xβ − y‖², β itself, the recovery error ‖β − β*‖, ‖β‖₁, tr G = (1/n)Σ_i ‖∇f(x_i)‖², the Frobenius
norm of each block, and for models with neurons the mean row norm and mean |cos(row, β*)| of the
neurons block (the two-phase observables of the two-layer network).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import sympy as sp
import xarray as xr
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from lnsgd.experiments.declared.config import ModelConfig
from lnsgd.experiments.paths import stack_paths
from lnsgd.experiments.phases import phase_one_time, phase_two_time
from lnsgd.experiments.provenance import provenance_attrs
from lnsgd.solvers import declared_engine as de
from lnsgd.solvers.problem import Problem, make_problem
from lnsgd.solvers.sampling import BatchSampler, label_noise, noise_generators, start_generators
from lnsgd.solvers.status import Status
from lnsgd.theory.declarations import MODELS

MODES = {"sgd": de.MODE_SGD, "sam": de.MODE_SAM, "usam": de.MODE_USAM}


@dataclass(frozen=True)
class ModelStart:
    """Data, teacher and initial θ of a config: what every noise path and the flow share."""

    problem: Problem
    theta0: np.ndarray
    sizes: np.ndarray  # int64, the model's sizes in declaration order
    s: float
    layout: dict[str, tuple[int, int, tuple[int, int]]]  # block → (start, stop, shape)


def _size_values(config: ModelConfig) -> dict[sp.Symbol, int]:
    decl = MODELS[config.model]
    return {sym: config.sizes[str(sym)] for sym in decl.sizes}


def block_layout(config: ModelConfig) -> dict[str, tuple[int, int, tuple[int, int]]]:
    """Where each block lies in the flat θ: name → (start, stop, (rows, cols))."""
    values = _size_values(config)
    layout, start = {}, 0
    for b in MODELS[config.model].blocks:
        rows, cols = (int(sp.sympify(z).subs(values)) for z in b.symbol.shape)
        layout[b.name] = (start, start + rows * cols, (rows, cols))
        start += rows * cols
    return layout


def make_data(config: ModelConfig, rng: np.random.Generator) -> Problem:
    """X rows N(0, I_d), β* (gaussian: as the two-layer problem; sparse: ±1 on `sparsity` coordinates)."""
    if config.teacher == "gaussian":
        return make_problem(config.n, config.d, rng)
    X = np.ascontiguousarray(rng.standard_normal((config.n, config.d)))
    beta_star = np.zeros(config.d)
    support = rng.choice(config.d, size=config.sparsity, replace=False)
    beta_star[support] = rng.choice([-1.0, 1.0], size=config.sparsity)
    y = X @ beta_star
    return Problem(X=X, y=y, beta_star=beta_star, Sigma_hat=X.T @ X / config.n, Xty=X.T @ y / config.n)


def model_start(config: ModelConfig) -> ModelStart:
    """Data and initialisation from `config.seed`: blocks in declaration order, α × declared law."""
    decl = MODELS[config.model]
    rngs = start_generators(config.seed)
    problem = make_data(config, rngs["data"])
    values = _size_values(config)
    par = decl.parametrization(config.parametrization)
    layout = block_layout(config)
    theta = np.empty(max(stop for _, stop, _ in layout.values()))
    for b in decl.blocks:
        start, stop, shape = layout[b.name]
        scale = float(par.init_scales[b.name].subs(values))
        draw = rngs["init"].standard_normal(shape) if b.init == "normal" else np.ones(shape)
        theta[start:stop] = (config.alpha * scale * draw).ravel()
    sizes = np.array([values[z] for z in decl.sizes], dtype=np.int64)
    return ModelStart(problem, theta, sizes, float(par.scale.subs(values)), layout)


def observe(theta: np.ndarray, start: ModelStart, kernels: de.ModelKernels, neurons: str | None) -> dict[str, float]:
    """The recorded observables of θ (module docstring)."""
    p = start.problem
    beta = np.empty(p.d)
    kernels.predictor(theta, start.sizes, start.s, beta)
    resid = p.X @ beta - p.y
    q = np.array([kernels.norm_sq(theta, start.sizes, start.s, x) for x in p.X])
    row = {
        "beta": beta,
        "loss": 0.5 * float(resid @ resid) / p.n,
        "beta_error": float(np.linalg.norm(beta - p.beta_star)),
        "beta_l1": float(np.abs(beta).sum()),
        "trace_G": float(q.mean()),
    }
    for name, (lo, hi, _) in start.layout.items():
        row[f"norm_{name}"] = float(np.linalg.norm(theta[lo:hi]))
    if neurons is not None:
        lo, hi, shape = start.layout[neurons]
        rows = theta[lo:hi].reshape(shape)
        norms = np.linalg.norm(rows, axis=1)
        bstar = p.beta_star / np.linalg.norm(p.beta_star)
        row["w_norm_mean"] = float(norms.mean())
        row["cos_abs_mean"] = float(np.mean(np.abs(rows @ bstar) / np.where(norms > 0, norms, 1.0)))
    return row


def simulate_model(config: ModelConfig, *, progress: bool = True, workers: int | None = None) -> xr.Dataset:
    """Run `config` (all its noise paths); attrs carry status, message, config, seeds, provenance."""
    with threadpool_limits(limits=1, user_api="blas"):
        start = model_start(config)
        if config.paths == 1:
            return _simulate(config, start, progress)
        workers = min(workers or len(os.sched_getaffinity(0)), config.paths)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            runs = list(
                pool.map(
                    lambda j: _simulate(replace(config, noise_seed=config.noise_seed + j, paths=1), start, False),
                    range(config.paths),
                )
            )
    return _stack_paths(config, runs)


def _simulate(config: ModelConfig, start: ModelStart, progress: bool) -> xr.Dataset:
    return run_model(config, start, progress)[1]


def run_model(
    config: ModelConfig, start: ModelStart | None = None, progress: bool = False
) -> tuple[np.ndarray, xr.Dataset]:
    """One noise path of `config` (its `paths` is ignored): the final θ and the records."""
    start = model_start(config) if start is None else start
    decl = MODELS[config.model]
    kernels = de.model_kernels(config.model)
    p = start.problem
    rngs = noise_generators(config.seed, config.noise_seed)
    sampler = BatchSampler(config.n, config.batch_size, config.replacement, rngs["batches"])
    theta = start.theta0.copy()
    grad, ascent = np.zeros_like(theta), np.zeros_like(theta)
    all_rows = np.tile(np.arange(config.n, dtype=np.int64), (config.record_every, 1))
    next_rows = None if config.full_batch else sampler.draw(1)  # the two-layer engines' draw order
    steps, rows, noisy = [0], [observe(theta, start, kernels, decl.neurons)], [np.nan]
    status, message, done = Status.COMPLETED, f"completed {config.steps} steps", 0
    bar = tqdm(total=config.steps, disable=not progress, unit="step", unit_scale=True, desc=config.model)
    try:
        while done < config.steps:
            L = min(config.record_every, config.steps - done)
            if config.full_batch:
                idx = all_rows[:L]
            else:
                new_rows = sampler.draw(L)
                idx = np.concatenate([next_rows, new_rows[:-1]])
                next_rows = new_rows[-1:]
            xi = label_noise(rngs["labels"], config.noise, (L, config.batch_size))
            delta = np.full(L, config.delta)
            ran, total, bad = de.run_chunk(
                kernels.add_residual_gradient, kernels.step, theta, start.sizes, start.s, p.X, p.y, idx, xi, delta,
                config.eta, config.rho, MODES[config.algorithm], grad, ascent, config.loss_bound,
            )  # fmt: skip
            bar.update(ran)
            if ran < L or not np.all(np.isfinite(theta)):
                why = "non-finite" if not np.isfinite(bad) else f"{bad:.3g} > loss_bound = {config.loss_bound:g}"
                status = Status.DIVERGED
                message = (
                    f"diverged at step {done + ran}: minibatch loss {why}; records up to step {steps[-1]} kept "
                    f"(eta = {config.eta:g} may be beyond the stability edge)"
                )
                done += ran
                break
            done += L
            steps.append(done)
            rows.append(observe(theta, start, kernels, decl.neurons))
            noisy.append(total / L)
    except KeyboardInterrupt:
        status, message = Status.INTERRUPTED, f"interrupted by the user after {done} steps; records kept"
    finally:
        bar.close()
    ds = records_dataset(config, steps, rows, start)
    ds["noisy_loss"] = ("step", np.asarray(noisy))
    ds.attrs.update(provenance_attrs(config.to_json(), config.digest(), config.seed))
    ds.attrs.update(
        status=status.value, message=message, steps_done=int(done), model=config.model, s=start.s,
        noise_seed=int(config.noise_seed), paths=1,
    )  # fmt: skip
    return theta, ds


def records_dataset(config: ModelConfig, steps: list[int], rows: list[dict], start: ModelStart) -> xr.Dataset:
    """The records as a Dataset over `step` (time = η·step), with β*, and T_I/T_II for neuron models."""
    steps_arr = np.asarray(steps, dtype=np.int64)
    data = {}
    for key in rows[0]:
        values = np.array([r[key] for r in rows])
        data[key] = (("step", "input") if values.ndim == 2 else "step", values)
    ds = xr.Dataset(
        data,
        coords={"step": steps_arr, "time": ("step", config.eta * steps_arr), "input": np.arange(config.d)},
    )
    ds["beta_star"] = ("input", start.problem.beta_star)
    if "w_norm_mean" in ds:
        t1 = phase_one_time(steps_arr, ds["w_norm_mean"].values)
        t2 = phase_two_time(steps_arr, ds["cos_abs_mean"].values)
        ds["T_I"] = xr.DataArray(t1.step, attrs={"reason": t1.reason, "units": "steps"})
        ds["T_II"] = xr.DataArray(t2.step, attrs={"reason": t2.reason, "units": "steps"})
    return ds


def _stack_paths(config: ModelConfig, runs: list[xr.Dataset]) -> xr.Dataset:
    """Stack single-path Datasets along `path` (`paths.stack_paths`; β* kept once) with the model's name."""
    ds = stack_paths(config, runs, shared=("beta_star",))
    ds.attrs.update(model=config.model, s=runs[0].attrs["s"])
    return ds
