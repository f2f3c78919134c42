"""Time adaptive dopri5 (`lnsgd.solvers.ode.solve_ode`) on a 231-dimensional linear system.

Dimension 231 = 20 + 210 + 1, that of the reduced (β, S, A) flow at d = 20. The system
y' = M y + g, with M = −0.01 I + (skew-symmetric, spectral radius ≈ 1) + small random part, is
non-stiff and oscillatory; horizon t = 1000. Baseline: scipy `solve_ivp(method="RK45")` with the same
tolerances (same tableau, Python loop). Compilation is timed separately. Usage:

    .venv/bin/python benchmarks/bench_integrators.py
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit
from scipy.integrate import solve_ivp

from lnsgd.solvers.ode import solve_ode

DIM, T1, RTOL, ATOL = 231, 1000.0, 1e-8, 1e-10


@njit(cache=True)
def affine_rhs(t, y, args, out):
    """out = M y + g (BLAS matrix-vector product through numba's np.dot)."""
    mat, g = args
    out[:] = np.dot(mat, y)
    out += g


def system(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    skew = rng.standard_normal((DIM, DIM))
    skew = (skew - skew.T) / (2 * np.sqrt(DIM))
    mat = -0.01 * np.eye(DIM) + skew + 0.001 * rng.standard_normal((DIM, DIM))
    return mat, rng.standard_normal(DIM), rng.standard_normal(DIM)


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    mat, g, y0 = system()
    t_eval = np.linspace(0.0, T1, 1001)
    start = time.perf_counter()
    solve_ode(affine_rhs, y0, (0.0, 1.0), (mat, g), rtol=RTOL, atol=ATOL)
    compile_s = time.perf_counter() - start
    ours_s, sol = best_of(lambda: solve_ode(affine_rhs, y0, (0.0, T1), (mat, g), t_eval=t_eval, rtol=RTOL, atol=ATOL))
    assert sol.success, sol.message
    scipy_s, ref = best_of(
        lambda: solve_ivp(lambda t, y: mat @ y + g, (0.0, T1), y0, method="RK45", t_eval=t_eval, rtol=RTOL, atol=ATOL),
        repeat=1,
    )
    diff = np.max(np.abs(sol.y - ref.y.T)) / np.max(np.abs(ref.y))
    print(f"linear system dim {DIM}, t in [0, {T1:g}], rtol {RTOL:g}, atol {ATOL:g}, {t_eval.size} samples")
    print(f"{'solver':<28}{'time [s]':>10}{'steps':>9}{'rejected':>10}{'rhs evals':>11}{'us/step':>10}")
    print(
        f"{'lnsgd dopri5 (numba)':<28}{ours_s:>10.3f}{sol.n_steps:>9}{sol.n_rejected:>10}{sol.n_rhs:>11}"
        f"{1e6 * ours_s / sol.n_steps:>10.1f}"
    )
    print(f"{'scipy RK45 (baseline)':<28}{scipy_s:>10.3f}{'-':>9}{'-':>10}{ref.nfev:>11}{'-':>10}")
    print(
        f"compile (first call, once per rhs): {compile_s:.2f} s; speed-up vs baseline: {scipy_s / ours_s:.1f}x;"
        f" max relative difference of the two solutions: {diff:.1e}"
    )


if __name__ == "__main__":
    main()
