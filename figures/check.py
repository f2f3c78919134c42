"""Theory against simulation: mean‖w_k‖ and mean|cos(w_k, β*)| of one `lnsgd check` Dataset with every
stored prediction (pred_<v>_<method>) on the same step axis."""
from __future__ import annotations

from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

from . import style

METHOD_LABELS = {"flow": r"flow, $\lambda$", "flow_eff": r"flow, $\lambda_{\mathrm{eff}}$",
                 "sde": "SDE ensemble", "full": "full flow"}


def build_check(ds: xr.Dataset) -> Figure:
    """Two panels (mean‖w_k‖, mean|cos|): simulation in black, each prediction dashed."""
    fig, axes = style.new_figure(ncols=2, width=style.DOUBLE_COLUMN)
    steps = ds["step"].values
    for ax, var, ylabel in zip(axes, ("w_norm_mean", "cos_abs_mean"),
                               (r"mean $\|w_k\|$", r"mean $|\cos(w_k,\beta^*)|$")):
        ax.plot(steps, ds[var].values, color="black", lw=1.2, label="SGD (simulation)")
        for method, text in METHOD_LABELS.items():
            key = f"pred_{var}_{method}"
            if key in ds:
                ax.plot(steps, ds[key].values, ls="--", lw=1.0, label=text)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize="small")
    fig.suptitle(ds.attrs.get("check_label", ""), fontsize="small")
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
            if name or ds.attrs.get("check_label") == "delta=4 B=1 xi=gaussian eta=0.001 seed=0":
                chosen = ds.load()
                break
    if chosen is None:
        raise FileNotFoundError(f"no paper-config check Dataset in {folder}/: make it with `lnsgd check`")
    with style.context():
        return style.save(build_check(chosen), Path(out_dir) / "check")
