"""One configuration and a grid of them: simulate noise paths, predict, compare, store.

The simulation side is the mean over noise paths from the same data and initialisation (the
propagator engine runs the paths in parallel threads). Paths are added, PATHS at a time up to
MAX_PATHS, while a path standard error exceeds SE_FRACTION of its target (`measure.imprecise`).
A stored Dataset of the same configuration (file name from its digest) is reused for the
simulation; the predictions are always recomputed (they take well under a second).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr

from lnsgd.experiments.check.grid import MAX_PATHS, label
from lnsgd.experiments.check.measure import TARGETS, Targets, compare, imprecise, misses
from lnsgd.experiments.check.predict import CURVES, DEFAULT_METHODS, JUDGED, SDE_DEFAULTS, SdeOptions, predict
from lnsgd.experiments.config import SimulationConfig
from lnsgd.experiments.runner import simulate
from lnsgd.experiments.store import save


def _paths_of(sim: xr.Dataset, var: str) -> np.ndarray:
    values = sim[var].values
    return values if "path" in sim[var].dims else values[None]


def simulate_paths(config: SimulationConfig, more: int = 0, before: xr.Dataset | None = None) -> xr.Dataset:
    """The check's simulation Dataset: the curves per path ((path, step) arrays), their means, and
    status. With `before`, `more` new paths (the next noise seeds) are appended to it."""
    first = 0 if before is None else before.sizes["path"]
    part = simulate(
        dataclasses.replace(config, noise_seed=config.noise_seed + first, paths=more or config.paths), progress=False
    )
    data = {v: (("path", "step"), _paths_of(part, v)) for v in CURVES}
    seeds = np.atleast_1d(part["noise_seed"].values if "noise_seed" in part.coords else [config.noise_seed + first])
    new = xr.Dataset(data, coords={"step": part["step"].values, "noise_seed": ("path", seeds)})
    new.attrs.update(part.attrs)
    if before is None:
        return new
    both = xr.concat([before.drop_attrs(), new.drop_attrs()], dim="path")
    both.attrs.update(before.attrs)
    if new.attrs["status"] != "completed":
        both.attrs.update(status=new.attrs["status"], message=new.attrs["message"])
    both.attrs["paths"] = both.sizes["path"]
    return both


def _judge(steps, sim, preds, judged, targets, sim_seconds, config) -> list[dict]:
    rows = []
    for method, curves in preds.items():
        row = {
            "config": label(config),
            "method": method,
            "steps": int(steps[-1]),
            "seconds": curves["seconds"],
            "sim_seconds": sim_seconds,
            "message": curves["message"],
            **compare(
                steps,
                sim["w_norm_mean"].values,
                sim["cos_abs_mean"].values,
                curves["w_norm_mean"],
                curves["cos_abs_mean"],
            ),
        }
        found = misses(row, targets)
        if sim.attrs.get("status") != "completed":
            found.insert(0, f"simulation {sim.attrs.get('status')}: {sim.attrs.get('message')}")
        row["misses"] = " | ".join(found)
        row["imprecise"] = " ".join(imprecise(row, targets))
        rows.append(row)
    return rows


def run_configuration(
    config: SimulationConfig,
    methods=DEFAULT_METHODS,
    out_dir: Path | None = None,
    *,
    judged: str = JUDGED,
    targets: Targets = TARGETS,
    max_paths: int = MAX_PATHS,
    sde: SdeOptions = SDE_DEFAULTS,
) -> tuple[xr.Dataset, list[dict]]:
    """Simulate (or reuse), predict, compare; store the Dataset (per-path and mean simulation curves,
    pred_<var>_<method> on the same step axis) as check_<digest>.nc in `out_dir`."""
    if judged not in methods:
        raise ValueError(f"judged = {judged!r} is not among methods {tuple(methods)}")
    path = None if out_dir is None else Path(out_dir) / f"check_{config.digest()[:12]}.nc"
    start = time.perf_counter()
    if path is not None and path.exists():
        with xr.open_dataset(path) as stored:
            sim = stored[[f"{v}_paths" for v in CURVES]].rename({f"{v}_paths": v for v in CURVES}).load()
            sim.attrs.update(stored.attrs)
    else:
        sim = simulate_paths(config)
    steps = sim["step"].values
    preds = predict(config, steps, methods, sde=sde)
    rows = _judge(steps, sim, preds, judged, targets, time.perf_counter() - start, config)
    while (
        imprecise(_row(rows, judged), targets)
        and sim.sizes["path"] < max_paths
        and sim.attrs.get("status") == "completed"
    ):
        sim = simulate_paths(config, min(config.paths, max_paths - sim.sizes["path"]), sim)
        rows = _judge(steps, sim, preds, judged, targets, time.perf_counter() - start, config)
    ds = _dataset(config, sim, preds, judged)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save(ds, path)
        for row in rows:
            row["file"] = path.name
    return ds, rows


def _row(rows: list[dict], method: str) -> dict:
    return next(r for r in rows if r["method"] == method)


def _dataset(config, sim: xr.Dataset, preds: dict, judged: str) -> xr.Dataset:
    ds = xr.Dataset(coords={"step": sim["step"].values, "noise_seed": ("path", sim["noise_seed"].values)})
    for v in CURVES:
        ds[f"{v}_paths"] = sim[v]
        ds[v] = ("step", sim[v].values.mean(axis=0))
    for method, curves in preds.items():
        for v in CURVES:
            ds[f"pred_{v}_{method}"] = ("step", np.asarray(curves[v]), {"method": method, "message": curves["message"]})
    for v in ("w_norm_mean", "cos_abs_mean"):
        ds[f"pred_{v}"] = ("step", np.asarray(preds[judged][v]), {"method": judged})
    ds.attrs.update(sim.attrs)
    ds.attrs.update(check_label=label(config), judged_method=judged, methods=",".join(preds), paths=sim.sizes["path"])
    return ds


def run_grid(
    configs: list[SimulationConfig],
    methods=DEFAULT_METHODS,
    out_dir: Path | None = None,
    *,
    judged: str = JUDGED,
    targets: Targets = TARGETS,
    log: Callable[[str], None] = print,
    sde: SdeOptions = SDE_DEFAULTS,
) -> list[dict]:
    """All configurations in turn (each runs its noise paths on every core); rows in grid order."""
    rows: list[dict] = []
    for config in configs:
        _, result = run_configuration(config, methods, out_dir, judged=judged, targets=targets, sde=sde)
        rows += result
        log(progress_line(_row(result, judged)))
    return rows


def progress_line(row: dict) -> str:
    return (
        f"{row['config']}: {row['steps']} steps x {row['paths']} paths, {row['sim_seconds']:.1f}s; "
        f"{row['method']}: rate {row['rate_err']:+.3f} plateau {row['plateau_err']:+.3f} "
        f"T_II {row['T_II_err']:+.3f} (se {row['T_II_se']:.3f}) dw {row['max_dw']:.3f} dcos {row['max_dcos']:.3f}"
        + (f"  MISSES {row['misses']}" if row["misses"] else "")
        + (f"  (imprecise: {row['imprecise']})" if row["imprecise"] else "")
    )
