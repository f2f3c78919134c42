"""Symbolic identities of lnsgd.theory, proved with explicit entries at small sizes (exact arithmetic)."""

import pytest
import sympy as sp

from lnsgd.theory import finite_eta, flow, isotropic, lazy, model, moments, sde
from lnsgd.theory import symbols as sy
from lnsgd.theory.symbols import explicit

SIZES = [(2, 3), (3, 2)]  # (d, m)


def LN(lam):
    """(Ω, ω) of label noise's λ tr G at the symbolic Σ̂, τ, s."""
    return flow.label_noise_gradients(sy.Sigma_hat, sy.tau, sy.s, lam)


def _zero(expr) -> bool:
    """Every entry of expr (scalar, explicit matrix or sized matrix expression) simplifies to 0."""
    if isinstance(expr, sp.MatrixExpr) and not isinstance(expr, sp.MatrixBase):
        expr = expr.as_explicit()
    entries = expr if isinstance(expr, sp.MatrixBase) else [expr]
    return all(sp.simplify(sp.expand(e)) == 0 for e in entries)


@pytest.mark.parametrize("d_val,m_val", SIZES)
def test_gradient_flow_conserves_balancedness(d_val, m_val):
    W_dot, a_dot = flow.full_state_flow(sy.W, sy.a, sy.Sigma_hat, sy.beta_star, *LN(0), sy.s)
    D_dot = flow.balance_rate(sy.W, sy.a, W_dot, a_dot)
    assert _zero(explicit(D_dot, d_val, m_val))


def test_balance_rate_closed_form():
    W_dot, a_dot = flow.full_state_flow(sy.W, sy.a, sy.Sigma_hat, sy.beta_star, *LN(sy.lam), sy.s)
    D_dot = flow.balance_rate(sy.W, sy.a, W_dot, a_dot)
    closed = flow.balance_rate_closed_form(sy.W, sy.a, *LN(sy.lam))
    assert _zero(explicit(D_dot - closed, 2, 3))


@pytest.mark.parametrize("d_val,m_val", SIZES)
def test_regularized_flow_is_minus_gradient_of_L_plus_lambda_trG(d_val, m_val):
    beta = model.predictor(sy.W, sy.a, sy.s)
    objective = model.train_loss(beta, sy.Sigma_hat, sy.beta_star) + sy.lam * model.gauss_newton_trace(
        sy.W, sy.a, sy.Sigma_hat, sy.tau, sy.s
    )
    Wx, ax = explicit(sy.W, d_val, m_val), explicit(sy.a, d_val, m_val)
    grad_W, grad_a = model.objective_gradient_explicit(explicit(objective, d_val, m_val), Wx, ax)
    W_dot, a_dot = flow.full_state_flow(sy.W, sy.a, sy.Sigma_hat, sy.beta_star, *LN(sy.lam), sy.s)
    assert _zero(explicit(W_dot, d_val, m_val) + grad_W)
    assert _zero(explicit(a_dot, d_val, m_val) + grad_a)


@pytest.mark.parametrize("d_val,m_val", SIZES)
def test_reduced_flow_closes_for_any_regularizer_of_S_and_A(d_val, m_val):
    residuals = flow.closure_residual(sy.W, sy.a, sy.Sigma_hat, sy.beta_star, sy.Omega, sy.omega, sy.s, d_val, m_val)
    assert all(r.is_zero_matrix for r in residuals)


def test_neuron_flow_is_a_row_of_the_full_flow():
    d_val, m_val = 2, 3
    g = explicit(model.residual_gradient(model.predictor(sy.W, sy.a, sy.s), sy.Sigma_hat, sy.beta_star), d_val, m_val)
    W_dot, a_dot = (
        explicit(x, d_val, m_val)
        for x in flow.full_state_flow(sy.W, sy.a, sy.Sigma_hat, sy.beta_star, *LN(sy.lam), sy.s)
    )
    Wx, ax, Sx = (explicit(x, d_val, m_val) for x in (sy.W, sy.a, sy.Sigma_hat))
    for k in range(m_val):
        w_dot, ak_dot = flow.neuron_flow(
            Wx[k, :].T, ax[k, 0], g, *flow.label_noise_gradients(Sx, sy.tau, sy.s, sy.lam), sy.s
        )
        assert _zero(sp.Matrix(w_dot) - W_dot[k, :].T)
        assert _zero(sp.sympify(ak_dot).doit() - a_dot[k, 0])


def test_trace_G_equals_trace_of_gauss_newton_from_data():
    n_val, d_val, m_val = 3, 2, 2
    X = sp.Matrix(n_val, d_val, lambda i, j: sp.Symbol(f"x_{i}{j}", real=True))
    Wx, ax = explicit(sy.W, d_val, m_val), explicit(sy.a, d_val, m_val)
    G = model.gauss_newton_explicit(X, Wx, ax, sy.s)
    Sigma = X.T * X / n_val
    formula = model.gauss_newton_trace(Wx, ax, Sigma, Sigma.trace(), sy.s).doit()
    assert _zero(G.trace() - formula)
    # label-noise part of the SDE diffusion: J Σ̂ Jᵀ = G
    J = sde.noise_jacobian(sy.W, sy.a, sy.s)
    Jx = sp.Matrix(explicit(J, d_val, m_val).as_explicit())
    assert _zero(Jx * Sigma * Jx.T - G)


def test_exact_increments_are_the_change_of_the_quantities():
    d_val, m_val = 2, 3
    Wx, ax, ux, bsx = (explicit(x, d_val, m_val) for x in (sy.W, sy.a, sy.u, sy.beta_star))
    dW, da = (sp.Matrix(explicit(x, d_val, m_val)) for x in moments.sgd_step(sy.W, sy.a, sy.u, sy.eta, sy.s))
    W1, a1 = Wx + dW, ax + da
    U = ux * ux.T
    beta0, beta1 = sy.s * Wx.T * ax, sy.s * W1.T * a1
    d_beta, d_S, d_A = moments.reduced_increments(beta0, Wx.T * Wx, (ax.T * ax)[0, 0], ux, U, sy.eta, sy.s)
    assert _zero(beta1 - beta0 - sp.Matrix(d_beta))
    assert _zero(W1.T * W1 - Wx.T * Wx - sp.Matrix(d_S))
    assert _zero((a1.T * a1 - ax.T * ax)[0, 0] - sp.sympify(d_A).doit())

    def D(W_, a_):
        return a_ * a_.T - W_ * W_.T

    assert _zero(D(W1, a1) - D(Wx, ax) - sp.Matrix(moments.balance_increment(Wx, ax, U, sy.eta, sy.s).doit()))
    k = 1
    w0, w1, ak0, ak1 = Wx[k, :].T, W1[k, :].T, ax[k, 0], a1[k, 0]
    exact = {
        "norm_w_sq": (w1.T * w1)[0, 0] - (w0.T * w0)[0, 0],
        "a_sq": ak1**2 - ak0**2,
        "a_w_beta_star": ak1 * (w1.T * bsx)[0, 0] - ak0 * (w0.T * bsx)[0, 0],
        "balance": ak1**2 - (w1.T * w1)[0, 0] - ak0**2 + (w0.T * w0)[0, 0],
    }
    for name, (b, Q) in moments.neuron_increment_forms(sy.w, sy.a_k, sy.beta_star, sy.s).items():
        formula = moments.quadratic_increment(b, Q, sy.u, sy.uu, sy.eta)
        formula = (
            explicit(formula, d_val, m_val)
            .xreplace(
                {
                    **dict(zip(explicit(sy.w, d_val, 1), w0, strict=True)),
                    sy.a_k: ak0,
                    **dict(zip(explicit(sy.uu, d_val, 1), U, strict=True)),
                }
            )
            .doit()
        )
        assert _zero(exact[name] - formula), name


def test_implicit_lambda_from_balance_drift():
    assert sde.implicit_regularizer_coefficient(sy.eta, sy.delta, sy.B, sy.s) == sy.eta * sy.delta**2 / (4 * sy.B)


def _isotropic_fixed_point(d_val=2):
    """Σ̂ = I, β* = (b, 0, …): β, S, A of the closed-form fixed point."""
    b = sp.Symbol("b", positive=True)
    lam, s = sp.Rational(1, 10), sy.s
    tau = sp.Integer(d_val)
    fp = isotropic.fixed_point(lam, tau, s, sy.a_k, b)
    e1 = sp.Matrix([1] + [0] * (d_val - 1))
    return b, lam, s, tau, fp, e1


def test_fixed_point_satisfies_reduced_flow():
    b, lam, s, tau, fp, e1 = _isotropic_fixed_point()
    beta, A = fp["beta_norm"] * e1, fp["A"]
    S = tau * A * e1 * e1.T
    g = beta - b * e1
    assert sp.simplify(fp["trace_S"] - S.trace()) == 0
    for rhs in flow.reduced_flow(beta, S, A, g, *flow.label_noise_gradients(sp.eye(2), tau, s, lam), s):
        assert _zero(sp.Matrix(rhs) if isinstance(rhs, sp.MatrixBase) else sp.sympify(rhs).doit())


def _full_fixed_point():
    """m = 2 neurons at the isotropic fixed point (Σ̂ = I, d = 2, β* = 3 e₁, s = 1, λ = 1/10)."""
    b, lam, tau = sp.Integer(3), sp.Rational(1, 10), sp.Integer(2)
    fp = isotropic.fixed_point(lam, tau, 1, sy.a_k, b)
    a1 = sp.Rational(1, 3) * sp.sqrt(fp["A"])
    a2 = sp.sqrt(fp["A"] - a1**2)
    a = sp.Matrix([a1, a2])
    W = fp["neuron_ratio"] * a * sp.Matrix([[1, 0]])
    return W, a, lam, tau, b


def test_phase1_rate_equals_linearization_of_full_flow():
    W0, a0, lam, tau, b = _full_fixed_point()
    Wx, ax = explicit(sy.W, 2, 2), explicit(sy.a, 2, 2)
    W_dot, a_dot = flow.full_state_flow(
        Wx, ax, sp.eye(2), sp.Matrix([b, 0]), *flow.label_noise_gradients(sp.eye(2), tau, 1, lam), 1
    )
    theta = model.flatten_parameters(Wx, ax)
    F = model.flatten_parameters(sp.Matrix(W_dot), sp.Matrix(a_dot))
    at = dict(zip(theta, model.flatten_parameters(W0, a0), strict=True))
    assert all(sp.simplify(f.subs(at)) == 0 for f in F)  # fixed point of the full flow
    J = F.jacobian(theta).subs(at)
    # off-direction perturbation that keeps β: δw_1 = a_2 e_2, δw_2 = −a_1 e_2, δa = 0
    v = model.flatten_parameters(sp.Matrix([[0, a0[1]], [0, -a0[0]]]), sp.zeros(2, 1))
    rate = isotropic.phase1_rate(lam, 1)
    assert _zero(J * v + rate * v)
    assert rate == 2 * lam


def test_phase2_propagator_solves_the_neuron_ode():
    x, a = isotropic.phase2_propagator(sy.x0, sy.a0, sy.t, sy.lam, sy.tau, sy.s)
    M = isotropic.phase2_matrix(sy.lam, sy.tau, sy.s)
    assert _zero(sp.Matrix([sp.diff(x, sy.t), sp.diff(a, sy.t)]) - M * sp.Matrix([x, a]))
    assert _zero(sp.Matrix([x, a]).subs(sy.t, 0) - sp.Matrix([sy.x0, sy.a0]))
    x_inf = isotropic.phase2_limit(sy.x0, sy.a0, sy.lam, sy.tau, sy.s)
    a_inf = sp.limit(a, sy.t, sp.oo)
    assert sp.simplify(x_inf - sp.sqrt(sy.tau) * a_inf) == 0  # ends balanced and aligned: x = √τ a


def test_phase_times_solve_their_definitions():
    lam, s = sy.lam, sy.s
    T1 = isotropic.phase1_duration(sy.w_perp0, sy.plateau, sy.eps, lam, s)
    norm_sq = sy.plateau**2 + sy.w_perp0**2 * sp.exp(-2 * isotropic.phase1_rate(lam, s) * T1)
    assert sp.simplify(norm_sq - (1 + sy.eps) ** 2 * sy.plateau**2) == 0
    T2 = isotropic.phase2_time(sy.x_inf, sy.w_perp0, sy.c_star, lam, s)
    cos = isotropic.neuron_cos(sp.Abs(sy.x_inf), sy.w_perp0, T2, lam, s)
    vals = {sy.x_inf: sp.Rational(-3, 10), sy.w_perp0: 2, sy.c_star: sp.Rational(9, 10), lam: sp.Rational(1, 7), s: 1}
    assert abs(sp.N(cos.subs(vals)) - sp.Rational(9, 10)) < 1e-30
    expected = sy.eta**2 * sy.delta**2 * s**2 / (2 * sy.B)
    assert sp.simplify(isotropic.phase1_rate_per_step(sy.eta, sy.delta, sy.B, s) - expected) == 0


def test_finite_eta_lyapunov_closure():
    d_val = 2
    K = explicit(sy.S, d_val, 1) + sp.Symbol("A") * sp.eye(d_val)
    Sig = explicit(sy.Sigma_hat, d_val, 1)
    sigma_sq = finite_eta.effective_noise_variance(sy.delta, sy.eta, sy.trace_G, sy.B)
    P = finite_eta.stationary_scale(sigma_sq, sy.eta, sy.B, sy.s) * K
    C = finite_eta.trace_part_noise(sigma_sq, Sig, sy.B)
    assert _zero(sp.Matrix(finite_eta.lyapunov_residual(P, K, Sig, C, sy.eta, sy.s)))
    # self-consistency: σ² = δ² + tr(Σ̂ P) with tr G = s² tr(Σ̂ K)
    trG = sy.s**2 * (Sig * K).trace()
    assert sp.simplify((sy.delta**2 + (Sig * P).trace() - sigma_sq).subs(sy.trace_G, trG)) == 0
    # the trace-part closure is λ_eff at G_B = tr G/B
    lam_eff = finite_eta.lambda_eff(sy.lam, sy.eta, sy.trace_G / sy.B)
    trace_part = sy.eta * sigma_sq / (4 * sy.B)
    assert sp.simplify(trace_part.subs(sy.delta, sp.sqrt(4 * sy.B * sy.lam / sy.eta)) - lam_eff) == 0


def test_finite_eta_contracted_stationarity():
    """λ_eff = c/(2s²) at the root of the K⁻¹-trace of the stationary recursion is λ/(1 − η G_B/2); the
    scalar condition is the K⁻¹-trace of the matrix recursion at P = cK, exactly (explicit 2×2, n = 3)."""
    args = (sy.q_mean, sy.q2_mean, sy.T2, sy.s, sy.B, sy.c_B)
    exact = finite_eta.effective_lambda_exact(sy.lam, sy.eta, *args)
    assert sp.simplify(exact - finite_eta.lambda_eff(sy.lam, sy.eta, finite_eta.fluctuation_curvature(*args))) == 0
    # the matrix recursion: s²(KΣ̂P + PΣ̂K) − ηs⁴K E[uuᵀ] K, E uuᵀ = (1 − c_B/B)Σ̂PΣ̂ + (c_B/B)M₄(P) + (δ²/B)Σ̂
    d_val, n_val = 2, 3
    X = sp.Matrix(n_val, d_val, lambda i, j: sp.Symbol(f"x_{i}{j}", real=True))
    K = explicit(sy.S, d_val, 1) + sp.Symbol("A") * sp.eye(d_val)
    c = sy.fluct_scale
    P = c * K
    Sig = X.T * X / n_val
    M4 = sum(((X[i, :] * P * X[i, :].T)[0] * X[i, :].T * X[i, :] for i in range(n_val)), sp.zeros(d_val)) / n_val
    Euu = (1 - sy.c_B / sy.B) * Sig * P * Sig + sy.c_B / sy.B * M4 + sy.delta**2 / sy.B * Sig
    recursion = sy.s**2 * (K * Sig * P + P * Sig * K) - sy.eta * sy.s**4 * K * Euu * K
    q = [(X[i, :] * K * X[i, :].T)[0] for i in range(n_val)]
    q_mean, q2_mean, T2 = sum(q) / n_val, sum(qi**2 for qi in q) / n_val, ((Sig * K) ** 2).trace()
    contracted = finite_eta.contracted_stationarity(c, q_mean, q2_mean, T2, sy.eta, sy.delta, sy.s, sy.B, sy.c_B)
    K = sp.Matrix(K)  # tr(K⁻¹ R) det K = tr(adj(K) R): polynomial
    assert sp.cancel((K.adjugate() * recursion).trace() - sy.s**2 * contracted * K.det()) == 0


def test_lazy_m_exponents():
    expected = {"standard": sp.Rational(-3, 2), "ntk": sp.Rational(-1, 2), "mean-field": 0}
    for param, exponent in expected.items():
        assert lazy.m_exponent(lazy.relative_change_estimate(param)) == exponent


def test_lazy_kernel_m_exponents():
    """‖ΔK‖_F/‖K₀‖_F falls one power of m faster than ‖ΔW‖_F/‖W₀‖_F in the lazy parametrizations."""
    expected = {"standard": -2, "ntk": -1, "mean-field": 0}
    for param, exponent in expected.items():
        assert lazy.m_exponent(lazy.kernel_change_estimate(param)) == exponent


@pytest.mark.parametrize("d_val", [2, 3])
@pytest.mark.parametrize("regularizer", ["label", "general"])
def test_fast_displacement_conjugation_is_the_w_block_of_the_averaged_conjugated_regularizer(d_val, regularizer):
    """Proved entrywise: with Y Gaussian, E[Y Yᵀ] = Σ_Y = 2λ K⁻¹/s² (K⁻¹ a symmetric matrix of symbols),
    the w-block of E[e^X R e^{−X}] − R to second order (X = sJ(Y)) equals −2 (the generator is −2Ω)
    times `conjugation_correction` for label noise's R = −2λs² diag(Σ̂, τ), and times
    `regularizer_conjugation` for any R = −2 diag(Ω, ω) (Ω a symmetric matrix of symbols, as 1-SAM's
    sample-weighted fluctuation part); its first-order part has zero mean."""
    from lnsgd.theory import fast_displacement as fd

    Y = sp.Matrix(sp.symbols(f"y0:{d_val}", real=True))
    Kinv = sp.Matrix(d_val, d_val, lambda i, j: sp.Symbol(f"k{min(i, j)}{max(i, j)}", real=True))
    Sig = sy.explicit(sy.Sigma_hat, d_val, 1)
    assert Sig == Sig.T
    R = sp.zeros(d_val + 1, d_val + 1)
    if regularizer == "label":
        R[:d_val, :d_val] = -2 * sy.lam * sy.s**2 * Sig
        R[d_val, d_val] = -2 * sy.lam * sy.s**2 * sy.tau
        want = -2 * fd.conjugation_correction(Kinv, Sig, sy.tau, sy.s, sy.lam)
    else:
        Om = sp.Matrix(d_val, d_val, lambda i, j: sp.Symbol(f"o{min(i, j)}{max(i, j)}", real=True))
        R[:d_val, :d_val] = -2 * Om
        R[d_val, d_val] = -2 * sy.omega
        want = -2 * fd.regularizer_conjugation(Kinv, Om, sy.omega, sy.lam)
    conj = fd.conjugated_generator_second_order(R, Y, sy.s) - R
    cov = 2 * sy.lam * Kinv / sy.s**2

    def expect(expr):  # Gaussian, zero mean: y_i y_j -> cov_ij, odd monomials -> 0
        poly = sp.Poly(sp.expand(expr), *Y)
        out = 0
        for monom, coeff in poly.terms():
            idx = [i for i, p in enumerate(monom) for _ in range(p)]
            if len(idx) == 2:
                out += coeff * cov[idx[0], idx[1]]
            elif len(idx) != 0:
                assert len(idx) == 1  # second order: only constant, linear and quadratic terms
        return out

    mean = conj.applyfunc(expect)
    assert sp.simplify(mean[:d_val, :d_val] - want) == sp.zeros(d_val, d_val)
