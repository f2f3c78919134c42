"""`lnsgd list`: the named experiment presets."""

from __future__ import annotations

import argparse

from lnsgd.experiments.presets import PRESETS


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `list` to an ``add_subparsers()`` object."""
    p = subparsers.add_parser("list", help="list the named experiment presets")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Print one line per preset: name and description."""
    width = max(len(n) for n in PRESETS)
    for preset in PRESETS.values():
        print(f"{preset.name:<{width}}  {preset.description}")
    return 0
