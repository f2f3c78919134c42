"""The preset arguments shared by `lnsgd run` and `lnsgd check PRESET`: --set and --paths."""

from __future__ import annotations

import argparse

from lnsgd.experiments.presets import PRESETS
from lnsgd.experiments.validation import ConfigError


def add_preset_arguments(p: argparse.ArgumentParser) -> None:
    """--set KEY=VALUE (repeatable) and --paths N on a subcommand that takes a PRESET."""
    p.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field of the preset (repeatable), e.g. --set eta=5e-4",
    )
    p.add_argument(
        "--paths",
        type=int,
        default=None,
        metavar="N",
        help="N noise paths from the same data and initialisation (same as --set paths=N)",
    )


def preset_config(args: argparse.Namespace):
    """The config of `args.preset` with `args.assignments` and `args.paths` applied."""
    if args.preset not in PRESETS:
        raise ConfigError(f"preset {args.preset!r} is unknown; valid presets: {', '.join(PRESETS)}")
    assignments = list(args.assignments) + ([f"paths={args.paths}"] if args.paths is not None else [])
    return PRESETS[args.preset].config(assignments)
