"""`lnsgd show RESULT.nc`: provenance and one-line summary of a stored result."""

from __future__ import annotations

import argparse
from pathlib import Path

from lnsgd.experiments.store import load_result
from lnsgd.experiments.summary import summary


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `show` to an ``add_subparsers()`` object."""
    p = subparsers.add_parser("show", help="print the summary of a stored result")
    p.add_argument("result", type=Path, help="a result file (.nc)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Print status, provenance, config and summary of the result file."""
    ds = load_result(args.result)
    print(f"{args.result}: status {ds.attrs.get('status')}, {ds.attrs.get('message')}")
    print(f"commit {ds.attrs.get('git_commit')}, lnsgd {ds.attrs.get('lnsgd_version')}, seed {ds.attrs.get('seed')}")
    print(f"config {ds.attrs.get('config')}")
    print(summary(ds))
    return 0
