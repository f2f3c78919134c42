"""`lnsgd check`: the measures on synthetic curves, the target bookkeeping, and --quick end to end."""
import argparse

import numpy as np
import pytest

from lnsgd.experiments import check as ck
from lnsgd.commands import check as cli_check


def test_approach_rate_recovers_the_rate_of_an_exponential_approach():
    steps = np.arange(0, 1_000_000, 2500)
    w = 0.1 + 0.9 * np.exp(-1.2e-5 * steps)  # settled in the last 10 %
    rate, plateau, why = ck.approach_rate(steps, w)
    assert why == ""
    assert plateau == pytest.approx(0.1, abs=1e-3)
    assert rate == pytest.approx(1.2e-5, rel=0.02)


def test_horizon_rule_scales_like_B_over_eta2_delta2():
    assert ck.horizon_steps(1e-3, 4.0, 1) == 1_000_000
    assert ck.horizon_steps(5e-4, 2.0, 4) == 64_000_000
    assert len(ck.default_grid()) == 32


def test_misses_name_the_quantity():
    row = {"rate_err": 0.07, "plateau_err": 0.01, "T_II_err": np.nan, "max_dw": 0.01, "max_dcos": 0.06}
    text = " | ".join(ck.misses(row))
    assert "Phase I rate" in text and "T_II" in text and "cos" in text and "plateau" not in text


def test_quick_check_passes(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cli_check.register(sub)
    args = parser.parse_args(["check", "--quick", "--out", str(tmp_path / "check"),
                              "--table", str(tmp_path / "check_table.tex")])
    code = args.func(args)
    out = capsys.readouterr()
    assert code == 0, out.err
    assert (tmp_path / "check_table.tex").read_text().count(r"\\") >= 3
    files = sorted((tmp_path / "check").glob("check_*.nc"))
    assert len(files) == 2
    import xarray as xr
    with xr.open_dataset(files[0]) as ds:
        for v in ("w_norm_mean", "pred_w_norm_mean", "pred_cos_abs_mean", "pred_w_norm_mean_flow_eff",
                  "pred_cos_abs_mean_sde"):
            assert v in ds and ds[v].dims == ("step",)
