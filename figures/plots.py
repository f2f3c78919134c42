"""The one plotting mechanism: runs × panels of stored variables against the step.

A :class:`Run` is a stored result with its legend label and colour; a :class:`Panel` names a
variable, its band (± std over neurons or a quantile range) and its axis. :func:`line_figure`
draws every run in every panel and, on request, the phase times T_I/T_II, shaded noise-on
intervals and a reduced-theory prediction. Artists get ``gid``s (``"<run>:<var>"``,
``"<run>:T_I"``, ``"prediction:<var>"``, ``"noise-on"``) so tests can find what was drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from . import style
from .results import phase_time

#: Line style of each phase-time marker.
PHASE_MARKERS = {"T_I": (0, (4, 1.5, 1, 1.5)), "T_II": (0, (1, 1.5))}  # dash-dot, dotted


@dataclass(frozen=True)
class Run:
    """A stored result drawn as one line per panel."""

    ds: xr.Dataset
    key: str
    label: str
    color: str
    linestyle: str = "-"

    def __post_init__(self):
        if "step" not in self.ds.dims:
            raise ValueError(
                f"Run {self.key!r}: dataset has no 'step' dimension "
                f"(dims {tuple(self.ds.dims)}); is it a direct-simulation result?"
            )


@dataclass(frozen=True)
class Panel:
    """One axis: ``var`` against the step, with an optional band and log axis."""

    var: str
    band: str | None = None  # "std" (mean ± <var>_std), "quantile" (q05–q95 of <prefix>_q),
    #                          "sd" (<var> ± <var>_sd, e.g. a spread over seeds; none for a run
    #                          without <var>_sd), None
    logy: bool = False
    ylabel: str | None = None  # default: style.LABELS[var]
    hline: float | None = None  # dashed reference level
    marks: tuple[str, ...] = ("T_I", "T_II")  # phase times drawn in this panel
    title: str | None = None
    runs: tuple[str, ...] | None = None  # keys of the runs drawn here (None: every run)
    xlim: tuple[float, float] | None = None  # zoom: step range shown (y limits fitted to it)

    def __post_init__(self):
        if self.band not in (None, "std", "quantile", "sd"):
            raise ValueError(f"Panel {self.var!r}: band={self.band!r}, valid: None, 'std', 'quantile', 'sd'")
        if self.xlim is not None and not self.xlim[0] < self.xlim[1]:
            raise ValueError(f"Panel {self.var!r}: xlim={self.xlim!r} must be (start, stop) with start < stop")
        unknown = set(self.marks) - set(PHASE_MARKERS)
        if unknown:
            raise ValueError(f"Panel {self.var!r}: marks {sorted(unknown)} not in {sorted(PHASE_MARKERS)}")

    @property
    def label(self) -> str:
        return self.ylabel or style.LABELS.get(self.var, self.var)


def _band(ds: xr.Dataset, var: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edge of the band of ``var``."""
    if kind in ("std", "sd"):
        mean = ds[var].values
        std = ds[var.replace("_mean", "_std") if kind == "std" else f"{var}_sd"].values
        return mean - std, mean + std
    q = ds[var.replace("_mean", "_q")]
    return q.sel(quantile=0.05, method="nearest").values, q.sel(quantile=0.95, method="nearest").values


def step_label(x: float, _pos=None) -> str:
    """Tick label of a step count: 0, 500, 20k, 1.5M."""
    if x == 0:
        return "0"
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:g}{suffix}"
    return f"{x:g}"


def log_label(y: float, _pos=None) -> str:
    """Tick label on a log axis: plain numbers from 0.001 to 9999, else $m\\times10^{k}$."""
    if y <= 0:
        return ""
    if 1e-3 <= y < 1e4:
        return f"{y:g}"
    k = math.floor(math.log10(y) + 1e-9)
    mant = round(y / 10**k, 6)
    return f"$10^{{{k}}}$" if mant == 1 else f"${mant:g}\\times10^{{{k}}}$"


def format_log_axis(ax: Axes, subs: tuple[float, ...] | None = None, axis: str = "y") -> None:
    """Log `axis` ("x" or "y") with major ticks at ``subs`` × 10^k and readable labels (see
    :func:`log_label`); minor ticks unlabelled, so labels never crowd.

    Default ``subs``: 1, 2, 5 when the drawn lines span under two decades, else 1 only.
    """
    if subs is None:
        data = [np.asarray(ln.get_xdata() if axis == "x" else ln.get_ydata(), float) for ln in ax.get_lines()]
        values = np.concatenate(data or [[1.0]])
        values = values[np.isfinite(values) & (values > 0)]
        wide = values.size and np.log10(values.max() / values.min()) >= 2
        subs = (1.0,) if wide else (1.0, 2.0, 5.0)
    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", nonpositive="mask")
    target.set_major_locator(LogLocator(base=10, subs=subs, numticks=6))
    target.set_major_formatter(FuncFormatter(log_label))
    target.set_minor_formatter(NullFormatter())


def format_step_axis(ax: Axes, label: bool = True) -> None:
    """Step ticks as 0, 250k, 1M and the axis label."""
    ax.xaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(step_label))
    if label:
        ax.set_xlabel(style.LABELS["step"])


def draw_run(ax: Axes, panel: Panel, run: Run) -> None:
    """The line of ``panel.var`` for ``run`` and its band (an ``"sd"`` band only when the run stores
    ``<var>_sd``)."""
    step = run.ds["step"].values
    if panel.band and (panel.band != "sd" or f"{panel.var}_sd" in run.ds):
        lo, hi = _band(run.ds, panel.var, panel.band)
        ax.fill_between(step, lo, hi, color=run.color, alpha=0.2, linewidth=0, gid=f"{run.key}:{panel.var}:band")
    ax.plot(
        step,
        run.ds[panel.var].values,
        color=run.color,
        linestyle=run.linestyle,
        label=run.label,
        gid=f"{run.key}:{panel.var}",
    )


def mark_phase_times(ax: Axes, run: Run, names: Sequence[str]) -> list[str]:
    """Vertical lines in the run's colour at its stored T_I/T_II (skipped when NaN: not reached);
    returns the names drawn (for the legend's line-style key)."""
    drawn = []
    for name in names:
        t = phase_time(run.ds, name)
        if math.isnan(t):
            continue
        ax.axvline(t, color=run.color, linestyle=PHASE_MARKERS[name], linewidth=0.8, gid=f"{run.key}:{name}")
        drawn.append(name)
    return drawn


def figure_legend(fig: Figure, axes: Sequence[Axes], phase_names: Sequence[str] = ()) -> None:
    """One legend above the panels: every labelled artist once, then a grey key of the phase-time
    line styles."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    for name in PHASE_MARKERS:
        if name in phase_names:
            handles[style.LABELS[name]] = Line2D([], [], color="0.35", linewidth=0.8, linestyle=PHASE_MARKERS[name])
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="outside upper center",
            ncols=min(len(handles), 4 if fig.get_figwidth() > style.SINGLE_COLUMN + 0.1 else 2),
        )


def fit_ylim(ax: Axes, xlim: tuple[float, float], margin: float = 0.05) -> None:
    """Show ``xlim`` and fit the y range to the lines' points inside it (matplotlib's autoscale
    would keep the y range of the whole curve, flattening a zoom)."""
    ax.set_xlim(*xlim)
    ys = [
        np.asarray(ln.get_ydata(), float)[
            (np.asarray(ln.get_xdata(), float) >= xlim[0]) & (np.asarray(ln.get_xdata(), float) <= xlim[1])
        ]
        for ln in ax.get_lines()
        if ln.get_gid() and not ln.get_gid().endswith(("T_I", "T_II"))
    ]
    ys = np.concatenate(ys or [np.array([])])
    ys = ys[np.isfinite(ys)]
    if ys.size:
        lo, hi = ys.min(), ys.max()
        pad = margin * (hi - lo) if hi > lo else margin * max(abs(hi), 1e-12)
        ax.set_ylim(lo - pad, hi + pad)


def shade_on(ax: Axes, step: np.ndarray, on: np.ndarray, label: str | None = None) -> None:
    """Shade the step intervals where ``on`` holds: record i on ⇒ [step_i, step_{i+1}] shaded (the
    last record opens no interval)."""
    on = np.asarray(on, bool)[:-1]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(int), [0]])))
    for i, (start, stop) in enumerate(zip(edges[::2], edges[1::2], strict=True)):
        ax.axvspan(
            step[start],
            step[stop],
            color=style.ROLE_COLORS["noise_on"],
            linewidth=0,
            zorder=0,
            gid="noise-on",
            label=label if i == 0 else None,
        )


def line_figure(
    runs: Sequence[Run],
    panels: Sequence[Panel],
    *,
    ncols: int | None = None,
    width: float = style.DOUBLE_COLUMN,
    prediction: xr.Dataset | None = None,
    prediction_label: str = "reduced ODE",
    shade: Run | None = None,
    aspect: float = style.GOLDEN,
    letters: bool = True,
) -> Figure:
    """Draw ``runs`` in every panel (a grid with ``ncols`` columns, default all in one row).

    ``prediction``: optional Dataset on the same ``step`` axis; each panel whose ``var`` has a
    ``pred_<var>`` there gets it overlaid as a black dashed line. ``shade``: a run whose noise-on
    intervals (``delta > 0``) are shaded in every panel. ``aspect``: panel width/height.
    ``letters``: panel letters (a), (b), ... when there are several panels. A panel with
    ``runs`` draws only those runs; one with ``xlim`` is a zoom (its x axis is not shared).
    """
    if not runs or not panels:
        raise ValueError(f"line_figure: need runs and panels, got {len(runs)} runs, {len(panels)} panels")
    ncols = ncols or len(panels)
    nrows = math.ceil(len(panels) / ncols)
    with style.context():
        zoom = any(p.xlim for p in panels)
        fig, axes = style.new_figure(ncols, nrows, width=width, aspect=aspect, sharex=not zoom)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        phase_names: set[str] = set()
        for i, (ax, panel) in enumerate(zip(axes, panels, strict=False)):
            if shade is not None:
                shade_on(ax, shade.ds["step"].values, shade.ds["delta"].values > 0, label=r"noise on ($\delta(t) > 0$)")
            drawn = [run for run in runs if panel.runs is None or run.key in panel.runs]
            if not drawn:
                raise ValueError(f"Panel {panel.var!r}: runs={panel.runs!r} match no run ({[run.key for run in runs]})")
            for run in drawn:
                draw_run(ax, panel, run)
            if prediction is not None and f"pred_{panel.var}" in prediction:
                pred = prediction[f"pred_{panel.var}"]
                ax.plot(
                    pred["step"].values,
                    pred.values,
                    color=style.ROLE_COLORS["theory"],
                    linestyle=(0, (3, 1.5)),
                    linewidth=0.9,
                    label=prediction_label,
                    gid=f"prediction:{panel.var}",
                )
            for run in drawn:
                phase_names.update(mark_phase_times(ax, run, panel.marks))
            if panel.hline is not None:
                ax.axhline(panel.hline, color="0.5", linewidth=0.6, linestyle=":")
            if panel.logy:
                format_log_axis(ax)
            if panel.xlim is not None:
                fit_ylim(ax, panel.xlim)
            ax.set_ylabel(panel.label)
            if panel.title:
                ax.set_title(panel.title)
            if letters and len(panels) > 1:
                ax.set_title(f"({chr(ord('a') + i)})", loc="left")
            format_step_axis(ax, label=zoom or i >= len(panels) - ncols)
        figure_legend(fig, axes[: len(panels)], phase_names)
    return fig
