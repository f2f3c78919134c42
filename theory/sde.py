"""SDE of label-noise SGD in time t = η·steps and the implicit regularizer it implies (docs/theory.md §3).

    dθ = −∇L dt + √η Σ(θ)^{1/2} dB_t,   Σ(θ) = J Cov(u) Jᵀ,   J = [s a ⊗ I_d ; s W]  (θ = (vec W, a)),
    Cov u = (δ²/B) Σ̂ + (c_B/B)(M₄ − g gᵀ):   Σ = (δ²/B) G + (c_B/B) J (M₄ − g gᵀ) Jᵀ,
since J Σ̂ Jᵀ = G. For Gaussian design (x ~ N(0, Σ), Isserlis) M₄ = (eᵀΣe) Σ + 2 Σ e eᵀ Σ, so the
trace part of Cov u is ((δ² + eᵀΣe)/B) Σ: an effective label-noise variance δ² + 2L.
The coefficient λ of the implicit regularizer λ tr G follows from the balancedness D_kk = a_k² − ‖w_k‖²,
whose drift is pure noise: per step E ΔD_kk = η² s² (δ²/B)(w_kᵀ Σ̂ w_k − τ a_k²) on Γ, and the
regularized flow gives η·4λ s² (w_kᵀ Σ̂ w_k − τ a_k²); equal iff λ = ηδ²/(4B).
"""

from __future__ import annotations

import sympy as sp

from lnsgd.theory import flow, moments
from lnsgd.theory import symbols as sy
from lnsgd.theory.symbols import dot, explicit


def noise_jacobian(W, a, s) -> sp.BlockMatrix:
    """J = ∂(∇_θ L_batch)/∂u = [s a ⊗ I_d ; s W], so that ∇_θ L_batch = J u."""
    d = W.shape[1]
    return sp.BlockMatrix([[s * sp.KroneckerProduct(a, sp.Identity(d))], [s * W]])


def diffusion_matrix(W, a, cov_u, s) -> sp.MatrixExpr:
    """Σ(θ) = J Cov(u) Jᵀ (per-step covariance of θ is η² Σ; diffusion √η Σ^{1/2} in t = η·steps)."""
    J = noise_jacobian(W, a, s)
    return J * cov_u * J.T


def gaussian_design_fourth_moment(e, Sigma) -> sp.MatrixExpr:
    """E[(x·e)² x xᵀ] = (eᵀΣe) Σ + 2 Σ e eᵀ Σ for x ~ N(0, Σ) (Isserlis)."""
    return dot(e, Sigma * e) * Sigma + 2 * Sigma * e * e.T * Sigma


def effective_label_noise_variance(delta, loss) -> sp.Expr:
    """δ_eff² = δ² + 2L: trace part of B·Cov u under Gaussian design with Σ = I (eᵀΣe = 2L)."""
    return delta**2 + 2 * loss


def implicit_regularizer_coefficient(eta, delta, B, s, d_val: int = 3) -> sp.Expr:
    """λ solved from E ΔD_kk (one SGD step on Γ: g = 0, M₄ = 0) = η · Ḋ_kk (regularized flow).

    Solved with explicit entries of w_k and Σ̂ at size d_val (τ = tr Σ̂); the answer must not depend
    on them, which the caller can check.
    """
    lam = sp.Symbol("lam", positive=True)
    d = sy.d
    zero = sp.ZeroMatrix(d, 1)
    b, Q = moments.neuron_increment_forms(sy.w, sy.a_k, zero, s)["balance"]
    U = moments.u_second_moment(zero, sy.Sigma_hat, sp.ZeroMatrix(d, d), delta, B, 1)
    per_step = moments.quadratic_increment(b, Q, zero, U, eta)
    gradients = flow.label_noise_gradients(sy.Sigma_hat, sp.Trace(sy.Sigma_hat), s, lam)
    w_dot, ak_dot = flow.neuron_flow(sy.w, sy.a_k, zero, *gradients, s)
    rate = 2 * sy.a_k * ak_dot - 2 * dot(sy.w, w_dot)
    equation = sp.Eq(explicit(per_step, d_val, 1), explicit(eta * rate, d_val, 1))
    return sp.factor(sp.solve(equation, lam)[0])
