"""Finite-step-size correction of λ (docs/theory.md §8): λ_eff = λ / (1 − η tr G/(2B)).

Derivation. Near Γ the error e = β − β* follows the linear step e' = e − η s² K u, K = S + A I, with
u = Σ̂ e + ζ and Cov ζ = C = (1/B)(δ² Σ̂ + M₄(P) − Σ̂ P Σ̂), P = E e eᵀ (the fluctuations of e feed
the residual sampling noise: E M₄(e) = M₄(P), E g gᵀ = Σ̂ P Σ̂). Stationarity of P to first order in η
(dropping the discrete-time term η² s⁴ K Σ̂ P Σ̂ K, of relative size η λ_max) is the Lyapunov equation
    s² (K Σ̂ P + P Σ̂ K) = η s⁴ K C K.
Keeping the trace part of the sampling noise, M₄(P) − Σ̂ P Σ̂ ↦ tr(Σ̂ P) Σ̂ (exact for the
Gaussian-design isotropic part, see ``sde.gaussian_design_fourth_moment``), C = σ² Σ̂ / B with
σ² = δ² + tr(Σ̂ P). The ansatz P = c K solves the Lyapunov equation iff c = η s² σ²/(2B); then
tr(Σ̂ P) = (η σ²/(2B)) s² tr(Σ̂ K) = (η σ²/(2B)) tr G, and σ² = δ² + (η tr G/(2B)) σ² gives
    σ² = δ² / (1 − η tr G/(2B)),   λ_eff = η σ²/(4B) = λ / (1 − η tr G/(2B)),
with a pole at the mean-square stability edge η tr G = 2B.
"""

from __future__ import annotations

import sympy as sp


def lyapunov_residual(P, K, Sigma_hat, C, eta, s) -> sp.MatrixExpr:
    """s² (K Σ̂ P + P Σ̂ K) − η s⁴ K C K (zero at the first-order stationary covariance P)."""
    return s**2 * (K * Sigma_hat * P + P * Sigma_hat * K) - eta * s**4 * K * C * K


def trace_part_noise(sigma_sq, Sigma_hat, B) -> sp.MatrixExpr:
    """C = σ² Σ̂ / B, σ² = δ² + tr(Σ̂ P): label noise plus the trace part of the residual sampling noise."""
    return sigma_sq / B * Sigma_hat


def stationary_scale(sigma_sq, eta, B, s) -> sp.Expr:
    """c in P = c K: c = η s² σ²/(2B)."""
    return eta * s**2 * sigma_sq / (2 * B)


def effective_noise_variance(delta, eta, trace_G, B) -> sp.Expr:
    """σ² solving σ² = δ² + (η tr G/(2B)) σ², i.e. δ²/(1 − η tr G/(2B))."""
    sigma_sq = sp.Symbol("sigma_sq", positive=True)
    return sp.solve(sp.Eq(sigma_sq, delta**2 + eta * trace_G / (2 * B) * sigma_sq), sigma_sq)[0]


def lambda_eff(lam, eta, trace_G, B) -> sp.Expr:
    """λ_eff = η σ²/(4B) with σ² from ``effective_noise_variance``, written through λ = ηδ²/(4B)."""
    delta = sp.Symbol("delta", nonnegative=True)
    value = eta * effective_noise_variance(delta, eta, trace_G, B) / (4 * B)
    return sp.simplify(value.subs(delta, sp.sqrt(4 * B * lam / eta)))
