"""One-line summaries of a stored result: final state and phase times, mean ± sd over noise paths,
or the real-data comparison."""

from __future__ import annotations

import numpy as np
import xarray as xr


def summary(ds: xr.Dataset) -> str:
    """One line: the final state and the phase times (or the real-data comparison)."""
    if "noise" in ds.dims:  # real-data experiment: one row per noise level
        parts = []
        for p in ds["noise"].values:
            row = ds.sel(noise=p).isel(step=-1)
            parts.append(
                f"flip {p:g}: test loss {float(row.test_loss):.4g} (linearised "
                f"{float(row.lin_test_loss):.4g}), mean||w_k|| {float(row.w_norm_mean):.4f}"
            )
        return "; ".join(parts)
    if "beta_error" in ds:  # declared model
        return _declared_summary(ds)
    if "path" in ds.dims:  # noise-path ensemble: mean ± sd over paths
        last = ds.isel(step=-1)
        return (
            f"{ds.sizes['path']} paths, step {int(last.step)}: "
            f"mean||w_k|| = {_spread(last.w_norm_mean)}, mean|cos(w_k,beta*)| = {_spread(last.cos_abs_mean)}, "
            f"T_I = {_spread(ds['T_I'], '.0f')}, T_II = {_spread(ds['T_II'], '.0f')} (mean +- sd over paths)"
        )
    last = ds.isel(step=-1)
    return (
        f"step {int(last.step)}: mean||w_k|| = {float(last.w_norm_mean):.4f}, "
        f"mean|cos(w_k,beta*)| = {float(last.cos_abs_mean):.4f}, "
        f"T_I = {_phase(ds['T_I'])}, T_II = {_phase(ds['T_II'])}"
    )


def _declared_summary(ds: xr.Dataset) -> str:
    """Final recovery error, ℓ1 norm and tr G (and the neuron observables), ± sd over paths."""
    last = ds.isel(step=-1)
    paths = f"{ds.sizes['path']} paths, " if "path" in ds.dims else ""
    text = (
        f"{ds.attrs.get('model', 'model')}, {paths}step {int(last.step)}: ||beta - beta*|| = "
        f"{_spread(last.beta_error)}, ||beta||_1 = {_spread(last.beta_l1)} (||beta*||_1 = "
        f"{float(abs(ds.beta_star).sum()):.4g}), tr G = {_spread(last.trace_G)}"
    )
    if "w_norm_mean" in ds:
        text += (
            f", mean||w_k|| = {_spread(last.w_norm_mean)}, mean|cos(w_k,beta*)| = {_spread(last.cos_abs_mean)}, "
            f"T_II = {_spread(ds['T_II'], '.0f')}"
        )
    return text


def _phase(var: xr.DataArray) -> str:
    value = float(var)
    return f"{value:.0f}" if np.isfinite(value) else f"not reached ({var.attrs.get('reason', '')})"


def _spread(var: xr.DataArray, fmt: str = ".4f") -> str:
    """mean ± sd over the paths where the value exists; says how many paths lack it."""
    values = np.atleast_1d(np.asarray(var.values, dtype=float))
    ok = values[np.isfinite(values)]
    if len(ok) == 0:
        return f"not reached ({var.attrs.get('reason', '')})"
    text = f"{ok.mean():{fmt}} +- {ok.std(ddof=1):{fmt}}" if len(ok) > 1 else f"{ok[0]:{fmt}}"
    return text + (f" [{var.attrs.get('reason', '')}]" if len(ok) < len(values) else "")
