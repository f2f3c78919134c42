"""`lnsgd theory`: export the derived results (LaTeX) and regenerate the numba kernels.

``register(subparsers)`` adds the subcommand to the main CLI's ``add_subparsers()`` object.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lnsgd.experiments.store import write_text
from lnsgd.experiments.validation import ConfigError


def run(args: argparse.Namespace) -> int:
    """Write the LaTeX file and/or the generated module, as asked; report what was written."""
    from lnsgd.theory import codegen, latex

    if args.latex is None and not args.codegen:
        raise ConfigError("nothing to do: give --latex OUT.tex and/or --codegen")
    if args.latex is not None:
        print(f"wrote {write_text(args.latex, latex.latex_source())}")
    if args.codegen:
        print(f"wrote {codegen.write_module()}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `theory` (``--latex OUT.tex``, ``--codegen``) to an ``add_subparsers()`` object."""
    parser = subparsers.add_parser("theory", help="export the symbolic theory (LaTeX) and regenerate the numba kernels")
    parser.add_argument(
        "--latex", type=Path, metavar="OUT.tex", help="write every derived result as labelled equations"
    )
    parser.add_argument("--codegen", action="store_true", help="regenerate solvers/generated_rhs.py")
    parser.set_defaults(func=run)
    return parser
