"""LaTeX export and the `theory` subcommand."""
import argparse
import re

from lnsgd.commands import theory as cli_theory
from lnsgd.theory import latex


def test_cli_writes_labelled_equations(tmp_path):
    parser = argparse.ArgumentParser(prog="lnsgd")
    cli_theory.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "theory.tex"
    args = parser.parse_args(["theory", "--latex", str(out)])
    assert args.func(args) == 0
    text = out.read_text()
    labels = re.findall(r"\\label\{(eq:[^}]*)\}", text)
    assert len(labels) == len(latex.equations()) == len(set(labels))  # one stable label per result
    for label in ("eq:lambda-eff", "eq:reduced-beta", "eq:fixed-point-residual", "eq:implicit-lambda"):
        assert label in labels
    assert text.count(r"\begin{equation}") == text.count(r"\end{equation}") == len(labels)
    assert latex.latex_source() == text  # deterministic across runs
    assert r"\frac{2 B \lambda}{2 B - \eta \operatorname{tr} G}" in text
