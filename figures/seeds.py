"""Multi-seed error bands on the headline curves (`lnsgd claims` runs): mean over seeds ± one standard deviation.

``lnsgd claims --size paper`` stores paper-size runs of the presets for seeds 0–4 as
``results/claims/<confighash>.nc`` (each file's ``attrs['config']`` is the SimulationConfig JSON;
the preset name is not guaranteed to be stored). This module groups the files of a folder by
their config without ``seed``, keeps the groups whose config equals a preset's default config
(:data:`lnsgd.experiments.presets.PRESETS`), and reduces each group to one Dataset: for every
variable ``v`` of :data:`SEED_VARS`, ``v`` is the mean over seeds and ``v_sd`` the standard
deviation over seeds (ddof = 1); ``T_I``/``T_II`` are kept per seed (dim ``seed``). The figure
draws those through :func:`lnsgd.figures.plots.line_figure` with ``band="sd"``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .plots import Panel, line_figure
from .results import MissingResultError, config
from .simulation import _save, make_run

#: Folder of the multi-seed runs inside the results folder, and the command that fills it.
CLAIMS_DIR = "claims"
CLAIMS_COMMAND = "lnsgd claims --size paper"
#: Step-indexed variables averaged over seeds.
SEED_VARS = (
    "w_norm_mean",
    "cos_abs_mean",
    "a_abs_mean",
    "w_rel_change",
    "ntk_rel_change",
    "train_loss",
    "trace_G",
    "delta",
)
#: Presets drawn by the figure (role of each), and those it cannot do without.
FIGURE_PRESETS = {"two-phase": "label_noise", "lazy": "clean", "sam": "sam"}
REQUIRED = ("two-phase", "lazy")
#: Fewest seeds a group needs to be drawn with a band.
MIN_SEEDS = 2


class MissingSeedsError(MissingResultError):
    """Multi-seed runs a figure needs are not stored; the message names ``lnsgd claims``."""

    def __init__(self, names: Sequence[str], folder: Path, found: Mapping[str, int] | None = None):
        self.names = list(names)
        self.results_dir = Path(folder)
        self.commands = [CLAIMS_COMMAND]
        self.command = CLAIMS_COMMAND
        have = "" if not found else " (found: " + ", ".join(f"{k} {v} seed(s)" for k, v in found.items()) + ")"
        FileNotFoundError.__init__(
            self,
            f"missing multi-seed runs of {', '.join(repr(n) for n in self.names)} "
            f"(at least {MIN_SEEDS} seeds with the preset's config in {self.results_dir}/){have}: "
            f"make them with `{CLAIMS_COMMAND}`",
        )


def config_key(cfg: Mapping[str, Any]) -> str:
    """The config without ``seed``, as canonical JSON: the key runs of one experiment share."""
    return json.dumps({k: v for k, v in cfg.items() if k != "seed"}, sort_keys=True)


def preset_keys(names: Sequence[str]) -> dict[str, str]:
    """:func:`config_key` of each preset's default config (``PRESETS[name].config()``)."""
    from lnsgd.experiments.presets import PRESETS

    return {name: config_key(json.loads(PRESETS[name].config().to_json())) for name in names}


def seed_groups(folder: str | Path) -> dict[str, list[xr.Dataset]]:
    """Every ``*.nc`` of ``folder`` with a stored config, grouped by :func:`config_key`, each group
    sorted by seed (runs not ``completed`` are left out: a diverged run would bias the mean)."""
    groups: dict[str, list[xr.Dataset]] = {}
    folder = Path(folder)
    for path in sorted(folder.glob("*.nc")) if folder.is_dir() else []:
        with xr.open_dataset(path) as ds:
            if "config" not in ds.attrs or ds.attrs.get("status", "completed") != "completed":
                continue
            ds = ds.load()
        ds.encoding["source"] = str(path)
        groups.setdefault(config_key(config(ds)), []).append(ds)
    for runs in groups.values():
        runs.sort(key=lambda d: int(config(d).get("seed", d.attrs.get("seed", 0))))
    return groups


def aggregate(runs: Sequence[xr.Dataset], variables: Sequence[str] = SEED_VARS) -> xr.Dataset:
    """Mean (``v``) and standard deviation over seeds (``v_sd``, ddof = 1) of each variable, on
    the steps all runs recorded; ``T_I``/``T_II`` per seed; attrs ``n_seeds``, ``seeds``,
    ``config`` (the first run's)."""
    if len(runs) < 2:
        raise ValueError(f"aggregate: need at least 2 seeds for a standard deviation, got {len(runs)}")
    seeds = [int(config(d).get("seed", d.attrs.get("seed", i))) for i, d in enumerate(runs)]
    present = [v for v in variables if all(v in d for d in runs)]
    stacked = xr.concat(
        [d[present] for d in runs], dim="seed", join="inner", coords="minimal", compat="override"
    ).assign_coords(seed=seeds)
    out = xr.Dataset(coords={"step": stacked["step"], "seed": seeds})
    for v in present:
        out[v] = stacked[v].mean("seed")
        out[f"{v}_sd"] = stacked[v].std("seed", ddof=1)
        out[f"{v}_seeds"] = stacked[v]
    for name in ("T_I", "T_II"):
        out[name + "_seeds"] = ("seed", [float(d[name]) if name in d else np.nan for d in runs])
    out.attrs.update(
        n_seeds=len(runs),
        seeds=json.dumps(seeds),
        config=runs[0].attrs["config"],
        sources=json.dumps([d.encoding.get("source", "") for d in runs]),
    )
    return out


def load_seeds(
    results_dir: str | Path,
    names: Sequence[str] = tuple(FIGURE_PRESETS),
    required: Sequence[str] = REQUIRED,
    keys: Mapping[str, str] | None = None,
) -> dict[str, xr.Dataset]:
    """:func:`aggregate` of the runs in ``<results_dir>/claims`` whose config (without seed) equals
    each preset's (``keys``: name → :func:`config_key`, default :func:`preset_keys`). Presets with
    fewer than :data:`MIN_SEEDS` seeds are left out; a missing ``required`` one raises
    :class:`MissingSeedsError` naming ``lnsgd claims --size paper``."""
    folder = Path(results_dir) / CLAIMS_DIR
    keys = dict(keys) if keys is not None else preset_keys(names)
    groups = seed_groups(folder)
    found = {name: len(groups.get(keys[name], [])) for name in names}
    missing = [n for n in required if found[n] < MIN_SEEDS]
    if missing:
        raise MissingSeedsError(missing, folder, {k: v for k, v in found.items() if v})
    return {name: aggregate(groups[keys[name]]) for name in names if found[name] >= MIN_SEEDS}


def build_seeds(agg: Mapping[str, xr.Dataset]) -> Figure:
    """mean‖w_k‖ and mean|cos(w_k,β*)| of each preset in ``agg`` (name → :func:`aggregate`):
    mean over seeds, band ± one standard deviation over seeds; the legend gives the seed count."""
    runs = []
    for name, ds in agg.items():
        run = make_run(ds, name, FIGURE_PRESETS.get(name, "label_noise"))
        runs.append(dataclasses.replace(run, label=f"{run.label} ({ds.attrs['n_seeds']} seeds)"))
    panels = [Panel("w_norm_mean", band="sd", marks=()), Panel("cos_abs_mean", band="sd", marks=())]
    return line_figure(runs, panels)


def fig_seeds(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """``seeds``: the headline curves over seeds from ``<results_dir>/claims``."""
    return _save(build_seeds(load_seeds(results_dir)), out_dir, "seeds")


__all__ = [
    "aggregate",
    "build_seeds",
    "config_key",
    "fig_seeds",
    "load_seeds",
    "preset_keys",
    "seed_groups",
    "MissingSeedsError",
    "CLAIMS_COMMAND",
    "CLAIMS_DIR",
]
