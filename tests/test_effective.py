"""Effective-dynamics solvers: reduced (β, S, A) + propagator against the full regularized flow,
boundary checks (t = 0 is the initial state, long t the fixed point), the SDE ensemble against the
flow at small η, and a coarse check against the direct simulation at the paper config."""

import numpy as np
import pytest

from lnsgd.experiments.check import grid, measure, predict
from lnsgd.experiments.runner import simulate
from lnsgd.solvers import effective as eff
from lnsgd.solvers import generated_rhs as gen
from lnsgd.solvers.problem import init_params, make_problem
from lnsgd.solvers.sde_brownian import brownian_increments

# Tolerances in one place.
AGREE = 1e-8  # reduced + propagator vs full flow, same initial condition (ODE rtol 1e-10)
FIXED_POINT = 1e-6  # long-t state vs the isotropic closed forms
SDE_BIAS = 0.02  # O(η) difference SDE vs first-order flow allowed on top of the k·σ/√N noise band
SDE_K = 4.0  # k in k·σ/√N (σ: spread over paths, N paths)


def _small(m=50, d=5, n=30, seed=0):
    rng = np.random.default_rng(seed)
    problem = make_problem(n, d, rng)
    W0, a0 = init_params(m, d, "standard", 1.0, rng)
    return problem, W0, a0


@pytest.mark.parametrize("method", sorted(eff.REDUCED_METHODS))
@pytest.mark.parametrize("correction", eff.CORRECTIONS)
def test_reduced_and_propagator_equal_full_flow(correction, method):
    problem, W0, a0 = _small()
    setup = eff.EffectiveSetup.from_problem(problem, 1.0, 1e-2, 2.0, 1, correction)
    t = np.linspace(0.0, 40.0, 9)
    red = eff.solve_reduced(setup, W0, a0, t, method=method, rtol=1e-10, atol=1e-12)
    full = eff.solve_full_flow(setup, W0, a0, t, rtol=1e-10, atol=1e-12)
    assert red.ode.success and full.success
    W, a = eff.unpack_full(full.y, *W0.shape)
    for i in range(len(t)):
        Wr, ar = red.neurons(W0, a0, i)
        np.testing.assert_allclose(Wr, W[i], rtol=0, atol=AGREE)
        np.testing.assert_allclose(ar, a[i], rtol=0, atol=AGREE)
        np.testing.assert_allclose(red.beta[i], W[i].T @ a[i], rtol=0, atol=AGREE)
        np.testing.assert_allclose(red.S[i], W[i].T @ W[i], rtol=0, atol=AGREE)
        np.testing.assert_allclose(red.A[i], a[i] @ a[i], rtol=0, atol=AGREE)


def test_time_zero_is_the_initial_state():
    problem, W0, a0 = _small()
    setup = eff.EffectiveSetup.from_problem(problem, 1.0, 1e-2, 2.0, 1, "lambda-eff")
    red = eff.solve_reduced(setup, W0, a0, np.array([0.0, 1.0]))
    np.testing.assert_array_equal(red.Phi[0], np.eye(6))
    np.testing.assert_array_equal(red.beta[0], W0.T @ a0)
    Wr, ar = red.neurons(W0, a0, 0)
    np.testing.assert_array_equal(Wr, W0)
    np.testing.assert_array_equal(ar, a0)


def test_long_time_is_the_isotropic_fixed_point():
    """Σ̂ = I: ‖β* − β‖ → 2λ√τ and A → ‖β‖/√τ − 2λ (generated closed forms), neurons aligned."""
    d, m = 4, 20
    rng = np.random.default_rng(1)
    beta_star = rng.standard_normal(d)
    W0, a0 = init_params(m, d, "standard", 1.0, rng)
    setup = eff.EffectiveSetup(np.sqrt(d) * np.eye(d), beta_star, 1.0, 0.05, 2.0, 1)  # Σ̂ = I
    lam, tau = setup.lam, float(d)
    t_end = 40.0 / (lam * 1.0)  # e^{−4λt} ≈ e^{−160}
    red = eff.solve_reduced(setup, W0, a0, np.array([0.0, t_end]), rtol=1e-11, atol=1e-13)
    assert red.ode.success, red.ode.message
    res = np.linalg.norm(beta_star - red.beta[-1])
    assert res == pytest.approx(gen.isotropic_residual_norm(lam, tau, 1.0), rel=FIXED_POINT)
    assert red.A[-1] == pytest.approx(
        gen.isotropic_fixed_point_A(np.linalg.norm(beta_star), lam, tau, 1.0), rel=FIXED_POINT
    )
    obs = eff.reduced_observables(red, W0, a0, beta_star)
    assert obs["cos_abs_mean"][-1] == pytest.approx(1.0, abs=FIXED_POINT)
    # balanced: ‖w_k‖ = √τ |a_k|
    assert obs["w_norm_mean"][-1] == pytest.approx(np.sqrt(tau) * obs["a_abs_mean"][-1], rel=FIXED_POINT)


def test_setup_rejects_bad_values():
    problem, _, _ = _small()
    with pytest.raises(ValueError, match="correction"):
        eff.EffectiveSetup.from_problem(problem, 1.0, 1e-3, 4.0, 1, "second-order")
    with pytest.raises(ValueError, match="eta"):
        eff.EffectiveSetup.from_problem(problem, 1.0, 0.0, 4.0, 1)


def test_sde_ensemble_mean_follows_the_regularized_flow_at_small_eta():
    """η = 1e-3, small net (η tr G ≈ 0.03): the ensemble mean of mean‖w_k‖ and mean|cos| stays within
    SDE_K·σ/√N + SDE_BIAS of the first-order flow, where σ is the spread over the N paths."""
    problem, W0, a0 = _small(m=30, d=4, n=40, seed=3)
    eta, delta = 1e-3, 4.0
    t = np.linspace(0.0, 200.0, 5)
    setup = eff.EffectiveSetup.from_problem(problem, 1.0, eta, delta, 1)
    flow = eff.reduced_observables(eff.solve_reduced(setup, W0, a0, t), W0, a0, problem.beta_star)
    N = 8
    ens = eff.solve_sde_ensemble(problem, 1.0, eta, delta, 1, W0, a0, t, dt=2 * eta, n_paths=N, seed=1)
    assert ens.status == "completed", ens.message
    assert flow["w_norm_mean"][-1] < 0.5 * flow["w_norm_mean"][0]  # the flow really moved
    for key in ("w_norm_mean", "cos_abs_mean"):
        band = SDE_K * ens.spread[key] / np.sqrt(N) + SDE_BIAS
        assert np.all(np.abs(ens.curves[key] - flow[key]) <= band), key


def _label_noise_em(X, beta_star, W0, a0, s, eta, delta, B, h, dB, noise="full"):
    """Plain numpy Euler–Maruyama reference of the label-noise SDE, one path: per step, with
    r = X(β − β*), g = Xᵀr/n and the per-sample noise ζ = n^{-1/2} Σ_i [(r_i x_i − g) ΔB₁ᵢ + δ x_i ΔB₂ᵢ]
    ("full"; "label": without the first term; "trace": σ x_i ΔB₂ᵢ only, σ² = δ² + mean r_i²), the
    gradient direction u = h g − √(η/B) ζ moves W ← W − s a uᵀ, a ← a − s W u."""
    n = X.shape[0]
    W, a = W0.copy(), a0.copy()
    for db in dB:
        r = X @ (s * W.T @ a - beta_star)
        g = X.T @ r / n
        sigma = np.sqrt(delta**2 + np.mean(r**2)) if noise == "trace" else delta
        sampling = (r[:, None] * X - g).T @ db[:n] if noise == "full" else 0.0
        zeta = (sampling + sigma * X.T @ db[n:]) / np.sqrt(n)
        u = h * g - np.sqrt(eta / B) * zeta
        W, a = W - s * np.outer(a, u), a - s * W @ u
    return W, a


@pytest.mark.parametrize("noise", eff.SDE_NOISES)
def test_label_noise_sde_matches_a_numpy_euler_maruyama_reference(monkeypatch, noise):
    """`solve_sde_ensemble` (EM at dt = η through `solve_sde`, product-form diffusion) equals the numpy
    loop above on the increments of its Generator to 1e-10 relative, for each noise model; 7-step
    chunks cross the output times."""
    problem, W0, a0 = _small(m=10, d=3, n=12, seed=2)
    s, eta, delta, B, P, seed = 0.8, 1e-2, 2.0, 2, 3, 5
    t = np.array([0.0, 0.2, 0.5])  # 20 and 30 steps of η
    monkeypatch.setattr(eff, "SDE_CHUNK_STEPS", 7)
    ens = eff.solve_sde_ensemble(problem, s, eta, delta, B, W0, a0, t, n_paths=P, seed=seed, noise=noise)
    assert ens.status == "completed", ens.message
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 7919])))
    dB = brownian_increments(rng, np.full(50, eta), P, 2 * problem.n)  # drawn at once: the stream is chunk-free
    ref = {k: np.zeros((len(t), P)) for k in ens.curves}
    for p in range(P):
        W, a = W0, a0
        for i, (lo, hi) in enumerate([(0, 0), (0, 20), (20, 50)]):
            W, a = _label_noise_em(problem.X, problem.beta_star, W, a, s, eta, delta, B, eta, dB[lo:hi, p], noise)
            norms = np.linalg.norm(W, axis=1)
            ref["w_norm_mean"][i, p] = norms.mean()
            ref["cos_abs_mean"][i, p] = np.mean(
                np.abs(W @ problem.beta_star) / (norms * np.linalg.norm(problem.beta_star))
            )
            ref["a_abs_mean"][i, p] = np.abs(a).mean()
    for key, curve in ens.curves.items():
        np.testing.assert_allclose(curve, ref[key].mean(axis=1), rtol=1e-10, atol=0, err_msg=key)
    assert abs(ens.curves["w_norm_mean"][-1] - ens.curves["w_norm_mean"][0]) > 1e-3  # the state moved


def test_sde_ensemble_reports_diverged_paths():
    """EM far beyond the stability bound (dt = η = 1): every path overflows, status diverged, NaN means."""
    problem, W0, a0 = _small(m=10, d=3, n=12)
    ens = eff.solve_sde_ensemble(problem, 1.0, 1.0, 1.0, 1, W0, a0, np.array([0.0, 200.0]), n_paths=2, seed=0)
    assert ens.status == "diverged" and "2 of 2 paths" in ens.message
    assert np.all(np.isnan(ens.curves["w_norm_mean"]))


def test_sde_ensemble_is_seeded():
    problem, W0, a0 = _small(m=10, d=3, n=12)
    t = np.linspace(0.0, 1.0, 3)
    one = eff.solve_sde_ensemble(problem, 1.0, 1e-2, 1.0, 1, W0, a0, t, n_paths=2, seed=5)
    two = eff.solve_sde_ensemble(problem, 1.0, 1e-2, 1.0, 1, W0, a0, t, n_paths=2, seed=5)
    np.testing.assert_array_equal(one.curves["w_norm_mean"], two.curves["w_norm_mean"])


# ---- coarse theory-vs-simulation check at the paper config (one 1M-step run, ~10 s)
COARSE_PLATEAU = 0.10
COARSE_RATE = 0.20


@pytest.fixture(scope="module")
def paper_run():
    config = grid.with_horizon(grid.PAPER, paths=1)
    sim = simulate(config, progress=False)
    steps = sim["step"].values
    pred = predict.predict(config, steps, ("flow",))["flow"]
    return steps, sim, pred


def test_first_order_plateau_and_rate_match_simulation_at_paper_config(paper_run):
    steps, sim, pred = paper_run
    rate_sim, plateau_sim, why = measure.approach_rate(steps, sim["w_norm_mean"].values)
    rate_pred, plateau_pred, why_pred = measure.approach_rate(steps, pred["w_norm_mean"])
    assert not why and not why_pred
    assert abs(plateau_pred - plateau_sim) <= COARSE_PLATEAU * plateau_sim
    assert abs(rate_pred - rate_sim) <= COARSE_RATE * rate_sim


@pytest.mark.parametrize("s_val", [1.0, 0.7])
def test_fluctuation_drift_tends_to_the_label_noise_regularizer_as_eta_vanishes(s_val):
    """The exact-in-η stationary fluctuation drift ("lyapunov") has Ω → λ s² Σ̂, ω → λ s² τ as η → 0
    at fixed λ (docs/theory.md §8); relative corrections are O(η‖H‖) ≈ 1e-6 here (tolerance 1e-4).
    At a finite η it must differ (the test would pass vacuously if the correction were dropped)."""
    problem, W0, a0 = _small(m=30, d=4, n=40)
    lam = 0.01
    for eta, close in ((1e-7, True), (5e-2, False)):
        delta = np.sqrt(4 * lam / eta)
        setup = eff.EffectiveSetup.from_problem(problem, s_val, eta, delta, 1, "lyapunov")
        Sigma_hat, beta_star, X, xn2, R, p = setup.args()
        Omega = np.empty((4, 4))
        beta = s_val * W0.T @ a0
        omega = eff._fluctuation_gradients(beta, W0.T @ W0, float(a0 @ a0), Sigma_hat, beta_star, X, R, p, Omega)
        ref = lam * s_val**2 * Sigma_hat
        rel = np.linalg.norm(Omega - ref) / np.linalg.norm(ref)
        rel_a = abs(omega - lam * s_val**2 * np.trace(Sigma_hat)) / (lam * s_val**2 * np.trace(Sigma_hat))
        assert (max(rel, rel_a) < 1e-4) == close, (eta, rel, rel_a)


@pytest.mark.parametrize("algorithm", ["sgd", "sam", "usam"])
def test_lambda_eff_past_its_pole_stops_and_says_why(algorithm):
    """η G_B ≥ 2 at the start (G_B = s²⟨q²⟩/⟨q⟩, B = 1): the solve stops at t = 0, keeps that sample and
    says why; below the pole (η G_B = 1) the same setup completes."""
    problem, W0, a0 = _small()
    K = W0.T @ W0 + (a0 @ a0) * np.eye(W0.shape[1])
    q = np.einsum("ij,jk,ik->i", problem.X, K, problem.X)
    curvature = np.mean(q * q) / np.mean(q)
    for eta_G, status in ((2.5, "diverged"), (1.0, "completed")):
        setup = eff.EffectiveSetup.from_problem(
            problem, 1.0, eta_G / curvature, 2.0, 1, "lambda-eff", algorithm=algorithm, rho=1e-3
        )
        red = eff.solve_reduced(setup, W0, a0, np.linspace(0.0, 1.0, 5))
        assert red.ode.status == status
        if status == "diverged":
            assert red.beta.shape[0] == 1 and "no stationary fluctuation there (η G_B = 2.5" in red.ode.message
