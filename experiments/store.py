"""Result store: one NetCDF4 file per run, `<dir>/<name>-<config hash>.nc`, written atomically."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import xarray as xr


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


def save(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write `ds` to `path` as NetCDF4, atomically."""
    return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4"))


def load(path: str | os.PathLike) -> xr.Dataset:
    """Open a stored result fully into memory (the file is closed afterwards)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no result file at {path}")
    with xr.open_dataset(path, engine="netcdf4") as ds:
        return ds.load()
