"""Combine the stored points of a sweep part into one xarray Dataset with the swept fields as
dimensions (docs/sweeps.md).

Per point (scalars): `w_norm_final`, `cos_final`, `a_abs_final`, `w_rel_change_final` (last record),
`plateau` (median of mean‖w_k‖ over the last 10 % of records, as for T_I), `balanced_plateau`
(√τ·final mean|a_k|, the fixed point's prediction of the plateau), `T_I`, `T_II` (steps, NaN when
not reached), `status` (completed | diverged | invalid | error | missing | absent), `message`,
`config_hash`, `wall_seconds`. Optional: the curves `w_norm_mean`, `cos_abs_mean`, `a_abs_mean`,
`w_rel_change` on `step` (`curves=True`), and the isotropic theory's `T_I_theory`, `T_II_theory`,
`plateau_theory` and first-order `time_scale` = B/(η²δ²) and `lambda_implicit` (first-order implicit λ, `theory=True`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from lnsgd.experiments.sweep.spec import Point, SweepSpec, load_spec, spec_from_dict
from lnsgd.experiments.sweep.store import point_state, read_failure, result_file

SCALARS = (
    "w_norm_final",
    "cos_final",
    "a_abs_final",
    "w_rel_change_final",
    "plateau",
    "balanced_plateau",
    "T_I",
    "T_II",
    "wall_seconds",
)
CURVES = ("w_norm_mean", "cos_abs_mean", "a_abs_mean", "w_rel_change")
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


def point_summary(out: Path, point: Point, curves: bool) -> dict[str, Any]:
    """Scalars (and curves) of one stored point; NaN with the failure status when not finished."""
    state = point_state(out, point.digest)
    row: dict[str, Any] = {k: math.nan for k in SCALARS}
    row.update(config_hash=point.digest, status="missing", message=state.detail or "not computed")
    if state.state == "failed":
        record = read_failure(out, point.digest)
        row.update(status=record["status"], message=record["reason"])
    elif state.state == "corrupt":
        row.update(status="corrupt", message=state.detail)
    elif state.state == "done":
        with xr.open_dataset(result_file(out, point.digest), engine="netcdf4") as ds:
            last = ds.isel(step=-1)
            w = ds["w_norm_mean"].values
            tail = max(3, int(np.ceil(0.1 * len(w))))
            row.update(
                w_norm_final=float(last.w_norm_mean),
                cos_final=float(last.cos_abs_mean),
                a_abs_final=float(last.a_abs_mean),
                w_rel_change_final=float(last.w_rel_change),
                plateau=float(np.median(w[-tail:])),
                balanced_plateau=math.sqrt(float(ds.attrs["tau"])) * float(last.a_abs_mean),
                T_I=float(ds["T_I"]),
                T_II=float(ds["T_II"]),
                wall_seconds=float(ds.attrs.get("wall_seconds", math.nan)),
                status=str(ds.attrs["status"]),
                message=str(ds.attrs["message"]),
            )
            if curves:
                row["curves"] = {k: ds[k].load() for k in CURVES}
    return row


def combine(
    spec: SweepSpec, out: str | Path, part: str | None = None, *, curves: bool = False, theory: bool = False
) -> xr.Dataset:
    """The combined Dataset of one part of `spec` stored under `out` (see the module docstring)."""
    sweep_part = spec.part(part)
    points = sweep_part.expand()
    rows = [point_summary(Path(out), p, curves) for p in points]
    data: dict[str, Any] = {k: ("point", np.array([r[k] for r in rows], dtype=float)) for k in SCALARS}
    for k in ("status", "message", "config_hash"):
        data[k] = ("point", np.array([r[k] for r in rows], dtype=object))
    if theory:
        data.update(_theory_columns(points))
    coords = {f: ("point", _coord([dict(p.coords)[f] for p in points])) for f in sweep_part.dims}
    ds = xr.Dataset(data, coords=coords)
    if curves:
        ds = ds.merge(_curves(rows))
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
    for k, unit in (("T_I", "steps"), ("T_II", "steps"), ("wall_seconds", "s")):
        ds[k].attrs["units"] = unit
    return ds


def _coord(values: list[Any]) -> np.ndarray:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values)
    return np.array([v if isinstance(v, (str, bool, int, float)) else repr(v) for v in values], dtype=object)


def _theory_columns(points: list[Point]) -> dict[str, Any]:
    from lnsgd.experiments.config import SimulationConfig
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


def _curves(rows: list[dict]) -> xr.Dataset:
    """Curves of the finished points on the union of their steps (NaN elsewhere)."""
    steps = sorted({int(s) for r in rows if "curves" in r for s in r["curves"]["w_norm_mean"].step.values})
    out = {}
    for k in CURVES:
        arr = np.full((len(rows), len(steps)), np.nan)
        for i, r in enumerate(rows):
            if "curves" in r:
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
