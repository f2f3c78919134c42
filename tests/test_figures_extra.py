"""Figures beyond the headline curves: real data, multi-seed bands, laziness vs m, the
periodic zoom, the declared models, and the numbers quoted from them.

Content checks compare what was drawn with the stored arrays (seed means recomputed here from the
files, theory curves re-evaluated from lnsgd.theory.lazy), so a figure drawing the wrong run,
variable or statistic fails.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from lnsgd.experiments.config import SimulationConfig
from lnsgd.experiments.phases import phase_two_time
from lnsgd.experiments.runner import simulate
from lnsgd.experiments.store import save
from lnsgd.figures import declared, laziness_m, numbers, real, registry, seeds, simulation, style
from lnsgd.figures.results import MissingResultError, load_result
from tests import synthetic_results as synthetic


def _line(fig, gid: str):
    found = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == gid]
    assert len(found) == 1, (gid, len(found))
    return found[0]


def _band(fig, gid: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edge of a fill_between band at the abscissae ``x`` (from its outline)."""
    (poly,) = [c for ax in fig.axes for c in ax.collections if c.get_gid() == gid]
    verts = poly.get_paths()[0].vertices
    lo = np.array([verts[verts[:, 0] == xi, 1].min() for xi in x])
    hi = np.array([verts[verts[:, 0] == xi, 1].max() for xi in x])
    return lo, hi


# --- real data ------------------------------------------------------------------------------------


def test_real_figure_draws_network_and_linearization(tmp_path):
    synthetic.write_real_result(tmp_path)
    ds = load_result(tmp_path, "real-digits")
    fig = real.build_real(ds)
    for p in (0.5, 0.0):
        one = ds.sel(noise=p)
        for var in ("train_loss", "test_loss"):
            np.testing.assert_array_equal(_line(fig, f"net:{p:g}:{var}").get_ydata(), one[var].values)
            lin = _line(fig, f"lin:{p:g}:{var}")
            np.testing.assert_array_equal(lin.get_ydata(), one[f"lin_{var}"].values)
            assert lin.get_linestyle() == "--"
        for var in ("w_norm_mean", "w_norm_std", "dist_test", "ntk_rel_change"):
            np.testing.assert_array_equal(_line(fig, f"net:{p:g}:{var}").get_ydata(), one[var].values)
            assert not [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == f"lin:{p:g}:{var}"]
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 6 and all(ax.get_ylabel() for ax in visible)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "network, flip $p = 0.5$" in legend and "linearization, clean labels" in legend


def test_real_missing_results_name_their_commands(tmp_path):
    with pytest.raises(MissingResultError, match=r"`lnsgd run real-digits`"):
        real.fig_real_digits(tmp_path, tmp_path / "out")
    with pytest.raises(MissingResultError, match=r"`lnsgd run real-cifar10 --set data_dir=DIR`"):
        real.fig_real_cifar10(tmp_path, tmp_path / "out")


def test_optional_cifar_figure_skipped_only_when_making_all(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(registry.FIGURES, "two-phase", lambda r, o: calls.append("two-phase") or [])
    monkeypatch.setattr(
        registry, "FIGURES", {"two-phase": registry.FIGURES["two-phase"], "real-cifar10": real.fig_real_cifar10}
    )
    with pytest.warns(UserWarning, match=r"skipped optional figure real-cifar10.*data_dir=DIR"):
        assert registry.make_figures(None, tmp_path, tmp_path / "out") == []
    assert calls == ["two-phase"]
    with pytest.raises(MissingResultError, match="real-cifar10"):  # asked for by name: an error
        registry.make_figures(["real-cifar10"], tmp_path, tmp_path / "out")


def test_real_numbers_quote_the_stored_runs(tmp_path):
    synthetic.write_real_result(tmp_path)
    ds = load_result(tmp_path, "real-digits")
    macros = dict(re.findall(r"\\newcommand\{\\(\w+)\}\{(.*)\}", numbers.numbers_tex(tmp_path, numbers.REAL_NUMBERS)))
    assert macros["RealDistNoisy"] == f"{float(ds.dist_test.sel(noise=0.5)[-1]):.3g}"
    assert macros["RealDistClean"] == f"{float(ds.dist_test.sel(noise=0.0)[-1]):.3g}"
    w = ds.w_norm_mean.sel(noise=0.5).values
    assert macros["RealWnormRelNoisyPct"] == numbers.format_value(w[-1] / w[0] - 1, "pct")


# --- multi-seed bands -----------------------------------------------------------------------------

TINY = SimulationConfig(n=30, d=4, m=12, eta=0.02, delta=2.0, steps=1500, record_every=100, snapshots=0)


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory) -> tuple[Path, dict[str, SimulationConfig]]:
    """Real (tiny) simulations stored as `lnsgd claims` does: claims/<hash>.nc, 5 seeds of a noisy
    and a clean config, 5 seeds of another step size (must not be mixed in) and one diverged run."""
    root = tmp_path_factory.mktemp("claims-results")
    configs = {"two-phase": TINY, "lazy": dataclasses.replace(TINY, delta=0.0)}
    other = dataclasses.replace(TINY, eta=0.01)
    for cfg in (*configs.values(), other):
        for seed in range(5):
            c = dataclasses.replace(cfg, seed=seed)
            ds = simulate(c, progress=False)
            ds.attrs.pop("preset", None)
            save(ds, root / "claims" / f"{c.digest()}.nc")
    return root, configs


def _keys(configs):
    return {name: seeds.config_key(json.loads(c.to_json())) for name, c in configs.items()}


def test_seed_figure_draws_mean_and_sd_over_seeds(seed_runs):
    root, configs = seed_runs
    agg = seeds.load_seeds(root, names=("two-phase", "lazy", "sam"), keys=_keys(configs) | {"sam": "none"})
    assert set(agg) == {"two-phase", "lazy"}  # no SAM runs: left out, not an error
    fig = seeds.build_seeds(agg)
    for name, cfg in configs.items():
        files = [
            xr.load_dataset(Path(root) / "claims" / f"{dataclasses.replace(cfg, seed=s).digest()}.nc") for s in range(5)
        ]
        for var in ("w_norm_mean", "cos_abs_mean"):
            per_seed = np.stack([f[var].values for f in files])
            mean, sd = per_seed.mean(0), per_seed.std(0, ddof=1)
            np.testing.assert_allclose(_line(fig, f"{name}:{var}").get_ydata(), mean, rtol=1e-12)
            lo, hi = _band(fig, f"{name}:{var}:band", files[0]["step"].values)
            np.testing.assert_allclose(lo, mean - sd, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(hi, mean + sd, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(agg[name]["T_I_seeds"].values, [float(f["T_I"]) for f in files])
    assert np.any(agg["two-phase"]["w_norm_mean_sd"].values > 0)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.endswith("(5 seeds)") and "label-noise" in t for t in legend), legend


def test_seed_groups_split_by_config_without_seed(seed_runs):
    root, configs = seed_runs
    groups = seeds.seed_groups(Path(root) / "claims")
    assert sorted(len(g) for g in groups.values()) == [5, 5, 5]
    for runs in groups.values():
        assert [json.loads(r.attrs["config"])["seed"] for r in runs] == [0, 1, 2, 3, 4]


def test_seeds_missing_names_claims_command(tmp_path, seed_runs):
    with pytest.raises(seeds.MissingSeedsError, match=r"'two-phase', 'lazy'.*`lnsgd claims --size paper`"):
        seeds.fig_seeds(tmp_path, tmp_path / "out")
    root, configs = seed_runs  # tiny runs do not have the presets' configs: still missing
    with pytest.raises(MissingResultError, match="lnsgd claims --size paper"):
        seeds.load_seeds(root)


def test_seeds_from_preset_configs(tmp_path):
    synthetic.write_claims(tmp_path, presets=("two-phase", "lazy"), seeds=(0, 1, 2))
    agg = seeds.load_seeds(tmp_path)
    assert set(agg) == {"two-phase", "lazy"} and agg["lazy"].attrs["n_seeds"] == 3
    text = numbers.numbers_tex(tmp_path, numbers.SEED_NUMBERS)
    macros = dict(re.findall(r"\\newcommand\{\\(\w+)\}\{(.*)\}", text))
    assert macros["SeedsN"] == "3" and "SeedsSamN" not in macros
    assert macros["SeedsWnormFinal"] == f"{float(agg['two-phase']['w_norm_mean'][-1]):.3f}"


# --- laziness against m ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep-results")
    synthetic.write_tiny_sweep(root)
    return root


def test_laziness_m_draws_final_changes_and_theory(sweep_root):
    ds = laziness_m.load_lazy_rich(sweep_root)
    from lnsgd.experiments.sweep.combine import open_sweep

    summary = open_sweep(Path(sweep_root) / "sweeps" / "small", "lazy-rich")
    fig = laziness_m.build_laziness_m(ds)
    for delta in (0.0, 4.0):
        for var in ("w_rel_change", "ntk_rel_change"):
            want = []
            for m in ds["m"].values:
                h = str(summary["config_hash"].sel(delta=delta, m=int(m)).values)
                want.append(float(xr.load_dataset(Path(sweep_root) / "sweeps" / "small" / f"{h}.nc")[var][-1]))
            line = _line(fig, f"delta={delta:g}:{var}")
            np.testing.assert_array_equal(line.get_xdata(), ds["m"].values)
            np.testing.assert_allclose(line.get_ydata(), want, rtol=1e-12)
    # Theory: the sympy estimate of lnsgd.theory.lazy at the sweep's d, alpha and mean ||e0||.
    from lnsgd.theory import lazy
    from lnsgd.theory.symbols import alpha, beta_star_norm, d, m

    e0 = float(
        np.mean(
            [
                np.sqrt(2 * xr.load_dataset(Path(sweep_root) / "sweeps" / "small" / f"{h}.nc")["test_loss"][0])
                for h in summary["config_hash"].sel(delta=0.0).values
            ]
        )
    )
    line = _line(fig, "theory:w_rel_change")
    x = line.get_xdata()[-1]
    expr = lazy.relative_change_estimate("standard").subs({alpha: 1, beta_star_norm: e0, d: 5, m: x})
    assert line.get_ydata()[-1] == pytest.approx(float(expr), rel=1e-10)
    labels = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("m^{-3/2}" in t for t in labels) and any("m^{-2}" in t for t in labels)


@pytest.mark.parametrize("parametrization", ["standard", "ntk", "mean-field"])
def test_laziness_m_has_a_theory_estimate_for_every_config_parametrization(parametrization):
    """The config's spelling is the theory's (one constant): no KeyError for mean-field."""
    for var in laziness_m.ESTIMATES:
        expr, exponent = laziness_m.estimate(var, parametrization)
        assert expr.free_symbols and exponent.is_number


def test_laziness_m_missing_names_sweep_command(tmp_path):
    with pytest.raises(MissingResultError, match=r"`lnsgd sweep sweeps/small.yaml"):
        laziness_m.fig_laziness_m(tmp_path, tmp_path / "out")


def test_lazy_m_numbers(sweep_root):
    text = numbers.numbers_tex(sweep_root, numbers.LAZY_M_NUMBERS)
    macros = dict(re.findall(r"\\newcommand\{\\(\w+)\}\{(.*)\}", text))
    assert macros["LazyMExpW"] == r"\ensuremath{-}1.5" and macros["LazyMExpK"] == r"\ensuremath{-}2"
    ds = laziness_m.load_lazy_rich(sweep_root)
    slope = np.polyfit(np.log(ds["m"].values), np.log(ds["w_rel_change"].sel(delta=0.0).values), 1)[0]
    assert macros["LazyMSlopeW"] == numbers.format_value(slope, "2f") and slope < 0


# --- periodic zoom --------------------------------------------------------------------------------


def test_periodic_zoom_panel_shows_first_steps_with_fitted_y(tmp_path):
    ds = synthetic.make_result("periodic")
    fig = simulation.build_periodic(ds, zoom=10_000)
    zoom = fig.axes[1]
    assert zoom.get_xlim() == (0, 10_000)
    inside = ds["w_norm_mean"].values[ds["step"].values <= 10_000]
    lo, hi = zoom.get_ylim()
    assert lo < inside.min() and hi > inside.max()
    assert hi - lo < 1.2 * (inside.max() - inside.min())  # fitted to the zoom, not the whole run
    (line,) = [ln for ln in zoom.get_lines() if ln.get_gid() == "periodic:w_norm_mean"]
    np.testing.assert_array_equal(line.get_ydata(), ds["w_norm_mean"].values)
    assert [p.get_gid() for p in zoom.patches].count("noise-on") >= 1


# --- declared models ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def declared_results(tmp_path_factory) -> Path:
    """Synthetic declared-model results (4-path label-noise runs, controls) and check files."""
    path = tmp_path_factory.mktemp("declared")
    synthetic.write_declared(path)
    return path


def test_diagonal_recovery_draws_path_mean_sd_gd_and_flow(declared_results):
    sgd, gd = (load_result(declared_results, n) for n in ("diagonal-sparse", "diagonal-gd"))
    check = synthetic.make_declared_result("diagonal-sparse", flow=True)
    fig = declared.build_diagonal_recovery(sgd, gd, check)
    step = sgd["step"].values
    for var in ("beta_error", "beta_l1"):
        mean, sd = sgd[var].mean("path").values, sgd[var].std("path", ddof=1).values
        np.testing.assert_allclose(_line(fig, f"sgd:{var}").get_ydata(), mean)
        lo, hi = _band(fig, f"sgd:{var}:band", step)
        np.testing.assert_allclose(lo, mean - sd)
        np.testing.assert_allclose(hi, mean + sd)
        np.testing.assert_array_equal(_line(fig, f"control:{var}").get_ydata(), gd[var].values)
        np.testing.assert_array_equal(_line(fig, f"flow:{var}").get_ydata(), check[f"pred_{var}"].values)
    assert _line(fig, "sgd:beta_error").axes.get_yscale() == "log"
    np.testing.assert_allclose(_line(fig, "l1-star").get_ydata(), np.abs(sgd["beta_star"].values).sum())
    np.testing.assert_allclose(_line(fig, "sgd:beta").get_ydata(), sgd["beta"].isel(step=-1).mean("path").values)
    np.testing.assert_array_equal(_line(fig, "control:beta").get_ydata(), gd["beta"].values[-1])
    np.testing.assert_array_equal(_line(fig, "flow:beta").get_ydata(), check["pred_beta"].values[-1])
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    assert r"label-noise SGD, $\delta = 3$ (mean $\pm$ sd, 4 paths)" in legend
    assert r"GD (full batch), $\delta = 0$" in legend and "regularized flow" in legend


def test_deep_linear_phases_mark_phase_times_of_each_curve(declared_results):
    sgd, lazy = (load_result(declared_results, n) for n in ("deep-linear", "deep-linear-lazy"))
    check = synthetic.make_declared_result("deep-linear", flow=True)
    fig = declared.build_deep_linear_phases(sgd, lazy, check)
    step = sgd["step"].values
    for var in ("w_norm_mean", "cos_abs_mean"):
        np.testing.assert_allclose(_line(fig, f"sgd:{var}").get_ydata(), sgd[var].mean("path").values)
        np.testing.assert_array_equal(_line(fig, f"control:{var}").get_ydata(), lazy[var].values)
        np.testing.assert_array_equal(_line(fig, f"flow:{var}").get_ydata(), check[f"pred_{var}"].values)
    flow_t2 = phase_two_time(step, check["pred_cos_abs_mean"].values).step
    sgd_t2 = phase_two_time(step, sgd["cos_abs_mean"].mean("path").values).step
    marks = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() and ln.get_gid().endswith("T_II")]
    assert {(ln.get_gid(), ln.get_xdata()[0]) for ln in marks} == {("flow:T_II", flow_t2), ("sgd:T_II", sgd_t2)}
    assert "SGD, $\\delta = 0$" in {t.get_text() for t in fig.legends[0].get_texts()}


@pytest.mark.parametrize(
    "figure,preset,companion",
    [
        ("diagonal-recovery", "diagonal-sparse", "diagonal-gd"),
        ("deep-linear-phases", "deep-linear", "deep-linear-lazy"),
    ],
)
def test_declared_figures_without_companion_or_check(tmp_path, figure, preset, companion):
    with pytest.raises(MissingResultError, match=f"`lnsgd run {preset}`"):
        registry.make_figures([figure], tmp_path, tmp_path / "out")
    synthetic.write_declared(tmp_path, names=(preset,), checks=())
    with pytest.warns(UserWarning) as caught:
        paths = registry.make_figures([figure], tmp_path, tmp_path / "out")
    messages = " ".join(str(w.message) for w in caught)
    assert f"`lnsgd run {companion}`" in messages and f"`lnsgd check {preset}`" in messages
    assert tmp_path / "out" / f"{figure}.pdf" in paths
    if style.latex_available():
        assert tmp_path / "out" / f"{figure}.pgf" in paths


def test_declared_numbers_quote_path_means_and_the_flow(declared_results, tmp_path):
    text = numbers.numbers_tex(declared_results)
    macros = dict(re.findall(r"\\newcommand\{\\(\w+)\}\{(.*)\}", text))
    sgd, gd = (load_result(declared_results, n) for n in ("deep-linear", "diagonal-gd"))
    t2 = phase_two_time(sgd["step"].values, sgd["cos_abs_mean"].mean("path").values).step
    assert macros["DeepTII"] == numbers.format_value(t2, "step")
    assert macros["DiagGdErrFinal"] == f"{float(gd['beta_error'][-1]):.2f}"
    flow = synthetic.make_declared_result("diagonal-sparse", flow=True)
    assert macros["DiagFlowErrFinal"] == numbers.format_value(float(flow["pred_beta_error"][-1]), "g")
    assert macros["DiagStarLOne"] == "5" and macros["DiagPaths"] == "4"
    synthetic.write_declared(tmp_path, checks=())
    text = numbers.numbers_tex(tmp_path)
    assert "make it with `lnsgd check deep-linear`" in text and "DeepFlowTII" not in text
