"""Laziness against the width m (docs/theory.md §7): the final relative change of W
and of the NTK Gram matrix at δ = 0 over m, against the linearized-flow estimates of
:mod:`lnsgd.theory.lazy`, with δ = 4 for contrast.

Data: the part ``lazy-rich`` of the default sweep (``results/sweeps/small``, a (δ, m) grid). The
combined sweep Dataset has the final ‖W−W0‖_F/‖W0‖_F but not the NTK change, so each point's own
file (``<folder>/<config_hash>.nc``) is read for ``ntk_rel_change`` and for ‖e₀‖ = ‖β₀ − β*‖ =
√(2·test loss at step 0), the size of the initial error that the estimates are proportional to.

Theory: ``relative_change_estimate(p)`` (‖ΔW‖/‖W₀‖) and ``kernel_change_estimate(p)`` (‖ΔK‖_F/‖K₀‖_F
for K = S + A I) of the run's parametrization p, evaluated with the run's d, α and the mean ‖e₀‖ of
the δ = 0 points in place of ‖β*‖; their m-exponents (``m_exponent``: −3/2 and −2 in the standard
parametrization) label the lines. The simulation's NTK is the n × n Gram s²X K Xᵀ, not K itself:
the same m-scaling, a different prefactor.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import sympy as sp
import xarray as xr
from matplotlib.figure import Figure

from . import style
from .sweeps import SWEEP, MissingSweepError

PART = "lazy-rich"
#: Noise levels drawn: the lazy run and its contrast.
DELTAS = (0.0, 4.0)
#: Final-change variables drawn and their theory estimate (name in lnsgd.theory.lazy).
ESTIMATES = {"w_rel_change": "relative_change_estimate", "ntk_rel_change": "kernel_change_estimate"}


def load_lazy_rich(results_dir: str | Path) -> xr.Dataset:
    """The ``lazy-rich`` sweep part as a (δ, m) Dataset: ``w_rel_change`` and ``ntk_rel_change`` at
    the last record, ``e0_norm`` = √(2 L_test(0)), NaN for points not completed; attrs d, alpha,
    parametrization (shared by the points). Raises MissingSweepError naming ``lnsgd sweep``."""
    from lnsgd.experiments.sweep.combine import open_sweep

    folder = Path(results_dir) / "sweeps" / SWEEP
    if not (folder / "sweep.json").is_file():
        raise MissingSweepError(folder, PART)
    summary = open_sweep(folder, PART)
    if summary.attrs.get("finished", 0) == 0 or not {"delta", "m"} <= set(summary.dims):
        raise MissingSweepError(folder, PART)
    summary = summary.transpose("delta", "m", ...)
    shape = summary["status"].shape
    out = {v: np.full(shape, np.nan) for v in (*ESTIMATES, "e0_norm")}
    cfg: dict = {}
    for idx in np.ndindex(shape):
        if summary["status"].values[idx] != "completed":
            continue
        with xr.open_dataset(folder / f"{summary['config_hash'].values[idx]}.nc") as ds:
            for v in ESTIMATES:
                out[v][idx] = float(ds[v].values[-1])
            out["e0_norm"][idx] = float(np.sqrt(2 * ds["test_loss"].values[0]))
            cfg = cfg or json.loads(ds.attrs["config"])
    result = xr.Dataset(
        {v: (("delta", "m"), a) for v, a in out.items()},
        coords={"delta": summary["delta"].values.astype(float), "m": summary["m"].values.astype(float)},
    )
    result.attrs.update(
        d=float(cfg.get("d", np.nan)),
        alpha=float(cfg.get("alpha", 1.0)),
        parametrization=str(cfg.get("parametrization", "standard")),
        source=str(folder),
        part=PART,
    )
    return result


@cache
def estimate(var: str, parametrization: str) -> tuple[sp.Expr, sp.Expr]:
    """The theory's estimate of ``var`` (sympy, in α, ‖β*‖, d, m) and its m-exponent."""
    from lnsgd.theory import lazy

    expr = getattr(lazy, ESTIMATES[var])(parametrization)
    return expr, lazy.m_exponent(expr)


def theory_curve(ds: xr.Dataset, var: str, m: np.ndarray) -> np.ndarray:
    """The estimate of ``var`` at widths ``m`` with the sweep's d, α and mean δ = 0 ‖e₀‖."""
    from lnsgd.theory.symbols import alpha, beta_star_norm, d
    from lnsgd.theory.symbols import m as m_sym

    expr, _ = estimate(var, ds.attrs["parametrization"])
    f = sp.lambdify((alpha, beta_star_norm, d, m_sym), expr, "numpy")
    e0 = float(np.nanmean(ds["e0_norm"].sel(delta=0.0).values))
    return np.broadcast_to(f(ds.attrs["alpha"], e0, ds.attrs["d"], np.asarray(m, float)), np.shape(m))


def log_slope(m: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y against log m over the finite positive points."""
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(m[ok]), np.log(y[ok]), 1)[0])


def _exponent_tex(e: sp.Expr) -> str:
    """An exponent as plain TeX (−3/2, −2): no amsmath needed in the PGF."""
    r = sp.nsimplify(e)
    return str(r.p) if r.q == 1 else f"{r.p}/{r.q}"


def build_laziness_m(ds: xr.Dataset, deltas: tuple[float, ...] = DELTAS) -> Figure:
    """Final ‖W−W0‖_F/‖W0‖_F (a) and ‖K_t−K_0‖_F/‖K_0‖_F (b) against m, log–log, for each δ in
    ``deltas`` (markers), with the theory's estimate at δ = 0 (dashed; m-exponent in the legend)."""
    roles = {0.0: "clean"}
    m = ds["m"].values
    fine = np.geomspace(m.min(), m.max(), 60)
    with style.context():
        fig, axes = style.new_figure(1, 2, width=style.SINGLE_COLUMN, aspect=1.8, sharex=True)
        for i, (ax, var) in enumerate(zip(axes, ESTIMATES, strict=True)):
            for delta in deltas:
                ax.plot(
                    m,
                    ds[var].sel(delta=delta).values,
                    marker="o",
                    markersize=3,
                    linewidth=0.8,
                    color=style.ROLE_COLORS[roles.get(delta, "label_noise")],
                    label=rf"simulation, $\delta = {delta:g}$",
                    gid=f"delta={delta:g}:{var}",
                )
            _, exponent = estimate(var, ds.attrs["parametrization"])
            ax.plot(
                fine,
                theory_curve(ds, var, fine),
                color=style.ROLE_COLORS["theory"],
                linestyle=(0, (3, 1.5)),
                linewidth=0.9,
                gid=f"theory:{var}",
                label=r"theory (linearized flow), $\delta = 0$",
            )
            ax.text(
                0.03,
                0.05,
                rf"theory $\propto m^{{{_exponent_tex(exponent)}}}$ for $m \gg d$",
                transform=ax.transAxes,
                fontsize=7,
                gid=f"exponent:{var}",
            )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(m, [f"{v:g}" for v in m])
            ax.set_xticks([], minor=True)
            ax.set_ylabel("final " + style.LABELS[var])
            ax.set_title(f"({chr(ord('a') + i)})", loc="left")
        axes[-1].set_xlabel(r"width $m$")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=2)
    return fig


def fig_laziness_m(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """``laziness-m``: laziness against the width from the sweep part ``lazy-rich``."""
    return style.save(build_laziness_m(load_lazy_rich(results_dir)), Path(out_dir) / "laziness-m")


__all__ = ["build_laziness_m", "fig_laziness_m", "load_lazy_rich", "theory_curve", "log_slope", "estimate"]
