"""The two-layer linear network of docs/model.md §1–§2 in sympy: predictor, loss, gradients, Gauss–Newton.

f_θ(x) = s aᵀW x,  β = s Wᵀa,  L = ½ (β − β*)ᵀ Σ̂ (β − β*),  g = ∇_β L = Σ̂ (β − β*),
∇_W L = s a gᵀ,  ∇_a L = s W g,  ∇_W f(x) = s a xᵀ,  ∇_a f(x) = s W x,
G = (1/n) Σ_i ∇f(x_i) ∇f(x_i)ᵀ,  tr G = s² [tr(W Σ̂ Wᵀ) + τ ‖a‖²] = s² [tr(Σ̂ S) + τ A].

Matrix-form functions take sympy matrix expressions (symbolic sizes or explicit); the ``*_explicit``
functions need concrete sizes because they flatten θ = (vec W, a) row-major.
"""

from __future__ import annotations

import sympy as sp

from lnsgd.theory.symbols import dot, m

#: the parametrization scale s for each parametrization (docs/model.md §1); the names are the one
#: spelling of the workbench (codegen copies them into solvers/generated_rhs.py for configs)
PARAMETRIZATIONS: dict[str, sp.Expr] = {
    "standard": sp.Integer(1),
    "ntk": 1 / sp.sqrt(m),
    "mean-field": 1 / m,
}


def predictor(W: sp.MatrixExpr, a: sp.MatrixExpr, s: sp.Expr) -> sp.MatrixExpr:
    """β = s Wᵀa."""
    return s * W.T * a


def network(x: sp.MatrixExpr, W: sp.MatrixExpr, a: sp.MatrixExpr, s: sp.Expr) -> sp.Expr:
    """f_θ(x) = s aᵀW x."""
    return s * dot(a, W * x)


def residual_gradient(beta: sp.MatrixExpr, Sigma_hat: sp.MatrixExpr, beta_star: sp.MatrixExpr) -> sp.MatrixExpr:
    """g = Σ̂ (β − β*) = ∇_β L."""
    return Sigma_hat * (beta - beta_star)


def train_loss(beta: sp.MatrixExpr, Sigma_hat: sp.MatrixExpr, beta_star: sp.MatrixExpr) -> sp.Expr:
    """L = ½ (β − β*)ᵀ Σ̂ (β − β*)."""
    e = beta - beta_star
    return dot(e, Sigma_hat * e) / 2


def per_sample_gradient(
    x: sp.MatrixExpr, W: sp.MatrixExpr, a: sp.MatrixExpr, s: sp.Expr
) -> tuple[sp.MatrixExpr, sp.MatrixExpr]:
    """(∇_W f(x), ∇_a f(x)) = (s a xᵀ, s W x)."""
    return s * a * x.T, s * W * x


def gauss_newton_trace(
    W: sp.MatrixExpr, a: sp.MatrixExpr, Sigma_hat: sp.MatrixExpr, tau: sp.Expr, s: sp.Expr
) -> sp.Expr:
    """tr G = s² [tr(W Σ̂ Wᵀ) + τ ‖a‖²]."""
    return s**2 * (sp.Trace(W * Sigma_hat * W.T) + tau * dot(a, a))


def gauss_newton_trace_reduced(
    S: sp.MatrixExpr, A: sp.Expr, Sigma_hat: sp.MatrixExpr, tau: sp.Expr, s: sp.Expr
) -> sp.Expr:
    """tr G = s² [tr(Σ̂ S) + τ A], the same trace in the reduced variables S = WᵀW, A = ‖a‖²."""
    return s**2 * (sp.Trace(Sigma_hat * S) + tau * A)


def flatten_parameters(W: sp.MatrixBase, a: sp.MatrixBase) -> sp.Matrix:
    """θ = (vec W row-major, a) as one column (explicit sizes)."""
    return sp.Matrix(list(W) + list(a))


def gauss_newton_explicit(X: sp.MatrixBase, W: sp.MatrixBase, a: sp.MatrixBase, s: sp.Expr) -> sp.Matrix:
    """G = (1/n) Σ_i ∇f(x_i) ∇f(x_i)ᵀ over θ = (vec W, a), from the data rows x_i of X (explicit)."""
    grads = []
    for i in range(X.rows):
        x = X[i, :].T
        gW, ga = per_sample_gradient(x, W, a, s)
        grads.append(flatten_parameters(sp.Matrix(gW), sp.Matrix(ga)))
    return sum((q * q.T for q in grads), sp.zeros(len(grads[0]))) / X.rows


def objective_gradient_explicit(objective: sp.Expr, W: sp.MatrixBase, a: sp.MatrixBase) -> tuple[sp.Matrix, sp.Matrix]:
    """(∂F/∂W, ∂F/∂a) of a scalar F by entrywise differentiation (explicit sizes)."""
    dW = W.applyfunc(lambda x: sp.diff(objective, x))
    da = a.applyfunc(lambda x: sp.diff(objective, x))
    return sp.Matrix(dW), sp.Matrix(da)
