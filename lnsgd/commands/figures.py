"""``lnsgd figures``: figures (PDF + PGF) and the paper's numbers from stored results.

    lnsgd figures [NAME ...] [--results DIR] [--out DIR] [--numbers PATH] [--list]

Makes the named figures (all when none is named) from stored results, as PDF and PGF, and writes
the paper's numbers. Every figure whose results are there is made; each missing result is then
listed with the command that makes it, and the exit status is 2 (optional figures, such as
``real-cifar10``, are skipped with a note when all figures are made and their result is absent).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lnsgd.experiments.validation import ConfigError
from lnsgd.figures.numbers import write_numbers
from lnsgd.figures.registry import FIGURES, OPTIONAL, make_figures
from lnsgd.figures.results import MissingResultError


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``figures`` subcommand to an argparse ``subparsers``; returns its parser."""
    parser = subparsers.add_parser(
        "figures",
        help="make figures (PDF + PGF) and paper numbers from stored results",
        description="Make figures (PDF + PGF) and the paper's numbers.tex from stored results.",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"figures to make (default: all): {', '.join(FIGURES)}"
    )
    parser.add_argument(
        "--results", type=Path, default=Path("results"), help="folder of stored results (default: results)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("paper/build/figures"),
        help="folder for <name>.pdf/.pgf (default: paper/build/figures)",
    )
    parser.add_argument(
        "--numbers",
        type=Path,
        default=None,
        help="numbers.tex to write (default: numbers.tex beside --out, i.e. paper/build/numbers.tex); '-' to skip",
    )
    parser.add_argument("--list", action="store_true", help="list the figure names and exit")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Entry point of ``lnsgd figures``; returns the exit status."""
    if args.list:
        print("\n".join(FIGURES))
        return 0
    unknown = [n for n in args.names if n not in FIGURES]
    if unknown:
        raise ConfigError(f"unknown figure(s) {', '.join(unknown)}; valid: {', '.join(FIGURES)}")
    missing: dict[str, str] = {}
    for name in args.names or FIGURES:
        try:
            for path in make_figures([name], args.results, args.out):
                print(path)
        except MissingResultError as err:
            if not args.names and name in OPTIONAL:
                print(f"lnsgd figures: {name}: skipped (optional): {err}", file=sys.stderr)
            else:
                missing[name] = str(err)
    numbers = args.numbers if args.numbers is not None else args.out.parent / "numbers.tex"
    if str(numbers) != "-":
        print(write_numbers(args.results, numbers))
    for name, message in missing.items():
        print(f"lnsgd figures: {name}: {message}", file=sys.stderr)
    return 2 if missing else 0
