"""Named experiment presets: the paper's synthetic experiments and the real-data experiment.

Paper config (docs/model.md §8): n = 200, d = 20, m = 1000, η = 1e-3, δ = 4, B = 1, Gaussian label
noise, standard parametrization. Settings the paper does not state are chosen here and documented
in docs/presets.md; every field can be changed with `lnsgd run NAME --set key=value`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lnsgd.experiments.config import SimulationConfig, build_config
from lnsgd.experiments.declared.config import ModelConfig
from lnsgd.experiments.real.experiment import RealConfig


@dataclass(frozen=True)
class Preset:
    """A named config: the dataclass and the fields that differ from its defaults."""

    name: str
    description: str
    config_cls: type
    fields: dict[str, Any] = field(default_factory=dict)

    def config(self, assignments: list[str] = ()) -> Any:
        """The validated config, with `--set key=value` assignments applied."""
        return build_config(self.config_cls, self.fields, list(assignments))


def _sim(**changes: Any) -> tuple[type, dict[str, Any]]:
    return SimulationConfig, changes


def _declared(**changes: Any) -> tuple[type, dict[str, Any]]:
    return ModelConfig, changes


#: the diagonal network's sparse-recovery setting (docs/presets.md)
DIAGONAL_SPARSE = dict(
    model="diagonal", teacher="sparse", n=40, d=100, alpha=1.0, eta=1e-3, steps=1_000_000, record_every=5000
)
#: the deep linear network's setting: the paper's data (n = 200, d = 20) at widths h = m = 100
DEEP_LINEAR = dict(
    model="deep-linear", n=200, d=20, h=100, m=100, eta=1e-3, delta=4.0, steps=1_000_000, record_every=5000
)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("two-phase", "paper config, label-noise SGD (delta = 4), 1M steps", *_sim()),
        Preset("lazy", "paper config without label noise (delta = 0): stays in the kernel regime", *_sim(delta=0.0)),
        Preset(
            "periodic",
            "label noise switched on/off every 5000 steps (300k steps)",
            *_sim(schedule="periodic", period=5000, steps=300_000, record_every=500),
        ),
        Preset(
            "oscillation",
            "full-batch GD, no label noise, second layer driven by i.i.d. "
            "N(0,1) oscillation of size osc_eps = 0.2 (100k steps)",
            *_sim(algorithm="oscillation", batch_size=200, delta=0.0, osc_eps=0.2, steps=100_000, record_every=500),
        ),
        Preset(
            "oscillation-control",
            "the oscillation preset with a still second layer "
            "(osc_eps = 0): plain full-batch GD, the control of `oscillation`",
            *_sim(algorithm="oscillation", batch_size=200, delta=0.0, osc_eps=0.0, steps=100_000, record_every=500),
        ),
        Preset(
            "sam", "1-SAM (B = 1, rho = 0.05) with label noise delta = 4, 1M steps", *_sim(algorithm="sam", rho=0.05)
        ),
        Preset(
            "diagonal-sparse",
            "diagonal network, 5-sparse teacher in d = 100 from n = 40: label-noise SGD (delta = 3) "
            "from alpha = 1 finds the sparse interpolator",
            *_declared(**DIAGONAL_SPARSE, delta=3.0),
        ),
        Preset(
            "diagonal-gd",
            "the diagonal-sparse start under full-batch GD without label noise: "
            "stays near the minimum-l2 (kernel) interpolator",
            *_declared(**DIAGONAL_SPARSE, delta=0.0, batch_size=40),
        ),
        Preset(
            "deep-linear",
            "deep linear network s a^T W2 W1 x (depth 3, h = m = 100), paper data, label-noise SGD (delta = 4)",
            *_declared(**DEEP_LINEAR),
        ),
        Preset(
            "deep-linear-lazy",
            "the deep-linear preset without label noise (delta = 0)",
            *_declared(**{**DEEP_LINEAR, "delta": 0.0}),
        ),
        Preset(
            "real-digits",
            "erf network Dense(512)-erf-Dense(10) on sklearn digits, label flips "
            "p = 0.5 vs clean, against its NTK linearization",
            RealConfig,
        ),
        Preset(
            "real-cifar10",
            "the paper's real-data setting on CIFAR-10 batches from --set data_dir=DIR (python pickle format)",
            RealConfig,
            dict(dataset="cifar10", n_train=256, n_test=500, eta=1e-3, batch_size=64, steps=10_000, record_every=500),
        ),
    )
}
