"""What a generated numba kernel is: ordered arguments, named intermediates and outputs (sympy).

The catalog lists kernels (``catalog.GENERATED``); codegen prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Output:
    """One result of a generated function: written into ``target`` (an ``out`` argument) or returned."""

    expr: sp.Basic
    target: str | None = None  # name of the out-array argument; None = returned


@dataclass(frozen=True)
class Kernel:
    """A generated function: ordered arguments, intermediates (name := expr), outputs."""

    name: str
    doc: str
    args: tuple[sp.Basic | str, ...]  # sympy symbols, or str names of out arrays
    outputs: tuple[Output, ...]
    intermediates: tuple[tuple[sp.MatrixSymbol | sp.Symbol, sp.Basic], ...] = ()

    def expressions(self) -> list[sp.Basic]:
        """The outputs with intermediates and substitutions expanded (what the kernel computes)."""
        exprs = [o.expr for o in self.outputs]
        for sym, value in reversed(self.intermediates):
            exprs = [e.xreplace({sym: value}) for e in exprs]
        return exprs
