"""Measured strong and weak order of the SDE schemes on nested grids with shared Brownian paths.

After diffrax `test/test_sde1.py` + `test/helpers.py`: draw each sample's Brownian path once on the
finest grid, sum its increments for the coarser grids (`coarsen`), and compare the final states with
the exact solution driven by the same path (closed form, or a run on a grid ``ref_factor`` times finer
than the finest level when there is none).

- strong error  E|Y_h(T) − X(T)|  (max norm over components, mean over paths);
- weak error    |E[Y_h(T)_0] − E[X(T)_0]|, estimated as the path mean of Y_h(T)_0 − X(T)_0: the
  exact solution on the same path is a control variate, so the Monte Carlo error is
  std(Y_h − X)/√N = O(√h/√N) instead of std(X)/√N; it is reported as ``weak_error_se``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xarray as xr
from numba import njit

from lnsgd.solvers.sde import SCHEMES, solve_sde
from lnsgd.solvers.sde_brownian import brownian_increments, coarsen
from lnsgd.solvers.sde_step import zero_ito_correction
from tests.ode_order import fit_order


@dataclass(frozen=True)
class SdeTestProblem:
    """An SDE with its Itô correction and, when known, its solution as a function of W(t1)."""

    name: str
    drift: Callable
    diffusion: Callable
    ito_correction: Callable
    y0: np.ndarray
    t1: float
    args: tuple
    q: int
    exact: Callable[[np.ndarray], np.ndarray] | None  # W(t1) (n_paths, q) -> X(t1) (n_paths, dim)


@njit(cache=True)
def _gbm_drift(t, y, args, out):
    out[0] = args[0] * y[0]


@njit(cache=True)
def _gbm_diffusion(t, y, args, out):
    out[0, 0] = args[1] * y[0]


@njit(cache=True)
def _gbm_correction(t, y, args, out):
    out[0] = args[1] * args[1] * y[0]


def gbm(mu: float = 1.0, sigma: float = 0.5, y0: float = 1.0, t1: float = 1.0) -> SdeTestProblem:
    """dX = μX dt + σX dW; X(t) = X0 exp((μ − σ²/2)t + σW(t)); Itô correction c = σ²X."""
    return SdeTestProblem(
        f"gbm(mu={mu}, sigma={sigma})",
        _gbm_drift,
        _gbm_diffusion,
        _gbm_correction,
        np.array([y0]),
        t1,
        (mu, sigma),
        1,
        lambda w: y0 * np.exp((mu - sigma**2 / 2) * t1 + sigma * w),
    )


@njit(cache=True)
def _ou_drift(t, y, args, out):
    out[0] = args[0] * (args[1] - y[0])


@njit(cache=True)
def _ou_diffusion(t, y, args, out):
    out[0, 0] = args[2]


def ou(theta: float = 1.0, mean: float = 0.5, sigma: float = 0.8, y0: float = 2.0, t1: float = 1.0) -> SdeTestProblem:
    """dX = θ(m − X) dt + σ dW (additive noise). Pathwise solution needs ∫e^{−θ(t−s)}dW: reference run."""
    return SdeTestProblem(
        f"ou(theta={theta}, mean={mean}, sigma={sigma})",
        _ou_drift,
        _ou_diffusion,
        zero_ito_correction,
        np.array([y0]),
        t1,
        (theta, mean, sigma),
        1,
        None,
    )


def ou_moments(theta: float, mean: float, sigma: float, y0: float, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form E X(t) = m + (X0 − m)e^{−θt} and Var X(t) = σ²(1 − e^{−2θt})/(2θ)."""
    t = np.asarray(t, dtype=np.float64)
    return mean + (y0 - mean) * np.exp(-theta * t), sigma**2 * (1 - np.exp(-2 * theta * t)) / (2 * theta)


@njit(cache=True)
def _levy_drift(t, y, args, out):
    out[:] = 0.0


@njit(cache=True)
def _levy_diffusion(t, y, args, out):
    out[0, 0] = 1.0
    out[0, 1] = 0.0
    out[1, 0] = 0.0
    out[1, 1] = y[0]


def levy_area() -> SdeTestProblem:
    """dX1 = dW1, dX2 = X1 dW2: X2(1) = ∫W1 dW2 needs the Lévy area; non-commutative noise, c = 0."""
    return SdeTestProblem("levy_area", _levy_drift, _levy_diffusion, zero_ito_correction, np.zeros(2), 1.0, (), 2, None)


def _final_states(problem: SdeTestProblem, method: str, dW: np.ndarray) -> np.ndarray:
    scheme = SCHEMES[method]
    n_steps, n_paths = dW.shape[:2]
    sol = solve_sde(
        problem.drift,
        problem.diffusion,
        problem.y0,
        (0.0, problem.t1, n_steps),
        problem.args,
        method=method,
        ito_correction=problem.ito_correction if scheme.needs_ito_correction else None,
        n_paths=n_paths,
        dW=dW,
        save_every=n_steps,
    )
    if not sol.success:
        raise RuntimeError(f"{problem.name}, {method}, {n_steps} steps: {sol.message}")
    return sol.y[-1]


def sde_convergence(
    problem: SdeTestProblem,
    methods: tuple[str, ...] = ("euler", "heun"),
    coarsest_steps: int = 8,
    n_levels: int = 6,
    n_paths: int = 2000,
    seed: int = 0,
    ref_factor: int = 16,
) -> xr.Dataset:
    """Strong and weak errors of each scheme on grids of coarsest_steps·2^k steps, k < n_levels.

    Returns a Dataset with ``strong_error``, ``weak_error``, ``weak_error_se`` (scheme, dt), fitted
    ``strong_order`` and ``weak_order`` and the schemes' ``expected_strong_order`` (commutative
    noise) and ``expected_weak_order`` (scheme); provenance in attrs.
    """
    finest = coarsest_steps * 2 ** (n_levels - 1)
    n_fine = finest if problem.exact is not None else finest * ref_factor
    rng = np.random.default_rng(seed)
    dW = brownian_increments(rng, np.full(n_fine, problem.t1 / n_fine), n_paths, problem.q)
    if problem.exact is not None:
        exact, reference = problem.exact(dW.sum(axis=0)), "closed form"
    else:
        exact, reference = _final_states(problem, "heun", dW), f"heun with {n_fine} steps"
    steps = coarsest_steps * 2 ** np.arange(n_levels)
    dts = problem.t1 / steps
    shape = (len(methods), n_levels)
    strong, weak, weak_se = np.empty(shape), np.empty(shape), np.empty(shape)
    for i, method in enumerate(methods):
        for j, n in enumerate(steps):
            diff = _final_states(problem, method, coarsen(dW, n_fine // n)) - exact
            strong[i, j] = np.mean(np.max(np.abs(diff), axis=1))
            weak[i, j] = abs(np.mean(diff[:, 0]))
            weak_se[i, j] = np.std(diff[:, 0]) / np.sqrt(n_paths)
    return xr.Dataset(
        {
            "strong_error": (("scheme", "dt"), strong, {"long_name": "E|Y_h(T) - X(T)|_max"}),
            "weak_error": (("scheme", "dt"), weak, {"long_name": "|E Y_h(T)_0 - E X(T)_0|"}),
            "weak_error_se": (("scheme", "dt"), weak_se, {"long_name": "Monte Carlo standard error"}),
            "strong_order": ("scheme", [fit_order(dts, e) for e in strong]),
            "weak_order": ("scheme", [fit_order(dts, e) for e in weak]),
            "expected_strong_order": ("scheme", [SCHEMES[m].strong_order for m in methods]),
            "expected_weak_order": ("scheme", [SCHEMES[m].weak_order for m in methods]),
        },
        coords={"scheme": list(methods), "dt": dts},
        attrs={
            "problem": problem.name,
            "reference": reference,
            "n_paths": n_paths,
            "seed": seed,
            "t1": problem.t1,
            "numpy": np.__version__,
        },
    )
