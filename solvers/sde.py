"""SDE ensembles: one driver for every scheme of `sde_step`, paths in parallel, pre-drawn noise.

    sol = solve_sde(drift, diffusion, y0, (0.0, 1.0, 1000), args, method="heun",
                    ito_correction=corr, q=2, n_paths=256, seed=0, save_every=10)

Integrates the Itô SDE dy = f dt + b dW (see `sde_step` for the calling conventions of drift,
diffusion and ito_correction). The diffusion gives b as a (dim, q) matrix (``diffusion_form="matrix"``)
or, for a large structured b, the product b·dW directly (``"product"``: no dim × q matrix is formed or
stored, the cost per step is the diffusion's own). Brownian increments come from one ``np.random.Generator(seed)`` per
run, drawn chunk by chunk in time-major order (results do not depend on the chunk size), or are
passed in (``dW``) to share one path across schemes and nested grids. Paths run in parallel
(numba ``prange``); each path only reads its own increments, so the result is bit-identical for
any thread count and on reruns. A path whose state turns non-finite stops there: ``failed_step``
says where, its later samples are NaN, and ``status``/``message`` report it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange
from numba.core.errors import NumbaExperimentalFeatureWarning

from .sde_brownian import brownian_increments
from .sde_step import (
    EULER_N_MAT,
    EULER_N_VEC,
    HEUN_N_MAT,
    HEUN_N_VEC,
    NOISE_FORMS,
    euler_maruyama_step,
    stochastic_heun_step,
)
from .status import Status


@dataclass(frozen=True)
class SdeScheme:
    """A step function with its scratch sizes and its orders (strong order for commutative noise)."""

    name: str
    step: Callable
    n_vec: int
    n_mat: int
    needs_ito_correction: bool
    strong_order: float  # commutative noise; 0.5 for general noise
    weak_order: float


SCHEMES: dict[str, SdeScheme] = {
    "euler": SdeScheme("euler", euler_maruyama_step, EULER_N_VEC, EULER_N_MAT, False, 0.5, 1.0),
    "heun": SdeScheme("heun", stochastic_heun_step, HEUN_N_VEC, HEUN_N_MAT, True, 1.0, 1.0),
}


@dataclass(frozen=True)
class SdeOptions:
    """Validated options of `solve_sde`; every error names the field, its value and the valid range."""

    method: str = "heun"
    n_paths: int = 1
    seed: int | None = 0
    save_every: int = 1
    chunk_bytes: int = 64 * 2**20  # memory of one chunk of pre-drawn increments
    diffusion_form: str = "matrix"  # the diffusion returns b (dim, q), or "product": b·dW (dim,)

    def __post_init__(self) -> None:
        if self.method not in SCHEMES:
            raise ValueError(f"method = {self.method!r}; valid: {sorted(SCHEMES)}")
        if self.diffusion_form not in NOISE_FORMS:
            raise ValueError(f"diffusion_form = {self.diffusion_form!r}; valid: {sorted(NOISE_FORMS)}")
        for name in ("n_paths", "save_every", "chunk_bytes"):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value >= 1):
                raise ValueError(f"{name} = {value!r}; valid: integer >= 1")
        if self.seed is not None and not (isinstance(self.seed, (int, np.integer)) and self.seed >= 0):
            raise ValueError(f"seed = {self.seed!r}; valid: integer >= 0 (None only with explicit dW)")

    @property
    def scheme(self) -> SdeScheme:
        return SCHEMES[self.method]


@dataclass(frozen=True)
class SdeSolution:
    """Saved states y[k, path] at t[k] (every ``save_every`` steps, t[0] = t0)."""

    t: np.ndarray  # (n_saves,)
    y: np.ndarray  # (n_saves, n_paths, dim); NaN only after a path's failed_step
    status: Status  # completed, or diverged when some path became non-finite
    message: str
    failed_step: np.ndarray  # (n_paths,) step index where the state became non-finite, −1 if never
    n_steps: int
    options: SdeOptions = field(repr=False)

    @property
    def success(self) -> bool:
        return self.status is Status.COMPLETED


@njit(cache=True, parallel=True)
def _run_chunk(step, terms, t, y, dW, args, step0, save_every, n_vec, mat_shape, saves, failed_step):
    """Advance every path over the steps t[0] → t[-1] of one chunk (``dW[i, path]`` over [t[i], t[i+1]]).

    ``y`` (n_paths, dim) is updated in place; ``step0`` is the global index of the chunk's first step;
    ``mat_shape`` is the shape of the scheme's matrix scratch ((n_mat, 0, 0) for a product diffusion).
    """
    n_paths, dim = y.shape
    for p in prange(n_paths):
        if failed_step[p] >= 0:
            continue
        vec = np.empty((n_vec, dim))
        mat = np.empty(mat_shape)
        state = y[p].copy()
        state_new = np.empty(dim)
        for i in range(t.shape[0] - 1):
            step(terms, t[i], t[i + 1] - t[i], state, dW[i, p], args, vec, mat, state_new)
            if not np.all(np.isfinite(state_new)):
                failed_step[p] = step0 + i + 1
                break
            state[:] = state_new
            if (step0 + i + 1) % save_every == 0:
                saves[(step0 + i + 1) // save_every, p] = state
        y[p] = state


def _time_grid(time) -> np.ndarray:
    if isinstance(time, tuple):
        if len(time) != 3:
            raise ValueError(f"time = {time}; valid: a grid array or (t0, t1, n_steps)")
        t0, t1, n_steps = time
        if not (isinstance(n_steps, (int, np.integer)) and n_steps >= 1 and t1 > t0):
            raise ValueError(f"time = {time}; valid: (t0, t1, n_steps) with t1 > t0 and n_steps >= 1")
        return np.linspace(float(t0), float(t1), int(n_steps) + 1)
    grid = np.ascontiguousarray(time, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2 or not np.all(np.diff(grid) > 0) or not np.all(np.isfinite(grid)):
        raise ValueError("time grid must be a finite, strictly increasing 1-d array of >= 2 points")
    return grid


def solve_sde(
    drift,
    diffusion,
    y0: np.ndarray,
    time: np.ndarray | tuple[float, float, int],
    args: tuple | np.ndarray = (),
    *,
    method: str = "heun",
    ito_correction=None,
    q: int | None = None,
    n_paths: int = 1,
    seed: int | None = 0,
    save_every: int = 1,
    dW: np.ndarray | None = None,
    chunk_bytes: int = 64 * 2**20,
    diffusion_form: str = "matrix",
) -> SdeSolution:
    """Integrate the Itô SDE dy = drift dt + diffusion dW on a time grid for an ensemble of paths.

    ``time``: grid array (t_0 < … < t_N) or (t0, t1, n_steps) for a uniform grid. ``y0``: (dim,)
    shared by all paths, or (n_paths, dim). The noise dimension is ``q``, or ``dW.shape[2]`` when
    the increments ``dW`` (N, n_paths, q) are given (then ``seed`` is not used). ``method="heun"``
    needs ``ito_correction`` (`sde_step.zero_ito_correction` for additive noise). ``save_every``
    must divide N. ``diffusion_form``: "matrix", diffusion(t, y, args, out) writes b (dim, q); or
    "product", diffusion(t, y, args, dw, out) writes b·dw (dim,) (`sde_step.NOISE_FORMS`).
    """
    opts = SdeOptions(
        method=method,
        n_paths=n_paths,
        seed=None if dW is not None else seed,
        save_every=save_every,
        chunk_bytes=chunk_bytes,
        diffusion_form=diffusion_form,
    )
    scheme = opts.scheme
    if scheme.needs_ito_correction and ito_correction is None:
        raise ValueError(
            f"method = {method!r} integrates the Stratonovich form: give ito_correction "
            "(c = Σ_j (∂b_j/∂y) b_j; zero_ito_correction for additive noise)"
        )
    if not scheme.needs_ito_correction and ito_correction is not None:
        raise ValueError(f"method = {method!r} does not use ito_correction; pass None")
    grid = _time_grid(time)
    n_steps = grid.size - 1
    if n_steps % save_every:
        raise ValueError(f"save_every = {save_every}; valid: a divisor of n_steps = {n_steps}")
    if dW is not None:
        dW = np.ascontiguousarray(dW, dtype=np.float64)
        if dW.ndim != 3 or dW.shape[:2] != (n_steps, n_paths) or (q is not None and dW.shape[2] != q):
            raise ValueError(f"dW has shape {dW.shape}; valid: ({n_steps}, {n_paths}, q)")
        q = dW.shape[2]
    elif opts.seed is None:
        raise ValueError("seed = None; valid: integer >= 0 unless dW is given")
    if not (isinstance(q, (int, np.integer)) and q >= 1):
        raise ValueError(f"q = {q!r}; valid: integer >= 1 (noise dimension)")
    y0 = np.asarray(y0, dtype=np.float64)
    y = np.ascontiguousarray(np.broadcast_to(y0, (n_paths, y0.shape[-1])), dtype=np.float64).copy()
    if y0.ndim not in (1, 2) or (y0.ndim == 2 and y0.shape[0] != n_paths) or not np.all(np.isfinite(y)):
        raise ValueError(f"y0 has shape {y0.shape}; valid: finite (dim,) or ({n_paths}, dim)")
    noise = NOISE_FORMS[diffusion_form]
    terms = (drift, diffusion, noise, ito_correction) if scheme.needs_ito_correction else (drift, diffusion, noise)
    mat_shape = (scheme.n_mat, y.shape[1], int(q)) if diffusion_form == "matrix" else (scheme.n_mat, 0, 0)

    saves = np.full((n_steps // save_every + 1, n_paths, y.shape[1]), np.nan)
    saves[0] = y
    failed_step = np.full(n_paths, -1, dtype=np.int64)
    rng = np.random.default_rng(opts.seed) if dW is None else None
    chunk = max(1, opts.chunk_bytes // (8 * n_paths * q))
    with warnings.catch_warnings():  # numba flags first-class functions in parallel loops as experimental
        warnings.simplefilter("ignore", NumbaExperimentalFeatureWarning)
        for start in range(0, n_steps, chunk):
            stop = min(start + chunk, n_steps)
            t_chunk = grid[start : stop + 1]
            dW_chunk = dW[start:stop] if rng is None else brownian_increments(rng, np.diff(t_chunk), n_paths, q)
            _run_chunk(
                scheme.step,
                terms,
                t_chunk,
                y,
                dW_chunk,
                args,
                start,
                save_every,
                scheme.n_vec,
                mat_shape,
                saves,
                failed_step,
            )
    n_failed = int(np.sum(failed_step >= 0))
    if n_failed:
        first = int(failed_step[failed_step >= 0].min())
        message = (
            f"{n_failed} of {n_paths} paths became non-finite, the first at step {first} "
            f"(t = {grid[first]:.17g}); their samples after failed_step are NaN."
        )
    else:
        message = f"All {n_paths} paths reached t = {grid[-1]:.17g}."
    return SdeSolution(
        t=grid[::save_every].copy(),
        y=saves,
        status=Status.DIVERGED if n_failed else Status.COMPLETED,
        message=message,
        failed_step=failed_step,
        n_steps=n_steps,
        options=opts,
    )
