"""Figures of the direct simulations (presets two-phase, lazy, periodic, oscillation, sam).

Each ``fig_<name>(results_dir, out_dir) -> list[Path]`` loads the stored results it needs
(:func:`lnsgd.figures.results.load_result`, which names ``lnsgd run <preset>`` when one is missing),
builds the figure with a ``build_<name>`` function (also used by the tests, which inspect the
drawn data) and writes ``<out_dir>/<name>.pdf`` and ``.pgf``.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib as mpl
import numpy as np
import xarray as xr
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm
from matplotlib.figure import Figure

from . import style
from .plots import Panel, Run, figure_legend, format_log_axis, line_figure, step_label
from .results import config_value, load_result, load_results, tau


def _delta(ds: xr.Dataset) -> float:
    """The run's label-noise level (the largest δ(t) recorded)."""
    return float(ds["delta"].max())


def make_run(ds: xr.Dataset, key: str, role: str) -> Run:
    """A :class:`Run` with the legend label and colour of its role (label_noise, clean, sam, ...)."""
    delta = rf"$\delta = {_delta(ds):g}$"
    rho = config_value(ds, "rho")
    eps = config_value(ds, "osc_eps", config_value(ds, "epsilon"))
    labels = {
        "label_noise": f"label-noise SGD, {delta}",
        "clean": f"SGD, {delta}",
        "sam": "SAM, " + (rf"$\rho = {float(rho):g}$, " if rho is not None else "") + delta,
        "usam": "USAM, " + (rf"$\rho = {float(rho):g}$, " if rho is not None else "") + delta,
        "oscillation": "GD, oscillated $a$" + (rf", $\varepsilon = {float(eps):g}$" if eps is not None else ""),
        "gd": "GD, still $a$",
    }
    if role not in labels:
        raise ValueError(f"make_run: role={role!r}, valid: {sorted(labels)}")
    return Run(ds, key, labels[role], style.ROLE_COLORS[role])


def _save(fig: Figure, out_dir: str | Path, name: str) -> list[Path]:
    return style.save(fig, Path(out_dir) / name)


# --- two-phase ------------------------------------------------------------------------------------


def build_two_phase(noisy: xr.Dataset, clean: xr.Dataset, prediction: xr.Dataset | None = None) -> Figure:
    """mean‖w_k‖ (± std over neurons) and mean|cos(w_k,β*)| vs step, δ = 4 against δ = 0, with the
    stored T_I/T_II of each run and, when given, the reduced-ODE prediction (``pred_w_norm_mean``,
    ``pred_cos_abs_mean`` on the same ``step`` axis)."""
    runs = [make_run(noisy, "two-phase", "label_noise"), make_run(clean, "lazy", "clean")]
    panels = [Panel("w_norm_mean", band="std"), Panel("cos_abs_mean", band="std")]
    return line_figure(runs, panels, prediction=prediction)


def fig_two_phase(
    results_dir: str | Path, out_dir: str | Path, prediction: xr.Dataset | str | Path | None = None
) -> list[Path]:
    """Two-phase figure from results ``two-phase`` and ``lazy``; ``prediction``: optional Dataset
    (or NetCDF path) with ``pred_w_norm_mean``/``pred_cos_abs_mean`` to overlay."""
    if prediction is not None and not isinstance(prediction, xr.Dataset):
        with xr.open_dataset(prediction) as pred:
            prediction = pred.load()
    fig = build_two_phase(*load_results(results_dir, "two-phase", "lazy"), prediction)
    return _save(fig, out_dir, "two-phase")


# --- neuron picture -------------------------------------------------------------------------------


def build_neurons(ds: xr.Dataset, n_snapshots: int = 4, max_neurons: int = 500, cos_bins: int = 5) -> Figure:
    """Per-neuron ‖w_k‖ vs |a_k| (log–log) at ``n_snapshots`` evenly spread snapshots, coloured by
    |cos(w_k,β*)| in ``cos_bins`` classes, with the balance line ‖w‖ = √τ|a| (τ from the run).

    At most ``max_neurons`` neurons are drawn (the first ones; neurons are exchangeable, so they
    are a fair sample). Each colour class is one marker line, so the PGF stays small.
    """
    n_avail = ds.sizes["snapshot"]
    picks = np.unique(np.linspace(0, n_avail - 1, min(n_snapshots, n_avail)).round().astype(int))
    sub = ds.isel(snapshot=picks, neuron=slice(0, max_neurons))
    a = np.abs(sub["a_k"].values)
    w = sub["w_norm_k"].values
    cls = np.minimum((np.abs(sub["cos_k"].values) * cos_bins).astype(int), cos_bins - 1)
    sqrt_tau = math.sqrt(tau(ds))
    positive = np.concatenate([a[a > 0], w[w > 0] / sqrt_tau])
    lo, hi = positive.min() / 1.5, positive.max() * 1.5
    cmap = mpl.colormaps["viridis"].resampled(cos_bins)
    norm = BoundaryNorm(np.linspace(0, 1, cos_bins + 1), cos_bins)
    with style.context():
        fig, axes = style.new_figure(len(picks), width=style.DOUBLE_COLUMN, aspect=1.0, sharex=True, sharey=True)
        for i, ax in enumerate(axes):
            for j in range(cos_bins):
                sel = cls[i] == j
                ax.plot(
                    a[i, sel],
                    w[i, sel],
                    linestyle="none",
                    marker="o",
                    markersize=1.6,
                    markeredgewidth=0,
                    color=cmap(j),
                    gid=f"neurons:{i}:{j}",
                )
            ax.plot(
                [lo, hi],
                [sqrt_tau * lo, sqrt_tau * hi],
                color=style.ROLE_COLORS["theory"],
                linestyle=(0, (3, 1.5)),
                linewidth=0.8,
                gid="balance",
                label=r"balance $\|w_k\| = \sqrt{\tau}\,|a_k|$" if i == 0 else None,
            )
            ax.set_xscale("log")
            format_log_axis(ax, subs=(1.0,))
            ax.set_xlim(lo, hi)
            ax.set_title(rf"$t = $ {step_label(int(sub['snapshot_step'].values[i]))}")
            ax.set_xlabel(style.LABELS["a_abs_k"])
        axes[0].set_ylabel(style.LABELS["w_norm_k"])
        figure_legend(fig, axes)
        fig.colorbar(
            ScalarMappable(norm, cmap),
            ax=axes,
            label=style.LABELS["cos_abs_k"],
            shrink=0.9,
            aspect=15,
            ticks=np.linspace(0, 1, cos_bins + 1),
        )
    return fig


def fig_neurons(results_dir: str | Path, out_dir: str | Path, name: str = "two-phase") -> list[Path]:
    """Neuron picture of result ``name`` (default ``two-phase``)."""
    return _save(build_neurons(load_result(results_dir, name)), out_dir, "neurons")


# --- periodic label noise -------------------------------------------------------------------------

#: Steps shown by the periodic figure's zoom panel (10 on/off cycles of the preset's 5000 steps).
PERIODIC_ZOOM = 50_000


def build_periodic(ds: xr.Dataset, zoom: int = PERIODIC_ZOOM) -> Figure:
    """mean‖w_k‖ and |a_k| (mean, 5–95 % band) under noise switched on/off, noise-on shaded; a zoom
    on mean‖w_k‖ over the first ``zoom`` steps (y range fitted to them) shows the staircase."""
    run = make_run(ds, "periodic", "label_noise")
    zoom = min(zoom, int(ds["step"].values[-1]))
    panels = [
        Panel("w_norm_mean", band="std", marks=()),
        Panel("w_norm_mean", marks=(), xlim=(0, zoom), title=f"first {step_label(zoom)} steps"),
        Panel("a_abs_mean", band="quantile", marks=()),
    ]
    return line_figure([run], panels, shade=run, aspect=1.3)


def fig_periodic(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Periodic label-noise figure from result ``periodic``."""
    return _save(build_periodic(load_result(results_dir, "periodic")), out_dir, "periodic")


# --- oscillation ----------------------------------------------------------------------------------


def build_oscillation(ds: xr.Dataset, control: xr.Dataset) -> Figure:
    """GD with an oscillated second layer against the same GD with a still second layer (the
    control, ε = 0): mean‖w_k‖ (initial level dotted) and |a_k| vs step."""
    runs = [make_run(ds, "oscillation", "oscillation"), make_run(control, "oscillation-control", "gd")]
    panels = [
        Panel("w_norm_mean", band="std", hline=float(ds["w_norm_mean"][0]), marks=("T_I",)),
        Panel("a_abs_mean", band="quantile", marks=()),
    ]
    return line_figure(runs, panels, ncols=1, width=style.SINGLE_COLUMN, aspect=2.0)


def fig_oscillation(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Oscillation figure from results ``oscillation`` and ``oscillation-control``."""
    return _save(
        build_oscillation(*load_results(results_dir, "oscillation", "oscillation-control")), out_dir, "oscillation"
    )


# --- SAM ------------------------------------------------------------------------------------------


def build_sam(sam: xr.Dataset, noisy: xr.Dataset, clean: xr.Dataset) -> Figure:
    """Two phases under SAM next to label-noise SGD, and sharpness tr G, λ_max(G) of SAM,
    label-noise SGD and clean SGD."""
    runs = [make_run(noisy, "two-phase", "label_noise"), make_run(sam, "sam", "sam"), make_run(clean, "lazy", "clean")]
    panels = [
        Panel("w_norm_mean", band="std"),
        Panel("cos_abs_mean", band="std"),
        Panel("trace_G", logy=True, marks=()),
        Panel("lambda_max_G", logy=True, marks=()),
    ]
    return line_figure(runs, panels, ncols=2)


def fig_sam(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """SAM figure from results ``sam``, ``two-phase`` and ``lazy``."""
    fig = build_sam(*load_results(results_dir, "sam", "two-phase", "lazy"))
    return _save(fig, out_dir, "sam")


# --- laziness -------------------------------------------------------------------------------------


def build_laziness(clean: xr.Dataset, noisy: xr.Dataset) -> Figure:
    """Relative change of W and of the NTK Gram matrix vs step (log scale), δ = 0 against δ = 4."""
    runs = [make_run(clean, "lazy", "clean"), make_run(noisy, "two-phase", "label_noise")]
    panels = [Panel("w_rel_change", logy=True, marks=()), Panel("ntk_rel_change", logy=True, marks=())]
    return line_figure(runs, panels, ncols=1, width=style.SINGLE_COLUMN, aspect=2.0)


def fig_laziness(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Laziness figure from results ``lazy`` and ``two-phase``."""
    fig = build_laziness(*load_results(results_dir, "lazy", "two-phase"))
    return _save(fig, out_dir, "laziness")


__all__ = [
    "build_two_phase",
    "fig_two_phase",
    "build_neurons",
    "fig_neurons",
    "build_periodic",
    "fig_periodic",
    "build_oscillation",
    "fig_oscillation",
    "build_sam",
    "fig_sam",
    "build_laziness",
    "fig_laziness",
    "make_run",
    "PERIODIC_ZOOM",
]
