"""Figures: every figure from small synthetic stored results, PDF + PGF, content checks.

The synthetic results follow docs/results-schema.md (tests.synthetic_results); content checks
compare what was drawn with the stored arrays, so a figure plotting the wrong variable, the wrong
run or a shifted phase time fails.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from lnsgd.commands import figures as cli
from lnsgd.figures import numbers, registry, simulation, style
from lnsgd.figures.results import MissingResultError, load_result, tau
from tests import synthetic_results as synthetic

needs_latex = pytest.mark.skipif(
    shutil.which("pdflatex") is None, reason="pdflatex not installed (run tools/ensure-tex.sh); PGF output needs LaTeX"
)


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    """Every input of the registered figures in a temporary results folder: the presets as
    ``<name>-<hash12>.nc``, ``real-digits``, multi-seed runs in ``claims/`` and a tiny sweep."""
    path = tmp_path_factory.mktemp("results")
    synthetic.write_everything(path)
    return path


@pytest.fixture(scope="module")
def made(results_dir, tmp_path_factory) -> tuple[Path, list[Path]]:
    """Every registered figure made once: (out_dir, written paths)."""
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed (run tools/ensure-tex.sh); PGF output needs LaTeX")
    out = tmp_path_factory.mktemp("figures")
    return out, registry.make_figures(None, results_dir, out)


def _lines(fig, gid: str):
    return [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == gid]


# --- loading --------------------------------------------------------------------------------------


def test_missing_result_names_the_command(tmp_path):
    with pytest.raises(MissingResultError, match=r"`lnsgd run two-phase`"):
        load_result(tmp_path, "two-phase")
    with pytest.raises(MissingResultError, match=r"`lnsgd run two-phase` and `lnsgd run lazy`"):
        simulation.fig_two_phase(tmp_path, tmp_path / "out")
    synthetic.write_results(tmp_path, ("two-phase",))
    with pytest.raises(MissingResultError, match=r"'lazy' .*: make it with `lnsgd run lazy`$"):
        simulation.fig_two_phase(tmp_path, tmp_path / "out")


def test_load_result_takes_newest_by_created_and_exact_names(tmp_path):
    now = datetime.now(timezone.utc)
    old = synthetic.make_result("two-phase", seed=1, created=now)
    new = synthetic.make_result("two-phase", seed=2, created=now + timedelta(hours=1))
    # Names sort opposite to age, so picking by file name or mtime would be wrong.
    old.to_netcdf(tmp_path / "two-phase-ffffffffffff.nc")
    new.to_netcdf(tmp_path / "two-phase-000000000000.nc")
    synthetic.make_result("lazy", seed=3).to_netcdf(tmp_path / "two-phase-seeds-123456789abc.nc")
    ds = load_result(tmp_path, "two-phase")
    assert ds.attrs["seed"] == 2
    assert ds.encoding["source"].endswith("two-phase-000000000000.nc")


def test_tau_prefers_stored_trace_then_d():
    ds = synthetic.make_result("two-phase", d=7)
    assert tau(ds) == 7.0  # synthetic config stores tau = d
    ds.attrs["config"] = ds.attrs["config"].replace('"tau": 7.0', '"tau": 6.5')
    assert tau(ds) == 6.5
    ds.attrs["config"] = '{"model": {"d": 9}}'
    assert tau(ds) == 9.0


# --- every figure: PDF + PGF, PGF compiles --------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in registry.FIGURES if n not in registry.OPTIONAL])
def test_figure_writes_pdf_and_pgf(made, name):
    out, paths = made
    pdf, pgf = out / f"{name}.pdf", out / f"{name}.pgf"
    assert pdf in paths and pgf in paths
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = pgf.read_text()
    assert "\\begin{pgfpicture}" in text and "\\providecommand{\\mathdefault}" in text
    assert not any(ord(c) > 127 for c in text.split("\\begingroup", 1)[1]), "non-ASCII in PGF body"
    assert not list(out.glob(f"{name}-img*.png")), "raster side files break \\input elsewhere"


@needs_latex
def test_pgf_files_compile_in_minimal_document(made, tmp_path):
    out, _ = made
    figdir = tmp_path / "sub" / "figs"  # \input from another folder than the document's
    shutil.copytree(out, figdir)
    body = "\n".join(
        rf"\input{{sub/figs/{name}.pgf}}\par" for name in registry.FIGURES if name not in registry.OPTIONAL
    )
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\n" + style.PGF_PREAMBLE + "\n\\begin{document}\n" + body + "\n\\end{document}\n"
    )
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 10_000


def test_unknown_figure_name_is_rejected(results_dir, tmp_path):
    with pytest.raises(KeyError, match="valid: two-phase"):
        registry.make_figures(["two-phaze"], results_dir, tmp_path)


def test_without_latex_pdf_only_with_warning(results_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(style, "latex_available", lambda: False)
    fig = simulation.build_laziness(load_result(results_dir, "lazy"), load_result(results_dir, "two-phase"))
    with pytest.warns(UserWarning, match="ensure-tex"):
        paths = style.save(fig, tmp_path / "laziness")
    assert paths == [tmp_path / "laziness.pdf"] and paths[0].stat().st_size > 0


# --- content --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_phase(results_dir):
    noisy, clean = load_result(results_dir, "two-phase"), load_result(results_dir, "lazy")
    return noisy, clean, simulation.build_two_phase(noisy, clean)


@pytest.mark.parametrize(
    "key,var",
    [("two-phase", "w_norm_mean"), ("two-phase", "cos_abs_mean"), ("lazy", "w_norm_mean"), ("lazy", "cos_abs_mean")],
)
def test_two_phase_plots_the_stored_arrays(two_phase, key, var):
    noisy, clean, fig = two_phase
    ds = noisy if key == "two-phase" else clean
    (line,) = _lines(fig, f"{key}:{var}")
    np.testing.assert_array_equal(line.get_xdata(), ds["step"].values)
    np.testing.assert_array_equal(line.get_ydata(), ds[var].values)
    (band,) = [c for ax in fig.axes for c in ax.collections if c.get_gid() == f"{key}:{var}:band"]
    verts = band.get_paths()[0].vertices
    std = ds[var.replace("_mean", "_std")].values
    assert np.isclose(verts[:, 1].max(), (ds[var].values + std).max())
    assert np.isclose(verts[:, 1].min(), (ds[var].values - std).min())


def test_two_phase_axis_labels(two_phase):
    _, _, fig = two_phase
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_ylabel() for ax in axes] == [style.LABELS["w_norm_mean"], style.LABELS["cos_abs_mean"]]
    assert all(ax.get_xlabel() == style.LABELS["step"] for ax in axes)
    legend_texts = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {
        r"label-noise SGD, $\delta = 4$",
        r"SGD, $\delta = 0$",
        style.LABELS["T_I"],
        style.LABELS["T_II"],
    } <= legend_texts


def test_phase_markers_at_stored_times(two_phase):
    noisy, clean, fig = two_phase
    for name in ("T_I", "T_II"):
        t = float(noisy[name])
        marks = _lines(fig, f"two-phase:{name}")
        assert len(marks) == 2, "one marker per panel"
        for mark in marks:
            np.testing.assert_array_equal(mark.get_xdata(), [t, t])
        assert np.isnan(clean[name]) and not _lines(fig, f"lazy:{name}"), "NaN (not reached): no marker"


def test_prediction_overlay(results_dir):
    noisy, clean = load_result(results_dir, "two-phase"), load_result(results_dir, "lazy")
    pred = xr.Dataset(
        {
            "pred_w_norm_mean": ("step", noisy["w_norm_mean"].values * 1.05),
            "pred_cos_abs_mean": ("step", noisy["cos_abs_mean"].values * 0.95),
        },
        coords={"step": noisy["step"].values},
    )
    fig = simulation.build_two_phase(noisy, clean, prediction=pred)
    for var in ("w_norm_mean", "cos_abs_mean"):
        (line,) = _lines(fig, f"prediction:{var}")
        np.testing.assert_array_equal(line.get_ydata(), pred[f"pred_{var}"].values)
    assert not _lines(simulation.build_two_phase(noisy, clean), "prediction:w_norm_mean")


def test_periodic_shades_exactly_the_noise_on_intervals(results_dir):
    ds = load_result(results_dir, "periodic")
    fig = simulation.build_periodic(ds)
    ax = fig.axes[0]
    spans = sorted((p.get_x(), p.get_x() + p.get_width()) for p in ax.patches if p.get_gid() == "noise-on")
    step, on = ds["step"].values, ds["delta"].values > 0
    period = synthetic.PRESETS["periodic"]["period"]
    expected = [(s, min(s + period, step[-1])) for s in range(0, int(step[-1]), 2 * period)]
    assert spans == expected
    inside = np.zeros_like(on)
    for lo, hi in spans:
        inside |= (step >= lo) & (step < hi)
    np.testing.assert_array_equal(inside[:-1], on[:-1])  # the last record opens no interval


def test_neuron_picture_balance_line_and_points(results_dir):
    ds = load_result(results_dir, "two-phase")
    fig = simulation.build_neurons(ds, n_snapshots=3)
    balance = _lines(fig, "balance")
    assert len(balance) == 3
    x, y = balance[0].get_xdata(), balance[0].get_ydata()
    np.testing.assert_allclose(np.asarray(y) / np.asarray(x), np.sqrt(tau(ds)))
    # Every neuron of the last snapshot drawn once, at (|a_k|, ‖w_k‖).
    pts = np.concatenate(
        [np.column_stack([ln.get_xdata(), ln.get_ydata()]) for j in range(5) for ln in _lines(fig, f"neurons:2:{j}")]
    )
    last = ds.isel(snapshot=-1)
    want = np.column_stack([np.abs(last["a_k"].values), last["w_norm_k"].values])
    np.testing.assert_allclose(np.sort(pts, axis=0), np.sort(want, axis=0))


def test_sam_and_laziness_plot_their_runs(results_dir):
    sam, noisy, clean = (load_result(results_dir, n) for n in ("sam", "two-phase", "lazy"))
    fig = simulation.build_sam(sam, noisy, clean)
    for key, ds in (("sam", sam), ("two-phase", noisy), ("lazy", clean)):
        for var in ("trace_G", "lambda_max_G"):
            (line,) = _lines(fig, f"{key}:{var}")
            np.testing.assert_array_equal(line.get_ydata(), ds[var].values)
    fig = simulation.build_laziness(clean, noisy)
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "log"]
    (line,) = _lines(fig, "lazy:ntk_rel_change")
    np.testing.assert_array_equal(line.get_ydata(), clean["ntk_rel_change"].values)


# --- numbers and CLI ------------------------------------------------------------------------------


def test_numbers_tex_quotes_stored_values(results_dir, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    for path in results_dir.glob("*.nc"):
        if not path.name.startswith("sam-"):
            shutil.copy(path, partial)
    for folder in ("claims", "sweeps", "check"):
        shutil.copytree(results_dir / folder, partial / folder)
    text = numbers.write_numbers(partial, tmp_path / "numbers.tex").read_text()
    macros = dict(re.findall(r"\\newcommand\{\\(\w+)\}\{(.*)\}", text))
    ds = load_result(results_dir, "two-phase")
    assert macros["TwoPhaseTI"] == f"{float(ds['T_I']):,.0f}".replace(",", "{,}")
    assert macros["TwoPhaseWnormFinal"] == f"{float(ds['w_norm_mean'][-1]):.3f}"
    assert macros["PeriodicShrinkOnPct"] == "100.0"  # synthetic norms move only while noise is on
    assert not any(k.startswith("Sam") for k in macros)
    assert "`lnsgd run sam`" in text and macros["MissingResults"] == "sam"


def test_cli_makes_what_it_can_and_names_missing_commands(results_dir, tmp_path, capsys):
    partial = tmp_path / "partial"
    partial.mkdir()
    for path in results_dir.glob("periodic-*.nc"):
        shutil.copy(path, partial)
    parser = argparse.ArgumentParser(prog="lnsgd")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "figures",
            "periodic",
            "laziness",
            "--results",
            str(partial),
            "--out",
            str(tmp_path / "build" / "figures"),
            "--numbers",
            "-",
        ]
    )
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed (run tools/ensure-tex.sh)")
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "`lnsgd run lazy`" in err and "laziness" in err
    assert (tmp_path / "build" / "figures" / "periodic.pgf").exists()
