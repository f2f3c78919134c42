"""Phase diagrams and scaling figures of a sweep (docs/sweeps.md).

Each ``fig_<name>(results_dir, out_dir) -> list[Path]`` opens a part of the default sweep
(``sweeps/small.yaml``, stored in ``<results_dir>/sweeps/small``) with the theory's predictions
(:func:`lnsgd.experiments.sweep.open_sweep` with ``theory=True``), draws it with ``build_<name>``
(the tests call these on small Datasets) and writes ``<out_dir>/<name>.pdf`` and ``.pgf``.
Heat maps are vector ``pcolormesh`` cells; grey cells are points that did not reach the phase
(T = NaN) or did not finish. The theory contours are the closed forms of
:mod:`lnsgd.experiments.sweep.theory`, whose times scale as B/(η²δ²) up to O(λ) terms (the fixed
point's shift, λ_eff, the conjugation: a few per cent over a sweep): the contour of level T is the curve
c·B/(η²δ²) = T with c the median T·η²δ²/B of the predictions at the grid points where they are defined.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from . import plots, style
from .results import MissingResultError

#: The sweep the registered figures read (sweeps/<name>.yaml → results/sweeps/<name>).
SWEEP = "small"
SPEC_PATH = Path("sweeps") / f"{SWEEP}.yaml"


class MissingSweepError(MissingResultError):
    """The sweep a figure needs is not stored; the message names ``lnsgd sweep`` to run."""

    def __init__(self, folder: Path, part: str):
        self.names = [f"sweep:{SWEEP}/{part}"]
        self.results_dir = folder
        self.commands = [f"lnsgd sweep {SPEC_PATH} --out {folder}"]
        self.command = self.commands[0]
        FileNotFoundError.__init__(self, f"missing sweep part {part!r} in {folder}/: make it with `{self.command}`")


def load_part(results_dir: str | Path, part: str) -> xr.Dataset:
    """``open_sweep`` of a part of the default sweep, with theory; raises MissingSweepError when
    no point of it is stored."""
    from lnsgd.experiments.sweep.combine import open_sweep

    folder = Path(results_dir) / "sweeps" / SWEEP
    if not (folder / "sweep.json").is_file():
        raise MissingSweepError(folder, part)
    ds = open_sweep(folder, part, theory=True)
    if ds.attrs["finished"] == 0:
        raise MissingSweepError(folder, part)
    return ds


def _edges(values: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around sorted centres (geometric midpoints on a log axis)."""
    v = np.log(values) if log else np.asarray(values, float)
    if len(v) == 1:
        mid = np.array([v[0] - 0.5, v[0] + 0.5]) if not log else np.array([v[0] - 0.3, v[0] + 0.3])
    else:
        inner = (v[1:] + v[:-1]) / 2
        mid = np.concatenate([[2 * v[0] - inner[0]], inner, [2 * v[-1] - inner[-1]]])
    return np.exp(mid) if log else mid


def heatmap(
    ax,
    ds: xr.Dataset,
    var: str,
    x: str,
    y: str,
    *,
    logx=False,
    logy=False,
    lognorm=False,
    cmap="viridis",
    label: str | None = None,
):
    """``ds[var]`` over (x, y) as pcolormesh cells (NaN grey) with a colour bar; returns the mesh."""
    data = ds[var].transpose(y, x)
    xs, ys = ds[x].values.astype(float), ds[y].values.astype(float)
    values = np.ma.masked_invalid(data.values.astype(float))
    finite = values.compressed()
    if lognorm and finite.size and finite.min() > 0:
        norm = LogNorm(finite.min(), finite.max())
    else:
        norm = Normalize(*(finite.min(), finite.max()) if finite.size else (0, 1))
    ax.set_facecolor("0.85")
    mesh = ax.pcolormesh(
        _edges(xs, logx), _edges(ys, logy), values, norm=norm, cmap=cmap, shading="flat", rasterized=False
    )
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    for axis, vals in ((ax.xaxis, xs), (ax.yaxis, ys)):  # ticks at the grid values
        axis.set_ticks(vals, [f"{v:.3g}" for v in vals])
        axis.set_ticks([], minor=True)
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    bar = ax.figure.colorbar(mesh, ax=ax, label=label or style.LABELS.get(var, var))
    bar.solids.set_rasterized(False)  # matplotlib rasterizes long colour bars; PGF needs vectors
    return mesh


def _label(field: str) -> str:
    return {
        "eta": r"step size $\eta$",
        "delta": r"label noise $\delta$",
        "m": r"width $m$",
        "d": r"input dimension $d$",
        "rho": r"SAM radius $\rho$",
    }.get(field, field)


def theory_constant(ds: xr.Dataset, var: str) -> float:
    """c = median of T_theory·η²δ²/B over the points where it is defined (nearly one number: the
    predictions depend on λt but for O(λ) terms)."""
    c = ds[f"{var}_theory"] / ds["time_scale"]
    return float(np.nanmedian(c.values))


def build_phases(ds: xr.Dataset) -> Figure:
    """T_I and T_II over (η, δ), log colour, with the theory's contours c·B/(η²δ²) = T."""
    with style.context():
        fig, axes = style.new_figure(2, 1, width=style.DOUBLE_COLUMN, aspect=1.3)
        batch = _base_value(ds, "batch_size", 1)
        eta_f = np.geomspace(*_edges(ds["eta"].values.astype(float), True)[[0, -1]], 100)
        delta_f = np.linspace(*_edges(ds["delta"].values.astype(float), False)[[0, -1]], 100)
        E, D = np.meshgrid(eta_f, delta_f)
        for ax, var in zip(axes, ("T_I", "T_II"), strict=True):
            mesh = heatmap(ax, ds, var, "eta", "delta", logx=True, lognorm=True, label=style.LABELS[var] + " (steps)")
            c = theory_constant(ds, var)
            if np.isfinite(c) and mesh.norm.vmin > 0:  # no contours over an all-NaN map
                levels = [lv for lv in np.geomspace(mesh.norm.vmin, mesh.norm.vmax, 5)]
                cs = ax.contour(
                    E,
                    D,
                    c * batch / (E**2 * np.maximum(D, 1e-12) ** 2),
                    levels=levels,
                    colors=style.ROLE_COLORS["theory"],
                    linewidths=0.7,
                    linestyles="--",
                )
                ax.clabel(cs, fmt=lambda v: f"{v:.2g}", fontsize=5)
            ax.set_title(f"{style.LABELS[var]}; dashed: theory")
    return fig


def build_lazy_rich(ds: xr.Dataset) -> Figure:
    """Final mean|cos(w_k,β*)| and ‖W−W0‖_F/‖W0‖_F over (δ, m): the lazy (δ = 0) vs rich map."""
    with style.context():
        fig, axes = style.new_figure(2, 1, width=style.DOUBLE_COLUMN, aspect=1.3)
        heatmap(axes[0], ds, "cos_final", "delta", "m", logy=True, label=r"final " + style.LABELS["cos_abs_mean"])
        heatmap(
            axes[1],
            ds,
            "w_rel_change_final",
            "delta",
            "m",
            logy=True,
            lognorm=True,
            cmap="magma",
            label=r"final " + style.LABELS["w_rel_change"],
        )
    return fig


def build_plateau(ds: xr.Dataset) -> Figure:
    """Plateau of mean‖w_k‖ (markers) against √τ·mean|a_k| (lines) vs m (one curve per d) and vs
    d (one curve per m)."""
    with style.context():
        fig, axes = style.new_figure(2, 1, width=style.DOUBLE_COLUMN)
        for ax, x, other in ((axes[0], "m", "d"), (axes[1], "d", "m")):
            for i, value in enumerate(ds[other].values):
                row = ds.sel({other: value})
                color = f"C{i % 7}"
                ax.plot(row[x], row["plateau"], "o", color=color, label=f"${other} = {value}$")
                ax.plot(row[x], row["balanced_plateau"], "-", color=color, lw=0.8)
            plots.format_log_axis(ax, axis="x")
            plots.format_log_axis(ax, axis="y")
            ax.set_xlabel(_label(x))
            ax.set_ylabel(r"plateau of mean $\|w_k\|$")
            ax.legend(fontsize=5, loc="best", frameon=False)
    return fig


def build_collapse(ds: xr.Dataset) -> Figure:
    """T·η²δ²/B against η²δ²/B for T_I and T_II: flat if the first-order scaling holds; dashed:
    the isotropic theory's constant."""
    with style.context():
        fig, axes = style.new_figure(2, 1, width=style.DOUBLE_COLUMN)
        for ax, var in zip(axes, ("T_I", "T_II"), strict=True):
            for i, delta in enumerate(ds["delta"].values):
                row = ds.sel(delta=delta)
                ax.plot(
                    1 / row["time_scale"],
                    row[var] / row["time_scale"],
                    "o-",
                    color=f"C{i % 7}",
                    label=rf"$\delta = {float(delta):g}$",
                )
            c = theory_constant(ds, var)
            if np.isfinite(c):
                ax.axhline(c, color=style.ROLE_COLORS["theory"], ls="--", lw=0.8, label="theory")
            plots.format_log_axis(ax, axis="x")
            ax.set_xlabel(r"$\eta^2\delta^2/B$")
            ax.set_ylabel(style.LABELS[var] + r"$\,\eta^2\delta^2/B$")
            ax.set_ylim(0, None)
            ax.legend()
    return fig


def build_sam(ds: xr.Dataset) -> Figure:
    """1-SAM's ρ against label noise's δ: T_I over (ρ, δ) with contours of equal regularization
    λ = ηδ²/(4B) + λ_SAM (1-SAM's regularizer as a λ tr G equivalent at the initial state,
    experiments/sweep/theory.py), and η·T_I against λ for every point (one law if the regularizers
    act alike; crosses: the closed-form prediction of each point)."""
    with style.context():
        fig, axes = style.new_figure(2, 1, width=style.DOUBLE_COLUMN, aspect=1.3)
        heatmap(axes[0], ds, "T_I", "rho", "delta", lognorm=True, label=style.LABELS["T_I"] + " (steps)")
        lam = ds["lambda_implicit"].transpose("delta", "rho")
        if np.isfinite(lam.values).sum() >= 4:
            axes[0].contour(
                ds["rho"].values,
                ds["delta"].values,
                lam.values,
                levels=5,
                colors=style.ROLE_COLORS["theory"],
                linewidths=0.7,
                linestyles="--",
            )
        axes[0].set_title(r"dashed: equal $\lambda = \eta\delta^2/4B + \lambda_{\mathrm{SAM}}$")
        eta = _base_value(ds, "eta", 1e-3)
        flat = ds[["T_I", "T_I_theory", "lambda_implicit"]].stack(point=("delta", "rho"))
        rho, delta = flat["rho"].values, flat["delta"].values
        groups = (
            ("label-noise SGD", rho == 0, "label_noise"),
            ("SAM, $\\delta = 0$", delta == 0, "sam"),
            ("SAM + label noise", (rho > 0) & (delta > 0), "usam"),
        )
        for label, mask, role in groups:
            axes[1].plot(
                flat["lambda_implicit"].values[mask],
                eta * flat["T_I"].values[mask],
                "o",
                color=style.ROLE_COLORS[role],
                label=label,
            )
        axes[1].plot(  # one theory point per run: 1-SAM's λ follows the path, not only its initial value
            flat["lambda_implicit"].values,
            eta * flat["T_I_theory"].values,
            "x",
            color=style.ROLE_COLORS["theory"],
            ms=4,
            label="theory",
        )
        plots.format_log_axis(axes[1], axis="x")
        plots.format_log_axis(axes[1], axis="y")
        axes[1].set_xlabel(r"$\lambda$ (SAM: equivalent at initialisation)")
        axes[1].set_ylabel(r"$\eta\,T_{\mathrm{I}}$ (time)")
        axes[1].legend()
    return fig


def _base_value(ds: xr.Dataset, field: str, default: float) -> float:
    """A field the part does not sweep: its base value in the sweep's manifest (else `default`,
    the SimulationConfig default)."""
    import json

    folder = Path(ds.attrs.get("results", ""))
    try:
        manifest = json.loads((folder / "sweep.json").read_text())
        return float(manifest["sweeps"][ds.attrs["part"]]["base"].get(field, default))
    except (OSError, KeyError, ValueError):
        return float(default)


def _figure(name: str, part: str, build):
    def fig(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
        return style.save(build(load_part(results_dir, part)), Path(out_dir) / name)

    fig.__name__ = f"fig_{name.replace('-', '_')}"
    fig.__doc__ = f"``{name}``: {build.__doc__.splitlines()[0]} (sweep part {part!r})."
    return fig


fig_sweep_phases = _figure("sweep-phases", "phases", build_phases)
fig_sweep_lazy_rich = _figure("sweep-lazy-rich", "lazy-rich", build_lazy_rich)
fig_sweep_plateau = _figure("sweep-plateau", "plateau", build_plateau)
fig_sweep_collapse = _figure("sweep-collapse", "phases", build_collapse)
fig_sweep_sam = _figure("sweep-sam", "sam", build_sam)

#: Entries for figures/registry.py FIGURES.
SWEEP_FIGURES = {
    "sweep-phases": fig_sweep_phases,
    "sweep-lazy-rich": fig_sweep_lazy_rich,
    "sweep-plateau": fig_sweep_plateau,
    "sweep-collapse": fig_sweep_collapse,
    "sweep-sam": fig_sweep_sam,
}
