"""`lnsgd check`: theory against the mean of simulated noise paths (experiments/check/, docs/check.md).

    lnsgd check [--quick] [--out DIR] [--table FILE] [--methods ...] [--judged M] [--max-steps N]
                [--sde-paths N] [--sde-dt-factor F] [--sde-noise {full,label,trace}]
    lnsgd check PRESET [--set key=value ...] [--paths N] [--out DIR]

Without PRESET: the default grid (or --quick's). With PRESET: that one configuration (the preset with
the assignments, run for its own `steps`); a declared-model preset (diagonal-sparse, deep-linear, …)
is checked against its regularized flow (experiments/declared/check.py, --methods do not apply).
Writes one Dataset per configuration (per-path and mean simulation curves, pred_* curves on the same
step axis) to DIR (default results/check), the table as CSV (DIR/check_table.csv) and, for a grid,
LaTeX (--table); exits with status 1 naming every
configuration and quantity whose target the judged method misses.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from lnsgd.commands.preset_args import add_preset_arguments, preset_config
from lnsgd.experiments.store import write_json
from lnsgd.experiments.validation import ConfigError

#: The verdict of the last `lnsgd check` in its result folder (read by `lnsgd summary`).
VERDICT = "check_verdict.json"


def _configs(args: argparse.Namespace) -> list:
    from lnsgd.experiments.check import grid

    if args.preset is None:
        if args.assignments or args.paths is not None:
            raise ConfigError("--set and --paths apply to one configuration: give a PRESET")
        configs = grid.quick_grid() if args.quick else grid.default_grid()
        return [c for c in configs if args.max_steps is None or c.steps <= args.max_steps]
    config = preset_config(args)
    explicit_paths = args.paths is not None or any(a.startswith("paths=") for a in args.assignments)
    paths = config.paths if explicit_paths else grid.PATHS
    return [grid.with_steps(dataclasses.replace(config, paths=paths), config.steps, paths)]


def run_declared(args: argparse.Namespace, config) -> int:
    """Check a declared-model preset: flow against the path mean; exit 1 naming each missed target."""
    from lnsgd.experiments.declared import check as declared_check

    explicit_paths = args.paths is not None or any(a.startswith("paths=") for a in args.assignments)
    if not explicit_paths:
        config = dataclasses.replace(config, paths=declared_check.PATHS)
    start = time.perf_counter()
    row = declared_check.check_model(config, args.out, preset=args.preset)
    rows = declared_check.merge_rows(args.out / "declared_check_table.csv", row)
    declared_check.write_tables(rows, args.out / "declared_check_table.csv", args.declared_table)
    print(f"wrote {row['file']}, {args.out / 'declared_check_table.csv'} and {args.declared_table}")
    print(
        f"[{row['config']}] {row['paths']} paths, medians over records: "
        f"|beta_flow - E beta|/|beta*| = {row['beta_err']:.3g} "
        f"(s.e. {row['beta_se']:.2g}), l1 {row['l1_err']:.3g} (s.e. {row['l1_se']:.2g}), "
        f"tr G {row['trace_G_err']:.3g} (s.e. {row['trace_G_se']:.2g}); |E beta - beta*| = {row['recovery_sim']:.3g} "
        f"(flow {row['recovery_pred']:.3g})"
        + (
            f"; T_II {row['T_II_err']:+.3g}, dw {row['max_dw']:.3g}, dcos {row['max_dcos']:.3g}"
            if "T_II_err" in row
            else ""
        )
        + f"; wall time {time.perf_counter() - start:.0f} s"
    )
    if row["misses"]:
        print(f"MISSED [{row['config']}] flow: {row['misses']}", file=sys.stderr)
        return 1
    print(f"[{row['config']}] meets the targets")
    return 0


def run(args: argparse.Namespace) -> int:
    from lnsgd.experiments.check import grid, table
    from lnsgd.experiments.check import run as check_run
    from lnsgd.experiments.check.predict import JUDGED, SdeOptions
    from lnsgd.experiments.declared.config import ModelConfig

    if args.preset is not None:
        config = preset_config(args)
        if isinstance(config, ModelConfig):
            return run_declared(args, config)

    if args.judged is None:  # the default judged theory, or the first method when --methods leaves it out
        args.judged = JUDGED if JUDGED in args.methods else args.methods[0]
    if args.judged not in args.methods:
        raise ConfigError(f"--judged {args.judged} is not among --methods {' '.join(args.methods)}")
    configs = _configs(args)
    try:
        sde = SdeOptions(args.sde_paths, args.sde_dt_factor, args.sde_noise)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    start = time.perf_counter()
    rows = check_run.run_grid(configs, args.methods, args.out, judged=args.judged, sde=sde)
    wall = time.perf_counter() - start
    print(f"wrote {table.write_csv(rows, args.out / 'check_table.csv')}")
    if args.preset is None:
        print(f"wrote {table.write_latex(rows, args.table, args.judged)}")
    print(f"{len(configs)} configuration(s), wall time {wall:.0f} s")
    failed = [r for r in rows if r["method"] == args.judged and r["misses"]]
    write_json(
        {
            "judged": args.judged,
            "configurations": len(configs),
            "skipped": 0,
            "missed": [{"config": r["config"], "misses": r["misses"]} for r in failed],
        },
        args.out / VERDICT,
    )
    for r in failed:
        print(f"MISSED [{r['config']}] {args.judged}: {r['misses']}", file=sys.stderr)
    if failed:
        print(f"lnsgd check: {len(failed)} of {len(configs)} configuration(s) miss a target", file=sys.stderr)
        return 1
    print(
        f"all {len(configs)} configuration(s) meet the targets ({args.judged}; "
        f"{', '.join(grid.label(c) for c in configs[:1])}{' ...' if len(configs) > 1 else ''})"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `check` to an ``add_subparsers()`` object."""
    from lnsgd.experiments.check.predict import DEFAULT_METHODS, JUDGED, METHODS, SDE_DEFAULTS
    from lnsgd.solvers.effective import SDE_NOISES

    p = subparsers.add_parser("check", help="measure the effective-dynamics predictions against simulated noise paths")
    p.add_argument("preset", nargs="?", default=None, help="check one configuration: a preset (see `lnsgd list`)")
    add_preset_arguments(p)
    p.add_argument("--quick", action="store_true", help="small grid (width 200, < 1 min)")
    p.add_argument("--out", type=Path, default=Path("results/check"), help="Datasets and CSV (default results/check)")
    p.add_argument("--table", type=Path, default=Path("paper/build/check_table.tex"), help="LaTeX table path")
    p.add_argument(
        "--declared-table",
        type=Path,
        default=Path("paper/build/declared_check_table.tex"),
        help="LaTeX table of the declared-model checks (PRESET of a declared model)",
    )
    p.add_argument("--max-steps", type=int, default=None, help="skip grid configurations longer than this")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(DEFAULT_METHODS))
    p.add_argument(
        "--judged",
        choices=METHODS,
        default=None,
        help=f"the method the targets apply to (default {JUDGED}, or the first of --methods without it)",
    )
    sde = SDE_DEFAULTS
    p.add_argument("--sde-paths", type=int, default=sde.paths, help=f"paths of the sde method (default {sde.paths})")
    p.add_argument(
        "--sde-dt-factor",
        type=float,
        default=sde.dt_factor,
        help=f"sde step dt = F * eta, 0 < F <= 1 (default {sde.dt_factor:g}; < 1 approaches the continuum SDE)",
    )
    p.add_argument(
        "--sde-noise",
        choices=SDE_NOISES,
        default=sde.noise,
        help="sde noise: label + minibatch sampling (full, default); ablations: label noise only (label), "
        "the sampling noise's trace part (trace)",
    )
    p.set_defaults(func=run)
    return p
