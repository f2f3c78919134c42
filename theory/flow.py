"""The regularized flow θ̇ = −∇(L + λ tr G), its closure on (β, S, A) and the per-neuron ODE.

THEORY.md §4.2, for any scale s (s = 1 gives the equations written there):
    Ẇ = −s a gᵀ − 2λ s² W Σ̂,            ȧ = −s W g − 2λ s² τ a,
    β̇ = −s² (A I + S) g − 2λ s² (Σ̂ + τ I) β,
    Ṡ = −(g βᵀ + β gᵀ) − 2λ s² (Σ̂ S + S Σ̂),
    Ȧ = −2 β·g − 4λ s² τ A,
    ẇ_k = −s a_k g − 2λ s² Σ̂ w_k,        ȧ_k = −s w_k·g − 2λ s² τ a_k,
with g = Σ̂ (β − β*) and β = s Wᵀa, S = WᵀW, A = ‖a‖². λ = 0 is gradient flow, which conserves the
balancedness D = a aᵀ − W Wᵀ; with λ > 0, Ḋ = 4λ s² (W Σ̂ Wᵀ − τ a aᵀ).
``closure_residual`` proves the reduced equations from the per-neuron ones at explicit sizes.
"""
from __future__ import annotations

import sympy as sp

from lnsgd.theory import model
from lnsgd.theory.symbols import dot, explicit


def regularized_flow(W, a, g, Sigma_hat, tau, s, lam) -> tuple[sp.MatrixExpr, sp.MatrixExpr]:
    """(Ẇ, ȧ) = (−s a gᵀ − 2λ s² W Σ̂, −s W g − 2λ s² τ a), i.e. −∇(L + λ tr G)."""
    return -s * a * g.T - 2 * lam * s**2 * W * Sigma_hat, -s * W * g - 2 * lam * s**2 * tau * a


def reduced_flow(beta, S, A, g, Sigma_hat, tau, s, lam) -> tuple[sp.MatrixExpr, sp.MatrixExpr, sp.Expr]:
    """(β̇, Ṡ, Ȧ) of the regularized flow in the reduced variables (β, S, A)."""
    beta_dot = -s**2 * (A * g + S * g) - 2 * lam * s**2 * (Sigma_hat * beta + tau * beta)
    S_dot = -(g * beta.T + beta * g.T) - 2 * lam * s**2 * (Sigma_hat * S + S * Sigma_hat)
    A_dot = -2 * dot(beta, g) - 4 * lam * s**2 * tau * A
    return beta_dot, S_dot, A_dot


def reduced_flow_beta_jacobian(S, A, Sigma_hat, tau, s, lam) -> sp.MatrixExpr:
    """∂β̇/∂β = −s² (A I + S) Σ̂ − 2λ s² (Σ̂ + τ I): the stiff block of the reduced flow.

    The fast relaxation of β onto the interpolation manifold has rates up to s² λ_max((A I + S) Σ̂)
    ≈ s² (m/d) λ_max(Σ̂) at a standard initialisation; a linearly implicit integrator solves with this
    d×d block (``solvers/ode_rosw.py``). Exact also for λ_eff(tr G), which depends on (S, A) only.
    """
    d_size = Sigma_hat.shape[0]
    return -s**2 * (A * Sigma_hat + S * Sigma_hat) - 2 * lam * s**2 * (Sigma_hat + tau * sp.Identity(d_size))


def neuron_flow(w, a_k, g, Sigma_hat, tau, s, lam) -> tuple[sp.MatrixExpr, sp.Expr]:
    """(ẇ_k, ȧ_k) = (−s a_k g − 2λ s² Σ̂ w_k, −s w_k·g − 2λ s² τ a_k): one linear ODE for all k."""
    return -s * a_k * g - 2 * lam * s**2 * Sigma_hat * w, -s * dot(w, g) - 2 * lam * s**2 * tau * a_k


def balance_rate(W, a, W_dot, a_dot) -> sp.MatrixExpr:
    """Ḋ for D = a aᵀ − W Wᵀ: ȧ aᵀ + a ȧᵀ − Ẇ Wᵀ − W Ẇᵀ."""
    return a_dot * a.T + a * a_dot.T - W_dot * W.T - W * W_dot.T


def balance_rate_closed_form(W, a, Sigma_hat, tau, s, lam) -> sp.MatrixExpr:
    """Ḋ = 4λ s² (W Σ̂ Wᵀ − τ a aᵀ) under the regularized flow (zero for gradient flow)."""
    return 4 * lam * s**2 * (W * Sigma_hat * W.T - tau * a * a.T)


def full_state_flow(W, a, Sigma_hat, beta_star, tau, s, lam) -> tuple[sp.MatrixExpr, sp.MatrixExpr]:
    """(Ẇ, ȧ) with g = Σ̂ (s Wᵀa − β*) substituted."""
    g = model.residual_gradient(model.predictor(W, a, s), Sigma_hat, beta_star)
    return regularized_flow(W, a, g, Sigma_hat, tau, s, lam)


def closure_residual(W, a, Sigma_hat, beta_star, tau, s, lam, d_val: int, m_val: int) -> list[sp.Matrix]:
    """β̇, Ṡ, Ȧ computed from the per-neuron equations minus ``reduced_flow``, at explicit sizes.

    The per-neuron equations are ``neuron_flow`` applied to each row w_k of W with the same g;
    β̇ = s Σ_k (ẇ_k a_k + w_k ȧ_k), Ṡ = Σ_k (ẇ_k w_kᵀ + w_k ẇ_kᵀ), Ȧ = 2 Σ_k a_k ȧ_k.
    Every returned matrix is identically zero iff the flow closes on (β, S, A).
    """
    Wx = explicit(W, d_val, m_val)
    ax = explicit(a, d_val, m_val)
    Sx = explicit(Sigma_hat, d_val, m_val)
    bsx = explicit(beta_star, d_val, m_val)
    beta = s * Wx.T * ax
    g = Sx * (beta - bsx)
    beta_dot = sp.zeros(d_val, 1)
    S_dot = sp.zeros(d_val, d_val)
    A_dot = sp.zeros(1, 1)
    for k in range(m_val):
        wk = Wx[k, :].T
        wk_dot, ak_dot = neuron_flow(wk, ax[k, 0], g, Sx, tau, s, lam)
        wk_dot, ak_dot = sp.Matrix(wk_dot), sp.sympify(ak_dot).doit()
        beta_dot += s * (wk_dot * ax[k, 0] + wk * ak_dot)
        S_dot += wk_dot * wk.T + wk * wk_dot.T
        A_dot += sp.Matrix([[2 * ax[k, 0] * ak_dot]])
    red_beta, red_S, red_A = reduced_flow(beta, Wx.T * Wx, (ax.T * ax)[0, 0], g, Sx, tau, s, lam)
    diffs = [beta_dot - sp.Matrix(red_beta), S_dot - sp.Matrix(red_S), A_dot - sp.Matrix([[sp.sympify(red_A).doit()]])]
    return [sp.expand(dm) for dm in diffs]
