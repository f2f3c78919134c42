"""Config validation, --set parsing, schedules, minibatch sampling and the CLI's error path."""

import dataclasses

import numpy as np
import pytest

from lnsgd.cli import main
from lnsgd.experiments.config import SimulationConfig, build_config
from lnsgd.experiments.schedules import delta_values
from lnsgd.experiments.validation import ConfigError
from lnsgd.solvers.sampling import BatchSampler

INVALID = {
    "n": 0,
    "d": -1,
    "m": 2.5,
    "parametrization": "lazy",
    "alpha": 0.0,
    "algorithm": "adam",
    "eta": -1e-3,
    "batch_size": 201,
    "replacement": "yes",
    "delta": float("nan"),
    "noise": "uniform",
    "schedule": "cosine",
    "period": 0,
    "breakpoints": [[5, 1.0], [2, 0.0]],
    "rho": -0.1,
    "osc_eps": -1.0,
    "osc_kind": "square",
    "osc_period": 1,
    "steps": 0,
    "record_every": 2_000_000,
    "snapshots": -1,
    "seed": -3,
    "noise_seed": -1,
    "paths": 0,
    "engine": "gpu",
    "loss_bound": 0.0,
}


def test_every_field_has_an_invalid_case():
    assert set(INVALID) == {f.name for f in dataclasses.fields(SimulationConfig)}


@pytest.mark.parametrize("field,value", INVALID.items())
def test_invalid_field_is_rejected_with_its_name(field, value):
    with pytest.raises(ConfigError, match=rf"^{field}\b|breakpoints"):
        SimulationConfig(**{field: value})


def test_consistency_checks():
    with pytest.raises(ConfigError, match="batch_size = 1 is invalid for algorithm = 'oscillation'"):
        SimulationConfig(algorithm="oscillation")
    with pytest.raises(ConfigError, match="first step is 0"):
        SimulationConfig(schedule="piecewise", breakpoints=((10, 1.0),))
    with pytest.raises(ConfigError, match="^engine = 'propagator' is not exact for algorithm = 'oscillation'"):
        SimulationConfig(algorithm="oscillation", batch_size=200, engine="propagator")


def test_auto_engine_resolution():
    """auto: the propagator wherever it is exact, the direct engine for the oscillation experiment."""
    assert SimulationConfig().resolved_engine == "propagator"
    assert SimulationConfig(algorithm="sam", batch_size=200).resolved_engine == "propagator"
    assert SimulationConfig(algorithm="oscillation", batch_size=200).resolved_engine == "direct"
    assert SimulationConfig(engine="direct").resolved_engine == "direct"


def test_set_strings_are_parsed_by_field_type():
    cfg = build_config(
        SimulationConfig,
        {},
        ["eta=5e-4", "steps=1e5", "replacement=false", "breakpoints=[[0, 4], [100, 0]]", "noise=rademacher"],
    )
    assert (cfg.eta, cfg.steps, cfg.replacement, cfg.noise) == (5e-4, 100_000, False, "rademacher")
    assert cfg.breakpoints == ((0, 4), (100, 0))
    with pytest.raises(ConfigError, match="unknown config field"):
        build_config(SimulationConfig, {}, ["lr=1"])
    with pytest.raises(ConfigError, match="key=value"):
        build_config(SimulationConfig, {}, ["eta"])


def test_schedules():
    steps = np.array([0, 4999, 5000, 9999, 10000, 12345])
    periodic = SimulationConfig(schedule="periodic", period=5000, delta=2.0)
    np.testing.assert_array_equal(delta_values(periodic, steps), [2, 2, 0, 0, 2, 2])
    piecewise = SimulationConfig(schedule="piecewise", breakpoints=((0, 1.0), (5000, 3.0), (10000, 0.0)))
    np.testing.assert_array_equal(delta_values(piecewise, steps), [1, 1, 3, 3, 0, 0])
    per_step = np.linspace(0, 1, 20000)
    np.testing.assert_array_equal(delta_values(periodic, steps, per_step), per_step[steps])
    np.testing.assert_array_equal(delta_values(periodic, steps, lambda t: 0.5 * (t > 5000)), 0.5 * (steps > 5000))
    with pytest.raises(ValueError, match="finite delta >= 0"):
        delta_values(periodic, steps, lambda t: -np.ones(len(t)))


def test_sampling_without_replacement_covers_each_epoch():
    sampler = BatchSampler(10, 4, False, np.random.default_rng(0))
    stream = np.concatenate([sampler.draw(3).ravel(), sampler.draw(2).ravel()])  # 20 = two epochs
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:]) == list(range(10))


def test_cli_reports_bad_input_without_traceback(capsys):
    assert main(["run", "two-phase", "--set", "eta=-1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "eta = -1.0 is out of range: expected eta > 0.0" in err and "Traceback" not in err
    assert main(["run", "no-such-preset"]) == 2
    assert "valid presets" in capsys.readouterr().err


def test_cli_run_and_show(tmp_path, capsys):
    args = [
        "run",
        "two-phase",
        "--set",
        "m=30",
        "--set",
        "steps=2000",
        "--set",
        "record_every=500",
        "--out",
        str(tmp_path),
        "--quiet",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "mean||w_k||" in out and "T_I" in out
    path = next(tmp_path.glob("two-phase-*.nc"))
    assert main(args) == 0 and "reused" in capsys.readouterr().out
    assert main(["show", str(path)]) == 0
    assert "status completed" in capsys.readouterr().out
