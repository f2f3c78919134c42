"""Theory against simulation: mean‖w_k‖ and mean|cos(w_k, β*)| of one `lnsgd check` Dataset with every
stored prediction (pred_<v>_<method>) on the same step axis."""

from __future__ import annotations

from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

from lnsgd.experiments.check.grid import PAPER, label

from . import plots, style
from .results import MissingResultError

METHOD_LABELS = {
    "flow": r"flow, $\lambda$",
    "flow_eff": r"flow, $\lambda_{\mathrm{eff}}$",
    "flow_conj": r"flow, $\lambda_{\mathrm{eff}}$, conjugated",
    "flow_lyap": "flow, exact-$\\eta$ fluctuations",
    "flow_eff_jensen": r"flow, $\lambda_{\mathrm{eff}}$, over the fast fluctuation",
    "flow_conj_jensen": r"flow, conjugated, over the fast displacement",
    "sde": "SDE ensemble",
    "full": "full flow",
}
METHOD_COLORS = {  # one fixed colour per theory, whichever of them a Dataset holds
    "flow": "orange",
    "flow_eff": "blue",
    "flow_conj": "bluish_green",
    "flow_lyap": "vermillion",
    "flow_eff_jensen": "blue",  # dotted: the Jensen evaluation of the flow of the same colour
    "flow_conj_jensen": "bluish_green",
    "sde": "reddish_purple",
    "full": "sky_blue",
}
JENSEN_DASHES = ":"  # the Jensen evaluations; every other prediction is dashed


def build_check(ds: xr.Dataset) -> Figure:
    """Two panels (mean‖w_k‖, mean|cos|): the simulation's mean over noise paths in black (grey: the
    range over paths), each prediction dashed in its own colour."""
    fig, axes = style.new_figure(ncols=2, width=style.DOUBLE_COLUMN)
    steps = ds["step"].values
    shown = [m for m in METHOD_LABELS if f"pred_w_norm_mean_{m}" in ds]
    methods = [(m, METHOD_LABELS[m], style.OKABE_ITO[METHOD_COLORS[m]]) for m in shown]
    paths = ds.sizes.get("path", 1)
    for ax, var in zip(axes, ("w_norm_mean", "cos_abs_mean"), strict=True):
        if f"{var}_paths" in ds:
            spread = ds[f"{var}_paths"]
            ax.fill_between(
                steps,
                spread.min("path").values,
                spread.max("path").values,
                color="0.8",
                lw=0,
                label=f"range over {paths} noise paths",
            )
        ax.plot(steps, ds[var].values, color="black", lw=1.4, label="simulation, mean over noise paths")
        for method, text, color in methods:
            dashes = JENSEN_DASHES if method.endswith("_jensen") else "--"
            ax.plot(steps, ds[f"pred_{var}_{method}"].values, ls=dashes, lw=1.0, color=color, label=text)
        ax.set_ylabel(style.LABELS[var])
        plots.format_step_axis(ax)
    plots.figure_legend(fig, axes)
    return fig


def fig_check(results_dir: str | Path, out_dir: str | Path, name: str | None = None) -> list[Path]:
    """The check panel of the paper configuration (seed 0), or of the Dataset file `name`."""
    folder = Path(results_dir) / "check"
    files = [folder / name] if name else sorted(folder.glob("check_*.nc"))
    chosen = None
    for path in files:
        if not path.exists():
            continue
        with xr.open_dataset(path) as ds:
            if name or ds.attrs.get("check_label") == label(PAPER):
                chosen = ds.load()
                break
    if chosen is None:
        raise MissingResultError("check", folder)
    with style.context():
        return style.save(build_check(chosen), Path(out_dir) / "check")
