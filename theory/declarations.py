"""The declared models (see `lnsgd.theory.declared`): the two-layer, diagonal and deep linear networks.

- ``two-layer``: f(x) = s aᵀWx, W ∈ R^{m×d}, a ∈ R^m — the workbench's main model, declared the same
  way so that the generated engine can be checked against the specialized one.
- ``diagonal``: f(x) = ⟨u⊙u − v⊙v, x⟩, u, v ∈ R^d, both initialised at the constant α (β₀ = 0): the
  sparse-recovery model of the label-noise literature.
- ``deep-linear``: f(x) = s aᵀW₂W₁x, W₁ ∈ R^{h×d}, W₂ ∈ R^{m×h}, a ∈ R^m: depth 3; the rows of W₁ are
  its neurons.
"""

from __future__ import annotations

import sympy as sp

from lnsgd.theory import symbols as sy
from lnsgd.theory.declared import Block, ModelDeclaration, Parametrization

h = sp.Symbol("h", integer=True, positive=True)  # hidden width of the deep network
_x = sp.MatrixSymbol("x", sy.d, 1)
_W = sp.MatrixSymbol("W", sy.m, sy.d)
_a = sp.MatrixSymbol("a", sy.m, 1)
_u = sp.MatrixSymbol("u", sy.d, 1)
_v = sp.MatrixSymbol("v", sy.d, 1)
_W1 = sp.MatrixSymbol("W1", h, sy.d)
_W2 = sp.MatrixSymbol("W2", sy.m, h)
_one = sp.Integer(1)

TWO_LAYER = ModelDeclaration(
    name="two-layer",
    description="two-layer linear network f(x) = s aᵀWx",
    sizes=(sy.d, sy.m),
    blocks=(Block(_W), Block(_a)),
    x=_x,
    s=sy.s,
    output=sy.s * _a.T * _W * _x,
    parametrizations=(
        Parametrization("standard", _one, {"W": 1 / sp.sqrt(sy.d), "a": 1 / sp.sqrt(sy.m)}),
        Parametrization("ntk", 1 / sp.sqrt(sy.m), {"W": 1 / sp.sqrt(sy.d), "a": _one}),
        Parametrization("mean-field", 1 / sy.m, {"W": 1 / sp.sqrt(sy.d), "a": _one}),
    ),
    neurons="W",
)

DIAGONAL = ModelDeclaration(
    name="diagonal",
    description="diagonal linear network f(x) = ⟨u⊙u − v⊙v, x⟩, u = v = α at init",
    sizes=(sy.d,),
    blocks=(Block(_u, "constant"), Block(_v, "constant")),
    x=_x,
    s=sy.s,
    output=sy.s * (sp.HadamardProduct(_u, _u) - sp.HadamardProduct(_v, _v)).T * _x,
    parametrizations=(Parametrization("standard", _one, {"u": _one, "v": _one}),),
)

DEEP_LINEAR = ModelDeclaration(
    name="deep-linear",
    description="deep linear network f(x) = s aᵀW₂W₁x (depth 3)",
    sizes=(sy.d, h, sy.m),
    blocks=(Block(_W1), Block(_W2), Block(_a)),
    x=_x,
    s=sy.s,
    output=sy.s * _a.T * _W2 * _W1 * _x,
    parametrizations=(
        Parametrization("standard", _one, {"W1": 1 / sp.sqrt(sy.d), "W2": 1 / sp.sqrt(h), "a": 1 / sp.sqrt(sy.m)}),
        Parametrization("ntk", 1 / sp.sqrt(sy.m), {"W1": 1 / sp.sqrt(sy.d), "W2": 1 / sp.sqrt(h), "a": _one}),
    ),
    neurons="W1",
)

#: every declared model by name
MODELS: dict[str, ModelDeclaration] = {mdl.name: mdl for mdl in (TWO_LAYER, DIAGONAL, DEEP_LINEAR)}
