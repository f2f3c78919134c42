"""LaTeX export and the `theory` subcommand: labels, typesetting, and that the fragment compiles."""

import argparse
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sympy as sp

from lnsgd.commands import theory as cli_theory
from lnsgd.theory import latex
from lnsgd.theory import symbols as sy

PAPER = Path(__file__).resolve().parents[1] / "paper"

#: One block of the fragment: description line, labelled equation, "lhs = rhs".
BLOCK = re.compile(
    r"\\noindent (?P<desc>.*):\n\\begin\{equation\}\\label\{eq:(?P<label>[^}]*)\}\n"
    r"(?P<body>.*)\n\\end\{equation\}\n"
)


@pytest.fixture(scope="module")
def theory_tex(tmp_path_factory) -> Path:
    """theory.tex written through the real entry point, `lnsgd theory --latex FILE`."""
    parser = argparse.ArgumentParser(prog="lnsgd")
    cli_theory.register(parser.add_subparsers(dest="command"))
    out = tmp_path_factory.mktemp("theory") / "theory.tex"
    args = parser.parse_args(["theory", "--latex", str(out)])
    assert args.func(args) == 0
    return out


@pytest.fixture(scope="module")
def blocks(theory_tex) -> dict[str, dict[str, str]]:
    """label → {"desc", "body"} of every equation in the written file."""
    text = theory_tex.read_text()
    found = {m["label"]: {"desc": m["desc"], "body": m["body"]} for m in BLOCK.finditer(text)}
    assert len(found) == text.count(r"\begin{equation}"), "every equation block has the expected form"
    return found


@pytest.fixture(scope="module")
def rhs() -> dict[str, sp.Basic]:
    return {label: expr for label, _, _, expr in latex.equations()}


def test_cli_writes_labelled_equations(theory_tex):
    text = theory_tex.read_text()
    labels = re.findall(r"\\label\{(eq:[^}]*)\}", text)
    assert len(labels) == len(latex.equations()) == len(set(labels))  # one stable label per result
    for label in ("eq:lambda-eff", "eq:reduced-beta", "eq:fixed-point-residual", "eq:implicit-lambda"):
        assert label in labels
    assert text.count(r"\begin{equation}") == text.count(r"\end{equation}") == len(labels)
    assert latex.latex_source() == text  # deterministic across runs
    assert r"\lambda_{\mathrm{eff}} = \frac{2 \lambda}{2 - G_B \eta}" in text


# --- typesetting of single equations ---------------------------------------------------------------


def test_phase2_cos_is_a_function_of_t(blocks):
    """x_k(t) is the value of x_k at time t, not a variable with the subscript "k(t)"."""
    body = blocks["phase2-cos"]["body"]
    assert re.search(r"\\frac\{x_k\(t\)\}\{\\sqrt\{.*x_k\(t\)\^\{2\}\}\}$", body), body
    assert "x_{k(t)}" not in body
    assert "k(t)}" not in re.sub(r"x_k\(t\)", "", body)  # no other spelling of it either
    # Same notation as the propagator's own left-hand side and initial value x_k(0).
    assert blocks["phase2-x"]["body"].startswith("x_k(t) = ") and "x_k(0)" in blocks["phase2-x"]["body"]


def test_lazy_weight_change_is_in_initial_values(blocks, rhs):
    """ΔW_∞ = −(1/s) a₀ (K₀⁻¹(β₀ − β*))ᵀ with K₀ = S₀ + A₀ I: every state variable at t = 0."""
    body = blocks["lazy-weight-change"]["body"]
    assert body == (
        r"\Delta W_\infty = - \frac{1}{s} a_0 \left(\beta_0^{T} - \left(\beta^{*}\right)^{T}\right) "
        r"\left(A_0 I + S_0\right)^{-1}"
    ), body
    names = {getattr(x, "name", str(x)) for x in rhs["lazy-weight-change"].free_symbols} - {"d", "m"}
    assert names == {"a_0", "beta_0", "S_0", "A_0", "beta_star", "s"}, names  # sizes d, m aside
    assert "$a_0$" in blocks["lazy-weight-change"]["desc"] and r"$\delta = 0$" in blocks["lazy-weight-change"]["desc"]


def test_usam_regularizer_is_in_the_expected_second_moment(blocks, rhs):
    """R_USAM = (ρ/2) s² tr(K E[u uᵀ]): the mean over the batch, not one draw's u uᵀ."""
    body = blocks["usam-regularizer"]["body"]
    assert body.count(r"\mathbb{E}[u u^{\top}]") == 2, body
    assert "u u^{\\top}" not in body.replace(r"\mathbb{E}[u u^{\top}]", "")
    assert latex.E_uu in rhs["usam-regularizer"].free_symbols and sy.uu not in rhs["usam-regularizer"].free_symbols
    # The exact per-step increments keep the single draw u uᵀ.
    assert r"\mathbb{E}" not in blocks["increment-S"]["body"] and "u u^{\\top}" in blocks["increment-S"]["body"]


def test_trace_part_results_say_so(blocks):
    """Results that keep only the trace part of the residual sampling noise state it in their text."""
    for label in ("effective-label-noise", "lyapunov", "effective-noise-variance"):
        assert "trace part" in blocks[label]["desc"], label
    assert "contracted stationarity" in blocks["lambda-eff"]["desc"]  # exact contraction, no projection
    assert "Lyapunov" in blocks["lyapunov"]["desc"]
    assert r"$C = \sigma^{2} \hat{\Sigma}/B$" in blocks["lyapunov"]["desc"]
    assert blocks["effective-label-noise"]["body"] == r"\delta_{\mathrm{eff}}^2 = 2 L + \delta^{2}"


def test_symmetric_matrices_are_not_transposed(blocks):
    assert r"\hat{\Sigma}^{T}" not in blocks["oscillation-drift"]["body"]
    assert "S_0^{T}" not in blocks["lazy-weight-change"]["body"]
    assert "W^{T}" in blocks["predictor"]["body"]  # a general matrix keeps its transpose


def test_description_maths_is_kept_and_text_escaped():
    assert latex._escape(r"a_b & 50% of $x_k^{2}$, #arg ~") == r"a\_b \& 50\% of $x_k^{2}$, \#arg \~{}"
    with pytest.raises(ValueError, match="unbalanced"):
        latex._escape("one $ sign")


# --- the fragment compiles ---------------------------------------------------------------------------


@pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdflatex") is None,
    reason="latexmk/pdflatex not installed (run tools/ensure-tex.sh)",
)
def test_theory_tex_compiles_in_the_report_preamble(theory_tex, rhs, tmp_path):
    """The generated theory.tex, \\input as the report's appendix does (paper/main.tex's own preamble,
    \\onecolumn, \\appendix), builds with latexmk/pdflatex without an error, and LaTeX defines every
    equation's label."""
    report = (PAPER / "main.tex").read_text()
    preamble = report[: report.index(r"\begin{document}")]
    shutil.copy(theory_tex, tmp_path / "theory.tex")
    (tmp_path / "wrapper.tex").write_text(
        preamble + "\\begin{document}\n\\onecolumn\n\\appendix\n"
        "\\section{Derived equations}\\label{app:theory}\n\\input{theory.tex}\n\\end{document}\n"
    )
    proc = subprocess.run(
        ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error", "wrapper.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = (tmp_path / "wrapper.log").read_text(errors="replace")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:] + log[-3000:]
    assert (tmp_path / "wrapper.pdf").stat().st_size > 10_000
    errors = [line for line in log.splitlines() if line.startswith("!") or re.match(r"\./\S+:\d+: ", line)]
    assert not errors, errors
    for marker in ("undefined", "missing character"):  # undefined macros/references; glyphs not in the font
        assert marker not in log.lower(), marker
    assert "theory.tex" in (tmp_path / "wrapper.fls").read_text()
    aux = (tmp_path / "wrapper.aux").read_text()
    for label in rhs:
        assert f"\\newlabel{{eq:{label}}}" in aux, label
