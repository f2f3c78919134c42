"""The `lnsgd` command line: list, run and show experiments; theory, figures and checks are
subcommands registered by their own modules.

    lnsgd list
    lnsgd run PRESET [--set key=value ...] [--paths N] [--out DIR] [--force] [--quiet]
    lnsgd show RESULT.nc
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

from lnsgd.experiments.validation import ConfigError

# Modules that add their own subcommands through `register(subparsers)`.
SUBCOMMAND_MODULES = (
    "lnsgd.experiments.cli_theory", "lnsgd.experiments.cli_sweep", "lnsgd.experiments.cli_claims",
    "lnsgd.experiments.cli_check", "lnsgd.figures.cli",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ConfigError, FileNotFoundError) as err:
        print(f"lnsgd {args.command}: error: {err}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lnsgd", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("list", help="list the named experiment presets")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("run", help="run a preset and store its result (NetCDF)")
    p.add_argument("preset", help="preset name (see `lnsgd list`)")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable), e.g. --set eta=5e-4")
    p.add_argument("--paths", type=int, default=None, metavar="N",
                   help="run N noise paths from the same data and initialisation (same as --set paths=N)")
    p.add_argument("--out", type=Path, default=Path("results"), help="result folder (default: results)")
    p.add_argument("--force", action="store_true", help="recompute even if the result is stored")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("show", help="print the summary of a stored result")
    p.add_argument("result", type=Path, help="a result file (.nc)")
    p.set_defaults(func=cmd_show)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    from lnsgd.experiments.presets import PRESETS

    width = max(len(n) for n in PRESETS)
    for preset in PRESETS.values():
        print(f"{preset.name:<{width}}  {preset.description}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from lnsgd.experiments.presets import PRESETS
    from lnsgd.experiments.run_preset import run_preset

    if args.preset not in PRESETS:
        raise ConfigError(f"preset {args.preset!r} is unknown; valid presets: {', '.join(PRESETS)}")
    assignments = list(args.assignments) + ([f"paths={args.paths}"] if args.paths is not None else [])
    config = PRESETS[args.preset].config(assignments)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _print_warning
        path, reused = run_preset(args.preset, config, args.out, force=args.force, progress=not args.quiet)
    print(f"{'reused' if reused else 'wrote'} {path}")
    with xr.open_dataset(path) as ds:
        status = ds.attrs.get("status", "completed")
        if status != "completed":
            print(f"{status}: {ds.attrs.get('message', '')}", file=sys.stderr)
        print(summary(ds))
    return 0 if status == "completed" else 1


def cmd_show(args: argparse.Namespace) -> int:
    from lnsgd.experiments.store import load

    ds = load(args.result)
    print(f"{args.result}: status {ds.attrs.get('status')}, {ds.attrs.get('message')}")
    print(f"commit {ds.attrs.get('git_commit')}, lnsgd {ds.attrs.get('lnsgd_version')}, seed {ds.attrs.get('seed')}")
    print(f"config {ds.attrs.get('config')}")
    print(summary(ds))
    return 0


def summary(ds: xr.Dataset) -> str:
    """One line: the final state and the phase times (or the real-data comparison)."""
    if "noise" in ds.dims:  # real-data experiment: one row per noise level
        parts = []
        for p in ds["noise"].values:
            row = ds.sel(noise=p).isel(step=-1)
            parts.append(f"flip {p:g}: test loss {float(row.test_loss):.4g} (linearised "
                         f"{float(row.lin_test_loss):.4g}), mean||w_k|| {float(row.w_norm_mean):.4f}")
        return "; ".join(parts)
    if "path" in ds.dims:  # noise-path ensemble: mean ± sd over paths
        last = ds.isel(step=-1)
        return (f"{ds.sizes['path']} paths, step {int(last.step)}: "
                f"mean||w_k|| = {_spread(last.w_norm_mean)}, mean|cos(w_k,beta*)| = {_spread(last.cos_abs_mean)}, "
                f"T_I = {_spread(ds['T_I'], '.0f')}, T_II = {_spread(ds['T_II'], '.0f')} (mean +- sd over paths)")
    last = ds.isel(step=-1)
    return (f"step {int(last.step)}: mean||w_k|| = {float(last.w_norm_mean):.4f}, "
            f"mean|cos(w_k,beta*)| = {float(last.cos_abs_mean):.4f}, "
            f"T_I = {_phase(ds['T_I'])}, T_II = {_phase(ds['T_II'])}")


def _phase(var: xr.DataArray) -> str:
    value = float(var)
    return f"{value:.0f}" if np.isfinite(value) else f"not reached ({var.attrs.get('reason', '')})"


def _spread(var: xr.DataArray, fmt: str = ".4f") -> str:
    """mean ± sd over the paths where the value exists; says how many paths lack it."""
    values = np.asarray(var.values, dtype=float)
    ok = values[np.isfinite(values)]
    if len(ok) == 0:
        return f"not reached ({var.attrs.get('reason', '')})"
    text = f"{ok.mean():{fmt}} +- {ok.std(ddof=1) if len(ok) > 1 else 0.0:{fmt}}"
    return text + (f" [{var.attrs.get('reason', '')}]" if len(ok) < len(values) else "")


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
