"""`lnsgd claims`: the paper's claims, and the declared models', as multi-seed statistical tests
(experiments/claims.py).

    lnsgd claims [--size reduced|paper] [--seeds N] [--out DIR] [--workers N] [--dask ADDRESS]
                 [--table PATH]

Runs every configuration the claims need (each stored as `<out>/<config hash>.nc`, reused on
the next call, so an interrupted call resumes), prints one line per claim and writes a LaTeX
table. Exit status 0 when every claim passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lnsgd.experiments.claims import CLAIMS, SIZES, evaluate, latex_table, run_stored
from lnsgd.experiments.store import write_json, write_text
from lnsgd.experiments.validation import ConfigError

#: The verdict of the last `lnsgd claims` in its result folder (read by `lnsgd summary`).
VERDICT = "claims_verdict.json"


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `claims` to an ``add_subparsers()`` object."""
    parser = subparsers.add_parser(
        "claims", help="test the paper's claims over several seeds", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--size",
        choices=SIZES,
        default="reduced",
        help="reduced (seconds per seed: claims.REDUCED) or paper (the presets' configs, minutes)",
    )
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds, 0 … N-1 (default 5)")
    parser.add_argument("--out", type=Path, default=Path("results/claims"), help="result folder")
    parser.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    parser.add_argument("--dask", default=None, metavar="ADDRESS", help="run on a Dask scheduler")
    parser.add_argument(
        "--table", type=Path, default=Path("paper/build/claims_table.tex"), help="LaTeX table to write ('-' to skip)"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run (or reuse) the claims' configurations and judge them; 0 when every claim passes."""
    if args.seeds < 2:
        raise ConfigError(f"--seeds = {args.seeds} must be >= 2 (a standard error needs two seeds)")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers = {args.workers} must be >= 1")
    results = evaluate(
        CLAIMS.values(), args.size, range(args.seeds), lambda cfgs: run_stored(cfgs, args.out, args.workers, args.dask)
    )
    for r in results:
        print(r.line())
    write_json(
        {
            "size": args.size,
            "seeds": args.seeds,
            "claims": [{"name": r.claim.name, "passed": bool(r.passed), "line": r.line()} for r in results],
        },
        args.out / VERDICT,
    )
    if str(args.table) != "-":
        print(f"wrote {write_text(args.table, latex_table(results))}")
    return 0 if all(r.passed for r in results) else 1
