"""Observables against explicit (m × m, n × n, parameter-space) constructions, and phase times on
curves with known answers."""

import numpy as np
import pytest

from lnsgd.experiments.phases import phase_one_time, phase_two_time
from lnsgd.solvers.observables import Grams, Reference, exact_quantiles, observe
from lnsgd.solvers.problem import init_params, make_problem
from lnsgd.solvers.stability import hessian_lambda_max


def _jacobian(W, a, X, s):
    """J[i] = ∂f(x_i)/∂θ, θ = (vec W, a), built explicitly."""
    n = X.shape[0]
    JW = s * np.einsum("k,ij->ikj", a, X).reshape(n, -1)
    return np.hstack([JW, s * X @ W.T])


@pytest.mark.parametrize("parametrization", ["standard", "ntk", "mean-field"])
def test_kernel_observables_match_explicit_jacobian(parametrization):
    rng = np.random.default_rng(0)
    n, d, m = 15, 4, 9
    p = make_problem(n, d, rng)
    s = {"standard": 1.0, "ntk": 1 / np.sqrt(m), "mean-field": 1 / m}[parametrization]
    W0, a0 = init_params(m, d, parametrization, 1.0, rng)
    W = W0 + 0.3 * rng.standard_normal(W0.shape)
    a = a0 + 0.3 * rng.standard_normal(m)
    ref = Reference.at_init(p, s, np.ascontiguousarray(W0.T), a0)
    Wt = np.ascontiguousarray(W.T)
    obs = observe(Grams.of_state(Wt, a, ref), Wt, a, ref)
    J, J0 = _jacobian(W, a, p.X, s), _jacobian(W0, a0, p.X, s)
    K, K0 = J @ J.T, J0 @ J0.T
    G = J.T @ J / n
    assert obs["ntk_rel_change"] == pytest.approx(np.linalg.norm(K - K0) / np.linalg.norm(K0), rel=1e-10)
    assert obs["kernel_target_alignment"] == pytest.approx(p.y @ K @ p.y / (np.linalg.norm(K) * p.y @ p.y), rel=1e-10)
    assert obs["trace_G"] == pytest.approx(np.trace(G), rel=1e-10)
    assert obs["lambda_max_G"] == pytest.approx(np.linalg.eigvalsh(G)[-1], rel=1e-10)
    D, D0 = np.outer(a, a) - W @ W.T, np.outer(a0, a0) - W0 @ W0.T
    assert obs["balance_drift"] == pytest.approx(np.linalg.norm(D - D0) / np.linalg.norm(D0), rel=1e-10)
    beta = s * W.T @ a
    assert obs["train_loss"] == pytest.approx(0.5 * np.mean((p.X @ beta - p.y) ** 2), rel=1e-10)
    cos = W @ p.beta_star / (np.linalg.norm(W, axis=1) * np.linalg.norm(p.beta_star))
    assert obs["cos_abs_mean"] == pytest.approx(np.mean(np.abs(cos)), rel=1e-12)
    assert obs["w_rel_change"] == pytest.approx(np.linalg.norm(W - W0) / np.linalg.norm(W0), rel=1e-12)
    assert obs["scale_product"] == pytest.approx(s * np.linalg.norm(a) * np.linalg.norm(W), rel=1e-12)
    assert obs["balance_mean"] == pytest.approx(np.mean(a**2 - np.sum(W**2, axis=1)), rel=1e-12)
    np.testing.assert_allclose(
        obs["w_norm_q"], np.quantile(np.linalg.norm(W, axis=1), [0.05, 0.25, 0.5, 0.75, 0.95]), rtol=1e-14
    )


def test_changes_are_accurate_when_tiny():
    """A lazy state (W moved by 1e-7 relative): ‖W − W0‖ and ‖D − D0‖ come from the change Grams,
    not from differences of O(1) numbers, so they keep ~1e-8 relative accuracy (a difference of
    Gram matrices would leave only ~1e-16/1e-14 ≈ 1 % of the digits)."""
    rng = np.random.default_rng(4)
    n, d, m = 30, 5, 40
    p = make_problem(n, d, rng)
    W0, a0 = init_params(m, d, "standard", 1.0, rng)
    W = W0 + 1e-7 * rng.standard_normal(W0.shape)
    a = a0 + 1e-7 * rng.standard_normal(m)
    ref = Reference.at_init(p, 1.0, np.ascontiguousarray(W0.T), a0)
    Wt = np.ascontiguousarray(W.T)
    obs = observe(Grams.of_state(Wt, a, ref), Wt, a, ref)
    D, D0 = np.outer(a, a) - W @ W.T, np.outer(a0, a0) - W0 @ W0.T
    dD = (
        np.outer(a - a0, a0)
        + np.outer(a0, a - a0)
        + np.outer(a - a0, a - a0)
        - (W - W0) @ W0.T
        - W0 @ (W - W0).T
        - (W - W0) @ (W - W0).T
    )  # D − D0 without cancellation
    assert obs["balance_drift"] == pytest.approx(np.linalg.norm(dD) / np.linalg.norm(D0), rel=1e-8)
    assert obs["w_rel_change"] == pytest.approx(np.linalg.norm(W - W0) / np.linalg.norm(W0), rel=1e-10)
    assert np.linalg.norm(D - D0) > 0  # (the naive difference is nonzero but inaccurate)


@pytest.mark.parametrize(
    "x",
    [
        np.random.default_rng(0).random(100_001),
        np.random.default_rng(1).standard_normal(999),
        np.r_[np.zeros(500), np.arange(7.0)],
        np.ones(10),
        np.array([3.0]),
        np.abs(np.random.default_rng(2).standard_cauchy(20_000)),
        np.arange(1000.0)[::-1].copy(),
    ],
)
def test_exact_quantiles_equal_numpy(x):
    """The O(m) histogram selection returns numpy's 'linear' quantiles bit for bit, also for ties,
    heavy tails and sorted input; non-finite input gives NaN instead of an out-of-range bin."""
    qs = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    out = np.empty(5)
    exact_quantiles(x, qs, np.empty(256, dtype=np.int64), out)
    np.testing.assert_array_equal(out, np.quantile(x, qs))
    bad = x.copy()
    bad[len(bad) // 2] = np.nan
    exact_quantiles(bad, qs, np.empty(256, dtype=np.int64), out)
    assert np.all(np.isnan(out))


def test_hessian_lambda_max_matches_dense_hessian():
    """Lanczos on Hessian-vector products against the dense Hessian of L by finite differences of
    the analytic gradient (step 1e-6, tolerance 1e-5 relative)."""
    rng = np.random.default_rng(2)
    n, d, m = 10, 3, 4
    p = make_problem(n, d, rng)
    W, a = init_params(m, d, "standard", 1.0, rng)

    def grad(theta):
        Wm, am = theta[: m * d].reshape(m, d), theta[m * d :]
        g = p.Sigma_hat @ (Wm.T @ am - p.beta_star)
        return np.concatenate([np.outer(am, g).ravel(), Wm @ g])

    theta = np.concatenate([W.ravel(), a])
    h = 1e-6
    Hd = np.array([(grad(theta + h * e) - grad(theta - h * e)) / (2 * h) for e in np.eye(len(theta))])
    assert hessian_lambda_max(W, a, p, 1.0) == pytest.approx(np.linalg.eigvalsh(0.5 * (Hd + Hd.T))[-1], rel=1e-5)


def test_phase_times_on_known_curves():
    steps = np.arange(0, 100_001, 1000)
    plateau, start, rate = 0.1, 1.0, 1 / 10_000
    w = plateau + (start - plateau) * np.exp(-rate * steps)
    t1 = phase_one_time(steps, w)
    # exact: (start − plateau)e^{−rate t} = 0.1·plateau  ⇒  t = ln(90)/rate ≈ 45 000
    assert t1.step == pytest.approx(np.log((start - plateau) / (0.1 * plateau)) / rate, abs=1000)
    cos = np.minimum(1.0, 0.2 + steps / 50_000)
    assert phase_two_time(steps, cos).step == pytest.approx(35_000, abs=1000)


def test_phase_times_not_reached_have_reasons():
    steps = np.arange(0, 20_001, 1000)
    flat = np.full(len(steps), 0.98)
    t1 = phase_one_time(steps, flat)
    assert np.isnan(t1.step) and "no Phase I" in t1.reason
    falling = 1.0 - steps / 40_000
    t1 = phase_one_time(steps, falling)
    assert np.isnan(t1.step) and "no plateau" in t1.reason
    t2 = phase_two_time(steps, np.full(len(steps), 0.3))
    assert np.isnan(t2.step) and "below 0.9" in t2.reason
