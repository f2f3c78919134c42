"""`lnsgd run PRESET [--set key=value ...] [--paths N] [--out DIR] [--force] [--quiet]`.

Runs a preset and stores its result (NetCDF), or reuses a stored result with the same config, then
prints its one-line summary (mean ± sd over paths for a noise-path ensemble, --paths N).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from lnsgd.commands.preset_args import add_preset_arguments, preset_config
from lnsgd.experiments.store import load
from lnsgd.experiments.summary import summary
from lnsgd.solvers.status import Status


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `run` to an ``add_subparsers()`` object."""
    p = subparsers.add_parser("run", help="run a preset and store its result (NetCDF)")
    p.add_argument("preset", help="preset name (see `lnsgd list`)")
    add_preset_arguments(p)
    p.add_argument("--out", type=Path, default=Path("results"), help="result folder (default: results)")
    p.add_argument("--force", action="store_true", help="recompute even if the result is stored")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run (or reuse) the preset; exit status 0 when the run completed, 1 otherwise."""
    from lnsgd.experiments.run_preset import run_preset

    config = preset_config(args)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _print_warning
        path, reused = run_preset(args.preset, config, args.out, force=args.force, progress=not args.quiet)
    print(f"{'reused' if reused else 'wrote'} {path}")
    ds = load(path)
    status = Status(ds.attrs["status"])
    if status is not Status.COMPLETED:
        print(f"{status}: {ds.attrs['message']}", file=sys.stderr)
    print(summary(ds))
    return 0 if status is Status.COMPLETED else 1


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)
