"""LaTeX export: every derived result as a named equation with a stable ``\\label{eq:…}``.

``write_latex(path)`` writes a fragment for paper/ to ``\\input``: one ``equation`` environment per
result, in the order of docs/theory.md. Labels are fixed strings below, so they are stable across runs.
The right-hand sides are printed from the sympy expressions that the derivations return; the
left-hand sides are notation.

Adding an equation is one ``(label, description, lhs, rhs)`` entry in ``equations()``. The description
is text and may carry inline maths between ``$…$`` (escaped outside it only); it states what the
equation is, including any approximation it rests on ("trace part of …"). A symbol that the derivations
take as an argument but that an equation is stated *for* (x_k(t), E[u uᵀ], initial values a₀, β₀, …)
is a notation symbol below, typeset through ``NOTATION``: the typesetting comes from the printer,
never from editing the printed string.
"""

from __future__ import annotations

from pathlib import Path

import sympy as sp
from sympy.printing.latex import LatexPrinter

from lnsgd.theory import fast_displacement, finite_eta, flow, isotropic, lazy, model, moments, sam, sde
from lnsgd.theory import symbols as sy

# --- notation symbols of the export -------------------------------------------------------------
#: x_k(t), the Phase II propagator's value, as the argument of cos(w_k, β*) (eq:phase2-cos).
x_kt = sp.Symbol("x_kt", real=True)
#: E[u uᵀ], the mean second moment of the SGD direction (eq:usam-regularizer; ``sy.uu`` is u uᵀ itself).
E_uu = sp.MatrixSymbol("E_uu", sy.d, sy.d)
#: Initial values a₀, β₀, S₀ = W₀ᵀW₀, A₀ = ‖a₀‖² (eq:lazy-weight-change).
a_0 = sp.MatrixSymbol("a_0", sy.m, 1)
beta_0 = sp.MatrixSymbol("beta_0", sy.d, 1)
S_0 = sp.MatrixSymbol("S_0", sy.d, sy.d)
A_0 = sp.Symbol("A_0", nonnegative=True)

#: Typeset form of the notation symbols (``symbols.LATEX_NAMES`` covers the derivations' own).
NOTATION: dict[sp.Basic, str] = {
    x_kt: r"x_k(t)",
    E_uu: r"\mathbb{E}[u u^{\top}]",
    a_0: r"a_0",
    beta_0: r"\beta_0",
    S_0: r"S_0",
    A_0: r"A_0",
}
#: Names of the symmetric matrix symbols: their transpose is printed as the matrix itself.
SYMMETRIC = sy.SYMMETRIC | {E_uu.name, S_0.name}


class TheoryLatexPrinter(LatexPrinter):
    """The notation of docs/model.md: Σ̂, β*, λ, …; tr(xᵀy) of columns printed as xᵀy; Xᵀ = X for symmetric X."""

    def __init__(self):
        super().__init__({"symbol_names": {**sy.LATEX_NAMES, **NOTATION}, "mat_symbol_style": "plain"})

    def _print_Transpose(self, expr):
        if isinstance(expr.arg, sp.MatrixSymbol) and expr.arg.name in SYMMETRIC:
            return self._print(expr.arg)
        return super()._print_Transpose(expr)

    def _print_Trace(self, expr):
        if expr.arg.shape == (1, 1):
            return self._print(expr.arg)
        return rf"\operatorname{{tr}}\left({self._print(expr.arg)}\right)"

    def _print_Identity(self, expr):
        return "I"

    def _as_ordered_terms(self, expr, order=None):
        """Sums that lead with a negative term and end in a positive constant lead with the constant:
        2 − η G_B, not −η G_B + 2."""
        terms = list(super()._as_ordered_terms(expr, order=order))
        if len(terms) > 1 and terms[-1].is_Number and terms[-1] > 0 and terms[0].could_extract_minus_sign():
            return [terms[-1], *terms[:-1]]
        return terms

    def doprint(self, expr) -> str:
        return super().doprint(expr).replace("+ -", "-")


def equations() -> list[tuple[str, str, str, sp.Basic]]:
    """(label, description, lhs, rhs) of every derived result."""
    W, a, g, Sg, bs, u, uu = sy.W, sy.a, sy.g, sy.Sigma_hat, sy.beta_star, sy.u, sy.uu
    s, lam, tau, eta, delta, B = sy.s, sy.lam, sy.tau, sy.eta, sy.delta, sy.B
    beta = model.predictor(W, a, s)
    Om, om = flow.label_noise_gradients(Sg, tau, s, lam)
    W_dot, a_dot = flow.regularized_flow(W, a, g, Om, om, s)
    beta_dot, S_dot, A_dot = flow.reduced_flow(sy.beta, sy.S, sy.A, g, Om, om, s)
    w_dot, ak_dot = flow.neuron_flow(sy.w, sy.a_k, g, Om, om, s)
    dW, da = moments.sgd_step(W, a, u, eta, s)
    d_beta, d_S, d_A = moments.reduced_increments(sy.beta, sy.S, sy.A, u, uu, eta, s)
    forms = moments.neuron_increment_forms(sy.w, sy.a_k, bs, s)
    p, q, r = sp.symbols("p_i q_i r_i", real=True)
    fixed = isotropic.fixed_point(lam, tau, s, sy.a_k, isotropic.beta_star_norm)
    x_t, a_t = isotropic.phase2_propagator(isotropic.x0, isotropic.a0, sy.t, lam, tau, s)
    K = sy.S + sy.A * sp.Identity(sy.d)
    cov_u = moments.u_covariance(g, Sg, sy.M4, delta, B, sy.c_B)
    out = [
        ("network", "two-layer linear network", r"f_\theta(x)", model.network(sp.MatrixSymbol("x", sy.d, 1), W, a, s)),
        ("predictor", "effective linear predictor", r"\beta", beta),
        ("loss", "train loss", r"L", model.train_loss(sy.beta, Sg, bs)),
        ("residual-gradient", "gradient of L in beta", r"g", model.residual_gradient(sy.beta, Sg, bs)),
        (
            "trace-G",
            "trace of the Gauss-Newton matrix",
            r"\operatorname{tr} G",
            model.gauss_newton_trace(W, a, Sg, tau, s),
        ),
        (
            "trace-G-reduced",
            "tr G in reduced variables",
            r"\operatorname{tr} G",
            model.gauss_newton_trace_reduced(sy.S, sy.A, Sg, tau, s),
        ),
        ("sgd-step-W", "one label-noise SGD step, first layer", r"\Delta W", dW),
        ("sgd-step-a", "one label-noise SGD step, second layer", r"\Delta a", da),
        ("u-mean", "mean of the SGD direction", r"\mathbb{E}\, u", g),
        (
            "u-second-moment",
            "second moment of the SGD direction",
            r"\mathbb{E}\, u u^{\top}",
            moments.u_second_moment(g, Sg, sy.M4, delta, B, sy.c_B),
        ),
        ("increment-beta", "exact increment of beta", r"\Delta\beta", d_beta),
        ("increment-S", "exact increment of S", r"\Delta S", d_S),
        ("increment-A", "exact increment of A", r"\Delta A", d_A),
        (
            "increment-balance",
            "exact increment of the balancedness",
            r"\Delta D",
            moments.balance_increment(W, a, uu, eta, s),
        ),
        (
            "single-sample-second-moment",
            "E Delta^2 per sample for B = 1",
            r"\mathbb{E}_\xi \Delta^2",
            moments.single_sample_second_moment(p, q, r, delta, eta, sy.mu4),
        ),
        ("sde-diffusion", "SDE diffusion", r"\Sigma(\theta)", sde.diffusion_matrix(W, a, cov_u, s)),
        ("noise-covariance", "covariance of the SGD direction", r"\operatorname{Cov} u", cov_u),
        (
            "gaussian-fourth-moment",
            "Isserlis fourth moment",
            r"\mathbb{E}[(x\cdot e)^2 x x^{\top}]",
            sde.gaussian_design_fourth_moment(sp.MatrixSymbol("e", sy.d, 1), sp.MatrixSymbol("Sigma", sy.d, sy.d)),
        ),
        (
            "effective-label-noise",
            r"effective label-noise variance, trace part: label noise plus the trace part of the residual sampling noise in $B\operatorname{Cov} u$ (Gaussian design, $\Sigma = I$, $e^{\top}\Sigma e = 2L$)",
            r"\delta_{\mathrm{eff}}^2",
            sde.effective_label_noise_variance(delta, sp.Symbol("L")),
        ),
        (
            "implicit-lambda",
            "regularizer coefficient",
            r"\lambda",
            sde.implicit_regularizer_coefficient(eta, delta, B, s),
        ),
        ("flow-W", "regularized flow, first layer", r"\dot W", W_dot),
        ("flow-a", "regularized flow, second layer", r"\dot a", a_dot),
        (
            "balance-rate",
            "balancedness under the regularized flow",
            r"\dot D",
            flow.balance_rate_closed_form(W, a, Om, om),
        ),
        ("reduced-beta", "reduced flow, beta", r"\dot\beta", beta_dot),
        ("reduced-S", "reduced flow, S", r"\dot S", S_dot),
        ("reduced-A", "reduced flow, A", r"\dot A", A_dot),
        ("neuron-w", "per-neuron flow", r"\dot w_k", w_dot),
        ("neuron-a", "per-neuron flow", r"\dot a_k", ak_dot),
        ("fixed-point-residual", "isotropic fixed point", r"\|\beta^{*} - \beta\|", fixed["residual_norm"]),
        ("fixed-point-neuron", "isotropic fixed point, neurons", r"\|w_k\|/|a_k|", fixed["neuron_ratio"]),
        ("fixed-point-A", "isotropic fixed point", r"A", fixed["A"]),
        ("fixed-point-trace-S", "isotropic fixed point", r"\operatorname{tr} S", fixed["trace_S"]),
        ("phase1-rate", "Phase I decay rate in t", r"\kappa_{\mathrm{I}}", isotropic.phase1_rate(lam, s)),
        (
            "phase1-rate-per-step",
            "Phase I rate per step",
            r"\eta\,\kappa_{\mathrm{I}}",
            isotropic.phase1_rate_per_step(eta, delta, B, s),
        ),
        (
            "phase1-duration",
            "Phase I duration",
            r"T_{\mathrm{I}}",
            isotropic.phase1_duration(isotropic.w_perp0, isotropic.plateau, sy.eps, lam, s),
        ),
        ("phase2-x", "Phase II propagator, aligned component", r"x_k(t)", x_t),
        ("phase2-a", "Phase II propagator, second layer", r"a_k(t)", a_t),
        (
            "phase2-limit",
            "Phase II limit",
            r"x_\infty",
            isotropic.phase2_limit(isotropic.x0, isotropic.a0, lam, tau, s),
        ),
        (
            "phase2-cos",
            "alignment of one neuron",
            r"\cos(w_k, \beta^{*})",
            isotropic.neuron_cos(x_kt, isotropic.w_perp0, sy.t, lam, s),
        ),
        (
            "phase2-time",
            "Phase II time of one neuron",
            r"T_{\mathrm{II}}",
            isotropic.phase2_time(isotropic.x_inf, isotropic.w_perp0, isotropic.c_star, lam, s),
        ),
        (
            "conjugated-perp-time",
            "decay time of $u_j = \\sum_k (v_j\\cdot w_{k\\perp})^2$ under the conjugated regularizer, with "
            "$c_j = 2\\lambda_f(\\tau - \\sigma_j)$ and $e_j = A_\\infty - c_j/\\sigma_j$",
            r"t(u_j(0) \to u_j)",
            _conjugation_constants(
                isotropic.conjugated_perp_time(
                    sy.u_perp0, sy.u_perp, isotropic.sigma_j, lam, sy.lam_f, sy.A_fp, tau, s
                ),
                isotropic.sigma_j,
            ),
        ),
        (
            "phase2-time-conjugated",
            "Phase II time of one neuron with the conjugated regularizer (isotropic: every direction starts at "
            "$u_j(0) = \\sum_k \\|w_{k\\perp}(0)\\|^2/(\\tau - 1)$), with $c = 2\\lambda_f(\\tau - 1)$ and $e = A_\\infty - c$",
            r"T_{\mathrm{II}}",
            _conjugation_constants(
                isotropic.phase2_time_conjugated(
                    isotropic.x_inf, isotropic.w_perp0, isotropic.c_star, lam, sy.lam_f, sy.A_fp, tau, s, sy.u_perp0
                ),
                1,
            ),
        ),
        (
            "usam-regularizer",
            "USAM first-order regularizer",
            r"R_{\mathrm{USAM}}",
            sam.usam_regularizer(sy.S, sy.A, E_uu, s, sy.rho),
        ),
        (
            "one-sam-regularizer",
            "1-SAM regularizer with label noise, per sample (R = mean over i)",
            r"\phi_{\mathrm{1SAM}}(q_i)",
            sam.one_sam_sample_regularizer(sy.q, s, sy.rho, delta, sy.xi_abs_mean),
        ),
        (
            "one-sam-weight",
            "1-SAM sample weight of the flow",
            r"c(q_i)",
            sam.one_sam_weight(sy.q, s, sy.rho, delta, sy.xi_abs_mean),
        ),
        (
            "batch-sam-regularizer",
            "minibatch/full-batch SAM with label noise, leading order",
            r"R_{\mathrm{SAM},B}",
            sam.batch_sam_regularizer(sy.q_sum, sy.n, B, s, sy.rho, delta),
        ),
        (
            "usam-weight",
            "USAM sample weight on the manifold",
            r"c_{\mathrm{USAM}}",
            sam.usam_weight(s, sy.rho, delta, B),
        ),
        (
            "one-sam-noise-variance",
            "1-SAM: second moment of the step's noise along $\\nabla f_i$ on the manifold",
            r"\mathbb{E}\,v_i^2",
            sam.one_sam_noise_variance(sy.q, s, sy.rho, delta, sy.xi_abs_mean),
        ),
        (
            "one-sam-closure-stationarity",
            "1-SAM at finite $\\eta$, Gaussian $\\xi$: sample $i$'s share of the stationarity of the residual "
            "fluctuation $P = cK$ (Gaussian closure of the sign); $\\langle q_i F_i(c)\\rangle = 0$ fixes $c$",
            r"F_i(c)",
            sam.one_sam_stationarity(sy.fluct_scale, sy.q, s, eta, sy.rho, delta, "gaussian"),
        ),
        (
            "one-sam-closure-weight",
            "1-SAM sample weight of the flow at finite $\\eta$, Gaussian $\\xi$, on the stationary $P = cK$",
            r"c_{\mathrm{1SAM}}(q_i)",
            sam.one_sam_closure_weight(sy.fluct_scale, sy.q, s, sy.rho, delta, "gaussian"),
        ),
        (
            "one-usam-weight",
            "1-USAM sample weight on the manifold, exact in $\\rho$",
            r"c_{\mathrm{1USAM}}(q_i)",
            sam.one_usam_weight(sy.q, s, sy.rho, delta),
        ),
        (
            "sam-regularizer",
            "full-batch SAM regularizer (cited)",
            r"R_{\mathrm{SAM}}",
            sam.full_batch_sam_regularizer(sp.Symbol(r"\lambda_{\max}"), sy.rho),
        ),
        (
            "oscillation-drift",
            "oscillation-averaged drift of W",
            r"\mathbb{E}\,\dot W",
            sam.oscillation_step_drift(W, a, sp.ZeroMatrix(sy.m, 1), sy.Z, Sg, bs, s, sy.eps),
        ),
        (
            "lyapunov",
            r"first-order stationary error covariance, trace part of the Lyapunov equation: the residual sampling noise $M_4(P) - \hat{\Sigma} P \hat{\Sigma}$ in the noise covariance $C$ is replaced by its trace part $\operatorname{tr}(\hat{\Sigma} P)\,\hat{\Sigma}$, so $C = \sigma^{2} \hat{\Sigma}/B$ with $\sigma^{2} = \delta^{2} + \operatorname{tr}(\hat{\Sigma} P)$",
            r"0",
            finite_eta.lyapunov_residual(sy.P, K, Sg, finite_eta.trace_part_noise(sp.Symbol("sigma^2"), Sg, B), eta, s),
        ),
        (
            "effective-noise-variance",
            "finite-$\\eta$ noise variance, trace part of the residual sampling noise (the declared models' $\\lambda_{\\mathrm{eff}}$, with $G_B = \\operatorname{tr} G/B$)",
            r"\sigma^2",
            finite_eta.effective_noise_variance(delta, eta, sy.trace_G, B),
        ),
        (
            "contracted-stationarity",
            r"finite-$\eta$ stationarity of the residual fluctuation $P = cK$: the $K^{-1}$-trace of the exact one-step recursion, $q_i = x_i^{\top} K x_i$, $T_2 = \operatorname{tr}((\hat{\Sigma} K)^2)$",
            r"0",
            finite_eta.contracted_stationarity(sy.fluct_scale, sy.q_mean, sy.q2_mean, sy.T2, eta, delta, s, B, sy.c_B),
        ),
        (
            "fluctuation-curvature",
            r"fluctuation curvature (for $B = 1$ the $\|\nabla f_i\|^2$-weighted mean of $\|\nabla f_i\|^2$)",
            r"G_B",
            finite_eta.fluctuation_curvature(sy.q_mean, sy.q2_mean, sy.T2, s, B, sy.c_B),
        ),
        (
            "lambda-eff",
            r"finite-$\eta$ regularizer coefficient, $c/(2s^2)$ at the root $c$ of the contracted stationarity; the trace-part closure has $G_B = \operatorname{tr} G/B$",
            r"\lambda_{\mathrm{eff}}",
            finite_eta.lambda_eff(lam, eta, sy.curvature),
        ),
        (
            "conjugation-correction",
            r"correction to $\Omega$: the $w$-block of label noise's regularizer $R = -2\lambda s^2 \operatorname{diag}(\hat{\Sigma}, \tau)$ averaged over the fast displacement $X = sJ(Y)$ of the network, $\mathbb{E}[e^X R e^{-X}]$ to second order, $\operatorname{Cov} Y = 2\lambda K^{-1}/s^2$",
            r"\Delta\Omega",
            fast_displacement.conjugation_correction(fast_displacement.Kinv, Sg, sy.tau, s, lam),
        ),
        (
            "lazy-weight-change",
            r"linearized weight change from the initial $a_0$, $\beta_0$, $K_0 = S_0 + A_0 I$, $\delta = 0$",
            r"\Delta W_\infty",
            lazy.weight_change_linearized(a_0, S_0 + A_0 * sp.Identity(sy.d), beta_0 - bs, s),
        ),
    ]
    for name, (b, Q) in forms.items():
        out.append(
            (
                f"increment-neuron-{name.replace('_', '-')}",
                f"per-neuron increment {name}",
                rf"\Delta_{{\mathrm{{{name.replace('_', '')}}}}}",
                moments.quadratic_increment(b, Q, u, uu, eta),
            )
        )
    for param in model.PARAMETRIZATIONS:
        out.append(
            (
                f"lazy-relative-change-{param.replace('_', '-')}",
                f"lazy relative weight change, {param}",
                r"\frac{\|\Delta W\|_F}{\|W_0\|_F}",
                lazy.relative_change_estimate(param),
            )
        )
        out.append(
            (
                f"lazy-kernel-change-{param.replace('_', '-')}",
                f"lazy relative kernel change, {param}",
                r"\frac{\|\Delta K\|_F}{\|K_0\|_F}",
                lazy.kernel_change_estimate(param),
            )
        )
    return out


def _conjugation_constants(expr: sp.Expr, sigma) -> sp.Expr:
    """``expr`` with c = 2λ_f(τ − σ) and e = A_∞ − c/σ written as symbols (c_j, e_j; c, e at σ = 1)."""
    c, e = sp.symbols("c e" if sigma == 1 else "c_j e_j", positive=True)
    c_expr = 2 * sy.lam_f * (sy.tau - sigma)
    return expr.subs(sy.A_fp - c_expr / sigma, e).subs(c_expr, c)


def latex_source() -> str:
    """The LaTeX fragment (no preamble)."""
    printer = TheoryLatexPrinter()
    blocks = ["% generated by lnsgd.theory.latex — do not edit\n"]
    for label, description, lhs, rhs in equations():
        text = description[0].upper() + description[1:]
        blocks.append(
            f"\\noindent {_escape(text)}:\n\\begin{{equation}}\\label{{eq:{label}}}\n"
            f"{lhs} = {printer.doprint(_tidy(rhs))}\n\\end{{equation}}\n"
        )
    return "\n".join(blocks)


def write_latex(path: str | Path) -> Path:
    """Write every derived result as named equations (``\\label{eq:…}``) to ``path``."""
    path = Path(path)
    path.write_text(latex_source())
    return path


def _escape(text: str) -> str:
    """Description text made safe for LaTeX: inline maths between ``$…$`` is kept as written, the
    text around it escaped."""
    parts = text.split("$")
    if len(parts) % 2 == 0:
        raise ValueError(f"unbalanced $ in description {text!r}")
    return "$".join(part if i % 2 else _escape_text(part) for i, part in enumerate(parts))


def _escape_text(text: str) -> str:
    for char in ("&", "%", "#", "_"):
        text = text.replace(char, "\\" + char)
    return text.replace("^", r"\^{}").replace("~", r"\~{}")


def _tidy(expr):
    """The expression as a reader wants it: `doit()` folds scalar factors into matrix products and
    drops zero matrices (unevaluated, η·(−2a_k s w_kᵀu) prints as "η − 2a_k s w_kᵀu")."""
    return expr.doit() if hasattr(expr, "doit") else expr
