"""Derived moments against numpy Monte Carlo from fixed states; the flow against finite differences.

Tolerance of a Monte Carlo mean of N i.i.d. draws with sample std σ̂: |mean − formula| ≤ K_SIGMA·σ̂/√N.
K_SIGMA = 5 gives a false-failure probability ≈ 6e-7 per comparison (two-sided normal tail).
"""

import numpy as np
import pytest
import sympy as sp

from lnsgd.solvers import generated_rhs
from lnsgd.theory import model, moments, sam, sde
from lnsgd.theory import symbols as sy
from lnsgd.theory.symbols import explicit, numeric

K_SIGMA = 5.0
N_DRAWS = 100_000
n, d, m = 6, 2, 3
eta, delta, s = 0.3, 0.7, 0.8  # η large enough that the O(η²) terms matter


def _state(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return rng, X, rng.normal(size=(m, d)), rng.normal(size=m), rng.normal(size=d)


def _draw_u(rng, X, e, B, replace, noise):
    """N draws of u = (1/B) Σ_j (r_{i_j} − δ ξ_j) x_{i_j} — the simulation side, no formula."""
    if replace:
        idx = rng.integers(0, n, size=(N_DRAWS, B))
    else:
        idx = np.argsort(rng.random((N_DRAWS, n)), axis=1)[:, :B]
    xi = rng.normal(size=(N_DRAWS, B)) if noise == "gaussian" else rng.choice([-1.0, 1.0], size=(N_DRAWS, B))
    x = X[idx]  # (N, B, d)
    rho = x @ e - delta * xi
    return (rho[..., None] * x).mean(axis=1)


def _quantities(W, a, beta_star, k=1):
    """Observed quantities of a state (arrays with a leading draw axis allowed)."""
    w, ak = W[..., k, :], a[..., k]
    return {
        "norm_w_sq": (w**2).sum(-1),
        "a_sq": ak**2,
        "a_w_beta_star": ak * (w @ beta_star),
        "balance": ak**2 - (w**2).sum(-1),
        "A": (a**2).sum(-1),
    }


def _check(samples, formula, what):
    tol = K_SIGMA * samples.std(axis=0) / np.sqrt(len(samples)) + 1e-12
    assert np.all(np.abs(samples.mean(axis=0) - formula) <= tol), f"{what}: {samples.mean(axis=0)} vs {formula}"


@pytest.mark.parametrize("B,replace,noise", [(1, True, "gaussian"), (3, True, "rademacher"), (3, False, "gaussian")])
def test_first_moments_of_increments(B, replace, noise):
    rng, X, W, a, beta_star = _state()
    beta = s * W.T @ a
    e = beta - beta_star
    Sigma = X.T @ X / n
    u = _draw_u(rng, X, e, B, replace, noise)
    W1 = W[None] - eta * s * a[None, :, None] * u[:, None, :]
    a1 = a[None] - eta * s * np.einsum("md,nd->nm", W, u)
    # formula side: E u = g, E uuᵀ from the derived expression
    M4 = np.array(moments.fourth_moment_matrix(sp.Matrix(X), sp.Matrix(e)).tolist(), dtype=float)
    c_B = float(moments.sampling_factor(n, B, replace))
    g = Sigma @ e
    U = numeric(
        moments.u_second_moment(sy.g, sy.Sigma_hat, sy.M4, sy.delta, sy.B, sy.c_B),
        {"g": g, "Sigma_hat": Sigma, "M4": M4, "delta": delta, "B": B, "c_B": c_B},
    )
    _check(u, g, "E u")
    _check(np.einsum("ni,nj->nij", u, u), U, "E u uᵀ")
    before, after = _quantities(W, a, beta_star), _quantities(W1, a1, beta_star)
    k = 1
    values = {"w": W[k], "a_k": a[k], "beta_star": beta_star, "u": g, "uu": U, "eta": eta, "s": s}
    for name, (b, Q) in moments.neuron_increment_forms(sy.w, sy.a_k, sy.beta_star, sy.s).items():
        increment = moments.quadratic_increment(b, Q, sy.u, sy.uu, sy.eta)
        _check(after[name] - before[name], numeric(increment, values), name)
    d_beta, d_S, d_A = moments.reduced_increments(sy.beta, sy.S, sy.A, sy.u, sy.uu, sy.eta, sy.s)
    red = {"beta": beta, "S": W.T @ W, "A": a @ a, "u": g, "uu": U, "eta": eta, "s": s}
    _check(s * np.einsum("nmd,nm->nd", W1, a1) - beta, numeric(d_beta, red)[:, 0], "Δβ")
    _check(np.einsum("nmi,nmj->nij", W1, W1) - W.T @ W, numeric(d_S, red), "ΔS")
    _check(after["A"] - before["A"], numeric(d_A, red), "ΔA")

    def D(W_, a_):
        return a_[..., :, None] * a_[..., None, :] - W_ @ np.swapaxes(W_, -1, -2)

    _check(
        D(W1, a1) - D(W, a),
        numeric(
            moments.balance_increment(sy.W, sy.a, sy.uu, sy.eta, sy.s), {"W": W, "a": a, "uu": U, "eta": eta, "s": s}
        ),
        "ΔD",
    )


@pytest.mark.parametrize("noise,mu4", [("gaussian", 3.0), ("rademacher", 1.0)])
def test_second_moments_of_increments_B1(noise, mu4):
    rng, X, W, a, beta_star = _state(1)
    e = s * W.T @ a - beta_star
    u = _draw_u(rng, X, e, 1, True, noise)
    W1 = W[None] - eta * s * a[None, :, None] * u[:, None, :]
    a1 = a[None] - eta * s * np.einsum("md,nd->nm", W, u)
    before, after = _quantities(W, a, beta_star), _quantities(W1, a1, beta_star)
    k = 1
    for name, (b, Q) in moments.neuron_increment_forms(sy.w, sy.a_k, sy.beta_star, sy.s).items():
        vals = {"w": W[k], "a_k": a[k], "beta_star": beta_star, "s": s}
        bx, Qx = (sp.Matrix(explicit(x, d, m, vals)) for x in (b, Q))
        formula = float(moments.second_moment_B1(bx, Qx, sp.Matrix(X), sp.Matrix(e), delta, eta, mu4))
        _check((after[name] - before[name]) ** 2, formula, f"E Δ² {name}")


def test_gaussian_design_fourth_moment_isserlis():
    rng = np.random.default_rng(5)
    L = rng.normal(size=(d, d))
    Sigma = L @ L.T + np.eye(d)
    e = rng.normal(size=d)
    x = rng.normal(size=(N_DRAWS, d)) @ np.linalg.cholesky(Sigma).T
    samples = ((x @ e) ** 2)[:, None, None] * np.einsum("ni,nj->nij", x, x)
    e_sym, S_sym = sp.MatrixSymbol("e", sy.d, 1), sp.MatrixSymbol("Sigma_hat", sy.d, sy.d)
    _check(
        samples, numeric(sde.gaussian_design_fourth_moment(e_sym, S_sym), {"e": e, "Sigma_hat": Sigma}), "M4 Gaussian"
    )


def test_oscillation_averaged_drift():
    rng, X, W, a_bar, beta_star = _state(2)
    Sigma = X.T @ X / n
    eps_val = 0.4
    zeta = rng.normal(size=(N_DRAWS, m))
    a = a_bar[None] + eps_val * zeta
    g = (s * np.einsum("md,nm->nd", W, a) - beta_star) @ Sigma
    samples = -s * a[:, :, None] * g[:, None, :]  # −∇_W L at the oscillating a
    mean = sam.oscillation_step_drift(
        sy.W, sy.a, sp.ZeroMatrix(sy.m, 1), sy.Z, sy.Sigma_hat, sy.beta_star, sy.s, sy.eps
    )
    _check(
        samples,
        numeric(
            mean,
            {"W": W, "a": a_bar, "Z": np.eye(m), "Sigma_hat": Sigma, "beta_star": beta_star, "s": s, "eps": eps_val},
        ),
        "oscillation drift",
    )


def test_regularized_flow_against_finite_differences():
    rng, X, W, a, beta_star = _state(3)
    Sigma = X.T @ X / n
    lam = 0.37
    objective = model.train_loss(
        model.predictor(sy.W, sy.a, sy.s), sy.Sigma_hat, sy.beta_star
    ) + sy.lam * model.gauss_newton_trace(sy.W, sy.a, sy.Sigma_hat, sp.Trace(sy.Sigma_hat), sy.s)

    def F(W_, a_):
        return numeric(objective, {"W": W_, "a": a_, "Sigma_hat": Sigma, "beta_star": beta_star, "s": s, "lam": lam})

    h = 1e-5
    theta = np.concatenate([W.ravel(), a])
    grad = np.empty_like(theta)
    for i in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[i] += h
        tm[i] -= h
        grad[i] = (F(tp[: m * d].reshape(m, d), tp[m * d :]) - F(tm[: m * d].reshape(m, d), tm[m * d :])) / (2 * h)
    dW, da = np.empty((m, d)), np.empty(m)
    generated_rhs.regularized_flow_full(
        W, a, Sigma, beta_star, lam * s**2 * Sigma, lam * s**2 * np.trace(Sigma), s, dW, da
    )
    # central differences: error O(h²·|F'''|) ≈ 1e-10 here, far below 1e-7
    np.testing.assert_allclose(-np.concatenate([dW.ravel(), da]), grad, rtol=1e-7, atol=1e-8)


# ---------------------------------------------------------------- SAM and USAM on the manifold
def _interpolating_state(seed):
    """(X, y, W, a) with y_i = f(x_i) exactly: every residual r_i is zero (a point of Γ)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d + 2))
    W, a = rng.normal(size=(m + 1, d + 2)) / 2, rng.normal(size=m + 1)
    return X, s * X @ W.T @ a, W, a


def _grad_f(W, a, x):
    """∇_θ f(x) of f = s aᵀWx as one vector [vec W, a] (leading draw axes of W, a allowed)."""
    gW = s * a[..., :, None] * x
    ga = s * W @ x
    return np.concatenate([gW.reshape(*gW.shape[:-2], -1), ga], axis=-1)


def _step_direction(W, a, X, y, i, xi, rho, normalized):
    """The exact SAM/USAM step direction ∇L̃_i(θ + ε) for draws ξ (simulation side, no formula):
    L̃_i = ½(f(x_i) − y_i − δξ)², ε = ρ∇L̃_i/‖∇L̃_i‖ (1-SAM) or ρ∇L̃_i (USAM)."""
    x = X[i]
    r = s * a @ W @ x - y[i] - delta * xi  # (N,)
    grad = r[:, None] * _grad_f(W, a, x)[None]
    scale = rho / np.linalg.norm(grad, axis=1) if normalized else np.full(len(xi), rho)
    eps = scale[:, None] * grad
    W1 = W[None] + eps[:, : W.size].reshape(-1, *W.shape)
    a1 = a[None] + eps[:, W.size :]
    r1 = s * np.einsum("nk,nkj,j->n", a1, W1, x) - y[i] - delta * xi
    return r1[:, None] * _grad_f(W1, a1, x)


def _tangent_projector(W, a, X):
    """I − Q Qᵀ with Q an orthonormal basis of span{∇f(x_i)}: the tangent space of Γ at θ."""
    Q, _ = np.linalg.qr(np.stack([_grad_f(W, a, x) for x in X], axis=1))
    return np.eye(Q.shape[0]) - Q @ Q.T


def _flow_gradient(W, a, X, c):
    """∇_θ R = [2 W Ω, 2ω a] with Ω = (1/n) Σ_i c_i x_i x_iᵀ, ω = (1/n) Σ_i c_i ‖x_i‖² (theory/flow.py)."""
    Omega = (X * c[:, None]).T @ X / len(X)
    omega = np.mean(c * np.sum(X * X, axis=1))
    return np.concatenate([(2 * W @ Omega).ravel(), 2 * omega * a])


def _drift_samples(W, a, X, y, rho, noise, normalized, rng):
    """N draws of (1/n) Σ_i ∇L̃_i(θ + ε_i), one independent ξ_i per sample and draw."""
    xi = rng.normal(size=(N_DRAWS, n)) if noise == "gaussian" else rng.choice([-1.0, 1.0], size=(N_DRAWS, n))
    return sum(_step_direction(W, a, X, y, i, xi[:, i], rho, normalized) for i in range(n)) / n


@pytest.mark.parametrize("noise,xi_abs", [("gaussian", np.sqrt(2 / np.pi)), ("rademacher", 1.0)])
def test_one_sam_tangential_drift_is_the_gradient_of_its_regularizer(noise, xi_abs):
    """1-SAM with label noise on Γ: the tangential mean of the exact step direction is ∇R_1SAM with
    R_1SAM = (1/n) Σ_i [ρδ E|ξ| ‖∇f_i‖ + (ρ²/2)‖∇f_i‖²] (exact at r = 0, so only Monte Carlo error).
    The (ρ²/2) tr G term alone must be rejected: it misses the O(ρδ) term."""
    X, y, W, a = _interpolating_state(7)
    rho = 0.05
    samples = _drift_samples(W, a, X, y, rho, noise, True, np.random.default_rng(8)) @ _tangent_projector(W, a, X)
    q = np.sum((X @ W.T) ** 2, axis=1) + (a @ a) * np.sum(X * X, axis=1)
    c = np.array([generated_rhs.one_sam_weight(qi, s, rho, delta, xi_abs) for qi in q])
    P = _tangent_projector(W, a, X)
    _check(samples, P @ _flow_gradient(W, a, X, c), "1-SAM tangential drift")
    # the sympy regularizer itself, by central differences, against the flow's (Ω, ω) form
    R = sp.lambdify(sy.q, sam.one_sam_sample_regularizer(sy.q, s, rho, delta, xi_abs))
    theta = np.concatenate([W.ravel(), a])

    def R_of(th):
        Wt, at = th[: W.size].reshape(W.shape), th[W.size :]
        return np.mean([R(np.sum((Wt @ x) ** 2) + (at @ at) * (x @ x)) for x in X])

    h = 1e-6
    fd = np.array([(R_of(theta + h * e) - R_of(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    np.testing.assert_allclose(fd, _flow_gradient(W, a, X, c), rtol=1e-6, atol=1e-9)
    old = P @ _flow_gradient(W, a, X, np.full(n, rho**2 * s**2 / 2))
    gap = np.abs(samples.mean(axis=0) - old) / (samples.std(axis=0) / np.sqrt(N_DRAWS) + 1e-12)
    assert gap.max() > 10 * K_SIGMA, "the (ρ²/2) tr G regularizer alone should be rejected"


def test_usam_tangential_drift_is_exact_in_rho():
    """1-USAM with label noise on Γ: the tangential mean step direction is ∇ of (1/n)Σ_i
    (ρδ²/2)(1 + ρ‖∇f_i‖²)‖∇f_i‖² with the factor held fixed (exact at r = 0 for symmetric ξ), at a ρ
    where ρ‖∇f_i‖² is O(1); the leading (ρδ²/2) tr G alone must be rejected there."""
    X, y, W, a = _interpolating_state(9)
    q = np.sum((X @ W.T) ** 2, axis=1) + (a @ a) * np.sum(X * X, axis=1)
    rho = 0.5 / (s**2 * q.max())
    P = _tangent_projector(W, a, X)
    samples = _drift_samples(W, a, X, y, rho, "gaussian", False, np.random.default_rng(10)) @ P
    c = np.array([generated_rhs.one_usam_weight(qi, s, rho, delta) for qi in q])
    _check(samples, P @ _flow_gradient(W, a, X, c), "1-USAM tangential drift")
    leading = P @ _flow_gradient(W, a, X, np.full(n, generated_rhs.usam_weight(s, rho, delta, 1.0)))
    gap = np.abs(samples.mean(axis=0) - leading) / (samples.std(axis=0) / np.sqrt(N_DRAWS) + 1e-12)
    assert gap.max() > 10 * K_SIGMA, "the leading (ρδ²/2) tr G should be rejected at ρ‖∇f‖² = O(1)"
