"""The exact width-independent engine: SGD and (U)SAM through the shared neuron map.

Write each neuron as z_k = (a_k, w_k) ∈ R^{d+1}. Every algorithm of the engine whose update is the
same linear map for all neurons moves them as z_k ← M z_k with

    M = I − h·J(g′) − h·κ·J(g′)J(g),   J(g) = [[0, gᵀ], [g, 0]],   h = ηs,
    J(g′)J(g) = [[g′·g, 0], [0, g′gᵀ]],

where g = (1/B)Σ_{i∈S} r_i x_i is the batch gradient direction at θ (r_i = x_i·β − ỹ_i), κ = c·s the
ascent length of (U)SAM (κ = 0 for SGD/GD) and g′ the batch direction at the ascent point θ + c∇L_S
(g′ = g for SGD). Per neuron, with p = g′·w and q = a + κ g·w:
    a ← (1 − hκ g′·g) a − h p,    w ← w − h q g′.
The residuals depend on the state only through β = s·b, b = Σ_k a_k w_k, and the ascent length
only through A = ‖a‖², ‖g‖² and gᵀSg, so the Gram matrix P = Σ_k z_k z_kᵀ = [[A, bᵀ], [b, S]]
(S = WᵀW) is the exact state of the simulation: P ← M P Mᵀ, and the shared propagator Φ ← M Φ gives
every neuron at any time, z_k(t) = Φ_t z_k(0). Both updates are O(d²) (M is never formed: J has
rank two), independent of the width m; the m neurons are touched only at record times.

An algorithm contributes only its *map*: a jitted function that reads the batch and P and writes
(g′, g) and returns (batch loss on the noisy labels, κ). `sgd_map` covers label-noise SGD, clean
SGD and GD with or without label noise (B = n: the batch is every row); `sam_map` covers SAM
(c = ρ/‖∇L_S‖, ‖∇L_S‖² = s²(A‖g‖² + gᵀSg)) and USAM (c = ρ), minibatch and full batch.
The oscillation experiment drives each a_k by its own ζ_{t,k}: no shared map, direct engine only.

P stays exactly symmetric (every entry (i, j) is computed by the same expression as (j, i)).
Randomness is pre-drawn by the caller, the same arrays as the direct engine's, so both engines give
the same trajectory to rounding for the same config and seed (tests/test_propagator.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Layout of the float64 parameter vector handed to every map (shared with solvers/kernels.py).
from lnsgd.solvers.kernels import N_PARAMS, P_ETA, P_NORMALIZE, P_RHO, P_S  # noqa: F401


@njit(cache=True, nogil=True)
def batch_direction(beta, X, y, rows, xi_t, delta_t, g):
    """g ← (1/B)Σ_i r_i x_i over `rows`, r_i = x_i·β − (y_i + δξ_i); returns ½ mean r_i²."""
    B = rows.shape[0]
    d = X.shape[1]
    g[:] = 0.0
    loss = 0.0
    for i in range(B):
        row = rows[i]
        x = X[row]
        r = 0.0
        for j in range(d):
            r += x[j] * beta[j]
        r -= y[row] + delta_t * xi_t[i]
        loss += r * r
        for j in range(d):
            g[j] += r * x[j]
    for j in range(d):
        g[j] /= B
    return 0.5 * loss / B


@njit(cache=True, nogil=True)
def sgd_map(t, P, X, y, idx, xi, delta, params, gp, g, work):
    """Label-noise SGD / GD: g′ = g = batch direction at β = s·P[1:, 0]; κ = 0."""
    s = params[P_S]
    d = X.shape[1]
    beta = work[5]
    for j in range(d):
        beta[j] = s * P[j + 1, 0]
    loss = batch_direction(beta, X, y, idx[t], xi[t], delta[t], g)
    gp[:] = g
    return loss, 0.0


@njit(cache=True, nogil=True)
def sam_map(t, P, X, y, idx, xi, delta, params, gp, g, work):
    """(U)SAM on the noisy batch: g at θ, κ = c·s, g′ at the ascent point z ← (I + κJ(g)) z.

    The ascent moves b to b + κ(S g + A g) + κ²(g·b) g, so β′ = s·(that); c = ρ/‖∇L_S‖ (SAM,
    ‖∇L_S‖² = s²(A‖g‖² + gᵀSg)) or ρ (USAM).
    """
    s = params[P_S]
    d = X.shape[1]
    beta, Sg = work[5], work[6]
    A = P[0, 0]
    for j in range(d):
        beta[j] = s * P[j + 1, 0]
    loss = batch_direction(beta, X, y, idx[t], xi[t], delta[t], g)
    gb = 0.0
    gg = 0.0
    gSg = 0.0
    for i in range(d):
        acc = 0.0
        for j in range(d):
            acc += P[i + 1, j + 1] * g[j]
        Sg[i] = acc
        gSg += g[i] * acc
        gb += g[i] * P[i + 1, 0]
        gg += g[i] * g[i]
    c = params[P_RHO]
    if params[P_NORMALIZE] != 0.0:
        gn2 = s * s * (A * gg + gSg)
        c = c / np.sqrt(gn2) if gn2 > 0.0 else 0.0
    kappa = c * s
    for j in range(d):
        beta[j] = s * (P[j + 1, 0] + kappa * (Sg[j] + A * g[j]) + kappa * kappa * gb * g[j])
    batch_direction(beta, X, y, idx[t], xi[t], delta[t], gp)
    return loss, kappa


@njit(cache=True, nogil=True)
def apply_map(P, Phi, h, kappa, gp, g, work):
    """P ← M P Mᵀ and Φ ← M Φ for M = I − hJ(g′) − hκ J(g′)J(g), in O(d²).

    With b = P[1:, 0], A = P[0, 0], S = P[1:, 1:] and α = 1 − hκ g′·g (formulas in the module
    docstring, summed over neurons):
        A ← α²A − 2αh g′·b + h² g′ᵀSg′,
        b ← α b − hα(A + κ g·b) g′ − h S g′ + h²(g′·b + κ g′ᵀSg) g′,
        S ← S − (v g′ᵀ + g′ vᵀ),   v = h(b + κ S g) − ½h²(A + 2κ g·b + κ² gᵀSg) g′.
    Each row of S and of Φ is read (for S g′ and g′ᵀΦ_w) and updated in the same sweep, and every
    inner loop runs over independent entries (vectorised without reassociating a sum).
    Vectorised equivalent: M = I - h*Jp - h*kappa*(Jp @ Jg); P = M @ P @ M.T; Phi = M @ Phi.
    """
    d = gp.shape[0]
    D = d + 1
    Sgp, Sg, v, pvec, qvec = work[0], work[1], work[2], work[3], work[4]
    A = P[0, 0]
    sam = kappa != 0.0
    # SAM only: S g and q = Φ_0 + κ gᵀΦ_w from the old state
    gSg = 0.0
    for c in range(D):
        qvec[c] = Phi[0, c]
    if sam:
        for i in range(d):
            Sg[i] = 0.0
        for j in range(d):
            gj = g[j]
            kj = kappa * gj
            rowS = P[j + 1]
            rowF = Phi[j + 1]
            for i in range(d):
                Sg[i] += rowS[i + 1] * gj
            for c in range(D):
                qvec[c] += kj * rowF[c]
        for i in range(d):
            gSg += g[i] * Sg[i]
    gpb = 0.0
    gb = 0.0
    gpg = 0.0
    gpSg = 0.0
    for i in range(d):
        bi = P[i + 1, 0]
        gpb += gp[i] * bi
        gb += g[i] * bi
        gpg += gp[i] * g[i]
        gpSg += gp[i] * Sg[i]
    alpha = 1.0 - h * kappa * gpg
    q2 = A + 2.0 * kappa * gb + kappa * kappa * gSg
    half = 0.5 * h * h * q2
    for i in range(d):
        v[i] = h * (P[i + 1, 0] + kappa * Sg[i]) - half * gp[i]
        Sgp[i] = 0.0
        pvec[i] = 0.0
    pvec[d] = 0.0
    # S g′ and p = g′ᵀΦ_w from the old rows, each row updated in the same sweep
    for j in range(d):
        gj = gp[j]
        vj = v[j]
        hg = h * gj
        rowS = P[j + 1]
        rowF = Phi[j + 1]
        for i in range(d):
            s_old = rowS[i + 1]
            Sgp[i] += s_old * gj
            rowS[i + 1] = s_old - (vj * gp[i] + gj * v[i])
        for c in range(D):
            f_old = rowF[c]
            pvec[c] += gj * f_old
            rowF[c] = f_old - hg * qvec[c]
    gpSgp = 0.0
    for i in range(d):
        gpSgp += gp[i] * Sgp[i]
    coef_b = h * h * (gpb + kappa * gpSg) - h * alpha * (A + kappa * gb)
    for i in range(d):
        bi = alpha * P[i + 1, 0] + coef_b * gp[i] - h * Sgp[i]
        P[i + 1, 0] = bi
        P[0, i + 1] = bi
    P[0, 0] = alpha * alpha * A - 2.0 * alpha * h * gpb + h * h * gpSgp
    for c in range(D):
        Phi[0, c] = alpha * Phi[0, c] - h * pvec[c]


# Not cached on disk for the reason given at solvers/kernels.run_chunk (a jitted function argument).
@njit(nogil=True)
def propagate_chunk(shared_map, n_steps, P, Phi, X, y, idx, xi, delta, params, work, loss_bound):
    """Advance (P, Φ) by n_steps of `shared_map`. Returns (steps done, summed batch loss, offending
    loss), stopping at the first step whose batch loss is non-finite or above `loss_bound` (that
    step has been applied: the caller treats the state as diverged)."""
    d = X.shape[1]
    gp = np.empty(d)
    g = np.empty(d)
    h = params[P_ETA] * params[P_S]
    total = 0.0
    for t in range(n_steps):
        loss, kappa = shared_map(t, P, X, y, idx, xi, delta, params, gp, g, work)
        apply_map(P, Phi, h, kappa, gp, g, work)
        if not loss <= loss_bound:
            return t, total, loss
        total += loss
    return n_steps, total, 0.0


def work_arrays(d: int) -> np.ndarray:
    """Scratch rows of length d + 1: 0–4 for `apply_map`, 5–6 for the maps."""
    return np.zeros((7, d + 1))
