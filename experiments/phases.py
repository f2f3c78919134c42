"""Phase times from recorded curves (definitions: docs/model.md §6).

T_I: first step at which the smoothed mean‖w_k‖ is within `tol` (10 %) of its plateau; the plateau
is the median of the last `tail` fraction of the records (a single exponential fitted to
log mean‖w_k‖ would be biased by the non-zero plateau). T_II: first step at which the smoothed
mean|cos(w_k, β*)| reaches `align` (0.9). Each is NaN with a reason when it is not reached.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PhaseTime:
    step: float  # NaN when not reached
    reason: str  # "" when reached


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred running median over `window` records (shrinking at the ends); robust to SGD noise."""
    values = np.asarray(values, dtype=float)
    half = max(window, 1) // 2
    n = len(values)
    if n <= 2 * half:
        return np.array([np.median(values[max(0, i - half) : i + half + 1]) for i in range(n)])
    out = np.empty(n)
    out[half : n - half] = np.median(np.lib.stride_tricks.sliding_window_view(values, 2 * half + 1), axis=1)
    for i in (*range(half), *range(n - half, n)):  # the shrinking windows at both ends
        out[i] = np.median(values[max(0, i - half) : i + half + 1])
    return out


def phase_one_time(
    steps: np.ndarray,
    w_norm_mean: np.ndarray,
    *,
    tol: float = 0.1,
    tail: float = 0.1,
    window: int = 5,
    settled: float = 0.05,
) -> PhaseTime:
    """T_I = first step with smoothed mean‖w_k‖ ≤ (1 + tol)·plateau.

    Not reached when mean‖w_k‖ never fell by more than `tol` (no Phase I), or when more than
    `settled` of its total fall happened within the tail window (still falling: no plateau).
    """
    if len(steps) < 4:
        return PhaseTime(np.nan, "too few records (< 4) to estimate a plateau")
    curve = smooth(w_norm_mean, window)
    n_tail = max(3, int(np.ceil(tail * len(curve))))
    plateau = float(np.median(w_norm_mean[-n_tail:]))
    start = curve[0]
    if not np.isfinite(plateau) or plateau > (1.0 - tol) * start:
        return PhaseTime(
            np.nan,
            f"no Phase I: mean||w_k|| did not shrink by more than {tol:.0%} (plateau/initial = {plateau / start:.3f})",
        )
    drift = (curve[-n_tail] - curve[-1]) / (start - plateau)
    if drift > settled:
        return PhaseTime(
            np.nan,
            f"no plateau yet: {drift:.1%} of the fall of mean||w_k|| happened in the last {n_tail} records; run longer",
        )
    hit = np.nonzero(curve <= (1.0 + tol) * plateau)[0]
    return PhaseTime(float(steps[hit[0]]), "")


def phase_two_time(steps: np.ndarray, cos_abs_mean: np.ndarray, *, align: float = 0.9, window: int = 5) -> PhaseTime:
    """T_II = first step with smoothed mean|cos(w_k, β*)| ≥ align."""
    if len(steps) == 0:
        return PhaseTime(np.nan, "no records")
    curve = smooth(cos_abs_mean, window)
    hit = np.nonzero(curve >= align)[0]
    if len(hit) == 0:
        return PhaseTime(np.nan, f"mean|cos(w_k, beta*)| stayed below {align} (largest {np.nanmax(curve):.3f})")
    return PhaseTime(float(steps[hit[0]]), "")
