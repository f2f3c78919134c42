"""First-order implicit regularizers of SAM and USAM, and the oscillation-averaged drift (§4.4).

USAM, θ ← θ − η ∇L_b(θ + ρ ∇L_b(θ)) = θ − η ∇[L_b + (ρ/2) ‖∇L_b‖²](θ) + O(ηρ²). Since
∇_θ L_b = J u (``sde.noise_jacobian``), ‖∇L_b‖² = s² uᵀ K u with K = S + A I, and the expected
regularizer is R_USAM = (ρ/2) E‖∇L_b‖² = (ρ/2) s² tr(K E u uᵀ); on Γ (g = 0, M₄ = 0) this is
(ρ δ²/(2B)) tr G — added to label-noise SGD's own λ tr G. Full batch (B = n, c_B = 0): (ρ/2)(‖∇L‖² +
(δ²/n) tr G); without label noise (ρ/2)‖∇L‖², which vanishes on Γ (first order gives nothing there).
Normalized SAM, ε = ρ ∇L_b/‖∇L_b‖. Stochastic, B = 1, near Γ: ∇L_i = r̃_i ∇f_i, so ε = ±ρ ∇f_i/‖∇f_i‖
and the tangential part of ∇L_i(θ + ε) is ρ² ∇²f_i ∇f_i = (ρ²/2) ∇‖∇f_i‖²; averaged over i this is
R_1SAM = (ρ²/2) tr G, with or without label noise (the sign of r̃_i cancels). Full batch without label
noise: R_SAM = (ρ²/2) λ_max(∇²L) (Wen, Ma, Li 2023; cited, not derived here).
Oscillation: plain GD with a = ā + ε ζ, E ζ = 0, E ζζᵀ = Z: the mean W-step per unit time is
−s ā ḡᵀ − ε² s² Z W Σ̂ (ḡ = Σ̂(s Wᵀā − β*)), a shrinking drift equal to the label-noise term −2λ s² W Σ̂
when Z = I and λ = ε²/2.
"""
from __future__ import annotations

import sympy as sp

from lnsgd.theory import model


def batch_gradient_norm_sq(S, A, U, s) -> sp.Expr:
    """‖∇_θ L_b‖² = s² tr(K U), K = S + A I, U = u uᵀ (U = E u uᵀ gives its mean)."""
    return s**2 * (sp.Trace(S * U) + A * sp.Trace(U))


def usam_regularizer(S, A, U, s, rho) -> sp.Expr:
    """R_USAM = (ρ/2) s² tr(K E u uᵀ)."""
    return rho / 2 * batch_gradient_norm_sq(S, A, U, s)


def one_sam_regularizer(trace_G, rho) -> sp.Expr:
    """R_1SAM = (ρ²/2) tr G (stochastic normalized SAM, B = 1, near Γ)."""
    return rho**2 / 2 * trace_G


def full_batch_sam_regularizer(lambda_max, rho) -> sp.Expr:
    """R_SAM = (ρ²/2) λ_max(∇²L) (full batch, no label noise; Wen, Ma, Li 2023)."""
    return rho**2 / 2 * lambda_max


def oscillation_step_drift(W, a_bar, zeta, Z_or_zz, Sigma_hat, beta_star, s, eps) -> sp.MatrixExpr:
    """−∇_W L at a = ā + ε ζ, affine in (ζ, ζζᵀ): pass (ζ, ζζᵀ) for one step, (0, Z) for its mean.

    −s a gᵀ with g = Σ̂(s Wᵀa − β*) expands to −s ā ḡᵀ − s ε ζ ḡᵀ − s² ε ā ζᵀ W Σ̂ − s² ε² ζζᵀ W Σ̂.
    """
    g_bar = model.residual_gradient(model.predictor(W, a_bar, s), Sigma_hat, beta_star)
    return (
        -s * a_bar * g_bar.T
        - s * eps * zeta * g_bar.T
        - s**2 * eps * a_bar * zeta.T * W * Sigma_hat
        - s**2 * eps**2 * Z_or_zz * W * Sigma_hat
    )
