"""Result store: one NetCDF4 file per run, `<dir>/<name>-<config hash>.nc`, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import xarray as xr


class ResultFileError(ValueError):
    """A file that cannot be read as a stored result (not NetCDF, truncated, or another schema)."""


def result_path(directory: str | os.PathLike, name: str, config_hash: str) -> Path:
    return Path(directory) / f"{name}-{config_hash}.nc"


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Create `path` atomically: `write(tmp)` fills a temporary file in the same folder, which is
    fsynced and renamed over `path`; a reader sees the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(record: dict, path: str | os.PathLike) -> Path:
    """Write `record` as indented JSON (sorted keys) atomically."""
    return write_text(path, json.dumps(record, indent=1, sort_keys=True, default=list))


def save(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write `ds` to `path` as NetCDF4, atomically."""
    return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4"))


def load(path: str | os.PathLike) -> xr.Dataset:
    """Open a stored result fully into memory (the file is closed afterwards)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no result file at {path}")
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            return ds.load()
    except (OSError, ValueError, RuntimeError) as err:
        raise ResultFileError(f"{path} is not a readable NetCDF result ({type(err).__name__}: {err})") from None


def load_result(path: str | os.PathLike) -> xr.Dataset:
    """`load(path)` of a run's result: its status and config attributes and a step axis are there."""
    ds = load(path)
    missing = [a for a in ("status", "config") if a not in ds.attrs] + ([] if "step" in ds.dims else ["step"])
    if missing:
        raise ResultFileError(f"{path} is not an lnsgd run result (no {', '.join(missing)})")
    return ds
