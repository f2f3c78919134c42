"""The derived results, listed once: which are compiled (``GENERATED``, read by ``codegen``)."""

from __future__ import annotations

import sympy as sp

from lnsgd.theory import fast_displacement, finite_eta, flow, isotropic, model, sam, sde
from lnsgd.theory import symbols as sy
from lnsgd.theory.kernel_spec import Kernel, Output

_beta_full = sp.MatrixSymbol("beta", sy.d, 1)
_x = sp.Symbol("x", real=True)


def _flow_full() -> Kernel:
    W_dot, a_dot = flow.regularized_flow(sy.W, sy.a, sy.g, sy.Omega, sy.omega, sy.s)
    return Kernel(
        name="regularized_flow_full",
        doc="Ẇ = −s a gᵀ − 2 W Ωᵀ and ȧ = −s W g − 2ω a (θ̇ = −∇(L + R), Ω = ∂R/∂S, ω = ∂R/∂A), "
        "g = Σ̂(sWᵀa − β*); writes dW_out (m, d), da_out (m,).",
        args=(sy.W, sy.a, sy.Sigma_hat, sy.beta_star, sy.Omega, sy.omega, sy.s, "dW_out", "da_out"),
        intermediates=(
            (_beta_full, model.predictor(sy.W, sy.a, sy.s)),
            (sy.g, model.residual_gradient(_beta_full, sy.Sigma_hat, sy.beta_star)),
        ),
        outputs=(Output(W_dot, "dW_out"), Output(a_dot, "da_out")),
    )


def _reduced() -> Kernel:
    beta_dot, S_dot, A_dot = flow.reduced_flow(sy.beta, sy.S, sy.A, sy.g, sy.Omega, sy.omega, sy.s)
    return Kernel(
        name="reduced_flow",
        doc="Reduced regularized flow on (β, S, A): β̇ = −s²(A I + S) g − 2(Ω + ωI) β, "
        "Ṡ = −(g βᵀ + β gᵀ) − 2(Ω S + S Ωᵀ); writes dbeta_out (d,), dS_out (d, d); returns Ȧ = −2 β·g − 4ωA.",
        args=(sy.beta, sy.S, sy.A, sy.Sigma_hat, sy.beta_star, sy.Omega, sy.omega, sy.s, "dbeta_out", "dS_out"),
        intermediates=((sy.g, model.residual_gradient(sy.beta, sy.Sigma_hat, sy.beta_star)),),
        outputs=(Output(beta_dot, "dbeta_out"), Output(S_dot, "dS_out"), Output(A_dot)),
    )


def _propagator_block() -> Kernel:
    P_dot, p_dot = flow.regularized_flow(sy.W, sy.a, sy.g, sy.Omega, sy.omega, sy.s)
    return Kernel(
        name="neuron_propagator_block",
        doc="Per-neuron linear ODE for a stack of neurons (rows (w_j, a_j)) driven by a given g(t): "
        "Ẇ = −s a gᵀ − 2 W Ωᵀ (into dW_out), ȧ = −s W g − 2ω a (into da_out). With the d + 1 "
        "rows of Φᵀ it moves the whole propagator in one call.",
        args=(sy.W, sy.a, sy.g, sy.Omega, sy.omega, sy.s, "dW_out", "da_out"),
        outputs=(Output(P_dot, "dW_out"), Output(p_dot, "da_out")),
    )


def _beta_jacobian() -> Kernel:
    return Kernel(
        name="reduced_beta_jacobian",
        doc="Stiff block of the reduced flow: ∂β̇/∂β = −s²(A I + S) Σ̂ − 2(Ω + ωI); writes J_out (d, d).",
        args=(sy.S, sy.A, sy.Sigma_hat, sy.Omega, sy.omega, sy.s, "J_out"),
        outputs=(Output(flow.reduced_flow_beta_jacobian(sy.S, sy.A, sy.Sigma_hat, sy.Omega, sy.omega, sy.s), "J_out"),),
    )


def _regularizer_weights() -> tuple[Kernel, ...]:
    """Per-sample weights c_i of each regularizer: Ω = (1/n) Σ_i c_i x_i x_iᵀ, ω = (1/n) Σ_i c_i ‖x_i‖²."""
    return (
        _scalar(
            "one_sam_weight",
            "1-SAM with label noise: c(q) = ρδ E|ξ| s/(2√q) + ρ²s²/2, q = x_iᵀ K x_i.",
            (sy.q, sy.s, sy.rho, sy.delta, sy.xi_abs_mean),
            sam.one_sam_weight(sy.q, sy.s, sy.rho, sy.delta, sy.xi_abs_mean),
        ),
        _scalar(
            "one_sam_noise_weight",
            "1-SAM's enlarged label noise: c(q) = (η/4) s² (2ρδ E|ξ| s√q + ρ² s² q).",
            (sy.q, sy.s, sy.eta, sy.rho, sy.delta, sy.xi_abs_mean),
            sam.one_sam_noise_weight(sy.q, sy.s, sy.eta, sy.rho, sy.delta, sy.xi_abs_mean),
        ),
        *(
            kernel
            for noise in ("gaussian", "rademacher")
            for kernel in (
                _scalar(
                    f"one_sam_stationarity_{noise}",
                    f"1-SAM at finite η, {noise} ξ: sample i's share 2c(1 + γ_i) − η s² E v_i² of the "
                    "stationarity of P = c K (Gaussian closure of the sign; ⟨q_i F_i⟩ = 0 at c).",
                    (sy.fluct_scale, sy.q, sy.s, sy.eta, sy.rho, sy.delta),
                    sam.one_sam_stationarity(sy.fluct_scale, sy.q, sy.s, sy.eta, sy.rho, sy.delta, noise),
                ),
                _scalar(
                    f"one_sam_fluctuation_weight_{noise}",
                    f"1-SAM at finite η, {noise} ξ: the fluctuation part (c/2)(1 + γ_i) of the closure weight "
                    "(the part the fast displacement conjugates).",
                    (sy.fluct_scale, sy.q, sy.s, sy.rho, sy.delta),
                    sam.one_sam_fluctuation_weight(sy.fluct_scale, sy.q, sy.s, sy.rho, sy.delta, noise),
                ),
                _scalar(
                    f"one_sam_closure_weight_{noise}",
                    f"1-SAM at finite η, {noise} ξ: c_i = c/2 + ρ s (E[σ r] + E|r − δξ|)/(2√q_i) + ρ² s²/2 "
                    "on the stationary P = c K.",
                    (sy.fluct_scale, sy.q, sy.s, sy.rho, sy.delta),
                    sam.one_sam_closure_weight(sy.fluct_scale, sy.q, sy.s, sy.rho, sy.delta, noise),
                ),
            )
        ),
        _scalar(
            "one_usam_stationarity",
            "1-USAM at finite η: sample i's share F_i = 2c(1 + ρs²q_i) − η s² (1 + ρs²q_i)²(c q_i + δ²) of "
            "the stationarity of P = c K (⟨q_i F_i⟩ = 0 at c).",
            (sy.fluct_scale, sy.q, sy.s, sy.eta, sy.rho, sy.delta),
            sam.one_usam_stationarity(sy.fluct_scale, sy.q, sy.s, sy.eta, sy.rho, sy.delta),
        ),
        _scalar(
            "one_usam_fluctuation_weight",
            "1-USAM at finite η: the fluctuation part (c/2)(1 + ρs²q_i) of the closure weight.",
            (sy.fluct_scale, sy.q, sy.s, sy.rho),
            sam.one_usam_fluctuation_weight(sy.fluct_scale, sy.q, sy.s, sy.rho),
        ),
        _scalar(
            "one_usam_closure_weight",
            "1-USAM at finite η: c_i = (c/2)(1 + ρs²q_i) + (ρ s²/2)(δ² + c q_i)(1 + ρs²q_i) on P = c K.",
            (sy.fluct_scale, sy.q, sy.s, sy.rho, sy.delta),
            sam.one_usam_closure_weight(sy.fluct_scale, sy.q, sy.s, sy.rho, sy.delta),
        ),
        _scalar(
            "batch_sam_weight",
            "Minibatch/full-batch SAM with label noise: c = ρδ s √n/(2√(B Σ_j q_j)).",
            (sy.q_sum, sy.n, sy.B, sy.s, sy.rho, sy.delta),
            sam.batch_sam_weight(sy.q_sum, sy.n, sy.B, sy.s, sy.rho, sy.delta),
        ),
        _scalar(
            "one_usam_weight",
            "1-USAM on the manifold, exact in ρ: c(q) = (ρδ² s²/2)(1 + ρ s² q).",
            (sy.q, sy.s, sy.rho, sy.delta),
            sam.one_usam_weight(sy.q, sy.s, sy.rho, sy.delta),
        ),
        _scalar(
            "one_usam_noise_weight",
            "1-USAM's enlarged label noise: c(q) = (η/4) s² δ² [(1 + ρ s² q)² − 1].",
            (sy.q, sy.s, sy.eta, sy.rho, sy.delta),
            sam.one_usam_noise_weight(sy.q, sy.s, sy.eta, sy.rho, sy.delta),
        ),
        _scalar(
            "usam_weight",
            "USAM on the manifold: c = ρδ² s²/(2B).",
            (sy.s, sy.rho, sy.delta, sy.B),
            sam.usam_weight(sy.s, sy.rho, sy.delta, sy.B),
        ),
    )


def _scalar(name: str, doc: str, args: tuple, expr: sp.Expr) -> Kernel:
    return Kernel(name=name, doc=doc, args=args, outputs=(Output(expr),))


def _closed_forms() -> tuple[Kernel, ...]:
    iso = isotropic
    fixed = iso.fixed_point(sy.lam, sy.tau, sy.s, sy.a_k, iso.beta_star_norm)
    return (
        _scalar(
            "implicit_lambda",
            "λ = ηδ²/(4B), from matching the balancedness drift of one SGD step.",
            (sy.eta, sy.delta, sy.B),
            sde.implicit_regularizer_coefficient(sy.eta, sy.delta, sy.B, sy.s),
        ),
        _scalar(
            "lambda_eff",
            "λ_eff = λ/(1 − η G/2) (finite-η correction; pole at η G = 2), G = G_B or, trace part, tr G/B.",
            (sy.lam, sy.eta, sy.curvature),
            finite_eta.lambda_eff(sy.lam, sy.eta, sy.curvature),
        ),
        _scalar(
            "fluctuation_curvature",
            "G_B = s²[(1 − c_B/B) T₂ + (c_B/B)⟨q²⟩]/⟨q⟩, T₂ = tr((Σ̂K)²): the K⁻¹-trace of the stationary "
            "one-step recursion at P = cK.",
            (sy.q_mean, sy.q2_mean, sy.T2, sy.s, sy.B, sy.c_B),
            finite_eta.fluctuation_curvature(sy.q_mean, sy.q2_mean, sy.T2, sy.s, sy.B, sy.c_B),
        ),
        _scalar(
            "trace_G_reduced",
            "tr G = s²[tr(Σ̂ S) + τ A].",
            (sy.S, sy.A, sy.Sigma_hat, sy.tau, sy.s),
            model.gauss_newton_trace_reduced(sy.S, sy.A, sy.Sigma_hat, sy.tau, sy.s),
        ),
        _scalar(
            "trace_G_full",
            "tr G = s²[tr(W Σ̂ Wᵀ) + τ‖a‖²], τ = tr Σ̂.",
            (sy.W, sy.a, sy.Sigma_hat, sy.s),
            model.gauss_newton_trace(sy.W, sy.a, sy.Sigma_hat, sp.Trace(sy.Sigma_hat), sy.s),
        ),
        _scalar(
            "isotropic_residual_norm",
            "Fixed point (Σ̂ = I): ‖β* − β‖ = 2λ s √τ.",
            (sy.lam, sy.tau, sy.s),
            fixed["residual_norm"],
        ),
        _scalar(
            "isotropic_fixed_point_A",
            "Fixed point (Σ̂ = I): A = ‖β‖/(s√τ), ‖β‖ = ‖β*‖ − 2λ s √τ.",
            (iso.beta_star_norm, sy.lam, sy.tau, sy.s),
            fixed["A"],
        ),
        _scalar(
            "phase2_x",
            "Phase II propagator: x_k(t) = w_k·β̂* under the fixed-point g (Σ̂ = I).",
            (iso.x0, iso.a0, sy.t, sy.lam, sy.tau, sy.s),
            iso.phase2_propagator(iso.x0, iso.a0, sy.t, sy.lam, sy.tau, sy.s)[0],
        ),
        Kernel(
            name="neuron_cos_isotropic",
            doc="cos(w_k, β*)(t) = x_k(t)/√(x_k(t)² + ‖w_k⊥(0)‖² e^{−4λs²t}), x_k(t) from the Phase II propagator.",
            args=(iso.x0, iso.a0, iso.w_perp0, sy.t, sy.lam, sy.tau, sy.s),
            intermediates=((_x, iso.phase2_propagator(iso.x0, iso.a0, sy.t, sy.lam, sy.tau, sy.s)[0]),),
            outputs=(Output(iso.neuron_cos(_x, iso.w_perp0, sy.t, sy.lam, sy.s)),),
        ),
        *_balanced_forms(),
    )


def _balanced_forms() -> tuple[Kernel, ...]:
    """The closed forms that fix the frozen-g ones for runs from an initialisation (isotropic.py):
    the Phase II limits put on the fixed point's balance, w_k⊥ decaying per eigen-direction of Σ̂."""
    iso = isotropic
    return (
        _scalar(
            "aligned_fixed_point_A",
            "Aligned fixed point (any Σ̂, σ_b = bᵀΣ̂b): A = ‖β‖/(s√(τ/σ_b)), ‖β‖ = ‖β*‖ − 2λs√(τ/σ_b).",
            (iso.beta_star_norm, sy.lam, sy.tau, sy.s, iso.sigma_b),
            iso.aligned_fixed_point(sy.lam, sy.tau, sy.s, sy.a_k, iso.beta_star_norm, iso.sigma_b)["A"],
        ),
        _scalar(
            "phase2_limit_aligned",
            "Frozen-g Phase II limit x̃_∞ = (τx_k(0) + √(σ_bτ) a_k(0))/(σ_b + τ).",
            (iso.x0, iso.a0, sy.tau, iso.sigma_b),
            iso.phase2_limit_aligned(iso.x0, iso.a0, sy.tau, iso.sigma_b),
        ),
        _scalar(
            "balanced_limit_scale_sq",
            "c² with Σ_k (c x̃_∞,k)² = τA/σ_b, the balance tr(Σ̂S) = τA at the "
            "aligned fixed point; sum_x_inf_sq = Σ_k x̃_∞,k². Negative when 2λs√(τ/σ_b) > ‖β*‖ (then A < 0: "
            "the fixed point is β = 0).",
            (iso.beta_star_norm, sy.lam, sy.tau, sy.s, iso.sigma_b, iso.sum_x_inf_sq),
            iso.balanced_limit_scale(iso.beta_star_norm, sy.lam, sy.tau, sy.s, iso.sigma_b, iso.sum_x_inf_sq) ** 2,
        ),
        _scalar(
            "phase2_x_balanced",
            "x_k(t) = w_k·b from x_k(0) to its balanced limit x_scale·x̃_∞ at rate 2λs²(σ_b + τ).",
            (iso.x0, iso.a0, sy.t, sy.lam, sy.tau, sy.s, iso.sigma_b, iso.x_scale),
            iso.phase2_x_balanced(iso.x0, iso.a0, sy.t, sy.lam, sy.tau, sy.s, iso.sigma_b, iso.x_scale),
        ),
        _scalar(
            "conjugated_perp_time",
            "Time for u_j = Σ_k (v_j·w_k⊥)² to fall from u_perp0 to u_perp under "
            "u̇_j = −4λs²u_j[σ_j − 2λ_f(τ − σ_j)/(A + u_j)] (the conjugated regularizer at K_j = A + u_j).",
            (sy.u_perp0, sy.u_perp, iso.sigma_j, sy.lam, sy.lam_f, sy.A_fp, sy.tau, sy.s),
            iso.conjugated_perp_time(sy.u_perp0, sy.u_perp, iso.sigma_j, sy.lam, sy.lam_f, sy.A_fp, sy.tau, sy.s),
        ),
        _scalar(
            "neuron_cos_spectral",
            "cos(w_k, β*) = (overlap·x + offset)/√(x² + perp_sq) for w_k = x b + w_k⊥, "
            "‖w_k⊥‖² = perp_sq, overlap = b·β̂*, offset = w_k⊥·β̂* (null-space part).",
            (_x, iso.perp_sq, iso.overlap, iso.offset),
            iso.neuron_cos_spectral(_x, iso.perp_sq, iso.overlap, iso.offset),
        ),
    )


def _residual_gradient() -> Kernel:
    return Kernel(
        name="residual_gradient",
        doc="g = Σ̂(β − β*) = ∇_β L (drives the per-neuron propagator); writes g_out (d,).",
        args=(sy.beta, sy.Sigma_hat, sy.beta_star, "g_out"),
        outputs=(Output(model.residual_gradient(sy.beta, sy.Sigma_hat, sy.beta_star), "g_out"),),
    )


def _conjugation() -> Kernel:
    fd = fast_displacement
    return Kernel(
        name="regularizer_conjugation",
        doc="λ_f (K⁻¹Ω + ΩK⁻¹ − 2ωK⁻¹): the w-block of a fluctuation regularizer (Ω, ω) conjugated by the fast "
        "displacement of the network, Cov Y = 2λ_f K⁻¹/s² (added to Ω; label noise: (Ω, ω) = λ_f s²(Σ̂, τ)); "
        "writes Omega_out (d, d).",
        args=(fd.Kinv, sy.Omega, sy.omega, sy.lam_f, "Omega_out"),
        outputs=(Output(fd.regularizer_conjugation(fd.Kinv, sy.Omega, sy.omega, sy.lam_f), "Omega_out"),),
    )


GENERATED: tuple[Kernel, ...] = (
    _flow_full(),
    _reduced(),
    _propagator_block(),
    _beta_jacobian(),
    *_regularizer_weights(),
    *_closed_forms(),
    _residual_gradient(),
    _conjugation(),
)
