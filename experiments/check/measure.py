"""Measures of a (w, cos) curve pair, their path statistics, and the targets a prediction must meet.

Per curve: Phase I rate (fit of log(mean‖w_k‖ − plateau) against steps while the excess is between
85 % and 15 % of its initial value: the approach to the plateau, not a plain exponential), plateau
(median of the last 10 % of records), T_I and T_II (experiments/phases.py). The simulation side is the
mean curve over noise paths; its path standard error is the sd of the per-path measures / √paths
(for the curves, the largest pointwise sd / √paths).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lnsgd.experiments.phases import phase_one_time, phase_two_time, smooth

RATE_WINDOW = (0.15, 0.85)  # fraction of the initial excess over the plateau used in the rate fit
SE_FRACTION = 0.25  # the path standard error must be at most this fraction of each target


@dataclass(frozen=True)
class Targets:
    """Relative errors (rate, plateau, T_II) and absolute curve errors a prediction must meet."""

    rate: float = 0.05
    plateau: float = 0.02
    T_II: float = 0.05
    dw: float = 0.01
    dcos: float = 0.025


TARGETS = Targets()
# (row key, target field, description)
JUDGED_ERRORS = (
    ("rate_err", "rate", "Phase I rate rel. error"),
    ("plateau_err", "plateau", "plateau rel. error"),
    ("T_II_err", "T_II", "T_II rel. error"),
    ("max_dw", "dw", "max |d mean||w_k|||"),
    ("max_dcos", "dcos", "max |d mean|cos|||"),
)


def approach_rate(steps: np.ndarray, w: np.ndarray, window=RATE_WINDOW) -> tuple[float, float, str]:
    """(rate per step, plateau, reason) of the approach of mean‖w_k‖ to its plateau."""
    n_tail = max(3, int(np.ceil(0.1 * len(w))))
    plateau = float(np.median(w[-n_tail:]))
    h = smooth(w, 5) - plateau
    if not np.isfinite(h[0]) or h[0] <= 0:
        return np.nan, plateau, "no fall towards a plateau"
    frac = h / h[0]
    below = np.nonzero(frac < window[0])[0]
    if len(below) == 0:
        return np.nan, plateau, f"excess never fell below {window[0]:.0%} of its initial value"
    stop = below[0]
    sel = np.nonzero((frac[:stop] <= window[1]) & (frac[:stop] >= window[0]))[0]
    if len(sel) < 3:
        return np.nan, plateau, "fewer than 3 records in the fit window"
    slope = np.polyfit(steps[sel].astype(float), np.log(h[sel]), 1)[0]
    return float(-slope), plateau, ""


def measures(steps: np.ndarray, w: np.ndarray, cos: np.ndarray) -> dict:
    rate, plateau, why = approach_rate(steps, w)
    t1, t2 = phase_one_time(steps, w), phase_two_time(steps, cos)
    return {
        "rate": rate,
        "plateau": plateau,
        "T_I": t1.step,
        "T_II": t2.step,
        "why": "; ".join(x for x in (why, t1.reason, t2.reason) if x),
    }


def _rel(pred: float, ref: float) -> float:
    return (pred - ref) / abs(ref) if np.isfinite(pred) and np.isfinite(ref) and ref != 0 else np.nan


def path_errors(steps: np.ndarray, w_paths: np.ndarray, cos_paths: np.ndarray) -> dict:
    """Standard errors over paths (rows): relative for rate, plateau, T_II; absolute for the curves."""
    n = w_paths.shape[0]
    per = [measures(steps, w, c) for w, c in zip(w_paths, cos_paths, strict=True)]
    out = {"paths": n}
    for key in ("rate", "plateau", "T_II"):
        values = np.array([p[key] for p in per], dtype=float)
        ok = values[np.isfinite(values)]
        out[f"{key}_sd"] = float(np.std(ok, ddof=1) / abs(np.mean(ok))) if len(ok) > 1 else np.nan
        out[f"{key}_se"] = out[f"{key}_sd"] / np.sqrt(len(ok)) if len(ok) > 1 else np.nan
    for key, curves in (("dw", w_paths), ("dcos", cos_paths)):
        out[f"{key}_se"] = float(np.max(np.std(curves, axis=0, ddof=1)) / np.sqrt(n)) if n > 1 else np.nan
    return out


def compare(steps, w_paths, cos_paths, pred_w, pred_cos) -> dict:
    """The prediction's measures and signed relative errors against the path-mean curve's, its largest
    curve deviations, and the path standard errors."""
    sim_w, sim_cos = w_paths.mean(axis=0), cos_paths.mean(axis=0)
    ms, mp = measures(steps, sim_w, sim_cos), measures(steps, pred_w, pred_cos)
    finite = np.all(np.isfinite(pred_w)) and np.all(np.isfinite(pred_cos))
    return {
        **{f"{k}_sim": ms[k] for k in ("rate", "plateau", "T_I", "T_II")},
        **{f"{k}_pred": mp[k] for k in ("rate", "plateau", "T_I", "T_II")},
        **{f"{k}_err": _rel(mp[k], ms[k]) for k in ("rate", "plateau", "T_I", "T_II")},
        "max_dw": float(np.max(np.abs(pred_w - sim_w))) if finite else np.nan,
        "max_dcos": float(np.max(np.abs(pred_cos - sim_cos))) if finite else np.nan,
        **path_errors(steps, w_paths, cos_paths),
        "why_sim": ms["why"],
        "why_pred": mp["why"],
    }


def _se_key(err_key: str) -> str:
    return {
        "rate_err": "rate_se",
        "plateau_err": "plateau_se",
        "T_II_err": "T_II_se",
        "max_dw": "dw_se",
        "max_dcos": "dcos_se",
    }[err_key]


def imprecise(row: dict, targets: Targets = TARGETS) -> list[str]:
    """The targets whose path standard error exceeds SE_FRACTION of the target (more paths needed)."""
    return [
        name
        for key, name, _ in JUDGED_ERRORS
        if np.isfinite(row[_se_key(key)]) and row[_se_key(key)] > SE_FRACTION * getattr(targets, name)
    ]


def misses(row: dict, targets: Targets = TARGETS) -> list[str]:
    """The targets a comparison row misses, each as 'quantity: value vs target' (NaN counts as missed)."""
    out = []
    for key, name, what in JUDGED_ERRORS:
        value, limit = abs(row[key]), getattr(targets, name)
        if not (np.isfinite(value) and value <= limit):
            out.append(f"{what} = {row[key]:.3g} (target <= {limit:g})")
    return out
