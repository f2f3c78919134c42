"""What every stored result carries besides its config: versions, git commit, creation time."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def package_version() -> str:
    """The installed lnsgd version; '0+unknown' from a source tree that was not installed."""
    try:
        return version("lnsgd")
    except PackageNotFoundError:
        return "0+unknown"


@lru_cache(maxsize=1)
def git_commit() -> str:
    """HEAD of the source tree this package runs from, with '-dirty' for uncommitted changes;
    'unknown' outside a git checkout (e.g. an installed wheel)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(_REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(_REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def versions() -> dict[str, str]:
    import numba
    import numpy
    import xarray

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "xarray": xarray.__version__,
        "lnsgd": package_version(),
    }


def provenance_attrs(config_json: str, config_hash: str, seed: int) -> dict[str, object]:
    """Attributes for a result Dataset (all str/int: NetCDF-safe)."""
    return {
        "config": config_json,
        "config_hash": config_hash,
        "seed": int(seed),
        "lnsgd_version": package_version(),
        "git_commit": git_commit(),
        "versions": json.dumps(versions(), sort_keys=True),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
