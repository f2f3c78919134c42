"""Real-data figure (docs/real-data.md): the erf network against its NTK linearization.

A real-data result (preset ``real-digits`` or ``real-cifar10``) is one Dataset with dims
``noise`` (label-flip probability p of each run) × ``step``. Every run is drawn through the one
plotting mechanism (:func:`lnsgd.figures.plots.line_figure`): the network of flip probability p is
a :class:`~lnsgd.figures.plots.Run` (solid), its linearization another Run (dashed, same colour)
whose ``lin_*`` variables are renamed to the network's names, so a loss panel draws both. Panels
of quantities the linearization does not have (neuron norms, distance, NTK change) draw the
network runs only (``Panel.runs``).
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

from . import style
from .plots import Panel, Run, line_figure
from .results import load_result

#: Axis labels of the real-data variables (docs/real-data.md).
REAL_LABELS = {
    "train_loss": r"train loss (MSE)",
    "test_loss": r"test loss (MSE)",
    "test_acc": r"test accuracy",
    "w_norm_mean": r"mean $\|w_k\|$",
    "w_norm_std": r"std of $\|w_k\|$",
    "dist_test": r"RMS $f - f_{\mathrm{lin}}$ (test)",
    "ntk_rel_change": style.LABELS["ntk_rel_change"],
}

#: Colour of a run by whether its labels are flipped (p > 0) or clean.
_COLORS = {True: style.ROLE_COLORS["label_noise"], False: style.ROLE_COLORS["clean"]}


def run_key(p: float, linear: bool = False) -> str:
    """Key (gid prefix) of the network (``net:p``) or linearization (``lin:p``) run of flip prob p."""
    return f"{'lin' if linear else 'net'}:{p:g}"


def real_runs(ds: xr.Dataset) -> list[Run]:
    """Network and linearization runs of every flip probability in ``ds`` (noisy first)."""
    if "noise" not in ds.dims or "step" not in ds.dims:
        raise ValueError(f"real-data result has dims {tuple(ds.dims)}; expected ('noise', 'step') (docs/real-data.md)")
    runs = []
    for p in sorted(ds["noise"].values.astype(float), reverse=True):
        one = ds.sel(noise=p)
        name = rf"flip $p = {p:g}$" if p > 0 else "clean labels"
        lin = one[[v for v in one.data_vars if v.startswith("lin_")]]
        lin = lin.rename({v: v.removeprefix("lin_") for v in lin.data_vars})
        runs.append(Run(one, run_key(p), f"network, {name}", _COLORS[p > 0]))
        runs.append(Run(lin, run_key(p, True), f"linearization, {name}", _COLORS[p > 0], linestyle=(0, (3, 1.5))))
    return runs


def build_real(ds: xr.Dataset) -> Figure:
    """Losses of network and linearization (a, b) and the network's distance to it (c); mean and
    std of first-layer neuron norms (d, e) and the relative NTK change (f); with and without
    label flips."""
    runs = real_runs(ds)
    nets = tuple(r.key for r in runs if r.key.startswith("net:"))
    panels = [
        Panel("train_loss", logy=True, marks=(), ylabel=REAL_LABELS["train_loss"]),
        Panel("test_loss", logy=True, marks=(), ylabel=REAL_LABELS["test_loss"]),
        Panel("dist_test", marks=(), runs=nets, ylabel=REAL_LABELS["dist_test"]),
        Panel("w_norm_mean", marks=(), runs=nets, ylabel=REAL_LABELS["w_norm_mean"]),
        Panel("w_norm_std", marks=(), runs=nets, ylabel=REAL_LABELS["w_norm_std"]),
        Panel("ntk_rel_change", marks=(), runs=nets, ylabel=REAL_LABELS["ntk_rel_change"]),
    ]
    return line_figure(runs, panels, ncols=3)


def fig_real(results_dir: str | Path, out_dir: str | Path, name: str = "real-digits") -> list[Path]:
    """Real-data figure of result ``name`` (``real-digits`` or ``real-cifar10``), written as
    ``<out_dir>/<name>.pdf/.pgf``."""
    return style.save(build_real(load_result(results_dir, name)), Path(out_dir) / name)


def fig_real_digits(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """``real-digits``: the real-data figure on scikit-learn's digits."""
    return fig_real(results_dir, out_dir, "real-digits")


def fig_real_cifar10(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """``real-cifar10``: the real-data figure on CIFAR-10 (optional: needs the user's data)."""
    return fig_real(results_dir, out_dir, "real-cifar10")


__all__ = ["build_real", "fig_real", "fig_real_digits", "fig_real_cifar10", "real_runs", "run_key"]
