"""Closed forms of the regularized flow in the isotropic limit Σ̂ = I, τ = d (docs/theory.md §5), any s.

Per neuron, with g = −γ β̂* (β̂* = β*/‖β*‖) and w_k = x_k β̂* + w_k⊥:
    ẋ_k = s γ a_k − 2λ s² x_k,   ȧ_k = s γ x_k − 2λ s² τ a_k,   ẇ_k⊥ = −2λ s² w_k⊥.
Fixed point (solved): γ = ‖β* − β‖ = 2λ s √τ, x_k = √τ a_k (‖w_k‖ = √τ |a_k|, aligned),
A = ‖β‖/(s√τ), tr S = τ A (balanced ‖W‖_F² = τ‖a‖²), ‖β‖ = ‖β*‖ − 2λ s √τ.
Phase I: w_k⊥ decays at rate 2λ s² (per step e^{−2λ s² η} = e^{−η²δ² s²/(2B)}); its duration from
‖w_k⊥(0)‖ to within a factor 1 + ε of the plateau p = √τ|a_k| solves p²(1+ε)² = p² + ‖w⊥(0)‖² e^{−4λs²T}.
Phase II: with g frozen at its fixed-point value, (x_k, a_k) follow the 2×2 propagator e^{Mt}
(eigenvalues 0 and −2λ s²(1 + τ)), x_k → x_∞ = √τ(√τ x_k(0) + a_k(0))/(1 + τ), and
cos(w_k, β*)(t) = x_k(t)/√(x_k(t)² + ‖w_k⊥(0)‖² e^{−4λ s² t}); the alignment curve is its mean of |·|
over the initial neurons. The Phase II time of one neuron solves |cos| = c*.
"""
from __future__ import annotations

import sympy as sp

from lnsgd.theory.symbols import a0, beta_star_norm, c_star, plateau, w_perp0, x0, x_inf  # noqa: F401


def fixed_point(lam, tau, s, a_k, beta_star_norm, A_sym=None) -> dict[str, sp.Expr]:
    """Solve ẋ_k = ȧ_k = 0 (a_k ≠ 0, γ > 0) for γ and x_k; then ‖β‖, A, tr S."""
    gamma, x = sp.symbols("gamma x", positive=True)
    equations = [s * gamma * a_k - 2 * lam * s**2 * x, s * gamma * x - 2 * lam * s**2 * tau * a_k]
    (sol,) = [z for z in sp.solve(equations, [x, gamma], dict=True) if z[gamma].is_positive is not False]
    beta_norm = beta_star_norm - sol[gamma]
    A = sp.simplify(beta_norm / (s * (sol[x] / a_k)))  # β = s Σ a_k x_k β̂* = s (x_k/a_k) A β̂*
    return {
        "residual_norm": sol[gamma],
        "neuron_ratio": sp.simplify(sol[x] / a_k),
        "beta_norm": beta_norm,
        "A": A,
        "trace_S": sp.simplify((sol[x] / a_k) ** 2 * A),
    }


def phase1_rate(lam, s) -> sp.Expr:
    """Decay rate of w_k⊥ in t: the coefficient of −w_k⊥ in ẇ_k⊥ = −2λ s² Σ̂ w_k⊥ at Σ̂ = I."""
    w = sp.Symbol("w")
    return sp.expand(-sp.diff(-2 * lam * s**2 * w, w))


def phase1_rate_per_step(eta, delta, B, s) -> sp.Expr:
    """Per-step decay rate η · 2λ s² with λ = ηδ²/(4B): η² δ² s²/(2B)."""
    lam = sp.Symbol("lam", positive=True)
    return sp.simplify(eta * phase1_rate(lam, s).subs(lam, eta * delta**2 / (4 * B)))


def phase1_duration(w_perp0, plateau, eps, lam, s) -> sp.Expr:
    """T_I solving √(p² + ‖w⊥(0)‖² e^{−4λs²T}) = (1 + ε) p (time t; divide by η for steps)."""
    q = sp.Symbol("q", positive=True)  # q = e^{−2 rate T}
    (q_sol,) = sp.solve(sp.Eq(plateau**2 + w_perp0**2 * q, (1 + eps) ** 2 * plateau**2), q)
    return -sp.log(sp.factor(q_sol)) / (2 * phase1_rate(lam, s))


def phase2_matrix(lam, tau, s) -> sp.Matrix:
    """M of d/dt (x_k, a_k) = M (x_k, a_k) at the fixed-point g."""
    gamma = fixed_point(lam, tau, s, sp.Symbol("a", positive=True), beta_star_norm)["residual_norm"]
    return sp.Matrix([[-2 * lam * s**2, s * gamma], [s * gamma, -2 * lam * s**2 * tau]])


def phase2_propagator(x0, a0, t, lam, tau, s) -> tuple[sp.Expr, sp.Expr]:
    """(x_k(t), a_k(t)) = e^{Mt} (x_k(0), a_k(0)) = [I − M/μ + e^{μt} M/μ] (x_k(0), a_k(0)), μ = tr M.

    M has eigenvalues 0 and μ = −2λ s²(1 + τ) (det M = 0, checked), so M² = μ M.
    """
    M = phase2_matrix(lam, tau, s)
    if sp.simplify(M.det()) != 0:
        raise ArithmeticError("the Phase II matrix is not singular; the closed form does not apply")
    mu = sp.factor(M.trace())
    v = sp.Matrix([x0, a0])
    stationary, transient = (sp.eye(2) - M / mu) * v, M / mu * v
    x, a = (sp.factor(stationary[i]) + sp.factor(transient[i]) * sp.exp(mu * t) for i in range(2))
    return x, a


def phase2_limit(x0, a0, lam, tau, s) -> sp.Expr:
    """x_∞ = lim_{t→∞} x_k(t)."""
    t = sp.Symbol("t", positive=True)
    return sp.factor(sp.limit(phase2_propagator(x0, a0, t, lam, tau, s)[0], t, sp.oo))


def neuron_cos(x, w_perp0, t, lam, s) -> sp.Expr:
    """cos(w_k, β*)(t) = x_k(t)/√(x_k(t)² + ‖w_k⊥(0)‖² e^{−4λ s² t}), x = x_k(t) from ``phase2_propagator``."""
    return x / sp.sqrt(x**2 + w_perp0**2 * sp.exp(-2 * phase1_rate(lam, s) * t))


def phase2_time(x_inf, w_perp0, c_star, lam, s) -> sp.Expr:
    """T_II of one neuron at its limit x_∞: |x_∞|/√(x_∞² + ‖w⊥(0)‖² e^{−4λs²T}) = c*."""
    q = sp.Symbol("q", positive=True)  # q = e^{−2 rate T}
    xa = sp.Symbol("xa", positive=True)  # |x_∞|
    (q_sol,) = sp.solve(sp.Eq(xa**2, c_star**2 * (xa**2 + w_perp0**2 * q)), q)
    return (-sp.log(sp.factor(q_sol)) / (2 * phase1_rate(lam, s))).subs(xa, sp.Abs(x_inf))
