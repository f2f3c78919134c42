"""Time the reduced effective-dynamics solve (β, S, A, Φ) over the whole horizon t = η·10⁶ for
m = 10³, 10⁴, 10⁵ (paper config otherwise: n = 200, d = 20, η = 1e-3, δ = 4, B = 1, λ_eff on).

Both methods of `solve_reduced`: the default ros34pw2 (Rosenbrock-W, implicit in the β-relaxation,
rtol 1e-4) and dopri5 (explicit, rtol 1e-9: the former default). The state size is independent of m
(only S(0) = W0ᵀW0 is formed from the m neurons), but dopri5's step is bounded by the relaxation rate
∝ m; the W-method's is not. Accuracy column: max over the 1001 records (every 1000 steps) of
|Δ mean‖w_k‖| and |Δ mean|cos(w_k, β*)|| against dopri5 at rtol 1e-8. The per-neuron observables cost
O(m d²) per output time and are timed separately. Baseline: the full m(d+1)-dimensional regularized
flow at m = 10³. Compilation is excluded (a warm-up call first). Target: < 0.1 s per reduced solve.
Then `lnsgd check`'s judged prediction ("conjugated") on the default grid's label-noise points with
the largest right-hand sides: the paper configuration (SGD) and 1-SAM ρ ∈ {0.05, 0.2}, δ = 4, whose
closure root-finds the residual fluctuation at every right-hand side (µs per right-hand side reported).
Usage:

    .venv/bin/python benchmarks/bench_effective.py
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits

from lnsgd.experiments.check import grid
from lnsgd.experiments.check.predict import effective_setup
from lnsgd.experiments.runner import initial_state
from lnsgd.solvers import effective as eff
from lnsgd.solvers.problem import init_params, make_problem

ETA, DELTA, N, D = 1e-3, 4.0, 200, 20
T_EVAL = ETA * np.arange(0, 10**6 + 1, 1000, dtype=np.float64)


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


def _max_curve_error(sol, ref, problem, W0, a0) -> tuple[float, float]:
    got = eff.reduced_observables(sol, W0, a0, problem.beta_star)
    want = eff.reduced_observables(ref, W0, a0, problem.beta_star)
    return tuple(float(np.max(np.abs(got[k] - want[k]))) for k in ("w_norm_mean", "cos_abs_mean"))


def check_predictions() -> None:
    """Time `solve_reduced` with the "conjugated" correction on the grid's paper and 1-SAM (δ = 4) points."""
    configs = [c for c in grid.default_grid() if c.delta == 4.0 and c.batch_size == 1 and c.eta == 1e-3]
    configs = [c for c in configs if c.noise == "gaussian" and c.algorithm in ("sgd", "sam")]
    print("check predictions (correction 'conjugated', ros34pw2 defaults, horizon of each grid point):")
    for config in configs:
        state = initial_state(config)
        setup = effective_setup(config, state.problem, state.s, "conjugated")
        t_eval = config.eta * np.arange(0, config.steps + 1, config.record_every, dtype=np.float64)
        eff.solve_reduced(setup, state.W0, state.a0, t_eval[:3])  # compile
        t_solve, sol = _best(partial(eff.solve_reduced, setup, state.W0, state.a0, t_eval))
        assert sol.ode.success, sol.ode.message
        y = eff.pack_reduced(sol.beta[-1], sol.S[-1], sol.A[-1], sol.Phi[-1])
        out, args = np.empty_like(y), setup.args()
        t_rhs, _ = _best(lambda: [eff.reduced_rhs(0.0, y, args, out) for _ in range(2000)])  # noqa: B023
        print(
            f"  {grid.label(config)}: solve {t_solve:.3f} s ({sol.ode.n_steps} steps, {sol.ode.n_rhs} rhs, "
            f"{t_rhs / 2000 * 1e6:.0f} µs per rhs at the end state, from Python; target < 0.1 s per solve)"
        )


def main() -> None:
    with threadpool_limits(limits=1, user_api="blas"):
        problem, setup, W0, a0 = _setup(50)
        for method in eff.REDUCED_METHODS:
            eff.solve_reduced(setup, W0, a0, T_EVAL[:3], method=method)  # compile
        print(f"reduced solve (β, S, A, Φ), t = 0..{T_EVAL[-1]:g}, {len(T_EVAL)} records, one core:")
        for m in (10**3, 10**4, 10**5):
            problem, setup, W0, a0 = _setup(m)
            ref = eff.solve_reduced(setup, W0, a0, T_EVAL, method="dopri5", rtol=1e-8, atol=1e-10)
            for method, rtol in (("ros34pw2", None), ("dopri5", 1e-9)):
                kw = {"method": method} if rtol is None else {"method": method, "rtol": rtol, "atol": 1e-3 * rtol}
                repeat = 3 if m < 10**5 or rtol is None else 1
                t_solve, sol = _best(partial(eff.solve_reduced, setup, W0, a0, T_EVAL, **kw), repeat=repeat)
                assert sol.ode.success, sol.ode.message
                dw, dc = _max_curve_error(sol, ref, problem, W0, a0)
                print(
                    f"  m = {m:>6} ({setup.correction:>11}) {method:>8} rtol {sol.ode.options.rtol:g}: "
                    f"solve {t_solve:.4f} s ({sol.ode.n_steps} steps, {sol.ode.n_rhs} rhs; target < 0.1 s); "
                    f"vs dopri5 1e-8: max|Δ‖w‖| {dw:.1e}, max|Δ|cos|| {dc:.1e}"
                )
            t_obs, _ = _best(partial(eff.reduced_observables, sol, W0, a0, problem.beta_star), repeat=1)
            print(f"  m = {m:>6} observables at {len(T_EVAL)} times: {t_obs:.3f} s")
        problem, setup, W0, a0 = _setup(10**3)
        eff.solve_full_flow(setup, W0[:5], a0[:5], T_EVAL[:2])  # compile
        t_full, sol = _best(lambda: eff.solve_full_flow(setup, W0, a0, T_EVAL), repeat=1)
        print(f"  baseline full flow m = 1000 (21000 dims), dopri5 rtol 1e-9: {t_full:.2f} s ({sol.n_steps} steps)")
        check_predictions()


if __name__ == "__main__":
    main()
