"""The regularized flow θ̇ = −∇(L + R), its closure on (β, S, A) and the per-neuron ODE.

Every regularizer of this workbench depends on θ only through (S, A) — label noise's λ tr G with
tr G = s²[tr(Σ̂S) + τA], and SAM's and USAM's leading terms (theory/sam.py), all functions of the
per-sample forms q_i = x_iᵀ(S + A I)x_i. With Ω = ∂R/∂S (symmetric) and ω = ∂R/∂A, ∇_W R = 2WΩ and
∇_a R = 2ωa, so for any such R (docs/theory.md):
    Ẇ = −s a gᵀ − 2 W Ωᵀ,                ȧ = −s W g − 2ω a,
    β̇ = −s² (A I + S) g − 2 (Ω + ω I) β,
    Ṡ = −(g βᵀ + β gᵀ) − 2 (Ω S + S Ωᵀ),
    Ȧ = −2 β·g − 4ω A,
    ẇ_k = −s a_k g − 2 Ω w_k,             ȧ_k = −s w_k·g − 2ω a_k,
with g = Σ̂ (β − β*), β = s Wᵀa, S = WᵀW, A = ‖a‖². The flow closes on (β, S, A) because Ω, ω are
functions of (S, A). Label noise, R = λ tr G: Ω = λ s² Σ̂, ω = λ s² τ (``label_noise_gradients``).
λ = 0 is gradient flow, which conserves the balancedness D = a aᵀ − W Wᵀ; in general
Ḋ = 4 (W Ω Wᵀ − ω a aᵀ). ``closure_residual`` proves the reduced equations from the per-neuron ones.
"""

from __future__ import annotations

import sympy as sp

from lnsgd.theory import model
from lnsgd.theory.symbols import dot, explicit


def label_noise_gradients(Sigma_hat, tau, s, lam) -> tuple[sp.MatrixExpr, sp.Expr]:
    """(Ω, ω) = (∂/∂S, ∂/∂A) of λ tr G = λ s² [tr(Σ̂ S) + τ A]: (λ s² Σ̂, λ s² τ)."""
    return lam * s**2 * Sigma_hat, lam * s**2 * tau


def regularized_flow(W, a, g, Omega, omega, s) -> tuple[sp.MatrixExpr, sp.MatrixExpr]:
    """(Ẇ, ȧ) = (−s a gᵀ − 2 W Ωᵀ, −s W g − 2ω a): −∇(L + R) when Ω = ∂R/∂S (symmetric), ω = ∂R/∂A.

    Ω enters transposed so that each row moves by ẇ_k = −2Ω w_k also for a non-symmetric Ω (the
    fluctuation drift of solvers/effective.py, "lyapunov")."""
    return -s * a * g.T - 2 * W * Omega.T, -s * W * g - 2 * omega * a


def reduced_flow(beta, S, A, g, Omega, omega, s) -> tuple[sp.MatrixExpr, sp.MatrixExpr, sp.Expr]:
    """(β̇, Ṡ, Ȧ) of the regularized flow in the reduced variables (β, S, A)."""
    beta_dot = -(s**2) * (A * g + S * g) - 2 * (Omega * beta + omega * beta)
    S_dot = -(g * beta.T + beta * g.T) - 2 * (Omega * S + S * Omega.T)
    A_dot = -2 * dot(beta, g) - 4 * omega * A
    return beta_dot, S_dot, A_dot


def reduced_flow_beta_jacobian(S, A, Sigma_hat, Omega, omega, s) -> sp.MatrixExpr:
    """∂β̇/∂β = −s² (A I + S) Σ̂ − 2 (Ω + ω I): the stiff block of the reduced flow.

    The fast relaxation of β onto the interpolation manifold has rates up to s² λ_max((A I + S) Σ̂)
    ≈ s² (m/d) λ_max(Σ̂) at a standard initialisation; a linearly implicit integrator solves with this
    d×d block (``solvers/ode_rosw.py``). Exact for every R(S, A), since Ω, ω do not depend on β.
    """
    d_size = Sigma_hat.shape[0]
    return -(s**2) * (A * Sigma_hat + S * Sigma_hat) - 2 * (Omega + omega * sp.Identity(d_size))


def neuron_flow(w, a_k, g, Omega, omega, s) -> tuple[sp.MatrixExpr, sp.Expr]:
    """(ẇ_k, ȧ_k) = (−s a_k g − 2 Ω w_k, −s w_k·g − 2ω a_k): one linear ODE for all k."""
    return -s * a_k * g - 2 * Omega * w, -s * dot(w, g) - 2 * omega * a_k


def balance_rate(W, a, W_dot, a_dot) -> sp.MatrixExpr:
    """Ḋ for D = a aᵀ − W Wᵀ: ȧ aᵀ + a ȧᵀ − Ẇ Wᵀ − W Ẇᵀ."""
    return a_dot * a.T + a * a_dot.T - W_dot * W.T - W * W_dot.T


def balance_rate_closed_form(W, a, Omega, omega) -> sp.MatrixExpr:
    """Ḋ = 2 W (Ω + Ωᵀ) Wᵀ − 4ω a aᵀ under the regularized flow (zero for gradient flow)."""
    return 2 * W * (Omega + Omega.T) * W.T - 4 * omega * a * a.T


def full_state_flow(W, a, Sigma_hat, beta_star, Omega, omega, s) -> tuple[sp.MatrixExpr, sp.MatrixExpr]:
    """(Ẇ, ȧ) with g = Σ̂ (s Wᵀa − β*) substituted."""
    g = model.residual_gradient(model.predictor(W, a, s), Sigma_hat, beta_star)
    return regularized_flow(W, a, g, Omega, omega, s)


def closure_residual(W, a, Sigma_hat, beta_star, Omega, omega, s, d_val: int, m_val: int) -> list[sp.Matrix]:
    """β̇, Ṡ, Ȧ computed from the per-neuron equations minus ``reduced_flow``, at explicit sizes.

    The per-neuron equations are ``neuron_flow`` applied to each row w_k of W with the same g;
    β̇ = s Σ_k (ẇ_k a_k + w_k ȧ_k), Ṡ = Σ_k (ẇ_k w_kᵀ + w_k ẇ_kᵀ), Ȧ = 2 Σ_k a_k ȧ_k.
    Ω may be any d×d matrix (the closure does not need it symmetric).
    Every returned matrix is identically zero iff the flow closes on (β, S, A).
    """
    Wx = explicit(W, d_val, m_val)
    ax = explicit(a, d_val, m_val)
    Sx = explicit(Sigma_hat, d_val, m_val)
    bsx = explicit(beta_star, d_val, m_val)
    Ox = explicit(Omega, d_val, m_val) if isinstance(Omega, sp.MatrixExpr) else Omega
    beta = s * Wx.T * ax
    g = Sx * (beta - bsx)
    beta_dot = sp.zeros(d_val, 1)
    S_dot = sp.zeros(d_val, d_val)
    A_dot = sp.zeros(1, 1)
    for k in range(m_val):
        wk = Wx[k, :].T
        wk_dot, ak_dot = neuron_flow(wk, ax[k, 0], g, Ox, omega, s)
        wk_dot, ak_dot = sp.Matrix(wk_dot), sp.sympify(ak_dot).doit()
        beta_dot += s * (wk_dot * ax[k, 0] + wk * ak_dot)
        S_dot += wk_dot * wk.T + wk * wk_dot.T
        A_dot += sp.Matrix([[2 * ax[k, 0] * ak_dot]])
    red_beta, red_S, red_A = reduced_flow(beta, Wx.T * Wx, (ax.T * ax)[0, 0], g, Ox, omega, s)
    diffs = [beta_dot - sp.Matrix(red_beta), S_dot - sp.Matrix(red_S), A_dot - sp.Matrix([[sp.sympify(red_A).doit()]])]
    return [sp.expand(dm) for dm in diffs]
