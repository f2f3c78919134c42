"""`lnsgd check`: theory against direct simulation on a grid of configurations (experiments/check.py).

    lnsgd check [--quick] [--out DIR] [--workers N] [--seeds 0 1] [--max-steps N]
                [--methods flow flow_eff sde] [--table paper/build/check_table.tex]

Writes one Dataset per configuration (simulation curves and pred_* curves on the same step axis) to
DIR (default results/check), the table as CSV (DIR/check_table.csv) and LaTeX (--table), and exits
with status 1 naming every configuration and quantity whose target the judged method misses.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lnsgd.experiments.store import write_json
from lnsgd.experiments.validation import ConfigError

#: The verdict of the last `lnsgd check` in its result folder (read by `lnsgd summary`).
VERDICT = "check_verdict.json"


def run(args: argparse.Namespace) -> int:
    """Run the grid, write the tables and the verdict; 1 when a configuration misses a target."""
    from lnsgd.experiments import check as ck

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers = {args.workers} must be >= 1")
    configs = ck.quick_grid() if args.quick else ck.default_grid(tuple(args.seeds))
    skipped = [c for c in configs if args.max_steps is not None and c.steps > args.max_steps]
    configs = [c for c in configs if c not in skipped]
    for c in skipped:
        print(f"skipped (horizon {c.steps} steps > --max-steps {args.max_steps}): {ck.label(c)}")
    if args.judged is None:
        args.judged = ck.QUICK_JUDGED if args.quick else ck.JUDGED
    if args.judged not in args.methods:
        raise ConfigError(f"--judged {args.judged} is not among --methods {' '.join(args.methods)}")
    start = time.perf_counter()
    rows = ck.run_grid(configs, args.methods, args.out, workers=args.workers, judged=args.judged)
    wall = time.perf_counter() - start
    print(f"wrote {ck.write_csv(rows, args.out / 'check_table.csv')}")
    print(f"wrote {ck.write_latex(rows, args.table, args.judged)}")
    print(f"{len(configs)} configurations, {len(skipped)} skipped, wall time {wall:.0f} s")
    failed = [r for r in rows if r["method"] == args.judged and r["misses"]]
    write_json({"judged": args.judged, "configurations": len(configs), "skipped": len(skipped),
                "missed": [{"config": r["config"], "misses": r["misses"]} for r in failed]}, args.out / VERDICT)
    for r in failed:
        print(f"MISSED [{r['config']}] {args.judged}: {r['misses']}", file=sys.stderr)
    if failed:
        print(f"lnsgd check: {len(failed)} of {len(configs)} configurations miss a target", file=sys.stderr)
        return 1
    print(f"all {len(configs)} configurations meet the targets ({args.judged})")
    return 0


def register(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Add `check` to an ``add_subparsers()`` object."""
    from lnsgd.experiments.check import DEFAULT_METHODS, JUDGED, METHODS, QUICK_JUDGED

    p = subparsers.add_parser("check", help="measure the effective-dynamics predictions against direct simulation")
    p.add_argument("--quick", action="store_true", help="small grid, short horizon (< 1 min)")
    p.add_argument("--out", type=Path, default=Path("results/check"), help="Datasets and CSV (default results/check)")
    p.add_argument("--table", type=Path, default=Path("paper/build/check_table.tex"), help="LaTeX table path")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds of the default grid")
    p.add_argument("--max-steps", type=int, default=None, help="skip configurations whose horizon exceeds this")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(DEFAULT_METHODS))
    p.add_argument("--judged", choices=METHODS, default=None,
                   help=f"the method the targets apply to (default {JUDGED}; with --quick {QUICK_JUDGED})")
    p.set_defaults(func=run)
    return p
