"""Drive single kernel steps from given states (for tests)."""

from __future__ import annotations

import numpy as np

from lnsgd.solvers import kernels


def one_step(
    step, W, a, X, y, rows, ytil_noise, s, eta, *, rho=0.0, normalize=0.0, eps=0.0, zeta=None, full_batch=False
):
    """Apply `step` once from (W, a) with batch `rows` and label noise δξ = ytil_noise; returns
    the new (W, a) and the kernel's batch loss. Labels seen: y[rows] + ytil_noise."""
    n, d = X.shape
    m = len(a)
    Wt = np.ascontiguousarray(W.T).copy()
    a = a.copy()
    B = n if full_batch else len(rows)
    idx = np.vstack([rows, rows]).astype(np.int64) if not full_batch else np.zeros((2, 1), np.int64)
    xi = np.asarray(ytil_noise, dtype=float).reshape(1, B)
    delta = np.ones(1)
    params = np.zeros(kernels.N_PARAMS)
    params[[kernels.P_S, kernels.P_ETA, kernels.P_RHO, kernels.P_NORMALIZE, kernels.P_EPS]] = (
        s,
        eta,
        rho,
        normalize,
        eps,
    )
    H = np.ascontiguousarray(X[rows] @ Wt) if not full_batch else np.zeros((1, m))
    beta = s * (Wt @ a)
    z = np.zeros((0, m)) if zeta is None else zeta.reshape(1, m)
    ran, total, _ = kernels.run_chunk(
        step,
        1,
        Wt,
        a,
        H,
        beta,
        X,
        y,
        idx,
        xi,
        delta,
        z,
        params,
        np.zeros((3, m)),
        np.zeros((3, d)),
        np.zeros((2, B)),
        1e300,
    )
    assert ran == 1
    return Wt.T.copy(), a, total, H, beta
