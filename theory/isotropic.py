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

from lnsgd.theory.symbols import (  # noqa: F401
    A_fp,
    a0,
    beta_star_norm,
    c_star,
    lam_f,
    plateau,
    u_perp,
    u_perp0,
    w_perp0,
    x0,
    x_inf,
)


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


# ---------------------------------------------------------------- beyond the frozen-g forms
# The forms above freeze g at its fixed-point value from t = 0 and take Σ̂ = I. Applied to a run
# from its initialisation they miss two things (docs/sweeps.md, "Theory predictions"):
# (i) the size of the Phase II limit. The frozen propagator keeps Σ_k x_k(0)² (up to the factor
#     τ/(1 + τ)), but g is not frozen: while the neurons shrink, the interpolation constraint
#     β ≈ β* raises γ, and the flow ends on its fixed point, where the balance D = a aᵀ − W Wᵀ has
#     stopped moving: Ḋ = 4λs²(W Σ̂ Wᵀ − τ a aᵀ) = 0, so w_kᵀΣ̂w_k = τ a_k² for every k and
#     tr(Σ̂ S) = τ A. With w_k = x_k b aligned, Σ_k x_k² = τ A/σ_b (σ_b = bᵀΣ̂b; τA at Σ̂ = I), and
#     A is the fixed point's A. ``balanced_limit_scale`` is the common factor that puts the
#     propagator's limits x̃_∞,k on this sum; their relative sizes are kept.
# (ii) the decay of w_k off b: ẇ_k = −s a_k g − 2λs²Σ̂w_k decays each eigen-direction v_j of Σ̂ at its
#     own rate 2λs²σ_j, not at 2λs². The slowest directions (small σ_j) set T_II; components in the
#     null space of Σ̂ (σ_j = 0: rank Σ̂ = n < d) are conserved exactly, since g = Σ̂(β − β*) and
#     Σ̂w_k have no null-space part.
# Here b is the unit vector of the learnable part of β* (its projection on the range of Σ̂; b = β̂*
# when n ≥ d), and the aligned fixed point is solved with g = −γ Σ̂ b for any Σ̂.

sigma_b = sp.Symbol("sigma_b", positive=True)  # σ_b = bᵀΣ̂b (1 at Σ̂ = I)
sigma_j = sp.Symbol("sigma_j", nonnegative=True)  # one eigenvalue of Σ̂
x_scale = sp.Symbol("x_scale", positive=True)  # common factor of the Phase II limits
sum_x_inf_sq = sp.Symbol("sum_x_inf_sq", positive=True)  # Σ_k x̃_∞,k² of the frozen-g limits
c0 = sp.Symbol("c0", real=True)  # component v_j·w_k⊥(0)
perp_sq = sp.Symbol("perp_sq", nonnegative=True)  # ‖w_k(t) − x_k(t) b‖²
overlap = sp.Symbol("overlap", positive=True)  # b·β̂* (1 when n ≥ d)
offset = sp.Symbol("offset", real=True)  # w_k's null-space part · β̂* (0 when n ≥ d)


def balance_at_fixed_point(W, a, Sigma_hat, tau, s, lam) -> sp.Expr:
    """tr Ḋ/(4λs²) = tr(W Σ̂ Wᵀ) − τ‖a‖² = tr(Σ̂ S) − τ A, zero at any fixed point of the flow.

    D = a aᵀ − W Wᵀ is a function of θ, so Ḋ = 0 where θ̇ = 0; its closed form
    Ḋ = 4(W Ω Wᵀ − ω a aᵀ) with label noise's (Ω, ω) = (λs²Σ̂, λs²τ) (``flow.balance_rate_closed_form``,
    ``flow.label_noise_gradients``) then ties S's Σ̂-weighted trace to A.
    """
    from lnsgd.theory import flow

    Omega, omega = flow.label_noise_gradients(Sigma_hat, tau, s, lam)
    return sp.Trace(flow.balance_rate_closed_form(W, a, Omega, omega) / (4 * lam * s**2))


def aligned_fixed_point(lam, tau, s, a_k, beta_star_norm, sigma_b) -> dict[str, sp.Expr]:
    """Fixed point with every w_k = x_k b, β = ‖β‖ b, g = −γ Σ̂ b (γ = ‖β* − β‖, any Σ̂).

    The per-neuron flow gives ẇ_k = Σ̂b (s γ a_k − 2λs² x_k) and ȧ_k = s γ σ_b x_k − 2λs² τ a_k;
    solved for γ and x_k; then ‖β‖ = ‖β*‖ − γ = s Σ_k a_k x_k = s (x_k/a_k) A gives A, and the
    balance w_kᵀΣ̂w_k = τ a_k² gives Σ_k x_k² = τ A/σ_b (``sum_x_sq``). ``beta_star_norm`` is the
    norm of the learnable part of β*. σ_b = 1 is ``fixed_point``.
    """
    gamma, x = sp.symbols("gamma x", positive=True)
    equations = [s * gamma * a_k - 2 * lam * s**2 * x, s * gamma * sigma_b * x - 2 * lam * s**2 * tau * a_k]
    (sol,) = [z for z in sp.solve(equations, [x, gamma], dict=True) if z[gamma].is_positive is not False]
    ratio = sp.simplify(sol[x] / a_k)
    beta_norm = beta_star_norm - sol[gamma]
    A = sp.simplify(beta_norm / (s * ratio))
    return {
        "residual_norm": sol[gamma],
        "neuron_ratio": ratio,
        "beta_norm": beta_norm,
        "A": A,
        "sum_x_sq": sp.simplify(ratio**2 * A),
    }


def phase2_matrix_aligned(lam, tau, s, sigma_b) -> sp.Matrix:
    """M of d/dt (x_k, a_k) at the aligned fixed-point g = −γ Σ̂ b, coupling to w_k⊥ dropped."""
    gamma = aligned_fixed_point(lam, tau, s, sp.Symbol("a", positive=True), beta_star_norm, sigma_b)["residual_norm"]
    return sp.Matrix([[-2 * lam * s**2 * sigma_b, s * gamma * sigma_b], [s * gamma * sigma_b, -2 * lam * s**2 * tau]])


def phase2_propagator_aligned(x0, a0, t, lam, tau, s, sigma_b) -> tuple[sp.Expr, sp.Expr]:
    """(x_k(t), a_k(t)) = e^{Mt}(x_k(0), a_k(0)) for ``phase2_matrix_aligned``; M² = μM, μ = tr M."""
    M = phase2_matrix_aligned(lam, tau, s, sigma_b)
    if sp.simplify(M.det()) != 0:
        raise ArithmeticError("the Phase II matrix is not singular; the closed form does not apply")
    mu = sp.factor(M.trace())
    v = sp.Matrix([x0, a0])
    stationary, transient = (sp.eye(2) - M / mu) * v, M / mu * v
    x, a = (sp.factor(stationary[i]) + sp.factor(transient[i]) * sp.exp(mu * t) for i in range(2))
    return x, a


def phase2_limit_aligned(x0, a0, tau, sigma_b) -> sp.Expr:
    """x̃_∞ = lim x_k(t) of the frozen-g propagator (independent of λ and s)."""
    t = sp.Symbol("t", positive=True)
    lam, s = sp.symbols("lam_ s_", positive=True)
    return sp.factor(sp.limit(phase2_propagator_aligned(x0, a0, t, lam, tau, s, sigma_b)[0], t, sp.oo))


def balanced_limit_scale(beta_star_norm, lam, tau, s, sigma_b, sum_x_inf_sq) -> sp.Expr:
    """c with Σ_k (c x̃_∞,k)² = Σ_k x_k² of the aligned fixed point (= τA/σ_b), given Σ_k x̃_∞,k²."""
    target = aligned_fixed_point(lam, tau, s, sp.Symbol("a", positive=True), beta_star_norm, sigma_b)["sum_x_sq"]
    return sp.sqrt(target / sum_x_inf_sq)


def phase2_x_balanced(x0, a0, t, lam, tau, s, sigma_b, x_scale) -> sp.Expr:
    """x_k(t) from x_k(0) to its balanced limit x_scale·x̃_∞ at the propagator's rate |μ|:
    the propagator with its stationary part scaled (x_scale = 1 is ``phase2_propagator_aligned``)."""
    x_inf = phase2_limit_aligned(x0, a0, tau, sigma_b)
    mu = sp.factor(phase2_matrix_aligned(lam, tau, s, sigma_b).trace())
    return sp.factor(x_scale * x_inf) + sp.factor(x0 - x_scale * x_inf) * sp.exp(mu * t)


def perp_component(c0, sigma_j, t, lam, s) -> sp.Expr:
    """The component c_j(t) = v_j·w_k⊥(t) along an eigenvector v_j of Σ̂ (eigenvalue σ_j), solving
    ċ_j = −2λs²σ_j c_j (the w_k⊥ part of ẇ_k = −s a_k g − 2λs²Σ̂w_k once g ∥ Σ̂b); σ_j = 0: constant."""
    c = sp.Function("c")
    tt = sp.Symbol("t_", nonnegative=True)
    sol = sp.dsolve(sp.Eq(c(tt).diff(tt), -2 * lam * s**2 * sigma_j * c(tt)), c(tt), ics={c(0): c0})
    return sol.rhs.subs(tt, t)


def neuron_cos_spectral(x, perp_sq, overlap, offset) -> sp.Expr:
    """cos(w_k, β*) of w_k = x_k b + w_k⊥ with ‖w_k⊥‖² = perp_sq, b·β̂* = overlap and w_k⊥·β̂* = offset
    (only the conserved null-space part of w_k⊥ has one: the decaying part is kept ⊥ b)."""
    return (overlap * x + offset) / sp.sqrt(x**2 + perp_sq)


# ---------------------------------------------------------------- the conjugated decay of w_k⊥
# The second order in the fast displacement (fast_displacement.py, docs/theory.md §11) adds
# λ_f²s²(K⁻¹Σ̂ + Σ̂K⁻¹ − 2τK⁻¹) to Ω. Off the aligned direction K = S + A I is A plus the neurons' own
# off-direction mass: in the eigen-direction v_j of Σ̂, K_j = A + u_j with u_j = Σ_k (v_j·w_k⊥)²
# (cross terms between directions dropped). The w_k⊥ components then all decay by one factor per
# direction, set by the aggregate u_j:
#     u̇_j = −4λs² u_j [σ_j − 2λ_f(τ − σ_j)/(A + u_j)],
# a regularization weakened where u_j has fallen to the size of A (Phase II) and unchanged while
# u_j ≫ A (Phase I). It separates: t(u) is explicit (``conjugated_perp_time``).


def conjugated_perp_rate(u, sigma_j, lam, lam_f, A, tau, s) -> sp.Expr:
    """−u̇_j = 4λs² u_j [σ_j − 2λ_f(τ − σ_j)/(A + u_j)]: twice the w-block Ω_jj of label noise's
    λs²Σ̂ plus the conjugation correction at K⁻¹ = 1/(A + u_j), times u_j (u_j is a square)."""
    return 4 * lam * s**2 * u * (sigma_j + lam_f * (2 * sigma_j - 2 * tau) / (A + u))


def conjugated_perp_time(u0, u, sigma_j, lam, lam_f, A, tau, s) -> sp.Expr:
    """Time for u_j to fall from u0 to u under ``conjugated_perp_rate``, t = ∫_u^{u0} dv/rate(v)
    (partial fractions in v): [A ln(u0/u) − (c/σ_j) ln((u0 + e)/(u + e))]/(4λs²σ_j e) with
    c = 2λ_f(τ − σ_j), e = A − c/σ_j.

    λ_f = 0 gives ln(u0/u)/(4λs²σ_j), the first-order decay (``perp_component``). e ≤ 0 means the
    correction has cancelled the regularization at u_j = −e: w_k⊥ stops decaying, and the expansion
    (in 2λ_f(τ − σ_j)/(σ_j A)) has broken down."""
    c = 2 * lam_f * (tau - sigma_j)
    e = A - c / sigma_j
    return (A * sp.log(u0 / u) - c / sigma_j * sp.log((u0 + e) / (u + e))) / (4 * lam * s**2 * sigma_j * e)


def phase2_time_conjugated(x_inf, w_perp0, c_star, lam, lam_f, A, tau, s, u0) -> sp.Expr:
    """T_II of one neuron at Σ̂ = I (σ_j = 1, all directions sharing u, starting at u0): the time at
    which the common decay factor u/u0 brings |cos| to c*, i.e. u/u0 = x_∞²(1 − c*²)/(c*²‖w⊥(0)‖²).
    λ_f = 0 is ``phase2_time``."""
    q = x_inf**2 * (1 - c_star**2) / (c_star**2 * w_perp0**2)
    return conjugated_perp_time(u0, u0 * q, 1, lam, lam_f, A, tau, s)
