"""`lnsgd sweep`: run a sweep spec, resumably.

    lnsgd sweep SPEC.yaml [--out DIR] [--workers N] [--dask ADDRESS] [--theory] [--retry-failed]
                          [--dry-run] [--quiet]

Runs every point of SPEC not yet stored in DIR (default results/sweeps/<name>) on a local process
pool (default: all cores) or on the Dask cluster at ADDRESS, then writes each part's combined
summary to DIR/<part>.summary.nc (with the theory's predictions under --theory). Exit status 0 when
every point is stored (diverged and invalid points are stored failures), 1 when points were lost or
interrupted (rerun to resume), 2 for an invalid spec.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lnsgd.experiments.validation import ConfigError


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand; returns its parser."""
    p = subparsers.add_parser(
        "sweep", help="run a resumable parameter sweep (local pool or Dask)", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("spec", type=Path, help="sweep spec (.yaml or .toml), see docs/sweeps.md")
    p.add_argument("--out", type=Path, default=None, help="result folder (default results/sweeps/<name>)")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=None,
        help="run on the dask.distributed scheduler at ADDRESS instead of a local pool",
    )
    p.add_argument(
        "--theory",
        action="store_true",
        help="add the isotropic theory's T_I, T_II and plateau to the summaries of two-layer parts",
    )
    p.add_argument("--retry-failed", action="store_true", help="recompute points recorded as failed")
    p.add_argument("--dry-run", action="store_true", help="list what would run and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Entry point of ``lnsgd sweep``; returns the exit status."""
    from lnsgd.experiments.store import save
    from lnsgd.experiments.sweep.combine import open_sweep, resolve
    from lnsgd.experiments.sweep.run import plan, run_sweep
    from lnsgd.experiments.sweep.spec import load_spec

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers = {args.workers} must be >= 1")
    spec, out = resolve(load_spec(args.spec), args.out)
    if args.dry_run:
        tasks, skipped, corrupt = (
            plan(spec, out, retry_failed=args.retry_failed)
            if out.is_dir()
            else ([None] * len(spec.unique_points()), 0, [])
        )
        print(
            f"{spec.name}: {len(tasks) + skipped} points ({', '.join(p.name for p in spec.parts)}), "
            f"{skipped} stored, {len(tasks)} to run, {len(corrupt)} corrupt -> {out}"
        )
        return 0
    try:
        report = run_sweep(
            spec, out, workers=args.workers, dask=args.dask, retry_failed=args.retry_failed, progress=not args.quiet
        )
    except KeyboardInterrupt:
        print(f"lnsgd sweep: interrupted; finished points are kept in {out}; rerun to resume", file=sys.stderr)
        return 130
    print(report.summary())
    for part in spec.parts:
        ds = open_sweep(spec, part.name, out=out, theory=args.theory)
        path = save(ds.reset_coords(drop=False), out / f"{part.name}.summary.nc")
        print(f"{part.name}: dims {dict(ds.sizes)}, {ds.attrs['finished']}/{ds.attrs['points']} finished -> {path}")
    return 0 if report.complete else 1
