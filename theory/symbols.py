"""The named sympy symbols of docs/model.md (table in its §9) and docs/theory.md, in one place.

Every derivation in ``lnsgd.theory`` builds on these objects, so the LaTeX export, the codegen and
the tests all speak about the same β, β*, Σ̂, τ, S = WᵀW, A = ‖a‖², λ = ηδ²/(4B) and scale s.
Symbol names equal the argument names of the generated numba functions (``lam`` for λ,
``Sigma_hat`` for Σ̂, …); ``LATEX_NAMES`` gives their typeset form.

Matrices are ``sympy.MatrixSymbol`` objects with symbolic sizes d (input dimension) and m (width);
vectors are d×1 or m×1 columns and the scalar product x·y is written ``dot(x, y) = tr(xᵀy)``, which
keeps every expression a valid matrix expression for any d, m. ``explicit`` turns such an
expression into ordinary sympy matrices of scalar entries at concrete sizes, the form in which the
identities are proved; ``numeric`` evaluates it at given float64 values.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sympy as sp

# sizes
d, m, n = sp.symbols("d m n", integer=True, positive=True)
B = sp.Symbol("B", integer=True, positive=True)

# scalars
eta = sp.Symbol("eta", positive=True)  # step size η
delta = sp.Symbol("delta", nonnegative=True)  # label-noise level δ
lam = sp.Symbol("lam", positive=True)  # regularization strength λ = ηδ²/(4B)
tau = sp.Symbol("tau", positive=True)  # τ = tr Σ̂
s = sp.Symbol("s", positive=True)  # parametrization scale s
A = sp.Symbol("A", nonnegative=True)  # A = ‖a‖²
a_k = sp.Symbol("a_k", real=True)  # second-layer weight of neuron k
mu4 = sp.Symbol("mu4", positive=True)  # E ξ⁴: 3 (Gaussian), 1 (Rademacher)
c_B = sp.Symbol("c_B", nonnegative=True)  # sampling factor: 1 with replacement, (n−B)/(n−1) without
rho = sp.Symbol("rho", positive=True)  # SAM radius ρ
eps = sp.Symbol("eps", positive=True)  # oscillation amplitude ε
t = sp.Symbol("t", nonnegative=True)  # time t = η·steps
trace_G = sp.Symbol("trace_G", positive=True)  # tr G as a number
beta_star_norm = sp.Symbol("beta_star_norm", positive=True)  # ‖β*‖
alpha = sp.Symbol("alpha", positive=True)  # initialization scale α
q = sp.Symbol("q", positive=True)  # q_i = x_iᵀ K x_i, K = S + A I: ‖∇f(x_i)‖ = s √q_i
q_sum = sp.Symbol("q_sum", positive=True)  # Σ_i q_i = tr(X K Xᵀ) = n tr G / s²
xi_abs_mean = sp.Symbol("xi_abs_mean", positive=True)  # E|ξ|: √(2/π) (Gaussian), 1 (Rademacher)
fluct_scale = sp.Symbol("c_fl", positive=True)  # c of the stationary residual fluctuation P = c K
q_mean = sp.Symbol("q_mean", positive=True)  # ⟨q⟩ = (1/n) Σ_i q_i = tr G / s²
q2_mean = sp.Symbol("q2_mean", positive=True)  # ⟨q²⟩ = (1/n) Σ_i q_i²
T2 = sp.Symbol("T2", nonnegative=True)  # T₂ = tr((Σ̂ K)²)
curvature = sp.Symbol("curvature", positive=True)  # G_B, the fluctuation curvature of λ_eff
omega = sp.Symbol("omega", real=True)  # ω = ∂R/∂A, the a-part of a regularizer's gradient
# per-neuron isotropic quantities: w_k = x_k β̂* + w_k⊥
x0, a0, x_inf = sp.symbols("x0 a0 x_inf", real=True)  # x_k(0), a_k(0), x_∞
w_perp0, plateau, c_star = sp.symbols("w_perp0 plateau c_star", positive=True)  # ‖w_k⊥(0)‖, p, c*
# u_j = Σ_k (v_j·w_k⊥)² at the start and later, A of the aligned fixed point, λ_f of the fast fluctuation
u_perp0, u_perp, A_fp = sp.symbols("u_perp0 u_perp A_fp", positive=True)
lam_f = sp.Symbol("lam_f", nonnegative=True)

# matrices and vectors (columns)
W = sp.MatrixSymbol("W", m, d)
a = sp.MatrixSymbol("a", m, 1)
Sigma_hat = sp.MatrixSymbol("Sigma_hat", d, d)
beta_star = sp.MatrixSymbol("beta_star", d, 1)
beta = sp.MatrixSymbol("beta", d, 1)
S = sp.MatrixSymbol("S", d, d)
Omega = sp.MatrixSymbol("Omega", d, d)  # Ω = ∂R/∂S of a regularizer R(S, A), or a fluctuation drift
Kinv = sp.MatrixSymbol("Kinv", d, d)  # K⁻¹, K = S + A I
g = sp.MatrixSymbol("g", d, 1)  # g = Σ̂(β − β*)
w = sp.MatrixSymbol("w", d, 1)  # first-layer weights w_k of one neuron
u = sp.MatrixSymbol("u", d, 1)  # SGD direction: ΔW = −ηs a uᵀ, Δa = −ηs W u
uu = sp.MatrixSymbol("uu", d, d)  # stands for u uᵀ (or E[u uᵀ])
M4 = sp.MatrixSymbol("M4", d, d)  # M4(e) = (1/n) Σ_i (x_i·e)² x_i x_iᵀ
P = sp.MatrixSymbol("P", d, d)  # covariance of the error e = β − β*
zeta = sp.MatrixSymbol("zeta", m, 1)  # oscillation ζ of a
Z = sp.MatrixSymbol("Z", m, m)  # E[ζ ζᵀ]

SYMMETRIC = frozenset({"Sigma_hat", "S", "uu", "M4", "P", "Z"})

LATEX_NAMES: dict[sp.Basic, str] = {
    eta: r"\eta",
    delta: r"\delta",
    lam: r"\lambda",
    tau: r"\tau",
    mu4: r"\mu_4",
    c_B: r"c_B",
    rho: r"\rho",
    eps: r"\varepsilon",
    trace_G: r"\operatorname{tr} G",
    beta_star_norm: r"\|\beta^{*}\|",
    alpha: r"\alpha",
    x0: r"x_k(0)",
    a0: r"a_k(0)",
    x_inf: r"x_\infty",
    w_perp0: r"\|w_{k\perp}(0)\|",
    plateau: r"p",
    c_star: r"c^{*}",
    u_perp0: r"u_j(0)",
    u_perp: r"u_j",
    A_fp: r"A_\infty",
    lam_f: r"\lambda_f",
    Sigma_hat: r"\hat{\Sigma}",
    beta_star: r"\beta^{*}",
    w: r"w_k",
    uu: r"u u^{\top}",
    M4: r"M_4",
    zeta: r"\zeta",
    q: r"q_i",
    q_sum: r"\textstyle\sum_j q_j",
    xi_abs_mean: r"\mathbb{E}|\xi|",
    fluct_scale: r"c",
    q_mean: r"\langle q\rangle",
    q2_mean: r"\langle q^2\rangle",
    T2: r"T_2",
    curvature: r"G_B",
    omega: r"\omega",
    Omega: r"\Omega",
    Kinv: r"K^{-1}",
}


def dot(x: sp.MatrixExpr, y: sp.MatrixExpr) -> sp.Expr:
    """x·y for two columns, written tr(xᵀy) so that it stays a scalar for symbolic sizes."""
    return sp.Trace(x.T * y)


def _entries(name: str, rows: int, cols: int, values=None) -> sp.ImmutableMatrix:
    if values is not None:
        arr = np.asarray(values, dtype=np.float64).reshape(rows, cols)
        return sp.ImmutableMatrix(rows, cols, [sp.Float(float(v), 17) for v in arr.ravel()])
    if name in SYMMETRIC:
        return sp.ImmutableMatrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{min(i, j)}{max(i, j)}", real=True))
    return sp.ImmutableMatrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))


def explicit(expr, d_val: int, m_val: int, values: Mapping[str, object] | None = None):
    """``expr`` at sizes d = d_val, m = m_val, each matrix symbol replaced by its entries.

    Entries are fresh real symbols (``W_01``, …; symmetric for Σ̂, S, M4, P, Z, uu) or, for names in
    ``values``, the given float64 numbers. Scalars named in ``values`` are substituted too.
    """
    values = dict(values or {})
    sized = sp.sympify(expr).subs({d: d_val, m: m_val})
    rep: dict[sp.Basic, sp.Basic] = {}
    for sym in sized.atoms(sp.MatrixSymbol):
        rows, cols = (int(k) for k in sym.shape)
        rep[sym] = _entries(sym.name, rows, cols, values.get(sym.name))
    for sym in sized.free_symbols:
        if isinstance(sym, sp.Symbol) and sym.name in values and sym not in rep:
            rep[sym] = sp.Float(float(values[sym.name]), 17)
    for special in sized.atoms(sp.Identity, sp.ZeroMatrix):
        rep[special] = special.as_explicit()
    out = sized.xreplace(rep)
    for _ in range(4):  # nested traces inside products need more than one pass
        out, previous = out.doit(), out
        if out == previous:
            break
    return sp.expand(out) if not values else out


def numeric(expr, values: Mapping[str, object]) -> np.ndarray | float:
    """Evaluate ``expr`` in float64 at ``values`` (name → array or float; columns as 1-D arrays).

    The sizes d, m are read off the shapes of the given matrices.
    """
    sizes: dict[sp.Symbol, int] = {}
    for sym in sp.sympify(expr).atoms(sp.MatrixSymbol):
        if sym.name in values:
            shape = np.shape(values[sym.name])
            shape = shape if len(shape) == 2 else (shape[0], 1)
            for dim, size in zip(sym.shape, shape, strict=True):
                if isinstance(dim, sp.Symbol):
                    sizes[dim] = int(size)
    out = explicit(expr, sizes.get(d, 1), sizes.get(m, 1), values)
    if isinstance(out, sp.MatrixBase):
        return np.array(out.evalf(17).tolist(), dtype=np.float64)
    return float(sp.N(out, 17))
