"""numba kernels of the direct simulation (the algorithms of docs/model.md §3).

Every algorithm is a small jitted *step* with one signature; one jitted *driver*, `run_chunk`,
advances any of them by a chunk of steps (numba takes the step as a first-class function argument,
so Python picks the algorithm once, outside the hot loop). Randomness never comes from numba: the
caller pre-draws minibatch indices `idx`, label-noise variates `xi` and oscillation variates `zeta`
for the chunk from numpy Generators and passes them in.

Why the steps are cheap. For f = s·aᵀWx every minibatch gradient is rank one:
∇_W L_S = s·a gᵀ and ∇_a L_S = s·W g with g = (1/B) Σ_{i∈S} r_i x_i, r_i = f(x_i) − ỹ_i.
So a step is "W ← W − c·a' vᵀ, a ← a − Δa" for vectors computed in O(mB + Bd), and the only
O(md) work is applying it. Minibatch steps carry the probes H = (W X_Sᵀ)ᵀ (B × m) of the
*current* batch, and the update pass also computes the probes of the next batch (one pass over W
per step, cost md(1 + B)). Full-batch steps (B = n) instead carry β = s Wᵀa, updated in the same pass, and
spend one extra matrix–vector pass on W g. Vectorised equivalent of one minibatch step:
    r = s * (H @ a) - (y[S] + delta * xi);  g = X[S].T @ r / B;  da = eta * s * (r @ H) / B
    W -= eta * s * np.outer(a, g);  a -= da;  H = X[S_next] @ W.T
Kernels take Wt = Wᵀ (d × m, C order) so that every inner loop runs over the m neurons.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Layout of the float64 parameter vector handed to every step.
P_S, P_ETA, P_RHO, P_NORMALIZE, P_EPS = 0, 1, 2, 3, 4
N_PARAMS = 5


@njit(cache=True, nogil=True)
def update_and_probe(Wt, a, coef, a_src, v, da, X, rows, H):
    """W ← W − coef·a_src vᵀ, a ← a − da, then H[i] ← W x_{rows[i]} (i < q, q ≥ 1), in one pass.

    Wt = Wᵀ (d × m): the inner loops run over neurons, contiguous and vectorised without
    reassociating sums. Rows of Wt go two at a time, fused with the first probe, so H[0] is loaded
    and stored once per two rows; two (not four) keeps the loop under LLVM's limit of run-time
    alias checks, beyond which it stays scalar (docs/performance.md). Further probes (B > 1)
    re-read the two updated rows while they are in L1. `a_src` may be `a`: a changes after W.
    """
    d, m = Wt.shape
    q = rows.shape[0]
    H[:, :] = 0.0
    h = H[0]
    x = X[rows[0]]
    for j in range(0, d - 1, 2):
        c0 = coef * v[j]
        c1 = coef * v[j + 1]
        x0 = x[j]
        x1 = x[j + 1]
        w0 = Wt[j]
        w1 = Wt[j + 1]
        for k in range(m):
            ak = a_src[k]
            u0 = w0[k] - c0 * ak
            u1 = w1[k] - c1 * ak
            w0[k] = u0
            w1[k] = u1
            h[k] += x0 * u0 + x1 * u1
        for i in range(1, q):
            z0 = X[rows[i], j]
            z1 = X[rows[i], j + 1]
            hi = H[i]
            for k in range(m):
                hi[k] += z0 * w0[k] + z1 * w1[k]
    if d % 2 == 1:
        cj = coef * v[d - 1]
        w = Wt[d - 1]
        for k in range(m):
            w[k] -= cj * a_src[k]
        for i in range(q):
            z = X[rows[i], d - 1]
            hi = H[i]
            for k in range(m):
                hi[k] += z * w[k]
    for k in range(m):
        a[k] -= da[k]


@njit(cache=True, nogil=True)
def update_and_beta(Wt, a, coef, a_src, v, da, s, beta, a_new):
    """W ← W − coef·a_src vᵀ, a ← a − da, then β ← s Wᵀa, in one pass over W (a_new: scratch)."""
    d, m = Wt.shape
    for k in range(m):
        a_new[k] = a[k] - da[k]
    for j in range(d):
        cj = coef * v[j]
        w = Wt[j]
        for k in range(m):
            w[k] -= cj * a_src[k]
        beta[j] = s * np.dot(w, a_new)
    a[:] = a_new


@njit(cache=True, nogil=True)
def matvec(Wt, v, out):
    """out ← W v."""
    d, m = Wt.shape
    out[:] = 0.0
    for j in range(d):
        vj = v[j]
        w = Wt[j]
        for k in range(m):
            out[k] += vj * w[k]


@njit(cache=True, nogil=True)
def rmatvec(Wt, u, scale, out):
    """out ← scale·Wᵀu."""
    for j in range(Wt.shape[0]):
        out[j] = scale * np.dot(Wt[j], u)


@njit(cache=True, nogil=True)
def full_batch_gradient(X, y, beta, delta, xi, r, g):
    """r_i = x_i·β − (y_i + δξ_i), g = Xᵀr/n; returns the loss ½ mean r² on the noisy labels."""
    n, d = X.shape
    g[:] = 0.0
    loss = 0.0
    for i in range(n):
        acc = 0.0
        for j in range(d):
            acc += X[i, j] * beta[j]
        ri = acc - (y[i] + delta * xi[i])
        r[i] = ri
        loss += ri * ri
        for j in range(d):
            g[j] += ri * X[i, j]
    for j in range(d):
        g[j] /= n
    return 0.5 * loss / n


@njit(cache=True, nogil=True)
def sam_scale(params, s, a, g, Wg):
    """Ascent length c with ε = c∇L: ρ/‖∇L‖ (SAM) or ρ (USAM); ‖∇L‖² = s²(‖a‖²‖g‖² + ‖Wg‖²)."""
    rho = params[P_RHO]
    if params[P_NORMALIZE] == 0.0:
        return rho
    gn2 = s * s * (np.dot(a, a) * np.dot(g, g) + np.dot(Wg, Wg))
    return rho / np.sqrt(gn2) if gn2 > 0.0 else 0.0


@njit(cache=True, nogil=True)
def batch_residuals(t, a, H, X, y, idx, xi, delta, s, r, g):
    """r_i = s·a·H[i] − (y_i + δ(t)ξ_{t,i}) over the batch S = idx[t], g = X_Sᵀr/B; returns ½ mean r²."""
    B = idx.shape[1]
    d = X.shape[1]
    g[:] = 0.0
    loss = 0.0
    for i in range(B):
        row = idx[t, i]
        r[i] = s * np.dot(a, H[i]) - (y[row] + delta[t] * xi[t, i])
        loss += r[i] * r[i]
        for j in range(d):
            g[j] += r[i] * X[row, j] / B
    return 0.5 * loss / B


@njit(cache=True, nogil=True)
def probe_combination(H, r, scale, out):
    """out ← scale·Σ_i r_i H[i] (= scale·W X_Sᵀ r)."""
    out[:] = 0.0
    for i in range(H.shape[0]):
        c = scale * r[i]
        h = H[i]
        for k in range(out.shape[0]):
            out[k] += c * h[k]


@njit(cache=True, nogil=True)
def sgd_minibatch_step(t, Wt, a, H, beta, X, y, idx, xi, delta, zeta, params, wm, wd, wq):
    """Label-noise SGD on the batch S = idx[t] with labels ỹ_i = y_i + δ(t)ξ_{t,i}.

    On entry H = (W X_Sᵀ)ᵀ; on exit W, a are updated and H belongs to the next batch idx[t+1].
    """
    s = params[P_S]
    eta = params[P_ETA]
    B = idx.shape[1]
    r, g, da = wq[0], wd[0], wm[0]
    loss = batch_residuals(t, a, H, X, y, idx, xi, delta, s, r, g)
    probe_combination(H, r, eta * s / B, da)
    update_and_probe(Wt, a, eta * s, a, g, da, X, idx[t + 1], H)
    return loss


@njit(cache=True, nogil=True)
def sam_minibatch_step(t, Wt, a, H, beta, X, y, idx, xi, delta, zeta, params, wm, wd, wq):
    """(U)SAM on the noisy batch: θ ← θ − η∇L_S(θ + c∇L_S(θ)).

    The ascent point is never formed: W' = W + c·s·a gᵀ gives W'x_i = W x_i + c·s·p_i a with
    p_i = x_i·g, and W'g' = W X_Sᵀr'/B + c·s·(p·r'/B) a, so the step stays one pass over W.
    """
    s = params[P_S]
    eta = params[P_ETA]
    B = idx.shape[1]
    m = a.shape[0]
    d = X.shape[1]
    r, p = wq[0], wq[1]
    g, g2 = wd[0], wd[1]
    Wg, a2 = wm[0], wm[1]
    loss = batch_residuals(t, a, H, X, y, idx, xi, delta, s, r, g)
    probe_combination(H, r, 1.0 / B, Wg)
    c = sam_scale(params, s, a, g, Wg)
    for k in range(m):
        a2[k] = a[k] + c * s * Wg[k]
    a2a = np.dot(a2, a)
    g2[:] = 0.0
    pr = 0.0
    for i in range(B):
        row = idx[t, i]
        p[i] = np.dot(X[row], g)
        ri = s * (np.dot(a2, H[i]) + c * s * a2a * p[i]) - (y[row] + delta[t] * xi[t, i])
        r[i] = ri
        pr += p[i] * ri / B
        for j in range(d):
            g2[j] += ri * X[row, j] / B
    probe_combination(H, r, eta * s / B, Wg)
    for k in range(m):
        Wg[k] += eta * s * c * s * pr * a[k]
    update_and_probe(Wt, a, eta * s, a2, g2, Wg, X, idx[t + 1], H)
    return loss


@njit(cache=True, nogil=True)
def gd_full_batch_step(t, Wt, a, H, beta, X, y, idx, xi, delta, zeta, params, wm, wd, wq):
    """Full-batch GD (with fresh label noise when δ > 0). On entry and exit β = s Wᵀa."""
    s = params[P_S]
    eta = params[P_ETA]
    g, da = wd[0], wm[0]
    loss = full_batch_gradient(X, y, beta, delta[t], xi[t], wq[0], g)
    matvec(Wt, g, da)
    da *= eta * s
    update_and_beta(Wt, a, eta * s, a, g, da, s, beta, wm[2])
    return loss


@njit(cache=True, nogil=True)
def sam_full_batch_step(t, Wt, a, H, beta, X, y, idx, xi, delta, zeta, params, wm, wd, wq):
    """Full-batch (U)SAM: θ ← θ − η∇L(θ + c∇L(θ)), with W' = W + c·s·a gᵀ, a' = a + c·s·W g.

    β' = s W'ᵀa' = β + c·s²(WᵀWg + ‖a‖²g) + c²s³(a·Wg) g and W'g' = W g' + c·s·(g·g') a.
    """
    s = params[P_S]
    eta = params[P_ETA]
    g, g2, beta2 = wd[0], wd[1], wd[2]
    Wg, a2 = wm[0], wm[1]
    loss = full_batch_gradient(X, y, beta, delta[t], xi[t], wq[0], g)
    matvec(Wt, g, Wg)
    c = sam_scale(params, s, a, g, Wg)
    rmatvec(Wt, Wg, c * s * s, beta2)
    beta2 += beta + (c * s * s * np.dot(a, a) + c * c * s * s * s * np.dot(a, Wg)) * g
    for k in range(a.shape[0]):
        a2[k] = a[k] + c * s * Wg[k]
    full_batch_gradient(X, y, beta2, delta[t], xi[t], wq[0], g2)
    matvec(Wt, g2, Wg)
    cgg = c * s * np.dot(g, g2)
    for k in range(a.shape[0]):
        Wg[k] = eta * s * (Wg[k] + cgg * a[k])
    update_and_beta(Wt, a, eta * s, a2, g2, Wg, s, beta, wm[2])
    return loss


@njit(cache=True, nogil=True)
def oscillation_step(t, Wt, a, H, beta, X, y, idx, xi, delta, zeta, params, wm, wd, wq):
    """Full-batch GD with the second layer driven: a_t = ā_t + ε ζ_t (`a` holds ā).

    The gradient is taken at (W, a_t); W moves with a_t, ā with W g. On exit β = s Wᵀā.
    """
    s = params[P_S]
    eta = params[P_ETA]
    eps = params[P_EPS]
    g, beta_t = wd[0], wd[1]
    da, a_t = wm[0], wm[1]
    for k in range(a.shape[0]):
        a_t[k] = a[k] + eps * zeta[t, k]
    rmatvec(Wt, a_t, s, beta_t)
    loss = full_batch_gradient(X, y, beta_t, delta[t], xi[t], wq[0], g)
    matvec(Wt, g, da)
    da *= eta * s
    update_and_beta(Wt, a, eta * s, a_t, g, da, s, beta, wm[2])
    return loss


# Not cached on disk: numba cannot cache a function that takes another jitted function as an
# argument (loading such an entry fails with "underlying object has vanished"); the steps it calls
# are cached, so compiling the driver costs about a second per process and step.
@njit(nogil=True)
def run_chunk(step, n_steps, Wt, a, H, beta, X, y, idx, xi, delta, zeta, params, wm, wd, wq, loss_bound):
    """Advance `step` n_steps times. Returns (steps done, summed batch loss, offending loss).

    Stops at the first step whose batch loss is non-finite or above `loss_bound`; that step has
    already been applied, so the caller treats the state as diverged.
    """
    total = 0.0
    for t in range(n_steps):
        loss = step(t, Wt, a, H, beta, X, y, idx, xi, delta, zeta, params, wm, wd, wq)
        if not loss <= loss_bound:
            return t, total, loss
        total += loss
    return n_steps, total, 0.0
