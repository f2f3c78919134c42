"""On-disk layout of a sweep: one file per point, named by its config hash (docs/sweeps.md).

    <out>/sweep.json          the spec (normalised), written when the sweep starts
    <out>/<hash>.nc           a finished point: the simulation's Dataset (status completed or
                              diverged) with attrs `sweep_point` = <hash> (the completion marker)
    <out>/<hash>.failed.json  a failed point: {"status": "invalid" | "error", "reason": ...}

Every file is written atomically (temporary file in the same folder, fsync, os.replace), so a
killed sweep leaves either the whole file or none. A file that fails to open, or lacks the marker,
is *corrupt*: `point_state` reports it and the sweep recomputes the point.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xarray as xr

from lnsgd.experiments.store import save as save_netcdf
from lnsgd.experiments.store import write_json
from lnsgd.solvers.status import Status

#: Attribute whose value (the point's hash) marks a complete point file.
MARKER = "sweep_point"
#: Statuses of a stored simulation that count as finished (not rerun).
FINISHED = (Status.COMPLETED, Status.DIVERGED)
#: Variables every finished point file has (docs/results-schema.md): of the two-layer network, and
#: of a declared model (its Dataset names the model in attrs `model`).
REQUIRED_VARS = ("w_norm_mean", "cos_abs_mean", "a_abs_mean", "w_rel_change", "T_I", "T_II")
DECLARED_REQUIRED_VARS = ("beta", "loss", "beta_error", "beta_l1", "trace_G")


def result_file(out: str | Path, digest: str) -> Path:
    return Path(out) / f"{digest}.nc"


def failure_file(out: str | Path, digest: str) -> Path:
    return Path(out) / f"{digest}.failed.json"


@dataclass(frozen=True)
class PointState:
    """What is stored for a point: 'done' (finished NetCDF), 'failed' (failure record),
    'corrupt' (a file that is unreadable or incomplete) or 'missing'; `detail` says why."""

    state: str
    detail: str = ""


def point_state(out: str | Path, digest: str) -> PointState:
    """Inspect the stored files of one point without loading its arrays."""
    nc = result_file(out, digest)
    if nc.exists():
        try:
            with xr.open_dataset(nc, engine="netcdf4") as ds:
                if ds.attrs.get(MARKER) != digest:
                    return PointState("corrupt", f"{nc.name}: no completion marker {MARKER} = {digest}")
                if ds.attrs.get("status") not in FINISHED:
                    return PointState("corrupt", f"{nc.name}: status {ds.attrs.get('status')!r}")
                required = DECLARED_REQUIRED_VARS if "model" in ds.attrs else REQUIRED_VARS
                lacking = [v for v in required if v not in ds]
                if lacking:
                    return PointState("corrupt", f"{nc.name}: lacks {', '.join(lacking)}")
                return PointState("done", str(ds.attrs["status"]))
        except Exception as err:  # noqa: BLE001 - any failure to open means a corrupt file
            return PointState("corrupt", f"{nc.name} does not open: {type(err).__name__}: {err}")
    fail = failure_file(out, digest)
    if fail.exists():
        try:
            record = json.loads(fail.read_text())
            if record.get(MARKER) != digest:
                raise ValueError(f"no {MARKER} = {digest}")
            return PointState("failed", f"{record['status']}: {record['reason']}")
        except (ValueError, KeyError, TypeError) as err:
            return PointState("corrupt", f"{fail.name}: {err}")
    return PointState("missing")


def remove_point(out: str | Path, digest: str) -> None:
    """Delete a point's files (before recomputing a corrupt or retried point), and stale
    temporaries of this point left by a killed writer."""
    for path in (result_file(out, digest), failure_file(out, digest)):
        path.unlink(missing_ok=True)
    for tmp in Path(out).glob(f"{digest}.*.tmp"):
        tmp.unlink(missing_ok=True)


def write_result(ds: xr.Dataset, out: str | Path, digest: str) -> Path:
    """Store a finished simulation with its completion marker (atomically)."""
    ds.attrs[MARKER] = digest
    return save_netcdf(ds, result_file(out, digest))


def write_failure(
    out: str | Path, digest: str, values: dict[str, Any], status: Status, reason: str, traceback: str = ""
) -> Path:
    """Record a failed point: `status` 'invalid' (the combination is not a valid config) or
    'error' (the simulation raised); `reason` is the sentence to show."""
    record = {MARKER: digest, "status": status.value, "reason": reason, "config": values, "traceback": traceback}
    return write_json(record, failure_file(out, digest))


def read_failure(out: str | Path, digest: str) -> dict[str, Any]:
    return json.loads(failure_file(out, digest).read_text())
