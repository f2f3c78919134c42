"""Find and open stored results; say which command makes a missing one.

A direct simulation of preset ``<name>`` is stored as ``<results_dir>/<name>-<hash12>.nc``
(docs/results-schema.md). Figures never simulate: when a result is missing they raise
:class:`MissingResultError`, whose message names the command that makes it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import xarray as xr

#: Command that makes the stored result of a preset.
RUN_COMMAND = "lnsgd run {name}"
#: Presets whose command needs more than their name.
RUN_COMMANDS = {"real-cifar10": "lnsgd run real-cifar10 --set data_dir=DIR", "check": "lnsgd check"}


#: Prefix of a declared preset's check file, ``check:<preset>`` (made by ``lnsgd check <preset>``).
CHECK_PREFIX = "check:"


def run_command(name: str) -> str:
    """The command that makes the stored result ``name``."""
    if name.startswith(CHECK_PREFIX):
        return f"lnsgd check {name.removeprefix(CHECK_PREFIX)}"
    return RUN_COMMANDS.get(name, RUN_COMMAND.format(name=name))


def result_file(name: str) -> str:
    """How the stored file of ``name`` is named (for messages)."""
    if name.startswith(CHECK_PREFIX):
        return f"check_<hash>.nc of preset {name.removeprefix(CHECK_PREFIX)}"
    return f"{name}-<hash12>.nc"


class MissingResultError(FileNotFoundError):
    """Stored results a figure needs are not there; the message names the commands to run."""

    def __init__(self, names: str | Sequence[str], results_dir: Path):
        self.names = [names] if isinstance(names, str) else list(names)
        self.results_dir = Path(results_dir)
        self.commands = [run_command(n) for n in self.names]
        #: One shell line that makes every missing result.
        self.command = " && ".join(self.commands)
        files = ", ".join(result_file(n) for n in self.names)
        runs = " and ".join(f"`{c}`" for c in self.commands)
        super().__init__(
            f"missing result{'s' if len(self.names) > 1 else ''} "
            f"{', '.join(repr(n) for n in self.names)} (no {files} in "
            f"{self.results_dir}/): make {'them' if len(self.names) > 1 else 'it'} with {runs}"
        )


def result_files(results_dir: str | Path, name: str) -> list[Path]:
    """Stored files of preset ``name`` (exactly ``<name>-<12 hex>.nc``, so ``two-phase`` does not
    pick up ``two-phase-seeds-…``)."""
    pattern = re.compile(rf"^{re.escape(name)}-[0-9a-f]{{12}}\.nc$")
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return []
    return sorted(p for p in results_dir.iterdir() if pattern.match(p.name))


def created_time(ds: xr.Dataset, path: Path) -> datetime:
    """The ``created`` attribute as an aware datetime (file mtime when absent or unparsable)."""
    try:
        created = datetime.fromisoformat(str(ds.attrs["created"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        created = datetime.fromtimestamp(path.stat().st_mtime)
    return created if created.tzinfo else created.replace(tzinfo=timezone.utc)


def load_result(results_dir: str | Path, name: str) -> xr.Dataset:
    """Open the stored result of preset ``name``; the newest by ``attrs['created']`` if several.

    The Dataset is loaded into memory and the file closed; ``ds.encoding['source']`` keeps its path.
    Raises :class:`MissingResultError` naming ``lnsgd run <name>`` when there is none.
    """
    files = result_files(results_dir, name)
    if not files:
        raise MissingResultError(name, Path(results_dir))
    datasets = []
    for path in files:
        with xr.open_dataset(path) as ds:
            datasets.append((created_time(ds, path), path, ds.load()))
    _, path, ds = max(datasets, key=lambda item: item[0])
    ds.encoding["source"] = str(path)
    return ds


def load_results(results_dir: str | Path, *names: str) -> list[xr.Dataset]:
    """:func:`load_result` of each name; one :class:`MissingResultError` naming every missing one."""
    missing = [n for n in names if not result_files(results_dir, n)]
    if missing:
        raise MissingResultError(missing, Path(results_dir))
    return [load_result(results_dir, n) for n in names]


def config(ds: xr.Dataset) -> dict[str, Any]:
    """The run's config (``attrs['config']``, JSON) as a dict; empty when absent."""
    raw = ds.attrs.get("config", "{}")
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def _find_key(tree: Any, key: str) -> Any:
    """First value stored under ``key`` anywhere in a nested dict/list (depth first), else None."""
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        children = tree.values()
    elif isinstance(tree, list):
        children = tree
    else:
        return None
    for child in children:
        found = _find_key(child, key)
        if found is not None:
            return found
    return None


def config_value(ds: xr.Dataset, key: str, default: Any = None) -> Any:
    """A config field by name, searched in ``attrs`` then anywhere in the nested config JSON."""
    if key in ds.attrs:
        return ds.attrs[key]
    found = _find_key(config(ds), key)
    return default if found is None else found


def tau(ds: xr.Dataset) -> float:
    """τ = tr Σ̂ of the run: the stored value (``tau`` or ``trace_sigma_hat``) if any, else d."""
    for key in ("tau", "trace_sigma_hat"):
        value = config_value(ds, key)
        if value is not None:
            return float(value)
    d = config_value(ds, "d")
    if d is None:
        raise KeyError(
            "cannot find tau, trace_sigma_hat or d in the result's attrs/config "
            f"({ds.encoding.get('source', 'in-memory dataset')})"
        )
    return float(d)


def phase_time(ds: xr.Dataset, var: str) -> float:
    """``T_I``/``T_II`` in steps (NaN when not reached or not stored)."""
    if var not in ds:
        return math.nan
    return float(ds[var].values)
