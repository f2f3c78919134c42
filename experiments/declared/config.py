"""The validated configuration of a declared-model simulation (docs/declaring-models.md).

One dataclass for every declared model; a field that does not apply to the chosen model (a width it
does not have, a parametrization it does not declare, `sparsity` without a sparse teacher) is
rejected by name. Widths left at 0 take the model's default (`WIDTH_DEFAULTS`), resolved at
construction so that the stored config states the value used.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from lnsgd.experiments.config import check_run_fields, config_digest, config_json
from lnsgd.experiments.validation import ConfigError, check_choice, check_int, check_real
from lnsgd.theory.declarations import MODELS

ALGORITHMS = ("sgd", "sam", "usam")
TEACHERS = ("gaussian", "sparse")
WIDTH_DEFAULTS = {"m": 100, "h": 20}
SPARSITY_DEFAULT = 5


@dataclass(frozen=True)
class ModelConfig:
    """One simulation of a declared model f(θ, x) (lnsgd.theory.declarations.MODELS).

    Data: n samples x_i ~ N(0, I_d); teacher β* ~ N(0, I_d) (`gaussian`) or `sparsity` entries ±1 at
    random coordinates, the rest 0 (`sparse`); clean labels y = Xβ*. Widths `m`, `h` as the model
    declares them. Init: each block as declared (normal with its std, or constant), times `alpha`.
    Algorithm: label-noise SGD (B = `batch_size`, B = n is GD), SAM or USAM of radius `rho`, labels
    ỹ = y + δξ (ξ `noise`-distributed). Seeds as for the two-layer simulation: `seed` draws data and
    init, `noise_seed` the noise path; `paths` > 1 runs noise_seed, noise_seed + 1, …
    """

    model: str = "diagonal"
    n: int = 40
    d: int = 100
    m: int = 0
    h: int = 0
    parametrization: str = "standard"
    alpha: float = 1.0
    teacher: str = "gaussian"
    sparsity: int = 0
    algorithm: str = "sgd"
    eta: float = 1e-3
    batch_size: int = 1
    replacement: bool = True
    delta: float = 1.0
    noise: str = "gaussian"
    rho: float = 0.05
    steps: int = 100_000
    record_every: int = 100
    seed: int = 0
    noise_seed: int = 0
    paths: int = 1
    loss_bound: float = 1e8

    def __post_init__(self) -> None:
        check_choice("model", self.model, tuple(MODELS))
        decl = MODELS[self.model]
        check_int("n", self.n, 1, 10**6)
        check_int("d", self.d, 1, 10**5)
        for width, default in WIDTH_DEFAULTS.items():
            value = getattr(self, width)
            if width in decl.size_names:
                check_int(width, value, 0, 10**6)
                if value == 0:
                    object.__setattr__(self, width, default)
            elif value != 0:
                raise ConfigError(
                    f"{width} = {value!r} does not apply to model = {self.model!r} "
                    f"(its sizes: {', '.join(decl.size_names)}); leave {width} unset"
                )
        names = [p.name for p in decl.parametrizations]
        if self.parametrization not in names:
            raise ConfigError(
                f"parametrization = {self.parametrization!r} does not apply to model = {self.model!r}: "
                f"expected one of {', '.join(names)}"
            )
        check_real("alpha", self.alpha, 0.0, None, open_lo=True)
        check_choice("teacher", self.teacher, TEACHERS)
        if self.teacher == "sparse":
            check_int("sparsity", self.sparsity, 0, self.d)
            if self.sparsity == 0:
                object.__setattr__(self, "sparsity", min(SPARSITY_DEFAULT, self.d))
        elif self.sparsity != 0:
            raise ConfigError(f"sparsity = {self.sparsity!r} applies only to teacher = 'sparse'; leave it unset")
        check_choice("algorithm", self.algorithm, ALGORITHMS)
        check_run_fields(self)

    @property
    def sizes(self) -> dict[str, int]:
        """The model's sizes by symbol name (d first)."""
        return {name: getattr(self, name) for name in MODELS[self.model].size_names}

    @property
    def full_batch(self) -> bool:
        return self.batch_size == self.n

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return config_json(self)

    def digest(self) -> str:
        return config_digest(self)
