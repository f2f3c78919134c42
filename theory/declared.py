"""Declared models: f(θ, x) written once in sympy; everything the workbench needs derived from it.

A `ModelDeclaration` names the parameter blocks (matrix symbols at symbolic sizes), the output
f(θ, x) as a 1×1 sympy matrix expression of the blocks, the input column x and the scale s, the
initial distribution of each block (times α) and the parametrizations (s and the init scales).
From it this module derives, by reverse-mode matrix calculus on sympy matrix expressions:

- the per-sample gradient ∇_θ f(x), one matrix expression per block;
- the end-to-end predictor β(θ) = ∇_x f (every declared model is linear in x: f = β(θ)ᵀx);
- q(x) = ‖∇_θ f(x)‖², so that tr G = (1/n) Σ_i q(x_i) for G = (1/n) Σ_i ∇f_i ∇f_iᵀ;
- ∇_θ q(x), from which every regularizer R = (1/n) Σ_i φ(q_i) gets its gradient
  ∇R = (1/n) Σ_i φ′(q_i) ∇q_i (label noise φ = λq; 1-SAM and USAM as in `lnsgd.theory.sam`);
- the regularized flow θ̇ = −(1/n) Σ_i [r_i ∇f_i + c_i ∇q_i], r_i = f(x_i) − y_i, c_i = φ′(q_i).

Supported class: f linear in x, each block entering through sums of matrix products, transposes and
Hadamard products (deep linear networks of any depth, diagonal networks, factorized models). A
matrix block must enter each term once, so that its per-sample gradient is an outer product u vᵀ
and ‖u vᵀ‖² = (uᵀu)(vᵀv) stays a matrix expression at symbolic sizes; otherwise the declaration is
rejected. The rules are proved against entrywise sympy differentiation at explicit sizes
(tests/test_declared_models.py); `lnsgd.theory.declared_codegen` compiles the results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sympy as sp

INITS = ("normal", "constant")


class DeclarationError(ValueError):
    """A model declaration outside the supported class, with the reason."""


@dataclass(frozen=True)
class Block:
    """One parameter block: a (rows × cols) matrix symbol (cols = 1: a vector) and its initial law,
    N(0, scale²) entrywise (`normal`) or the constant `scale` (`constant`), times α."""

    symbol: sp.MatrixSymbol
    init: str = "normal"

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise DeclarationError(f"block {self.symbol.name}: init = {self.init!r} is not one of {INITS}")

    @property
    def name(self) -> str:
        return self.symbol.name

    @property
    def is_vector(self) -> bool:
        return self.symbol.shape[1] == 1


@dataclass(frozen=True)
class Parametrization:
    """Output scale s and the init scale of every block (std or constant, before × α), in sizes."""

    name: str
    scale: sp.Expr
    init_scales: Mapping[str, sp.Expr]


@dataclass(frozen=True)
class ModelDeclaration:
    """A model f(θ, x) = `output` (1×1) in the `blocks`, the input column `x` (d × 1) and scale `s`.

    `sizes` are the size symbols (d, the input dimension, first); `neurons` names a matrix block
    whose rows are the model's neurons (their norms and alignments with β* are the two-phase
    observables), or None.
    """

    name: str
    description: str
    sizes: tuple[sp.Symbol, ...]
    blocks: tuple[Block, ...]
    x: sp.MatrixSymbol
    s: sp.Symbol
    output: sp.MatrixExpr
    parametrizations: tuple[Parametrization, ...]
    neurons: str | None = None
    size_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size_names", tuple(str(z) for z in self.sizes))
        if self.output.shape != (1, 1):
            raise DeclarationError(f"model {self.name}: f must be a 1×1 matrix expression, got {self.output.shape}")
        if self.x.shape != (self.sizes[0], 1):
            raise DeclarationError(f"model {self.name}: x must be a {self.sizes[0]}×1 column")
        names = [b.name for b in self.blocks]
        for p in self.parametrizations:
            if set(p.init_scales) != set(names):
                raise DeclarationError(f"model {self.name}, parametrization {p.name}: init scales for {names}")
        if self.neurons is not None and self.neurons not in names:
            raise DeclarationError(f"model {self.name}: neurons = {self.neurons!r} is not a block")
        if self.x in predictor(self).free_symbols:
            raise DeclarationError(f"model {self.name}: f must be linear in x (β = ∇_x f depends on x)")
        gradient_norm_sq(self)  # rejects blocks whose gradient is not an outer product

    @property
    def symbols(self) -> tuple[sp.MatrixSymbol, ...]:
        return tuple(b.symbol for b in self.blocks)

    def block(self, name: str) -> Block:
        return next(b for b in self.blocks if b.name == name)

    def parametrization(self, name: str) -> Parametrization:
        for p in self.parametrizations:
            if p.name == name:
                return p
        raise DeclarationError(
            f"parametrization = {name!r} is not one of {[p.name for p in self.parametrizations]} for model {self.name}"
        )


# ------------------------------------------------------------------ reverse-mode matrix calculus
def gradient(expr: sp.MatrixExpr, wrt: Sequence[sp.MatrixSymbol]) -> tuple[sp.MatrixExpr, ...]:
    """∇ of the 1×1 expression `expr` with respect to each matrix symbol (same shape as the symbol).

    Rules: d⟨G, c·M₁⋯M_k⟩ gives M_j the cotangent c·(M₁⋯M_{j−1})ᵀ G (M_{j+1}⋯M_k)ᵀ; sums pass G on;
    Mᵀ receives Gᵀ; A ⊙ B gives A the cotangent G ⊙ B; A^{∘p} gives p A^{∘(p−1)} ⊙ G.
    """
    if expr.shape != (1, 1):
        raise DeclarationError(f"gradient of a {expr.shape} expression: expected 1×1")
    acc: dict[sp.MatrixSymbol, list[sp.MatrixExpr]] = {}
    _backprop(expr, sp.Identity(1), acc)
    out = []
    for sym in wrt:
        terms = acc.get(sym, [])
        out.append(sp.MatAdd(*terms).doit() if terms else sp.ZeroMatrix(*sym.shape))
    return tuple(out)


def _backprop(expr: sp.MatrixExpr, G: sp.MatrixExpr, acc: dict) -> None:
    if isinstance(expr, sp.MatrixSymbol):
        acc.setdefault(expr, []).append(G)
    elif isinstance(expr, sp.MatAdd):
        for arg in expr.args:
            _backprop(arg, G, acc)
    elif isinstance(expr, sp.MatMul):
        coeff, mats = expr.as_coeff_matrices()
        if coeff.has(sp.Trace):
            raise DeclarationError(f"scalar coefficient {coeff} depends on matrices: write it as a 1×1 product")
        for j, M in enumerate(mats):
            parts = []
            if j > 0:
                parts.append(sp.MatMul(*mats[:j]).T)
            parts.append(G)
            if j < len(mats) - 1:
                parts.append(sp.MatMul(*mats[j + 1 :]).T)
            _backprop(M, (coeff * sp.MatMul(*parts)).doit(), acc)
    elif isinstance(expr, sp.Transpose):
        _backprop(expr.arg, G.T, acc)
    elif isinstance(expr, sp.HadamardProduct):
        for j, A in enumerate(expr.args):
            others = expr.args[:j] + expr.args[j + 1 :]
            _backprop(A, sp.HadamardProduct(G, *others).doit(), acc)
    elif isinstance(expr, sp.HadamardPower):
        base, p = expr.base, expr.exp
        inner = base if p == 2 else sp.HadamardPower(base, p - 1)
        _backprop(base, (p * sp.HadamardProduct(inner, G)).doit(), acc)
    elif isinstance(expr, (sp.Identity, sp.ZeroMatrix, sp.OneMatrix)):
        return
    else:
        raise DeclarationError(f"cannot differentiate {type(expr).__name__}: {expr}")


# ------------------------------------------------------------------ derived quantities
def sample_gradient(model: ModelDeclaration) -> tuple[sp.MatrixExpr, ...]:
    """∇_θ f(x), one expression per block."""
    return gradient(model.output, model.symbols)


def predictor(model: ModelDeclaration) -> sp.MatrixExpr:
    """β(θ) = ∇_x f (d × 1): f(θ, x) = β(θ)ᵀx."""
    return gradient(model.output, [model.x])[0]


def _outer_factors(g: sp.MatrixExpr) -> tuple[sp.MatrixExpr, sp.MatrixExpr]:
    """(u, v) with g = u vᵀ, u a column and v a column, for a per-sample matrix-block gradient."""
    if isinstance(g, sp.MatMul):
        coeff, mats = g.as_coeff_matrices()
        for j in range(1, len(mats)):
            if sp.MatMul(*mats[:j]).shape[1] == 1:
                return (coeff * sp.MatMul(*mats[:j])).doit(), sp.MatMul(*mats[j:]).T.doit()
    raise DeclarationError(
        f"per-sample gradient {g} is not an outer product u vᵀ: a matrix block must enter f once per term"
    )


def block_norm_sq(g: sp.MatrixExpr) -> sp.MatrixExpr:
    """‖g‖² as a 1×1 expression: gᵀg for a column, (uᵀu)(vᵀv) for g = u vᵀ."""
    if g.shape[1] == 1:
        return (g.T * g).doit()
    u, v = _outer_factors(g)
    return (u.T * u * v.T * v).doit()


def gradient_norm_sq(model: ModelDeclaration) -> sp.MatrixExpr:
    """q(x) = ‖∇_θ f(x)‖² = Σ_blocks ‖∇_b f(x)‖² (1×1); tr G = (1/n) Σ_i q(x_i)."""
    return sp.MatAdd(*(block_norm_sq(g) for g in sample_gradient(model))).doit()


def gradient_norm_sq_gradient(model: ModelDeclaration) -> tuple[sp.MatrixExpr, ...]:
    """∇_θ q(x), one expression per block."""
    return gradient(gradient_norm_sq(model), model.symbols)


def sample_flow(model: ModelDeclaration, r: sp.Symbol, c: sp.Symbol) -> tuple[sp.MatrixExpr, ...]:
    """One sample's share of the regularized flow: −(r ∇f(x) + c ∇q(x)), r = f(x) − y, c = φ′(q(x)).

    The flow is θ̇ = (1/n) Σ_i of it: −∇ of L + R with L = (1/2n) Σ r_i², R = (1/n) Σ_i φ(q_i).
    """
    return tuple(
        (-(r * gf) - c * gq).doit()
        for gf, gq in zip(sample_gradient(model), gradient_norm_sq_gradient(model), strict=True)
    )


# ------------------------------------------------------------------ explicit forms (proofs)
def explicit(expr: sp.MatrixExpr, sizes: Mapping[sp.Symbol, int]) -> sp.Matrix:
    """The matrix of scalar entries of `expr` at concrete sizes (entries of W are W[i, j] symbols)."""
    return sp.Matrix(expr.subs(dict(sizes)).as_explicit())


def flat_symbols(model: ModelDeclaration, sizes: Mapping[sp.Symbol, int]) -> list[sp.Expr]:
    """θ's scalar entries at concrete sizes, block by block, row-major (the engines' flat layout)."""
    out = []
    for b in model.blocks:
        out.extend(explicit(b.symbol, sizes))
    return out
