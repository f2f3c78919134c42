"""Combine the stored points of a sweep part into one xarray Dataset with the swept fields as
dimensions (docs/sweeps.md).

Per point (scalars): `w_norm_final`, `cos_final`, `a_abs_final`, `w_rel_change_final` (last record),
`plateau` (median of mean‖w_k‖ over the last 10 % of records, as for T_I), `balanced_plateau`
(√τ·final mean|a_k|, the fixed point's prediction of the plateau), `T_I`, `T_II` (steps, NaN when
not reached), `status` (completed | diverged | invalid | error | missing | absent), `message`,
`config_hash`, `wall_seconds`. Optional: the curves `w_norm_mean`, `cos_abs_mean`, `a_abs_mean`,
`w_rel_change` on `step` (`curves=True`), and the isotropic theory's `T_I_theory`, `T_II_theory`,
`plateau_theory` and first-order `time_scale` = B/(η²δ²) and `lambda_implicit` (first-order implicit λ, `theory=True`).

A declared-model part (spec.SweepPart.config_cls is ModelConfig) has per point `loss_final`,
`beta_error_final` = ‖β − β*‖, `beta_l1_final` = ‖β‖₁, `trace_G_final`, and for neuron models
`w_norm_final`, `cos_final`, `T_I`, `T_II` (NaN otherwise), each the mean over noise paths; its curves
are those variables on `step`. The isotropic theory is of the two-layer network: `theory=True` adds
nothing to a declared part and says so in its attrs `theory`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from lnsgd.experiments.config import SimulationConfig
from lnsgd.experiments.declared.config import ModelConfig
from lnsgd.experiments.sweep.spec import ConfigClass, Point, SweepSpec, load_spec, spec_from_dict
from lnsgd.experiments.sweep.store import point_state, read_failure, result_file

#: Per config class: scalar → the recorded variable whose last record (mean over paths) it is;
#: these variables are also the class's curves.
FINALS: dict[type, dict[str, str]] = {
    SimulationConfig: {
        "w_norm_final": "w_norm_mean",
        "cos_final": "cos_abs_mean",
        "a_abs_final": "a_abs_mean",
        "w_rel_change_final": "w_rel_change",
    },
    ModelConfig: {
        "loss_final": "loss",
        "beta_error_final": "beta_error",
        "beta_l1_final": "beta_l1",
        "trace_G_final": "trace_G",
        "w_norm_final": "w_norm_mean",
        "cos_final": "cos_abs_mean",
    },
}
#: Scalars of the two-layer network only: the plateau of mean‖w_k‖ and its balanced prediction.
PLATEAUS = ("plateau", "balanced_plateau")


def scalars(cls: ConfigClass) -> tuple[str, ...]:
    """The per-point scalars of a part of config class `cls`."""
    return (*FINALS[cls], *(PLATEAUS if cls is SimulationConfig else ()), "T_I", "T_II", "wall_seconds")


MANIFEST = "sweep.json"
#: Default result folder of a spec: results/sweeps/<name>.
DEFAULT_ROOT = Path("results") / "sweeps"


def default_out(spec: SweepSpec) -> Path:
    return DEFAULT_ROOT / spec.name


def resolve(source: str | Path | SweepSpec, out: str | Path | None = None) -> tuple[SweepSpec, Path]:
    """(spec, result folder) from a result folder (with sweep.json), a spec file or a SweepSpec."""
    if isinstance(source, SweepSpec):
        return source, Path(out) if out is not None else default_out(source)
    source = Path(source)
    if source.is_dir():
        import json

        manifest = source / MANIFEST
        if not manifest.is_file():
            raise FileNotFoundError(f"{source} is not a sweep result folder (no {MANIFEST})")
        return spec_from_dict(json.loads(manifest.read_text())), source
    spec = load_spec(source)
    return spec, Path(out) if out is not None else default_out(spec)


def point_summary(out: Path, point: Point, curves: bool, cls: ConfigClass = SimulationConfig) -> dict[str, Any]:
    """Scalars (and curves) of one stored point; NaN with the failure status when not finished."""
    state = point_state(out, point.digest)
    row: dict[str, Any] = {k: math.nan for k in scalars(cls)}
    row.update(config_hash=point.digest, status="missing", message=state.detail or "not computed")
    if state.state == "failed":
        record = read_failure(out, point.digest)
        row.update(status=record["status"], message=record["reason"])
    elif state.state == "corrupt":
        row.update(status="corrupt", message=state.detail)
    elif state.state == "done":
        with xr.open_dataset(result_file(out, point.digest), engine="netcdf4") as ds:
            last = ds.isel(step=-1)
            row.update({k: float(last[v].mean(skipna=False)) for k, v in FINALS[cls].items() if v in ds})
            row.update({k: float(ds[k].mean(skipna=False)) for k in ("T_I", "T_II") if k in ds})
            if cls is SimulationConfig:
                w = ds["w_norm_mean"].values
                tail = max(3, int(np.ceil(0.1 * len(w))))
                row.update(
                    plateau=float(np.median(w[-tail:])),
                    balanced_plateau=math.sqrt(float(ds.attrs["tau"])) * float(last.a_abs_mean),
                )
            row.update(
                wall_seconds=float(ds.attrs.get("wall_seconds", math.nan)),
                status=str(ds.attrs["status"]),
                message=str(ds.attrs["message"]),
            )
            if curves:
                row["curves"] = {v: _path_mean(ds[v]).load() for v in FINALS[cls].values() if v in ds}
    return row


def _path_mean(da: xr.DataArray) -> xr.DataArray:
    return da.mean("path", skipna=False) if "path" in da.dims else da


def combine(
    spec: SweepSpec, out: str | Path, part: str | None = None, *, curves: bool = False, theory: bool = False
) -> xr.Dataset:
    """The combined Dataset of one part of `spec` stored under `out` (see the module docstring)."""
    sweep_part = spec.part(part)
    points, cls = sweep_part.expand(), sweep_part.config_cls
    rows = [point_summary(Path(out), p, curves, cls) for p in points]
    data: dict[str, Any] = {k: ("point", np.array([r[k] for r in rows], dtype=float)) for k in scalars(cls)}
    for k in ("status", "message", "config_hash"):
        data[k] = ("point", np.array([r[k] for r in rows], dtype=object))
    if theory and cls is SimulationConfig:
        data.update(_theory_columns(points))
    coords = {f: ("point", _coord([dict(p.coords)[f] for p in points])) for f in sweep_part.dims}
    ds = xr.Dataset(data, coords=coords)
    if curves:
        ds = ds.merge(_curves(rows, tuple(FINALS[cls].values())))
    ds = _unstack(ds, sweep_part.dims)
    for k in ("status", "message", "config_hash"):
        ds[k] = ds[k].where(ds[k].notnull(), "absent" if k == "status" else "")
    ds.attrs.update(
        sweep=spec.name,
        part=sweep_part.name,
        dims=" ".join(sweep_part.dims),
        points=len(points),
        results=str(out),
        finished=int(sum(r["status"] in ("completed", "diverged") for r in rows)),
    )
    if theory and cls is not SimulationConfig:
        ds.attrs["theory"] = "none: the isotropic theory is of the two-layer network, not of declared models"
    for k, unit in (("T_I", "steps"), ("T_II", "steps"), ("wall_seconds", "s")):
        ds[k].attrs["units"] = unit
    return ds


def _coord(values: list[Any]) -> np.ndarray:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values)
    return np.array([v if isinstance(v, (str, bool, int, float)) else repr(v) for v in values], dtype=object)


def _theory_columns(points: list[Point]) -> dict[str, Any]:
    from lnsgd.experiments.sweep.theory import effective_lambda, first_order_time_scale, isotropic_prediction
    from lnsgd.experiments.validation import ConfigError

    keys = ("T_I_theory", "T_II_theory", "plateau_theory", "time_scale", "lambda_implicit")
    cols: dict[str, list[float]] = {k: [] for k in keys}
    for p in points:
        try:
            c = SimulationConfig(**p.config_dict())
        except ConfigError:
            for k in keys:
                cols[k].append(math.nan)
            continue
        pred = isotropic_prediction(c)
        pred["time_scale"] = first_order_time_scale(c.eta, c.delta, c.batch_size) if c.delta > 0 else math.nan
        pred["lambda_implicit"] = effective_lambda(c)
        for k in keys:
            cols[k].append(pred[k])
    return {k: ("point", np.asarray(v, dtype=float)) for k, v in cols.items()}


def _curves(rows: list[dict], names: tuple[str, ...]) -> xr.Dataset:
    """Curves `names` of the finished points on the union of their steps (NaN elsewhere)."""
    names = tuple(k for k in names if any(k in r.get("curves", {}) for r in rows))
    steps = sorted({int(s) for r in rows if "curves" in r for c in r["curves"].values() for s in c.step.values})
    out = {}
    for k in names:
        arr = np.full((len(rows), len(steps)), np.nan)
        for i, r in enumerate(rows):
            if k in r.get("curves", {}):
                arr[i] = r["curves"][k].reindex(step=steps).values
        out[k] = (("point", "step"), arr)
    return xr.Dataset(out, coords={"step": np.asarray(steps, dtype=np.int64)})


def _unstack(ds: xr.Dataset, dims: tuple[str, ...]) -> xr.Dataset:
    if len(dims) == 1:
        return ds.swap_dims(point=dims[0])
    ds = ds.set_index(point=list(dims))
    if not ds.indexes["point"].is_unique:
        raise ValueError(f"sweep points repeat a combination of {dims}; cannot unstack")
    return ds.unstack("point")


def open_sweep(
    source: str | Path | SweepSpec,
    part: str | None = None,
    *,
    out: str | Path | None = None,
    curves: bool = False,
    theory: bool = False,
) -> xr.Dataset:
    """Open a sweep as one Dataset with the swept fields as dimensions.

    `source`: a result folder (holding sweep.json), a spec file (results in `out`, default
    results/sweeps/<name>) or a SweepSpec; `part`: which part (optional for one-part specs).
    """
    spec, folder = resolve(source, out)
    return combine(spec, folder, part, curves=curves, theory=theory)


def open_sweeps(
    source: str | Path | SweepSpec, *, out: str | Path | None = None, curves: bool = False, theory: bool = False
) -> dict[str, xr.Dataset]:
    """`open_sweep` of every part, by part name."""
    spec, folder = resolve(source, out)
    return {p.name: combine(spec, folder, p.name, curves=curves, theory=theory) for p in spec.parts}
