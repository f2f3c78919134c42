"""Brownian increments: drawn from one numpy Generator per run, shared across schemes and grids.

Layout is time-major, ``dW[step, path, j]``: drawing the steps of a run chunk by chunk from one
Generator yields the same numbers as drawing them at once (the stream is consumed in order), so
results do not depend on the chunk size, and a coarse grid nested in a fine one sees the same path
through `coarsen` (sums of consecutive fine increments).
"""

from __future__ import annotations

import numpy as np


def brownian_increments(rng: np.random.Generator, dt: np.ndarray, n_paths: int, q: int) -> np.ndarray:
    """Independent increments W(t_{k+1}) − W(t_k) ~ N(0, dt_k I_q), shape (len(dt), n_paths, q)."""
    dt = np.asarray(dt, dtype=np.float64)
    return np.sqrt(dt)[:, None, None] * rng.standard_normal((dt.size, n_paths, q))


def coarsen(dW: np.ndarray, factor: int) -> np.ndarray:
    """Increments of the same Brownian path on the grid ``factor`` times coarser (sum of blocks)."""
    n_steps = dW.shape[0]
    if factor < 1 or n_steps % factor:
        raise ValueError(f"factor = {factor}; valid: a positive divisor of the {n_steps} fine steps")
    return dW.reshape(n_steps // factor, factor, *dW.shape[1:]).sum(axis=1)
