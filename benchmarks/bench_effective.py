"""Time the reduced effective-dynamics solve (β, S, A, Φ) over the whole horizon t = η·10⁶ for
m = 10³, 10⁴, 10⁵ (paper config otherwise: n = 200, d = 20, η = 1e-3, δ = 4, B = 1, λ_eff on).

The solve itself is independent of m (only S(0) = W0ᵀW0 is formed from the m neurons); the per-neuron
observables cost O(m d²) per output time and are timed separately (101 output times). Baseline: the
full m(d+1)-dimensional regularized flow at m = 10³ (same tolerances). Compilation is excluded
(a warm-up call first). Target: < 0.1 s per reduced solve. Usage:

    .venv/bin/python benchmarks/bench_effective.py
"""
from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from lnsgd.solvers import effective as eff
from lnsgd.solvers.problem import init_params, make_problem

ETA, DELTA, N, D = 1e-3, 4.0, 200, 20
T_EVAL = np.linspace(0.0, ETA * 1e6, 101)


def _setup(m: int, seed: int = 0, rtol: float = 1e-9):
    """λ_eff only at m = 10³: for m ≥ 10⁴, η tr G(0) ≈ ηm > 2B is past its pole (SGD itself is
    mean-square unstable there), so the larger widths use the first-order λ."""
    rng = np.random.default_rng(seed)
    problem = make_problem(N, D, rng)
    W0, a0 = init_params(m, D, "standard", 1.0, rng)
    corr = "lambda-eff" if m <= 1000 else "first-order"
    return problem, eff.EffectiveSetup.from_problem(problem, 1.0, ETA, DELTA, 1, corr), W0, a0


def _best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    with threadpool_limits(limits=1, user_api="blas"):
        problem, setup, W0, a0 = _setup(50)
        eff.solve_reduced(setup, W0, a0, T_EVAL)  # compile
        print(f"reduced solve (β, S, A, Φ), t = 0..{T_EVAL[-1]:g}, dopri5 rtol 1e-9, one core:")
        for m, rtol in ((10**3, 1e-9), (10**3, 1e-6), (10**4, 1e-9), (10**5, 1e-9)):
            problem, setup, W0, a0 = _setup(m)
            t_solve, sol = _best(lambda: eff.solve_reduced(setup, W0, a0, T_EVAL, rtol=rtol, atol=1e-3 * rtol))
            assert sol.ode.success, sol.ode.message
            t_obs, _ = _best(lambda: eff.reduced_observables(sol, W0, a0, problem.beta_star), repeat=1)
            print(f"  m = {m:>6} ({setup.correction}, rtol {rtol:g}): solve {t_solve:.4f} s ({sol.ode.n_steps} steps, target < 0.1 s); "
                  f"observables at {len(T_EVAL)} times {t_obs:.3f} s")
        problem, setup, W0, a0 = _setup(10**3)
        eff.solve_full_flow(setup, W0[:5], a0[:5], T_EVAL[:2])  # compile
        t_full, sol = _best(lambda: eff.solve_full_flow(setup, W0, a0, T_EVAL), repeat=1)
        print(f"  baseline full flow m = 1000 (21000 dims): {t_full:.2f} s ({sol.n_steps} steps)")


if __name__ == "__main__":
    main()
