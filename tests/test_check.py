"""`lnsgd check`: the measures on synthetic curves, the target bookkeeping, path statistics, and one
configuration end to end through the command line."""

import argparse
import dataclasses
import json

import numpy as np
import pytest
import xarray as xr

from lnsgd.commands import check as cli_check
from lnsgd.experiments.check import grid, measure, run
from lnsgd.experiments.check.table import write_latex
from lnsgd.experiments.validation import ConfigError


def test_approach_rate_recovers_the_rate_of_an_exponential_approach():
    steps = np.arange(0, 1_000_000, 2500)
    w = 0.1 + 0.9 * np.exp(-1.2e-5 * steps)  # settled in the last 10 %
    rate, plateau, why = measure.approach_rate(steps, w)
    assert why == ""
    assert plateau == pytest.approx(0.1, abs=1e-3)
    assert rate == pytest.approx(1.2e-5, rel=0.02)


def test_horizon_rule_scales_like_B_over_eta2_delta2():
    assert grid.horizon_steps(1e-3, 4.0, 1) == 1_000_000
    assert grid.horizon_steps(5e-4, 2.0, 4) == 64_000_000
    configs = grid.default_grid()
    assert len(configs) == 16 + len(grid.SAM_POINTS) + 1
    assert {c.algorithm for c in configs} == {"sgd", "sam", "usam"}
    assert len({grid.label(c) for c in configs}) == len(configs)


def test_misses_name_the_quantity_and_take_absolute_values():
    row = {"rate_err": -0.07, "plateau_err": 0.01, "T_II_err": np.nan, "max_dw": 0.005, "max_dcos": 0.06}
    text = " | ".join(measure.misses(row))
    assert "Phase I rate" in text and "T_II" in text and "cos" in text
    assert "plateau" not in text and "||w_k|" not in text


def test_path_errors_are_standard_errors_over_paths():
    """Curves = a common exponential + i.i.d. N(0, σ²) per path: the curve s.e. is ≈ σ/√paths
    (largest pointwise sample sd over 400 steps, so within a factor 1.5 at 64 paths)."""
    rng = np.random.default_rng(0)
    steps = np.arange(400) * 2500
    base = 0.1 + 0.9 * np.exp(-1e-5 * steps)
    sigma, paths = 0.01, 64
    w = base + sigma * rng.normal(size=(paths, steps.size))
    cos = np.clip(1 - base + sigma * rng.normal(size=(paths, steps.size)), 0, 1)
    out = measure.path_errors(steps, w, cos)
    assert out["paths"] == paths
    assert sigma / np.sqrt(paths) < out["dw_se"] < 1.5 * sigma / np.sqrt(paths)


def test_imprecise_asks_for_more_paths_when_the_standard_error_is_large():
    row = {"rate_se": 0.02, "plateau_se": 0.001, "T_II_se": 0.002, "dw_se": 0.001, "dcos_se": 0.001}
    assert measure.imprecise(row) == ["rate"]  # 0.02 > 0.05 / 4


@pytest.fixture(scope="module")
def small_check(tmp_path_factory):
    """The paper configuration at width 200 for 2·10⁵ steps (Phase I), 2 paths: one `lnsgd check PRESET`."""
    out = tmp_path_factory.mktemp("check")
    parser = argparse.ArgumentParser()
    cli_check.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["check", "two-phase", "--set", "m=200", "--set", "steps=200000", "--paths", "2", "--out", str(out)]
    )
    return out, args.func(args)


def test_check_of_one_configuration_stores_paths_predictions_and_table(small_check, capsys):
    out, code = small_check
    assert code in (0, 1)
    files = sorted(out.glob("check_*.nc"))
    assert len(files) == 1
    with xr.open_dataset(files[0]) as ds:
        assert ds["w_norm_mean_paths"].dims == ("path", "step") and ds.sizes["path"] >= 2
        np.testing.assert_allclose(ds["w_norm_mean"], ds["w_norm_mean_paths"].mean("path"), rtol=1e-12)
        for v in ("pred_w_norm_mean", "pred_cos_abs_mean", "pred_w_norm_mean_flow", "pred_w_norm_mean_flow_eff"):
            assert v in ds and ds[v].dims == ("step",)
        assert ds.attrs["judged_method"] == "flow_conj"
    assert (out / "check_table.csv").read_text().count("\n") == 4  # header + flow + flow_eff + flow_conj


def test_a_missed_target_is_named(small_check):
    """The same configuration (its stored simulation is reused) against impossibly tight targets."""
    out, _ = small_check
    config = grid.with_steps(dataclasses.replace(grid.PAPER, m=200), 200_000, 2)
    _, rows = run.run_configuration(config, out_dir=out, targets=measure.Targets(rate=1e-9, plateau=1e-9))
    judged = next(r for r in rows if r["method"] == "flow_conj")
    assert "Phase I rate" in judged["misses"] and "plateau" in judged["misses"]


def test_set_without_preset_is_rejected(tmp_path):
    parser = argparse.ArgumentParser()
    cli_check.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check", "--set", "eta=1e-3", "--out", str(tmp_path)])
    with pytest.raises(ConfigError, match="PRESET"):
        args.func(args)


@pytest.mark.parametrize(
    ("flag", "value", "match"),
    [
        ("--sde-paths", "0", "sde paths = 0"),
        ("--sde-dt-factor", "2", "sde dt_factor = 2.0"),
        ("--sde-dt-factor", "0", "0 < dt_factor"),
    ],
)
def test_bad_sde_options_name_the_option_and_its_range(tmp_path, flag, value, match):
    parser = argparse.ArgumentParser()
    cli_check.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check", "two-phase", flag, value, "--out", str(tmp_path)])
    with pytest.raises(ConfigError, match=match):
        args.func(args)
    assert not list(tmp_path.glob("check_*.nc"))  # rejected before anything ran


def test_a_simulation_that_diverges_before_its_second_record_is_a_named_miss(tmp_path):
    """η far beyond the stability edge (the run diverges in its first record interval): no prediction can
    be compared, the row says why instead of the command failing."""
    config = grid.with_steps(dataclasses.replace(grid.PAPER, m=200, eta=0.05), 20_000, 2)
    with pytest.warns(UserWarning, match="stability"):
        _, rows = run.run_configuration(config, out_dir=tmp_path)
    judged = next(r for r in rows if r["method"] == "flow_conj")
    assert judged["misses"].startswith("simulation diverged") and "stability edge" in judged["misses"]
    assert "no record after the initial one" in judged["message"]


def test_methods_without_the_default_judged_theory_judge_the_first_of_them(small_check):
    """`--methods flow flow_eff` (no `flow_conj`, no `--judged`): the targets apply to `flow`; the stored
    simulation of the fixture is reused."""
    out, _ = small_check
    parser = argparse.ArgumentParser()
    cli_check.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["check", "two-phase", "--set", "m=200", "--set", "steps=200000", "--paths", "2", "--out", str(out)]
        + ["--methods", "flow", "flow_eff"]
    )
    args.func(args)
    assert json.loads((out / cli_check.VERDICT).read_text())["judged"] == "flow"


def test_latex_table_marks_each_miss_in_bold(tmp_path):
    """The judged value past its target is bold (0.0254 > 0.025 shown to four digits, T_II −0.052 > 5 %),
    a value within its target is not, and the flow_eff value in parentheses never is."""
    base = {"config": "sam rho=0.05", "paths": 4, "T_II_se": 0.006}
    errors = {"rate_err": 0.023, "plateau_err": -0.003, "T_II_err": -0.052, "max_dw": 0.006, "max_dcos": 0.0254}
    rows = [
        {**base, **errors, "method": "flow_conj"},
        {**base, **{k: 2 * v for k, v in errors.items()}, "method": "flow_eff"},
    ]
    text = write_latex(rows, tmp_path / "t.tex").read_text()
    row = next(line for line in text.splitlines() if line.startswith("sam"))
    assert r"\textbf{-0.052} (-0.104)" in row
    assert r"\textbf{0.0254} (0.0508)" in row
    assert r"0.0060 (0.0120)" in row and r"0.023 (0.046)" in row
    assert row.count(r"\textbf") == 2
