"""Laziness without label noise (δ = 0), docs/theory.md §7: the change of W under gradient flow.

Linearizing around θ₀ (K = S + A I frozen at K₀), β̇ = −s² K₀ Σ̂ (β − β*), so ∫₀^∞ g dt =
K₀⁻¹ (β₀ − β*)/s² and ΔW_∞ = −s a₀ (∫ g)ᵀ = −(1/s) a₀ (K₀⁻¹ e₀)ᵀ, e₀ = β₀ − β*:
    ‖W_∞ − W₀‖_F / ‖W₀‖_F = ‖a₀‖ ‖K₀⁻¹ e₀‖ / (s ‖W₀‖_F).
At initialization with scale α (w_k ~ N(0, α² I/d)), ‖W₀‖_F² ≈ α² m, S₀ ≈ (α² m/d) I, ‖e₀‖ ≈ ‖β*‖, and
A₀ = ‖a₀‖² ≈ α² (standard) or α² m (NTK, mean field): see ``relative_change_estimate``. Its m-exponent
is −3/2 (standard), −1/2 (NTK), 0 (mean field): the usual "O(1/√m)" is the NTK case; the
standard parametrization is lazier, O(d^{3/2}/(α² m^{3/2})).
"""

from __future__ import annotations

import sympy as sp

from lnsgd.theory.model import PARAMETRIZATIONS
from lnsgd.theory.symbols import alpha, beta_star_norm, d, m


def weight_change_linearized(a0, K0, e0, s) -> sp.MatrixExpr:
    """ΔW_∞ = −(1/s) a₀ (K₀⁻¹ e₀)ᵀ."""
    return -(a0 * (K0.inv() * e0).T) / s


def relative_change_estimate(parametrization: str) -> sp.Expr:
    """‖a₀‖ ‖e₀‖ / (s k₀ ‖W₀‖_F) with K₀ ≈ k₀ I, k₀ = α² m/d + A₀ (typical sizes at initialization)."""
    s = PARAMETRIZATIONS[parametrization]
    A0 = alpha**2 if parametrization == "standard" else alpha**2 * m
    k0 = alpha**2 * m / d + A0
    return sp.simplify(sp.sqrt(A0) * beta_star_norm / (s * k0 * alpha * sp.sqrt(m)))


def m_exponent(estimate: sp.Expr) -> sp.Expr:
    """lim_{m→∞} d log(estimate)/d log m."""
    expr = sp.log(estimate)
    return sp.limit(m * sp.diff(expr, m), m, sp.oo)


def kernel_change_estimate(parametrization: str) -> sp.Expr:
    """‖ΔK‖_F/‖K₀‖_F for K = S + A I (NTK Gram = s² X K Xᵀ), isotropic, linearized, β₀ = 0.

    e(t) = −β* e^{−s² k₀ t}: ΔS = −∫(g βᵀ + β gᵀ) dt = (2c₁ − 2c₂) β*β*ᵀ with c_j = ∫ e^{−j s² k₀ t} dt,
    ΔA = tr ΔS (balancedness is conserved), ‖β*β*ᵀ + ‖β*‖² I‖_F = ‖β*‖² √(d + 3).
    """
    s = PARAMETRIZATIONS[parametrization]
    A0 = alpha**2 if parametrization == "standard" else alpha**2 * m
    k0 = alpha**2 * m / d + A0
    tt = sp.Symbol("t", positive=True)
    c1, c2 = (sp.integrate(sp.exp(-j * s**2 * k0 * tt), (tt, 0, sp.oo)) for j in (1, 2))
    return sp.simplify((2 * c1 - 2 * c2) * beta_star_norm**2 * sp.sqrt(d + 3) / (k0 * sp.sqrt(d)))
