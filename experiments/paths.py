"""Noise paths of one configuration stacked into one result: the `path` axis, status and provenance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from lnsgd.experiments.provenance import provenance_attrs
from lnsgd.solvers.status import Status


def stack_paths(config, results: list[xr.Dataset], *, shared: tuple[str, ...] = ()) -> xr.Dataset:
    """Stack single-path Datasets of `config` (a SimulationConfig or ModelConfig: to_json, digest, seed,
    steps, noise_seed) along `path`, NaN-padded where a path stopped early; `shared` variables are the
    same on every path and kept once. Path j ran with noise seed config.noise_seed + j. T_I/T_II carry
    how many paths missed them; status is completed only when every path completed, and the message
    names the paths that did not."""
    index = pd.Index(np.arange(len(results)), name="path")
    ds = xr.concat(
        [r.drop_attrs() for r in results],
        dim=index,
        join="outer",
        combine_attrs="drop",
        data_vars="all",
        coords="minimal",
        compat="override",
    )
    for name in shared:
        ds[name] = results[0][name]
    ds = ds.assign_coords(noise_seed=("path", [config.noise_seed + j for j in range(len(results))]))
    for name in ("T_I", "T_II"):
        if name not in ds:
            continue
        missed = [(j, r[name].attrs["reason"]) for j, r in enumerate(results) if r[name].attrs.get("reason")]
        reason = (
            f"not reached on {len(missed)} of {len(results)} paths (path {missed[0][0]}: {missed[0][1]})"
            if missed
            else ""
        )
        ds[name].attrs = {"reason": reason, "units": "steps"}
    statuses = [Status(r.attrs["status"]) for r in results]
    bad = [(j, r.attrs["message"]) for j, r in enumerate(results) if statuses[j] is not Status.COMPLETED]
    status = (
        Status.COMPLETED if not bad else (Status.INTERRUPTED if Status.INTERRUPTED in statuses else Status.DIVERGED)
    )
    message = (
        f"completed {config.steps} steps on each of {len(results)} paths"
        if not bad
        else f"{len(bad)} of {len(results)} paths did not complete: "
        + "; ".join(f"path {j}: {msg}" for j, msg in bad[:5])
    )
    ds.attrs.update(provenance_attrs(config.to_json(), config.digest(), config.seed))
    ds.attrs.update(
        status=status.value,
        message=message,
        noise_seed=int(config.noise_seed),
        paths=len(results),
        steps_done=int(min(r.attrs["steps_done"] for r in results)),
    )
    return ds
