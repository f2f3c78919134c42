"""The validated configuration of a direct simulation (docs/model.md §1–§3).

Field names are docs/model.md's symbols in ASCII. A config is frozen, checked at construction, and
serialises to JSON (stored with every result); `build_config` applies `--set key=value` strings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lnsgd.experiments.validation import ConfigError, check_choice, check_int, check_real
from lnsgd.solvers.problem import PARAMETRIZATIONS

ALGORITHMS = ("sgd", "sam", "usam", "oscillation")
NOISES = ("gaussian", "rademacher")
SCHEDULES = ("constant", "periodic", "piecewise")
OSCILLATIONS = ("gaussian", "sine")
ENGINES = ("auto", "propagator", "direct")


@dataclass(frozen=True)
class SimulationConfig:
    """One direct simulation of a two-layer linear network f(x) = s·aᵀWx.

    Data: n samples in d dimensions; width m; `parametrization` fixes s and the init (× alpha).
    Algorithm: label-noise SGD with step eta, batch size `batch_size` (B = n means full batch:
    GD), label noise ỹ = y + δ(t)ξ with ξ `noise`-distributed and δ(t) from `schedule`
    (constant `delta`; `periodic`: δ on for `period` steps then off for `period` steps;
    `piecewise`: `breakpoints` = ((step, δ), ...) starting at step 0). `sam`/`usam` add the ascent
    step of radius `rho`; `oscillation` is GD whose second layer is driven, a_t = ā_t + osc_eps·ζ_t.
    Engine (docs/engine.md): `propagator` moves the Gram matrix P and the shared neuron propagator Φ
    (exact, O(d²) per step for any m), `direct` moves (W, a) (O(md) per step); `auto` takes the
    propagator wherever it is exact (every algorithm but `oscillation`).
    Seeds: `seed` draws the data and the initialisation, `noise_seed` the noise path (minibatches,
    ξ, ζ); `paths` > 1 runs noise paths noise_seed, noise_seed + 1, … from the same start.
    """

    n: int = 200
    d: int = 20
    m: int = 1000
    parametrization: str = "standard"
    alpha: float = 1.0
    algorithm: str = "sgd"
    eta: float = 1e-3
    batch_size: int = 1
    replacement: bool = True
    delta: float = 4.0
    noise: str = "gaussian"
    schedule: str = "constant"
    period: int = 5000
    breakpoints: tuple[tuple[int, float], ...] = ()
    rho: float = 0.05
    osc_eps: float = 0.1
    osc_kind: str = "gaussian"
    osc_period: int = 100
    steps: int = 1_000_000
    record_every: int = 1000
    snapshots: int = 6
    seed: int = 0
    noise_seed: int = 0
    paths: int = 1
    engine: str = "auto"
    loss_bound: float = 1e8

    def __post_init__(self) -> None:
        check_int("n", self.n, 1, 10**7)
        check_int("d", self.d, 1, 10**5)
        check_int("m", self.m, 1, 10**7)
        check_choice("parametrization", self.parametrization, PARAMETRIZATIONS)
        check_real("alpha", self.alpha, 0.0, None, open_lo=True)
        check_choice("algorithm", self.algorithm, ALGORITHMS)
        check_run_fields(self)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_int("period", self.period, 1)
        object.__setattr__(self, "breakpoints", _check_breakpoints(self.breakpoints, self.schedule))
        check_real("osc_eps", self.osc_eps, 0.0)
        check_choice("osc_kind", self.osc_kind, OSCILLATIONS)
        check_int("osc_period", self.osc_period, 2)
        check_int("snapshots", self.snapshots, 0, 1000)
        check_choice("engine", self.engine, ENGINES)
        if self.algorithm == "oscillation" and self.batch_size != self.n:
            raise ConfigError(
                f"batch_size = {self.batch_size} is invalid for algorithm = 'oscillation': "
                f"the oscillation experiment is full-batch GD, expected batch_size = n = {self.n}"
            )
        if self.algorithm == "oscillation" and self.engine == "propagator":
            raise ConfigError(
                "engine = 'propagator' is not exact for algorithm = 'oscillation' (each a_k is driven "
                "by its own zeta_k, so the neurons share no map): expected engine = 'auto' or 'direct'"
            )

    @property
    def resolved_engine(self) -> str:
        """The engine that runs: `engine`, with `auto` resolved (propagator unless oscillation)."""
        if self.engine != "auto":
            return self.engine
        return "direct" if self.algorithm == "oscillation" else "propagator"

    @property
    def full_batch(self) -> bool:
        """B = n: every step uses the whole data set (GD, GD with label noise, full-batch SAM)."""
        return self.batch_size == self.n

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return config_json(self)

    def digest(self) -> str:
        """12 hex digits of SHA-256 of the JSON: names result files."""
        return config_digest(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulationConfig:
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        data = dict(data)
        if "breakpoints" in data:
            data["breakpoints"] = tuple(tuple(p) for p in data["breakpoints"])
        return cls(**data)


def check_run_fields(config: Any) -> None:
    """The fields every simulation config shares (step, minibatch, label noise, SAM radius, horizon,
    seeds, paths, divergence bound): one sentence naming the first invalid field and its range."""
    check_real("eta", config.eta, 0.0, None, open_lo=True)
    check_int("batch_size", config.batch_size, 1, config.n)
    if not isinstance(config.replacement, bool):
        raise ConfigError(f"replacement = {config.replacement!r} must be true or false")
    check_real("delta", config.delta, 0.0)
    check_choice("noise", config.noise, NOISES)
    check_real("rho", config.rho, 0.0)
    check_int("steps", config.steps, 1, 10**10)
    check_int("record_every", config.record_every, 1, config.steps)
    check_int("seed", config.seed, 0, 2**63 - 1)
    check_int("noise_seed", config.noise_seed, 0, 2**63 - 1)
    check_int("paths", config.paths, 1, 100_000)
    check_real("loss_bound", config.loss_bound, 0.0, None, open_lo=True)


def config_json(config: Any) -> str:
    """The JSON of any config dataclass (sorted keys): what results store and hashes are taken of."""
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def config_digest(config: Any) -> str:
    """12 hex digits of SHA-256 of `config_json(config)`."""
    return values_digest(dataclasses.asdict(config))


def values_digest(values: Mapping[str, Any]) -> str:
    """The one config hash: 12 hex digits of SHA-256 of the sorted-key JSON of config values (equal
    to `config_digest` of the config they make; also defined when they make no valid config)."""
    return hashlib.sha256(json.dumps(dict(values), sort_keys=True, default=list).encode()).hexdigest()[:12]


def _check_breakpoints(points: Any, schedule: str) -> tuple[tuple[int, float], ...]:
    try:
        pts = tuple((p[0], p[1]) for p in points)
    except (TypeError, IndexError, KeyError):
        raise ConfigError(f"breakpoints = {points!r} must be a list of (step, delta) pairs") from None
    for step, dval in pts:
        check_int("breakpoints step", step, 0)
        check_real("breakpoints delta", dval, 0.0)
    steps = [p[0] for p in pts]
    if steps != sorted(set(steps)):
        raise ConfigError(f"breakpoints = {points!r} must have strictly increasing steps")
    if schedule == "piecewise" and (not pts or pts[0][0] != 0):
        raise ConfigError(
            f"breakpoints = {points!r} is invalid for schedule = 'piecewise': "
            "expected a non-empty list of (step, delta) pairs whose first step is 0"
        )
    return pts


def parse_assignment(text: str) -> tuple[str, str]:
    """Split 'key=value' (from --set)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r} is not of the form key=value")
    return key.strip(), value.strip()


def build_config(cls: type, base: dict[str, Any], assignments: list[str]) -> Any:
    """cls(**base) with 'key=value' strings applied; values are parsed with the field's type.

    Validation runs once, on the final values, so a preset may leave a required field (such as
    a data directory) to `--set`.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = dict(base)
    for text in assignments:
        key, raw = parse_assignment(text)
        if key not in fields:
            raise ConfigError(f"--set {key}: unknown config field; valid fields: {', '.join(sorted(fields))}")
        current = values.get(key, fields[key].default)
        values[key] = _parse_value(key, raw, current)
    return cls(**values)


def _parse_value(key: str, raw: str, current: Any) -> Any:
    if isinstance(current, bool):
        low = raw.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{key} = {raw!r} must be true or false")
    if isinstance(current, int):
        try:
            return int(raw) if raw.lstrip("+-").isdigit() else int(float(raw)) if float(raw).is_integer() else raw
        except (ValueError, OverflowError):
            raise ConfigError(f"{key} = {raw!r} must be an integer") from None
    if isinstance(current, float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{key} = {raw!r} must be a real number") from None
    if isinstance(current, tuple):
        try:
            return tuple(tuple(p) for p in json.loads(raw))
        except (ValueError, TypeError):
            raise ConfigError(f"{key} = {raw!r} must be JSON, e.g. [[0, 4.0], [50000, 0.0]]") from None
    return raw
