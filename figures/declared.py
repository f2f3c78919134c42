"""Figures of the declared models: the diagonal network's sparse recovery and the deep linear network's phases.

Label-noise SGD (preset ``diagonal-sparse`` or ``deep-linear``; required: a missing one raises
:class:`~lnsgd.figures.results.MissingResultError` naming ``lnsgd run <preset>``) is drawn as its mean
over noise paths with a band of ± one sd over paths (ddof 1). Drawn when stored, else left out with a
warning naming the command: the run without label noise (``diagonal-gd``, ``deep-linear-lazy``) and the
regularized-flow prediction, the variables ``pred_<var>`` of the newest ``<results>/check/check_*.nc``
whose ``attrs['preset']`` is the preset (``lnsgd check <preset>``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from lnsgd.experiments.phases import phase_one_time, phase_two_time

from . import style
from .plots import Panel, Run, draw_run, figure_legend, format_log_axis, format_step_axis, line_figure
from .results import CHECK_PREFIX, MissingResultError, config_value, created_time, load_result

#: Line style of the regularized flow (the theory overlays' dashes).
FLOW_DASHES = (0, (3, 1.5))


def load_check(results_dir: str | Path, preset: str) -> xr.Dataset:
    """The newest ``<results_dir>/check/check_*.nc`` whose ``attrs['preset']`` is ``preset``; raises
    :class:`MissingResultError` naming ``lnsgd check <preset>`` when there is none."""
    found = []
    for path in sorted((Path(results_dir) / "check").glob("check_*.nc")):
        with xr.open_dataset(path) as ds:
            if ds.attrs.get("preset") == preset:
                found.append((created_time(ds, path), path, ds.load()))
    if not found:
        raise MissingResultError(f"{CHECK_PREFIX}{preset}", Path(results_dir) / "check")
    _, path, ds = max(found, key=lambda item: item[0])
    ds.encoding["source"] = str(path)
    return ds


def optional(figure: str, load: Callable[[str | Path, str], xr.Dataset], results_dir: str | Path, name: str):
    """``load(results_dir, name)``, or None with a warning naming the command that makes it."""
    try:
        return load(results_dir, name)
    except MissingResultError as err:
        warnings.warn(f"{figure}: drawn without it: {err}", stacklevel=3)
        return None


def path_mean(ds: xr.Dataset) -> xr.Dataset:
    """Every variable over ``step`` averaged over noise paths, with ``<var>_sd`` (sd over paths,
    ddof 1) when there are several; per-path scalars (T_I, T_II) are dropped."""
    if "path" not in ds.dims:
        return ds
    per_path = [v for v in ds.data_vars if ds[v].dims == ("path",)]
    out = ds.drop_vars(per_path).mean("path", keep_attrs=True)
    if ds.sizes["path"] > 1:
        for var in list(out.data_vars):
            if "path" in ds[var].dims:
                out[f"{var}_sd"] = ds[var].std("path", ddof=1)
    return out


def flow_result(check: xr.Dataset) -> xr.Dataset:
    """The check file's prediction as a result: ``pred_<var>`` renamed ``<var>``, with the teacher."""
    pred = {name: name.removeprefix("pred_") for name in check.data_vars if name.startswith("pred_")}
    return check[list(pred)].rename(pred).assign(beta_star=check["beta_star"])


def with_phase_times(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with T_I and T_II of its own mean‖w_k‖ and mean|cos| curves (lnsgd.experiments.phases)."""
    step = ds["step"].values
    return ds.assign(
        T_I=phase_one_time(step, ds["w_norm_mean"].values).step,
        T_II=phase_two_time(step, ds["cos_abs_mean"].values).step,
    )


def run_label(ds: xr.Dataset) -> tuple[str, str]:
    """Legend label and colour role of a declared-model run from its config."""
    delta = float(config_value(ds, "delta"))
    if delta > 0:
        paths = ds.sizes.get("path", 1)
        spread = f" (mean $\\pm$ sd, {paths} paths)" if paths > 1 else ""
        return rf"label-noise SGD, $\delta = {delta:g}${spread}", "label_noise"
    if int(config_value(ds, "batch_size")) >= int(config_value(ds, "n")):
        return r"GD (full batch), $\delta = 0$", "gd"
    return r"SGD, $\delta = 0$", "clean"


def declared_runs(sgd: xr.Dataset, control: xr.Dataset | None, check: xr.Dataset | None, neurons: bool) -> list[Run]:
    """Runs (keys ``sgd``, ``control``, ``flow``): label-noise SGD's path mean, the control run and
    the flow; with ``neurons``, each carries the phase times of its drawn curves."""
    runs = []
    for key, ds in (("sgd", sgd), ("control", control)):
        if ds is not None:
            label, role = run_label(ds)
            mean = path_mean(ds)
            runs.append(Run(with_phase_times(mean) if neurons else mean, key, label, style.ROLE_COLORS[role]))
    if check is not None:
        flow = flow_result(check)
        runs.append(
            Run(
                with_phase_times(flow) if neurons else flow,
                "flow",
                "regularized flow",
                style.ROLE_COLORS["theory"],
                FLOW_DASHES,
            )
        )
    return runs


# --- diagonal network: sparse recovery --------------------------------------------------------------

#: Marker (and size) of each run in the coefficient panel: the flow's a short bar, drawn first.
COEF_MARKERS = {"flow": ("_", 6.0), "control": ("s", 2.4), "sgd": ("o", 2.6)}


def build_diagonal_recovery(sgd: xr.Dataset, gd: xr.Dataset | None = None, check: xr.Dataset | None = None) -> Figure:
    """(a) ‖β−β*‖₂ (log) and (b) ‖β‖₁ vs step, with ‖β*‖₁ dotted, for label-noise SGD, GD and the
    flow; (c) the final coefficients β_i of each against the teacher's β*_i (grey stems)."""
    runs = declared_runs(sgd, gd, check, neurons=False)
    beta_star = sgd["beta_star"].values
    with style.context():
        width = style.DOUBLE_COLUMN
        top = style.panel_size(width, 2)[1]
        fig = Figure(figsize=(width, 1.75 * top), layout="constrained")
        axes = fig.subplot_mosaic([["a", "b"], ["c", "c"]], height_ratios=[1.0, 0.75])
        for letter, var in (("a", "beta_error"), ("b", "beta_l1")):
            ax = axes[letter]
            for run in runs:
                draw_run(ax, Panel(var, band="sd"), run)
            ax.set_ylabel(style.LABELS[var])
            format_step_axis(ax)
        format_log_axis(axes["a"])
        axes["b"].axhline(
            np.abs(beta_star).sum(), color="0.4", linewidth=0.8, linestyle=":", label=r"$\|\beta^*\|_1$", gid="l1-star"
        )
        ax = axes["c"]
        index = sgd["input"].values
        support = np.flatnonzero(beta_star)
        ax.vlines(index[support], 0, beta_star[support], color="0.65", linewidth=2.2, label=r"teacher $\beta^*$")
        ax.axhline(0, color="0.5", linewidth=0.5)
        for run in sorted(runs, key=lambda r: list(COEF_MARKERS).index(r.key)):
            marker, size = COEF_MARKERS[run.key]
            ax.plot(
                index,
                run.ds["beta"].values[-1],
                linestyle="none",
                marker=marker,
                markersize=size,
                markerfacecolor="none" if marker == "s" else run.color,
                markeredgewidth=1.0 if marker == "_" else 0.7,
                color=run.color,
                label=run.label,
                gid=f"{run.key}:beta",
            )
        ax.set_xlim(index[0] - 1, index[-1] + 1)
        ax.set_xlabel(style.LABELS["input"])
        ax.set_ylabel(rf"$\beta_i$ at $t = {_steps_tex(int(sgd['step'].values[-1]))}$")
        for letter, panel in axes.items():
            panel.set_title(f"({letter})", loc="left")
        figure_legend(fig, [axes[k] for k in "abc"])
    return fig


def _steps_tex(step: int) -> str:
    """A step count in math mode: 10^6, 3\\times10^5, 250000."""
    exponent = len(str(step)) - 1
    mantissa, rest = divmod(step, 10**exponent)
    if rest or exponent < 3:
        return f"{step}"
    return f"10^{{{exponent}}}" if mantissa == 1 else rf"{mantissa}\times10^{{{exponent}}}"


def fig_diagonal_recovery(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Sparse-recovery figure from ``diagonal-sparse``, ``diagonal-gd`` and the check file."""
    sgd = load_result(results_dir, "diagonal-sparse")
    gd = optional("diagonal-recovery", load_result, results_dir, "diagonal-gd")
    check = optional("diagonal-recovery", load_check, results_dir, "diagonal-sparse")
    return style.save(build_diagonal_recovery(sgd, gd, check), Path(out_dir) / "diagonal-recovery")


# --- deep linear network: two phases ---------------------------------------------------------------


def build_deep_linear_phases(
    sgd: xr.Dataset, lazy: xr.Dataset | None = None, check: xr.Dataset | None = None
) -> Figure:
    """mean‖w_k‖ and mean|cos(w_k, β*)| (w_k: rows of W₁) vs step for label-noise SGD, the run
    without label noise and the flow, with T_I/T_II of each drawn curve."""
    runs = declared_runs(sgd, lazy, check, neurons=True)
    panels = [Panel("w_norm_mean", band="sd"), Panel("cos_abs_mean", band="sd")]
    return line_figure(runs, panels)


def fig_deep_linear_phases(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Deep-linear phases figure from ``deep-linear``, ``deep-linear-lazy`` and the check file."""
    sgd = load_result(results_dir, "deep-linear")
    lazy = optional("deep-linear-phases", load_result, results_dir, "deep-linear-lazy")
    check = optional("deep-linear-phases", load_check, results_dir, "deep-linear")
    return style.save(build_deep_linear_phases(sgd, lazy, check), Path(out_dir) / "deep-linear-phases")


#: The figures of this module, by name.
DECLARED_FIGURES = {"diagonal-recovery": fig_diagonal_recovery, "deep-linear-phases": fig_deep_linear_phases}

__all__ = [
    "build_diagonal_recovery",
    "fig_diagonal_recovery",
    "build_deep_linear_phases",
    "fig_deep_linear_phases",
    "DECLARED_FIGURES",
]
