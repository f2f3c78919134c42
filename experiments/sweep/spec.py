"""Sweep specifications: which configs a sweep runs (docs/sweeps.md).

A spec file (YAML or TOML) names a sweep and holds one or more *parts*; each part is a product
grid over config fields, an explicit list of points, or both (every point crossed with the grid):

    name: small
    base: {n: 100, d: 10, m: 50, steps: 300000}     # shared by every part
    sweeps:                                           # or grid/points at the top: one part
      phases:
        grid: {eta: {geomspace: [0.004, 0.02, 4]}, delta: [1, 2, 3, 4]}
      sam:
        base: {algorithm: sam}
        points: [{rho: 0.05, delta: 0}, {rho: 0, delta: 1}]

Axis values are a list, or `{geomspace: [start, stop, num]}`, `{linspace: [start, stop, num]}`,
`{range: [start, stop]}` / `{range: [start, stop, step]}` (integers, e.g. seeds). Every value is
coerced to its field's type and checked against the base config at construction: an unknown field,
an empty axis or an invalid value raises ConfigError naming the part and the field. A combination
that is invalid only together (e.g. batch_size > n for one n of the grid) is not an error of the
spec: the sweep records that point as failed with the reason.

A part whose base, grid or points name `model` sweeps a declared model (ModelConfig,
docs/declaring-models.md); any other part sweeps the two-layer network (SimulationConfig). The
fields, their types and the validation are those of the part's config class, so a field of the
other class, or one that does not apply to the chosen model, is rejected by name.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lnsgd.experiments.config import SimulationConfig, _parse_value, values_digest
from lnsgd.experiments.declared.config import ModelConfig
from lnsgd.experiments.validation import ConfigError

#: The config classes a sweep part can run, and the fields of each.
ConfigClass = type[SimulationConfig] | type[ModelConfig]
FIELDS: dict[type, dict[str, dataclasses.Field]] = {
    cls: {f.name: f for f in dataclasses.fields(cls)} for cls in (SimulationConfig, ModelConfig)
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SPEC_KEYS = {"name", "description", "base", "grid", "points", "sweeps"}
_PART_KEYS = {"base", "grid", "points", "description"}


def config_class(names: Iterable[str]) -> ConfigClass:
    """The config class of a part or point whose values name the fields `names`: ModelConfig when
    they include `model`, else SimulationConfig (as `run_preset.config_from_values`)."""
    return ModelConfig if "model" in names else SimulationConfig


def coerce(field: str, value: Any, where: str, cls: ConfigClass = SimulationConfig) -> Any:
    """`value` converted to the type of `cls`.`field` (strings parsed like --set)."""
    fields = FIELDS[cls]
    if field not in fields:
        kind = "declared-model" if cls is ModelConfig else "two-layer"
        raise ConfigError(
            f"{where}: {field!r} is not a field of {kind} configs ({cls.__name__}); valid fields: {', '.join(fields)}"
        )
    default = fields[field].default
    if isinstance(value, str) and not isinstance(default, str):
        return _parse_value(f"{where}.{field}", value, default)
    if isinstance(default, bool) or isinstance(value, bool):
        return value
    if isinstance(default, float) and isinstance(value, (int, np.integer)):
        return float(value)
    if isinstance(default, int) and isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(default, tuple) and isinstance(value, (list, tuple)):
        return tuple(tuple(p) for p in value)
    return value


def expand_axis(field: str, raw: Any, where: str, cls: ConfigClass = SimulationConfig) -> tuple[Any, ...]:
    """The values of one grid axis: a list, or a {geomspace|linspace|range: [...]} generator."""
    label = f"{where}.{field}"
    if isinstance(raw, Mapping):
        if len(raw) != 1 or next(iter(raw)) not in ("geomspace", "linspace", "range"):
            raise ConfigError(
                f"{label} = {dict(raw)!r}: expected a list of values or one of "
                "{geomspace: [start, stop, num]}, {linspace: [start, stop, num]}, "
                "{range: [start, stop(, step)]}"
            )
        kind, args = next(iter(raw.items()))
        try:
            args = [float(a) for a in args]
            if kind == "range":
                values = list(range(*(int(a) for a in args)))
            else:
                if len(args) != 3 or not float(args[2]).is_integer():
                    raise ValueError
                func = np.geomspace if kind == "geomspace" else np.linspace
                values = [float(f"{v:.12g}") for v in func(args[0], args[1], int(args[2]))]
        except (TypeError, ValueError):
            raise ConfigError(
                f"{label} = {dict(raw)!r}: {kind} needs numeric [start, stop, num]"
                f"{' (step optional)' if kind == 'range' else ''}"
            ) from None
    elif isinstance(raw, (list, tuple)):
        values = list(raw)
    else:
        raise ConfigError(
            f"{label} = {raw!r}: a grid axis must be a list of values "
            "(write [value] for a single one, or move the field to base)"
        )
    if not values:
        raise ConfigError(f"{label}: empty grid axis; give at least one value")
    values = [coerce(field, v, where, cls) for v in values]
    if len(set(map(repr, values))) != len(values):
        raise ConfigError(f"{label} = {values!r}: repeated values")
    return tuple(values)


def point_digest(values: Mapping[str, Any]) -> str:
    """12-hex hash of a point: the digest() of its config class's defaults updated with `values`
    (computed the same way for combinations that are not a valid config)."""
    cls = config_class(values)
    try:
        return cls(**values).digest()
    except (ConfigError, TypeError):
        return values_digest({name: f.default for name, f in FIELDS[cls].items()} | dict(values))


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its config values (base merged in), swept coordinates and hash."""

    values: tuple[tuple[str, Any], ...]
    coords: tuple[tuple[str, Any], ...]
    digest: str

    def config_dict(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass(frozen=True)
class SweepPart:
    """A product `grid` (field → values) crossed with an explicit list of `points`, over `base`.

    The swept fields (grid fields, then the fields named in points) are the dimensions of the
    combined Dataset; a point that does not name a swept field takes the base (or default) value.
    """

    name: str
    base: tuple[tuple[str, Any], ...] = ()
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    points: tuple[tuple[tuple[str, Any], ...], ...] = ()
    description: str = ""

    @property
    def config_cls(self) -> ConfigClass:
        """The part's config class: ModelConfig when its base, grid or points name `model`."""
        return config_class([f for f, _ in self.base] + list(self.dims))

    def __post_init__(self) -> None:
        where = f"sweep part {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(f"sweep part name = {self.name!r} must be letters, digits, '_', '-', '.'")
        if not self.grid and not self.points:
            raise ConfigError(
                f"{where}: empty grid: give `grid` (field: [values, ...]) and/or `points` (a list of {{field: value}})"
            )
        base, cls = dict(self.base), self.config_cls
        # a model named only by the grid: the base and every other value are checked with each model
        swept = dict(self.grid).get("model", ()) if "model" not in base else ()
        models = [{"model": v} for v in swept] or [{}]
        for model in models:
            try:
                cls(**(base | model))
            except ConfigError as err:
                label = "base" if not model else f"base with grid.model = {model['model']!r}"
                raise ConfigError(f"{where}: {label}: {err}") from None
        grid_fields = [f for f, _ in self.grid]
        for field, values in self.grid:
            if not values:
                raise ConfigError(f"{where}: grid.{field}: empty grid axis; give at least one value")
            for v in values:
                for model in models if field != "model" else [{}]:
                    _check_alone(cls, where, f"grid.{field}", base | model, {field: v})
        for i, point in enumerate(self.points):
            both = sorted(set(dict(point)) & set(grid_fields))
            if both:
                raise ConfigError(f"{where}: points[{i}]: field(s) {', '.join(both)} also in grid")
            own = {"model": dict(point)["model"]} if "model" in dict(point) else None
            for field, v in point:
                for model in [own] if own else models:
                    _check_alone(cls, where, f"points[{i}].{field}", base | model, {field: v})

    @property
    def dims(self) -> tuple[str, ...]:
        """The swept fields, in order: grid fields, then fields named by the explicit points."""
        seen = [f for f, _ in self.grid]
        for point in self.points:
            seen += [f for f, _ in point if f not in seen]
        return tuple(seen)

    def expand(self) -> list[Point]:
        """Every point (explicit points × grid product), in a fixed order."""
        base, dims, fields = dict(self.base), self.dims, FIELDS[self.config_cls]
        out = []
        for explicit in self.points or ((),):
            for combo in itertools.product(*(v for _, v in self.grid)):
                values = base | dict(explicit) | dict(zip((f for f, _ in self.grid), combo, strict=True))
                full = {f: values.get(f, fields[f].default) for f in dims}
                out.append(
                    Point(tuple(sorted(values.items())), tuple((f, full[f]) for f in dims), point_digest(values))
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"base": dict(self.base)}
        if self.grid:
            d["grid"] = {f: list(v) for f, v in self.grid}
        if self.points:
            d["points"] = [dict(p) for p in self.points]
        if self.description:
            d["description"] = self.description
        return d


def _check_alone(cls: ConfigClass, where: str, label: str, base: dict, update: dict) -> None:
    try:
        cls(**(base | update))
    except ConfigError as err:
        raise ConfigError(f"{where}: {label} = {next(iter(update.values()))!r} is invalid: {err}") from None


@dataclass(frozen=True)
class SweepSpec:
    """A named sweep: one or more parts whose points share one result folder (points are stored
    by config hash, so a point common to two parts is computed once)."""

    name: str
    parts: tuple[SweepPart, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(f"sweep name = {self.name!r} must be letters, digits, '_', '-', '.'")
        if not self.parts:
            raise ConfigError(f"sweep {self.name!r}: no parts (empty `sweeps`)")
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names):
            raise ConfigError(f"sweep {self.name!r}: repeated part names {names}")

    def part(self, name: str | None = None) -> SweepPart:
        """The part called `name` (may be omitted when the spec has a single part)."""
        if name is None:
            if len(self.parts) == 1:
                return self.parts[0]
            raise ConfigError(
                f"sweep {self.name!r} has parts {', '.join(p.name for p in self.parts)}; name one (part=...)"
            )
        for p in self.parts:
            if p.name == name:
                return p
        raise ConfigError(f"sweep {self.name!r}: no part {name!r}; parts: {', '.join(p.name for p in self.parts)}")

    def unique_points(self) -> list[Point]:
        """Every distinct point of every part (first occurrence wins)."""
        seen: dict[str, Point] = {}
        for part in self.parts:
            for pt in part.expand():
                seen.setdefault(pt.digest, pt)
        return list(seen.values())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "sweeps": {p.name: p.to_dict() for p in self.parts}}


def spec_from_dict(data: Mapping[str, Any], default_name: str = "sweep") -> SweepSpec:
    """Build a SweepSpec from parsed YAML/TOML (see the module docstring for the format)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"sweep spec must be a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - _SPEC_KEYS)
    if unknown:
        raise ConfigError(f"sweep spec: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(_SPEC_KEYS))}")
    name = str(data.get("name", default_name))
    base = _mapping(data.get("base", {}), f"sweep {name!r}: base")
    if "sweeps" in data:
        if "grid" in data or "points" in data:
            raise ConfigError(
                f"sweep {name!r}: give either `sweeps` (named parts) or a top-level `grid`/`points`, not both"
            )
        parts_raw = _mapping(data["sweeps"], f"sweep {name!r}: sweeps")
    else:
        parts_raw = {name: {k: data[k] for k in ("grid", "points") if k in data}}
    parts = tuple(_part(str(pname), base, praw) for pname, praw in parts_raw.items())
    return SweepSpec(name, parts, str(data.get("description", "")))


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping (field: value), got {raw!r}")
    return raw


def _part(name: str, spec_base: Mapping[str, Any], raw: Any) -> SweepPart:
    where = f"sweep part {name!r}"
    raw = _mapping(raw, where)
    unknown = sorted(set(raw) - _PART_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(_PART_KEYS))}")
    base_raw = dict(spec_base) | dict(_mapping(raw.get("base", {}), f"{where}: base"))
    grid_raw = _mapping(raw.get("grid", {}), f"{where}: grid")
    points_raw = raw.get("points", [])
    if not isinstance(points_raw, (list, tuple)):
        raise ConfigError(f"{where}: points must be a list of {{field: value}} mappings")
    points_raw = [_mapping(p, f"{where}: points[{i}]") for i, p in enumerate(points_raw)]
    cls = config_class([*base_raw, *grid_raw, *(f for p in points_raw for f in p)])
    base = {k: coerce(k, v, f"{where}: base", cls) for k, v in base_raw.items()}
    grid = tuple((f, expand_axis(f, v, f"{where}: grid", cls)) for f, v in grid_raw.items())
    points = tuple(
        tuple((f, coerce(f, v, f"{where}: points[{i}]", cls)) for f, v in p.items()) for i, p in enumerate(points_raw)
    )
    if "points" in raw and not points:
        raise ConfigError(f"{where}: points: empty list; give at least one point or drop `points`")
    return SweepPart(name, tuple(sorted(base.items())), grid, points, str(raw.get("description", "")))


def load_spec(path: str | Path) -> SweepSpec:
    """Read a spec from a .yaml/.yml or .toml file (the file's stem is the default name)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sweep spec at {path}")
    text = path.read_text()
    if path.suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: invalid TOML: {err}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: invalid YAML: {err}") from None
    return spec_from_dict(data or {}, default_name=path.stem)
