"""Finite-step-size correction of λ (docs/theory.md §8): λ_eff = λ / (1 − η G_B/2).

Near Γ the error e = β − β* follows the linear step e' = e − η s² K u, K = S + A I, with
u = Σ̂ e + ζ and E u uᵀ = (1 − c_B/B) Σ̂ P Σ̂ + (c_B/B) M₄(P) + (δ²/B) Σ̂, P = E e eᵀ (the fluctuations of
e feed the residual sampling noise: E M₄(e) = M₄(P) = (1/n) Σ_i (x_iᵀ P x_i) x_i x_iᵀ). Stationarity of
the exact one-step recursion is
    s² (K Σ̂ P + P Σ̂ K) = η s⁴ K (E u uᵀ) K.
Its K⁻¹-trace (multiply by K⁻¹, take the trace: exact, no projection of the noise) at the ansatz
P = c K, with q_i = x_iᵀ K x_i (so x_iᵀ P x_i = c q_i) and T₂ = tr((Σ̂ K)²), is the scalar condition
    2c⟨q⟩ = η s² [(1 − c_B/B) c T₂ + (c_B/B) c ⟨q²⟩ + δ²⟨q⟩/B]        (``contracted_stationarity``),
so c = η s² δ²/(B(2 − η G_B)) with the fluctuation curvature
    G_B = s² [(1 − c_B/B) T₂ + (c_B/B) ⟨q²⟩]/⟨q⟩                      (``fluctuation_curvature``)
— for B = 1 the ‖∇f_i‖²-weighted mean of ‖∇f_i‖² = s² q_i — and λ_eff = c/(2s²) = λ/(1 − η G_B/2), with a
pole at the mean-square stability edge η G_B = 2 (the label-noise regularizer is Ω = (c/2) Σ̂, §8).
The earlier trace-part closure (still the declared models', solvers/declared_engine.py) replaces the
sampling noise by its trace part, M₄(P) − Σ̂ P Σ̂ ↦ tr(Σ̂ P) Σ̂, C = σ² Σ̂/B with σ² = δ² + tr(Σ̂ P), and drops
the discrete-time term: it is G_B ↦ tr G/B (``trace_part_noise``, ``effective_noise_variance``). The two
differ by ⟨q²⟩/⟨q⟩² − 1, the spread of the per-sample gradient norms (≈ 0.1 at the paper configuration);
against a Monte Carlo of the residual chain the contracted c is within 3 % at η tr G = 1.2, the trace
part 22 % low (tests/test_sam_closure.py).
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


def contracted_stationarity(c, q_mean, q2_mean, T2, eta, delta, s, B, c_B) -> sp.Expr:
    """K⁻¹-trace of the stationary one-step recursion at P = c K, divided by η s²:
    2c⟨q⟩ − η s² [(1 − c_B/B) c T₂ + (c_B/B) c ⟨q²⟩ + δ²⟨q⟩/B] (zero at stationarity)."""
    return 2 * c * q_mean - eta * s**2 * ((1 - c_B / B) * c * T2 + c_B / B * c * q2_mean + delta**2 * q_mean / B)


def fluctuation_curvature(q_mean, q2_mean, T2, s, B, c_B) -> sp.Expr:
    """G_B = s² [(1 − c_B/B) T₂ + (c_B/B) ⟨q²⟩]/⟨q⟩: the curvature that sets the finite-η fluctuation."""
    return s**2 * ((1 - c_B / B) * T2 + c_B / B * q2_mean) / q_mean


def effective_lambda_exact(lam, eta, q_mean, q2_mean, T2, s, B, c_B) -> sp.Expr:
    """λ_eff = c/(2s²), c the root of ``contracted_stationarity``, written through λ = ηδ²/(4B)."""
    c = sp.Symbol("c", positive=True)
    delta = sp.Symbol("delta", nonnegative=True)
    root = sp.solve(contracted_stationarity(c, q_mean, q2_mean, T2, eta, delta, s, B, c_B), c)[0]
    return sp.simplify((root / (2 * s**2)).subs(delta, sp.sqrt(4 * B * lam / eta)))


def lambda_eff(lam, eta, curvature) -> sp.Expr:
    """λ_eff = λ/(1 − η G/2): ``effective_lambda_exact`` in terms of G = ``fluctuation_curvature`` (the
    trace-part closure is G = tr G/B)."""
    return 2 * lam / (2 - eta * curvature)
