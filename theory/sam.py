"""First-order implicit regularizers of SAM and USAM, and the oscillation-averaged drift (docs/theory.md §6).

USAM, θ ← θ − η ∇L_b(θ + ρ ∇L_b(θ)) = θ − η ∇[L_b + (ρ/2) ‖∇L_b‖²](θ) + O(ηρ²). Since
∇_θ L_b = J u (``sde.noise_jacobian``), ‖∇L_b‖² = s² uᵀ K u with K = S + A I, and the expected
regularizer is R_USAM = (ρ/2) E‖∇L_b‖² = (ρ/2) s² tr(K E u uᵀ); on Γ (g = 0, M₄ = 0) this is
(ρ δ²/(2B)) tr G — added to label-noise SGD's own λ tr G. Full batch (B = n, c_B = 0): (ρ/2)(‖∇L‖² +
(δ²/n) tr G); without label noise (ρ/2)‖∇L‖², which vanishes on Γ (first order gives nothing there).
Normalized SAM, ε = ρ ∇L̃_b/‖∇L̃_b‖, with label noise: the noisy residual r̃_i = r_i − δξ_i.
Stochastic 1-SAM (B = 1): ∇L̃_i = r̃_i ∇f_i, ε = ρ σ u_i with σ = sgn r̃_i, u_i = ∇f_i/‖∇f_i‖, and since
f is quadratic in θ (Hessian H_i constant) the step direction is exactly
    ∇L̃_i(θ + ε) = (r̃_i + ρσ‖∇f_i‖ + ½ρ² u_iᵀH_iu_i)(∇f_i + ρσ H_i u_i).
On Γ (r_i = 0) the expectation over ξ is E r̃_i = E σ = 0, E r̃_iσ = δ E|ξ|, so
    E ∇L̃_i(θ + ε) = ρδ E|ξ| ∇‖∇f_i‖ + (ρ²/2) ∇‖∇f_i‖² + (ρ²/2)(u_iᵀH_iu_i) ∇f_i
(exact; H_i u_i = ∇‖∇f_i‖, ‖∇f_i‖ H_i u_i = ½∇‖∇f_i‖²). The last term is normal to Γ; the
tangential drift is the gradient of
    R_1SAM = (1/n) Σ_i [ρδ E|ξ| ‖∇f_i‖ + (ρ²/2) ‖∇f_i‖²],   ‖∇f_i‖ = s √q_i,  q_i = x_iᵀ K x_i.
The sign of r̃_i cancels in the drift but |r̃_i| does not: the O(ρδ) term dominates the (ρ²/2) tr G
term whenever 2δ E|ξ| > ρ ‖∇f_i‖ (20× at ρ = 0.05, δ = 4 on the paper configuration). It weights
the samples by 1/‖∇f_i‖, so it is not of the λ tr G form; it still depends on θ only through (S, A),
and the flow needs only the per-sample weights c_i = ∂R/∂q_i·n (``one_sam_weight``):
Ω = (1/n) Σ_i c_i x_i x_iᵀ, ω = (1/n) Σ_i c_i ‖x_i‖² (theory/flow.py). E|ξ| = √(2/π) (Gaussian), 1
(Rademacher). Without label noise (δ = 0) only (ρ²/2) tr G remains.
The ascent also enlarges the noise along ∇f_i: at r = 0 the step's normal coefficient is
v_i = r̃_i + ρσ‖∇f_i‖ = −sgn(ξ)(δ|ξ| + ρ‖∇f_i‖), E v_i² = δ² + 2ρδ E|ξ| ‖∇f_i‖ + ρ²‖∇f_i‖², which
replaces δ² in label noise's regularizer, (η/4)(1/n) Σ_i E v_i² ‖∇f_i‖² with E v_i² held fixed
(``one_sam_noise_weight``: the part beyond λ tr G). It is O(ηρ), but ρ‖∇f_i‖/δ is O(1) at a wide
initialisation, where it nearly doubles the Phase I rate (docs/theory.md).
Minibatch (B > 1) and full-batch SAM with label noise: the O(ρ) tangential term is
ρ ∇_θ‖(1/B) Σ_{j∈b} r̃_j ∇f_j‖ with the residuals frozen, whose mean on Γ is the gradient of
ρδ E‖(1/B) Σ_j ξ_j ∇f_j‖ ≈ ρδ √(E‖·‖²) = ρδ √(tr G/B) (leading order in the concentration of the
norm; the Jensen gap is O(1/B) relative) — a λ tr G form with a state-dependent λ = ρδ/(2√(B tr G))
(``batch_sam_weight``). The O(ρ²) term of B > 1 is not predicted (without label noise it is
(ρ²/2) λ_max(∇²L) at full batch: Wen, Ma, Li 2023).
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


def one_sam_sample_regularizer(q, s, rho, delta, xi_abs_mean) -> sp.Expr:
    """φ(q_i) = ρδ E|ξ| s√q_i + (ρ²/2) s² q_i, so R_1SAM = (1/n) Σ_i φ(q_i) (1-SAM, B = 1, on Γ)."""
    return rho * delta * xi_abs_mean * s * sp.sqrt(q) + rho**2 / 2 * s**2 * q


def one_sam_weight(q, s, rho, delta, xi_abs_mean) -> sp.Expr:
    """c(q_i) = φ′(q_i) = ρδ E|ξ| s/(2√q_i) + ρ² s²/2: Ω = (1/n) Σ_i c(q_i) x_i x_iᵀ."""
    return sp.diff(one_sam_sample_regularizer(q, s, rho, delta, xi_abs_mean), q)


def one_sam_noise_variance(q, s, rho, delta, xi_abs_mean) -> sp.Expr:
    """E v_i² = δ² + 2ρδ E|ξ| s√q_i + ρ² s² q_i: second moment of 1-SAM's noise along ∇f_i on Γ."""
    grad_norm = s * sp.sqrt(q)
    return delta**2 + 2 * rho * delta * xi_abs_mean * grad_norm + rho**2 * grad_norm**2


def one_sam_noise_weight(q, s, eta, rho, delta, xi_abs_mean) -> sp.Expr:
    """c(q_i) of (η/4)(E v_i² − δ²)‖∇f_i‖² with E v_i² held fixed: (η/4) s² (E v_i² − δ²)."""
    return eta / 4 * s**2 * (one_sam_noise_variance(q, s, rho, delta, xi_abs_mean) - delta**2)


def sign_moments(v, delta, noise: str) -> tuple[sp.Expr, sp.Expr]:
    """(E|r − δξ|, E[sgn(r − δξ) r]) for r ~ N(0, v) independent of ξ (`noise` "gaussian" or
    "rademacher"): the two moments of 1-SAM's sign σ = sgn r̃ that the fluctuation closure needs."""
    if noise == "gaussian":
        sd = sp.sqrt(v + delta**2)
        return sp.sqrt(2 / sp.pi) * sd, sp.sqrt(2 / sp.pi) * v / sd
    if noise == "rademacher":
        bump = sp.sqrt(2 * v / sp.pi) * sp.exp(-(delta**2) / (2 * v))
        return bump + delta * sp.erf(delta / sp.sqrt(2 * v)), bump
    raise ValueError(f"noise = {noise!r}; valid: 'gaussian', 'rademacher'")


def one_sam_stationarity(c, q, s, eta, rho, delta, noise: str) -> sp.Expr:
    """Sample i's share F_i(c) of the stationarity condition of 1-SAM's residual fluctuation, P = c K.

    Near Γ the error e = β − β̄ moves by e ← e − η s² K x_i v_i with v_i = r_i − δξ + ρσ_i s√q_i,
    r_i = x_iᵀe, σ_i = sgn(r_i − δξ). Gaussian closure, e ~ N(0, P), r_i ~ N(0, c q_i): v_i regresses
    on e with gain 1 + γ_i, γ_i = ρ s√q_i E[σ r]/(c q_i), and E v_i² = c q_i + δ² + ρ² s² q_i +
    2ρ s√q_i E|r − δξ|. The stationary recursion P = P − η s² (K M P + P M K) + η² s⁴ K N K, with
    M = (1/n)Σ_i (1 + γ_i) x_i x_iᵀ and N = (1/n)Σ_i E v_i² x_i x_iᵀ, has the K⁻¹-trace
    ⟨q_i F_i(c)⟩ = 0 with F_i = 2c(1 + γ_i) − η s² E v_i² (as λ_eff's, theory/finite_eta.py). This
    returns F_i; at ρ = 0 the root is c = η s² δ²/(2 − η G_1) = 2 λ_eff s², G_1 = s²⟨q²⟩/⟨q⟩ (B = 1)."""
    abs_mean, sign_cov = sign_moments(c * q, delta, noise)
    second = c * q + delta**2 + rho**2 * s**2 * q + 2 * rho * s * sp.sqrt(q) * abs_mean
    return 2 * c + 2 * rho * s * sign_cov / sp.sqrt(q) - eta * s**2 * second


def one_sam_fluctuation_weight(c, q, s, rho, delta, noise: str) -> sp.Expr:
    """The fluctuation part of ``one_sam_closure_weight``: (c/2)(1 + γ_i) = c/2 + ρ s E[σ r]/(2√q_i),
    the drift of the fast fluctuation under the force's gain (the part conjugated by the fast
    displacement, fast_displacement.py)."""
    sign_cov = sign_moments(c * q, delta, noise)[1]
    return c / 2 + rho * s * sign_cov / (2 * sp.sqrt(q))


def one_sam_closure_weight(c, q, s, rho, delta, noise: str) -> sp.Expr:
    """c_i of 1-SAM with label noise at finite η, on the stationary fluctuation P = c K (root of
    ``one_sam_stationarity``): c_i = (c/2)(1 + γ_i) + ρ s E|r − δξ|/(2√q_i) + ρ² s²/2.

    The first term is the fluctuation drift −η s E[J(force) δz_k] with the force's gain 1 + γ_i (at
    ρ = 0: λ_eff s², label noise's own regularizer); the others are the ascent's tangential drift
    ρ E|r̃_i| ∇‖∇f_i‖ + (ρ²/2) ∇‖∇f_i‖² with E|r̃_i| = E|r_i − δξ| held fixed. As η → 0 (c → 0)
    E|r − δξ| → δ E|ξ| and this is ``one_sam_weight`` plus the mean noise weight."""
    abs_mean = sign_moments(c * q, delta, noise)[0]
    ascent = rho * s * abs_mean / (2 * sp.sqrt(q)) + rho**2 * s**2 / 2
    return one_sam_fluctuation_weight(c, q, s, rho, delta, noise) + ascent


def one_usam_stationarity(c, q, s, eta, rho, delta) -> sp.Expr:
    """1-USAM's F_i of the same stationarity condition as ``one_sam_stationarity``: the step's force
    is v_i = r̃_i(1 + ρ s² q_i) + O(ρ²), so the gain is 1 + γ_i with γ_i = ρ s² q_i and
    E v_i² = (1 + ρ s² q_i)²(c q_i + δ²) (E ξ² = 1, either noise type)."""
    gain = 1 + rho * s**2 * q
    return 2 * c * gain - eta * s**2 * gain**2 * (c * q + delta**2)


def one_usam_fluctuation_weight(c, q, s, rho) -> sp.Expr:
    """The fluctuation part of ``one_usam_closure_weight``: (c/2)(1 + ρ s² q_i), the force's gain."""
    return c / 2 * (1 + rho * s**2 * q)


def one_usam_closure_weight(c, q, s, rho, delta) -> sp.Expr:
    """c_i of 1-USAM at finite η on the stationary P = c K: the fluctuation term (c/2)(1 + ρ s² q_i)
    plus the ascent's tangential mean (ρ/2) E r̃_i² (1 + ρ‖∇f_i‖²) ∇‖∇f_i‖² with E r̃_i² = δ² + c q_i
    (``one_usam_weight`` has δ²)."""
    gain = 1 + rho * s**2 * q
    return one_usam_fluctuation_weight(c, q, s, rho) + rho * s**2 / 2 * (delta**2 + c * q) * gain


def batch_sam_regularizer(q_sum, n, B, s, rho, delta) -> sp.Expr:
    """R_SAM,B = ρδ √(tr G/B) = ρδ s √(Σ_j q_j/(nB)) (B > 1 or full batch, with label noise, O(ρδ))."""
    return rho * delta * s * sp.sqrt(q_sum / (n * B))


def batch_sam_weight(q_sum, n, B, s, rho, delta) -> sp.Expr:
    """c = n ∂R_SAM,B/∂q_i = ρδ s √n/(2√(B Σ_j q_j)), the same for every sample."""
    return sp.simplify(n * sp.diff(batch_sam_regularizer(q_sum, n, B, s, rho, delta), q_sum))


def usam_weight(s, rho, delta, B) -> sp.Expr:
    """c = ρδ² s²/(2B): USAM's leading (ρδ²/(2B)) tr G on Γ, tr G = (s²/n) Σ_i q_i."""
    return rho * delta**2 * s**2 / (2 * B)


def one_usam_weight(q, s, rho, delta) -> sp.Expr:
    """1-USAM (B = 1) on Γ, exact in ρ: the tangential mean is (ρδ²/2)(1 + ρ‖∇f_i‖²)∇‖∇f_i‖², so
    c(q_i) = (ρδ² s²/2)(1 + ρ s² q_i) with the factor held fixed."""
    return usam_weight(s, rho, delta, 1) * (1 + rho * s**2 * q)


def one_usam_noise_weight(q, s, eta, rho, delta) -> sp.Expr:
    """1-USAM's enlarged label noise: the step's normal coefficient is r̃_i(1 + ρ‖∇f_i‖²) + O(ρ²δ²),
    so δ² becomes δ²(1 + ρ s² q_i)² in (η/4) E v_i² ‖∇f_i‖²: c(q_i) = (η/4) s² δ² [(1 + ρ s² q_i)² − 1]."""
    return eta / 4 * s**2 * delta**2 * ((1 + rho * s**2 * q) ** 2 - 1)


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
