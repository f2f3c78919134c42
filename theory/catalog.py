"""The derived results, listed once: which are compiled (``GENERATED``, read by ``codegen``)."""
from __future__ import annotations

import sympy as sp

from lnsgd.theory import finite_eta, flow, isotropic, model, sde
from lnsgd.theory import symbols as sy
from lnsgd.theory.kernel_spec import Kernel, Output

_beta_full = sp.MatrixSymbol("beta", sy.d, 1)
_x = sp.Symbol("x", real=True)


def _flow_full() -> Kernel:
    W_dot, a_dot = flow.regularized_flow(sy.W, sy.a, sy.g, sy.Sigma_hat, sy.tau, sy.s, sy.lam)
    return Kernel(
        name="regularized_flow_full",
        doc="Ẇ = −s a gᵀ − 2λs² W Σ̂ and ȧ = −s W g − 2λs² τ a (θ̇ = −∇(L + λ tr G)), "
        "g = Σ̂(sWᵀa − β*), τ = tr Σ̂; writes dW_out (m, d), da_out (m,).",
        args=(sy.W, sy.a, sy.Sigma_hat, sy.beta_star, sy.s, sy.lam, "dW_out", "da_out"),
        intermediates=(
            (_beta_full, model.predictor(sy.W, sy.a, sy.s)),
            (sy.g, model.residual_gradient(_beta_full, sy.Sigma_hat, sy.beta_star)),
            (sy.tau, sp.Trace(sy.Sigma_hat)),
        ),
        outputs=(Output(W_dot, "dW_out"), Output(a_dot, "da_out")),
    )


def _reduced(name: str, s_value) -> Kernel:
    beta_dot, S_dot, A_dot = flow.reduced_flow(sy.beta, sy.S, sy.A, sy.g, sy.Sigma_hat, sy.tau, s_value, sy.lam)
    s_args = (sy.s,) if s_value == sy.s else ()
    return Kernel(
        name=name,
        doc="Reduced regularized flow on (β, S, A)"
        + (" for scale s" if s_args else " (s = 1)")
        + ": β̇ = −s²(A I + S) g − 2λs²(Σ̂ + τ I) β, Ṡ = −(g βᵀ + β gᵀ) − 2λs²(Σ̂ S + S Σ̂); "
        "writes dbeta_out (d,), dS_out (d, d); returns Ȧ = −2 β·g − 4λs² τ A.",
        args=(sy.beta, sy.S, sy.A, sy.Sigma_hat, sy.tau, sy.beta_star, *s_args, sy.lam, "dbeta_out", "dS_out"),
        intermediates=((sy.g, model.residual_gradient(sy.beta, sy.Sigma_hat, sy.beta_star)),),
        outputs=(Output(beta_dot, "dbeta_out"), Output(S_dot, "dS_out"), Output(A_dot)),
    )


def _propagator_block() -> Kernel:
    P_dot, p_dot = flow.regularized_flow(sy.W, sy.a, sy.g, sy.Sigma_hat, sy.tau, sy.s, sy.lam)
    return Kernel(
        name="neuron_propagator_block_s",
        doc="Per-neuron linear ODE for a stack of neurons (rows (w_j, a_j)) driven by a given g(t): "
        "Ẇ = −s a gᵀ − 2λs² W Σ̂ (into dW_out), ȧ = −s W g − 2λs² τ a (into da_out). With the d + 1 "
        "rows of Φᵀ it moves the whole propagator in one call (one kernel instead of d + 1).",
        args=(sy.W, sy.a, sy.g, sy.Sigma_hat, sy.tau, sy.s, sy.lam, "dW_out", "da_out"),
        outputs=(Output(P_dot, "dW_out"), Output(p_dot, "da_out")),
    )


def _beta_jacobian() -> Kernel:
    return Kernel(
        name="reduced_beta_jacobian_s",
        doc="Stiff block of the reduced flow: ∂β̇/∂β = −s²(A I + S) Σ̂ − 2λs²(Σ̂ + τ I); writes J_out (d, d).",
        args=(sy.S, sy.A, sy.Sigma_hat, sy.tau, sy.s, sy.lam, "J_out"),
        outputs=(Output(flow.reduced_flow_beta_jacobian(sy.S, sy.A, sy.Sigma_hat, sy.tau, sy.s, sy.lam), "J_out"),),
    )


def _scalar(name: str, doc: str, args: tuple, expr: sp.Expr) -> Kernel:
    return Kernel(name=name, doc=doc, args=args, outputs=(Output(expr),))


def _closed_forms() -> tuple[Kernel, ...]:
    iso = isotropic
    fixed = iso.fixed_point(sy.lam, sy.tau, sy.s, sy.a_k, iso.beta_star_norm)
    return (
        _scalar("implicit_lambda", "λ = ηδ²/(4B), from matching the balancedness drift of one SGD step.",
                (sy.eta, sy.delta, sy.B), sde.implicit_regularizer_coefficient(sy.eta, sy.delta, sy.B, sy.s)),
        _scalar("lambda_eff", "λ_eff = λ/(1 − η tr G/(2B)) (finite-η correction; pole at η tr G = 2B).",
                (sy.lam, sy.eta, sy.trace_G, sy.B), finite_eta.lambda_eff(sy.lam, sy.eta, sy.trace_G, sy.B)),
        _scalar("trace_G_reduced", "tr G = s²[tr(Σ̂ S) + τ A].", (sy.S, sy.A, sy.Sigma_hat, sy.tau, sy.s),
                model.gauss_newton_trace_reduced(sy.S, sy.A, sy.Sigma_hat, sy.tau, sy.s)),
        _scalar("trace_G_full", "tr G = s²[tr(W Σ̂ Wᵀ) + τ‖a‖²], τ = tr Σ̂.", (sy.W, sy.a, sy.Sigma_hat, sy.s),
                model.gauss_newton_trace(sy.W, sy.a, sy.Sigma_hat, sp.Trace(sy.Sigma_hat), sy.s)),
        _scalar("isotropic_residual_norm", "Fixed point (Σ̂ = I): ‖β* − β‖ = 2λ s √τ.",
                (sy.lam, sy.tau, sy.s), fixed["residual_norm"]),
        _scalar("isotropic_fixed_point_A", "Fixed point (Σ̂ = I): A = ‖β‖/(s√τ), ‖β‖ = ‖β*‖ − 2λ s √τ.",
                (iso.beta_star_norm, sy.lam, sy.tau, sy.s), fixed["A"]),
        _scalar("phase2_x", "Phase II propagator: x_k(t) = w_k·β̂* under the fixed-point g (Σ̂ = I).",
                (iso.x0, iso.a0, sy.t, sy.lam, sy.tau, sy.s),
                iso.phase2_propagator(iso.x0, iso.a0, sy.t, sy.lam, sy.tau, sy.s)[0]),
        Kernel(
            name="neuron_cos_isotropic",
            doc="cos(w_k, β*)(t) = x_k(t)/√(x_k(t)² + ‖w_k⊥(0)‖² e^{−4λs²t}), x_k(t) from the Phase II propagator.",
            args=(iso.x0, iso.a0, iso.w_perp0, sy.t, sy.lam, sy.tau, sy.s),
            intermediates=((_x, iso.phase2_propagator(iso.x0, iso.a0, sy.t, sy.lam, sy.tau, sy.s)[0]),),
            outputs=(Output(iso.neuron_cos(_x, iso.w_perp0, sy.t, sy.lam, sy.s)),),
        ),
    )


def _residual_gradient() -> Kernel:
    return Kernel(
        name="residual_gradient",
        doc="g = Σ̂(β − β*) = ∇_β L (drives the per-neuron propagator); writes g_out (d,).",
        args=(sy.beta, sy.Sigma_hat, sy.beta_star, "g_out"),
        outputs=(Output(model.residual_gradient(sy.beta, sy.Sigma_hat, sy.beta_star), "g_out"),),
    )


GENERATED: tuple[Kernel, ...] = (
    _flow_full(),
    _reduced("reduced_flow", sp.Integer(1)),
    _reduced("reduced_flow_s", sy.s),
    _propagator_block(),
    _beta_jacobian(),
    *_closed_forms(),
    _residual_gradient(),
)
