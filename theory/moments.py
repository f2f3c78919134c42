"""Exact per-step moments of one label-noise SGD step (docs/model.md §3; docs/theory.md §2).

One step with minibatch indices i_1..i_B and noise ξ_1..ξ_B moves θ along a single vector
    u = (1/B) Σ_j (r_{i_j} − δ ξ_j) x_{i_j},   r_i = x_i·(β − β*):
    ΔW = −η s a uᵀ,   Δa = −η s W u.
Its moments (ξ with E ξ = E ξ³ = 0, E ξ² = 1, E ξ⁴ = μ₄; indices uniform, with replacement c_B = 1,
without replacement c_B = (n − B)/(n − 1)):
    E u = g = Σ̂ (β − β*),
    E u uᵀ = g gᵀ + (c_B/B) (M₄ − g gᵀ) + (δ²/B) Σ̂,   M₄ = (1/n) Σ_i r_i² x_i x_iᵀ.
Every increment below is affine in (u, U) with U = u uᵀ — exactly, for any η — so its exact
expectation is the same expression at (E u, E u uᵀ). Scalar per-neuron increments have the form
Δ = η b·u + η² uᵀ Q u; for B = 1 their exact second moment is
    E Δ² = (1/n) Σ_i [η² (r_i² + δ²) p_i² + 2η³ (r_i³ + 3 r_i δ²) p_i q_i + η⁴ (r_i⁴ + 6 r_i² δ² + μ₄ δ⁴) q_i²],
p_i = b·x_i, q_i = x_iᵀ Q x_i; for general B the leading term is Var Δ = η² bᵀ Cov(u) b + O(η³).
"""

from __future__ import annotations

import sympy as sp

from lnsgd.theory.symbols import dot


def sgd_step(W, a, u, eta, s) -> tuple[sp.MatrixExpr, sp.MatrixExpr]:
    """(ΔW, Δa) = (−η s a uᵀ, −η s W u)."""
    return -eta * s * a * u.T, -eta * s * W * u


def sampling_factor(n, B, replace: bool) -> sp.Expr:
    """c_B: 1 with replacement, (n − B)/(n − 1) without (finite-population correction)."""
    return sp.Integer(1) if replace else (n - B) / (n - 1)


def u_second_moment(g, Sigma_hat, M4, delta, B, c_B) -> sp.MatrixExpr:
    """E u uᵀ = g gᵀ + (c_B/B)(M₄ − g gᵀ) + (δ²/B) Σ̂."""
    return g * g.T + c_B / B * (M4 - g * g.T) + delta**2 / B * Sigma_hat


def u_covariance(g, Sigma_hat, M4, delta, B, c_B) -> sp.MatrixExpr:
    """Cov u = (c_B/B)(M₄ − g gᵀ) + (δ²/B) Σ̂: minibatch sampling plus label noise."""
    return c_B / B * (M4 - g * g.T) + delta**2 / B * Sigma_hat


def fourth_moment_matrix(X: sp.MatrixBase, e: sp.MatrixBase) -> sp.Matrix:
    """M₄(e) = (1/n) Σ_i (x_i·e)² x_i x_iᵀ from the data rows x_i of X (explicit)."""
    r = X * e
    return sp.Matrix(sum((r[i] ** 2 * X[i, :].T * X[i, :] for i in range(X.rows)), sp.zeros(X.cols))) / X.rows


def neuron_increment_forms(w, a_k, beta_star, s) -> dict[str, tuple[sp.MatrixExpr, sp.MatrixExpr]]:
    """(b, Q) with Δ = η b·u + η² uᵀQu for the per-neuron quantities (Δw_k = −ηs a_k u, Δa_k = −ηs w_k·u).

    ‖w_k‖²: b = −2s a_k w_k, Q = s² a_k² I;   a_k²: b = −2s a_k w_k, Q = s² w_k w_kᵀ;
    a_k w_k·β*: b = −s[(w_k·β*) w_k + a_k² β*], Q = s² a_k w_k β*ᵀ;
    balance a_k² − ‖w_k‖²: b = 0, Q = s² (w_k w_kᵀ − a_k² I).
    """
    d = w.shape[0]
    I = sp.Identity(d)  # noqa: E741 (the identity of the docstring's formulas)
    zero = sp.ZeroMatrix(d, 1)
    return {
        "norm_w_sq": (-2 * s * a_k * w, s**2 * a_k**2 * I),
        "a_sq": (-2 * s * a_k * w, s**2 * w * w.T),
        "a_w_beta_star": (-s * (w * dot(w, beta_star) + a_k**2 * beta_star), s**2 * a_k * w * beta_star.T),
        "balance": (zero, s**2 * (w * w.T - a_k**2 * I)),
    }


def quadratic_increment(b, Q, u, U, eta) -> sp.Expr:
    """Δ = η b·u + η² tr(Q U) (U = u uᵀ gives the increment, U = E u uᵀ its mean)."""
    return eta * dot(b, u) + eta**2 * sp.Trace(Q * U)


def single_sample_second_moment(p, q, r, delta, eta, mu4) -> sp.Expr:
    """E_ξ Δ² for B = 1 and sampled index i: Δ = η ρ p + η² ρ² q with ρ = r − δξ, p = b·x_i, q = x_iᵀQx_i."""
    xi = sp.Symbol("xi")
    rho = r - delta * xi
    poly = sp.Poly(sp.expand((eta * rho * p + eta**2 * rho**2 * q) ** 2), xi)
    xi_moments = {0: 1, 1: 0, 2: 1, 3: 0, 4: mu4}
    return sp.expand(sum(coeff * xi_moments[k] for (k,), coeff in poly.terms()))


def second_moment_B1(b, Q, X: sp.MatrixBase, e: sp.MatrixBase, delta, eta, mu4) -> sp.Expr:
    """E Δ² for B = 1: the mean over the rows x_i of X of ``single_sample_second_moment`` (explicit)."""
    total = 0
    for i in range(X.rows):
        x = X[i, :].T
        p = (sp.Matrix(b).T * x)[0, 0]
        q = (x.T * sp.Matrix(Q) * x)[0, 0]
        total += single_sample_second_moment(p, q, (x.T * e)[0, 0], delta, eta, mu4)
    return total / X.rows


def reduced_increments(beta, S, A, u, U, eta, s) -> tuple[sp.MatrixExpr, sp.MatrixExpr, sp.Expr]:
    """(Δβ, ΔS, ΔA), exact, affine in (u, U = u uᵀ):
    Δβ = −η s² (A u + S u) + η² s² U β,  ΔS = −η (u βᵀ + β uᵀ) + η² s² A U,  ΔA = −2η β·u + η² s² tr(S U).
    """
    d_beta = -eta * s**2 * (A * u + S * u) + eta**2 * s**2 * U * beta
    d_S = -eta * (u * beta.T + beta * u.T) + eta**2 * s**2 * A * U
    d_A = -2 * eta * dot(beta, u) + eta**2 * s**2 * sp.Trace(S * U)
    return d_beta, d_S, d_A


def balance_increment(W, a, U, eta, s) -> sp.MatrixExpr:
    """ΔD for D = a aᵀ − W Wᵀ: η² s² (W U Wᵀ − tr(U) a aᵀ) — no O(η) term, exactly."""
    return eta**2 * s**2 * (W * U * W.T - sp.Trace(U) * a * a.T)
