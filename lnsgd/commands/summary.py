"""`lnsgd summary RESULTS_DIR [--build DIR]`: what `make reproduce` computed, where each output is,
and every missed target (claims that fail, check configurations that miss)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from lnsgd.commands.check import VERDICT as CHECK_VERDICT
from lnsgd.commands.claims import VERDICT as CLAIMS_VERDICT
from lnsgd.experiments.store import ResultFileError, load, load_result
from lnsgd.experiments.summary import summary

#: Outputs of the report build, relative to --build.
OUTPUTS = (
    "main.pdf",
    "figures",
    "numbers.tex",
    "theory.tex",
    "claims_table.tex",
    "check_table.tex",
    "figures.log",
    "latexmk.log",
)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `summary` to an ``add_subparsers()`` object."""
    p = subparsers.add_parser("summary", help="what was computed, where the outputs are, missed targets")
    p.add_argument("results", type=Path, metavar="RESULTS_DIR", help="result folder (as --out of run)")
    p.add_argument("--build", type=Path, default=Path("paper/build"), help="report build folder")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Print the three sections (a report: exit status 0 whatever it lists)."""
    if not args.results.is_dir():
        raise NotADirectoryError(20, "no result folder", str(args.results))
    print(f"computed ({args.results}):")
    for line in _runs(args.results) + _sweeps(args.results):
        print(f"  {line}")
    print(f"outputs ({args.build}):")
    for name in OUTPUTS:
        path = args.build / name
        what = f"{len(list(path.glob('*.pdf')))} PDF figures" if path.is_dir() else "" if path.exists() else "absent"
        print(f"  {path}" + (f"  [{what}]" if what else ""))
    missed = _missed(args.results)
    print("missed targets:" + ("" if missed else " none"))
    for line in missed:
        print(f"  {line}")
    return 0


def _runs(results: Path) -> list[str]:
    lines = []
    for path in sorted(results.glob("*.nc")):
        try:
            ds = load_result(path)
        except ResultFileError as err:
            lines.append(f"{path.name}: unreadable ({err})")
            continue
        lines.append(f"{path.name}: {ds.attrs['status']}; {summary(ds)}")
    return lines


def _sweeps(results: Path) -> list[str]:
    lines = []
    for path in sorted(results.glob("sweeps/*/*.summary.nc")):
        ds = load(path)
        lines.append(
            f"sweep {path.parent.name}/{path.name}: {ds.attrs.get('finished')}/{ds.attrs.get('points')} points finished"
        )
    return lines


def _missed(results: Path) -> list[str]:
    lines = []
    claims = results / "claims" / CLAIMS_VERDICT
    if claims.is_file():
        lines += [f"claim {c['line']}" for c in json.loads(claims.read_text())["claims"] if not c["passed"]]
    else:
        lines.append(f"claims: not run ({claims} absent)")
    check = results / "check" / CHECK_VERDICT
    if check.is_file():
        verdict = json.loads(check.read_text())
        lines += [f"check [{m['config']}] {verdict['judged']}: {m['misses']}" for m in verdict["missed"]]
    else:
        lines.append(f"check: not run ({check} absent)")
    declared = results / "check" / "declared_check_table.csv"
    if declared.is_file():
        with declared.open() as fh:
            lines += [f"check [{r['config']}] flow: {r['misses']}" for r in csv.DictReader(fh) if r["misses"]]
    return lines
