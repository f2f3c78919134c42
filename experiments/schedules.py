"""Label-noise schedules δ(t), evaluated in Python one chunk at a time (never inside a kernel)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lnsgd.experiments.config import SimulationConfig

DeltaOverride = None | np.ndarray | Callable[[np.ndarray], np.ndarray]


def delta_values(config: SimulationConfig, steps: np.ndarray, override: DeltaOverride = None) -> np.ndarray:
    """δ(t) at the integer steps `steps`.

    `override` replaces the config's schedule: a per-step array (indexed by step, at least
    config.steps long) or a callable mapping an int array of steps to δ values.
    """
    if override is not None:
        if callable(override):
            values = np.asarray(override(steps), dtype=float)
        else:
            values = np.asarray(override, dtype=float)[steps]
        if values.shape != steps.shape or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError("delta schedule override must give one finite delta >= 0 per step")
        return values
    if config.schedule == "constant":
        return np.full(steps.shape, config.delta)
    if config.schedule == "periodic":
        on = (steps // config.period) % 2 == 0
        return np.where(on, config.delta, 0.0)
    starts = np.array([p[0] for p in config.breakpoints])
    levels = np.array([p[1] for p in config.breakpoints], dtype=float)
    return levels[np.searchsorted(starts, steps, side="right") - 1]
