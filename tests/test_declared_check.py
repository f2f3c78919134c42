"""`lnsgd check` of a declared model: the flow against the path mean, and a wrong flow is caught."""

import dataclasses

import pytest

from lnsgd.cli import main
from lnsgd.experiments.declared.check import check_model, judge
from lnsgd.experiments.declared.config import ModelConfig
from lnsgd.experiments.declared.predict import predict_flow
from lnsgd.experiments.declared.runner import model_start, simulate_model
from lnsgd.experiments.store import load

# a small sparse-recovery setting: d = 20, n = 12, 2-sparse teacher, λ = ηδ²/4 = 5e-4
# (q ≈ 8dα² = 160 at the start, η q = 0.32): the first part of the shrinkage towards the sparse solution
SMALL = ModelConfig(
    model="diagonal", teacher="sparse", sparsity=2, n=12, d=20, eta=2e-3, delta=1.0, steps=60_000, record_every=2000
)


@pytest.fixture(scope="module")
def small_run():
    config = dataclasses.replace(SMALL, paths=4)
    start = model_start(config)
    sim = simulate_model(config, progress=False)
    return config, start, sim


def test_flow_predicts_the_path_mean(small_run):
    config, start, sim = small_run
    row = judge(sim, predict_flow(config, sim["step"].values, start))
    assert abs(row["trace_G_err"]) < 0.05 and row["l1_err"] < 0.05, row
    # β of 4 paths is noise-limited: the flow must sit within 3 path standard errors of the mean
    assert row["beta_err"] < 3 * row["beta_se"], row


def test_a_wrong_regularizer_is_caught(small_run):
    """The flow of 4× the label-noise strength (δ doubled) misses the regularizer's value."""
    config, start, sim = small_run
    wrong = predict_flow(dataclasses.replace(config, delta=2 * config.delta), sim["step"].values, start)
    row = judge(sim, wrong)
    assert "tr G" in row["misses"]


def test_check_model_stores_simulation_and_prediction(tmp_path):
    config = dataclasses.replace(SMALL, steps=10_000, paths=2)
    row = check_model(config, tmp_path, preset="small", progress=False)
    ds = load(row["file"])
    assert ds.sizes["path"] == 2 and ds.attrs["preset"] == "small"
    for var in ("beta", "beta_l1", "trace_G"):
        assert f"pred_{var}" in ds and ds[f"pred_{var}"].dims == ds[var].dims[1:]


def test_check_cli_on_a_declared_preset(tmp_path, capsys):
    code = main(
        [
            "check",
            "diagonal-sparse",
            "--set",
            "steps=5000",
            "--set",
            "record_every=1000",
            "--paths",
            "2",
            "--out",
            str(tmp_path),
            "--declared-table",
            str(tmp_path / "t.tex"),
        ]
    )
    out = capsys.readouterr()
    assert code in (0, 1)
    assert "medians over records" in out.out
    assert (tmp_path / "t.tex").read_text().startswith(r"\begin{tabular}")
    assert main(["check", "diagonal-sparse", "--set", "m=5", "--out", str(tmp_path)]) == 2
    assert "m = 5 does not apply to model = 'diagonal'" in capsys.readouterr().err
