"""One step of an SDE scheme for the Itô SDE  dy = f(t, y) dt + b(t, y) dW,  W ∈ R^q.

The loop over steps and paths lives in `lnsgd.solvers.sde._run_chunk`. Calling conventions (all
numba-jitted; ``args`` a tuple or float64 array passed through unchanged):

    drift(t, y, args, out)          # out[:]    = f(t, y)                       (dim,)
    diffusion(t, y, args, out)      # out[:, :] = b(t, y)                       (dim, q)
    ito_correction(t, y, args, out) # out[:]    = c(t, y) = Σ_j (∂b_j/∂y) b_j   (dim,)

where b_j is the j-th column of b. ``c/2`` converts the Itô drift to the Stratonovich drift
f_S = f − c/2 used by the Heun scheme. For additive noise c = 0 (`zero_ito_correction`).

Every step has the signature ``step(terms, t, h, y, dw, args, vec, mat, y_out)``: ``terms`` is the
tuple of the functions above that the scheme needs, ``dw`` the Brownian increment over [t, t + h],
``vec`` (N_VEC, dim) and ``mat`` (N_MAT, dim, q) scratch owned by the driver, so a step allocates
nothing. Schemes and their orders are discussed in docs/integrators.md.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def zero_ito_correction(t, y, args, out):
    """c = 0: the Itô correction of an SDE with additive (state-independent) noise."""
    out[:] = 0.0


@njit(cache=True)
def _add_drift_and_noise(y, h, f, bmat, dw, weight, out):
    """out = y + weight·(h f + b dw); vectorized equivalent ``y + weight * (h * f + bmat @ dw)``."""
    for m in range(y.shape[0]):
        acc = h * f[m]
        for j in range(dw.shape[0]):
            acc += bmat[m, j] * dw[j]
        out[m] = y[m] + weight * acc


EULER_N_VEC, EULER_N_MAT = 1, 1


@njit(cache=True)
def euler_maruyama_step(terms, t, h, y, dw, args, vec, mat, y_out):
    """y_out = y + f(t, y) h + b(t, y) dw.  terms = (drift, diffusion).

    Strong order 1/2 (1 for additive noise), weak order 1.
    """
    drift, diffusion = terms
    drift(t, y, args, vec[0])
    diffusion(t, y, args, mat[0])
    _add_drift_and_noise(y, h, vec[0], mat[0], dw, 1.0, y_out)


HEUN_N_VEC, HEUN_N_MAT = 4, 2


@njit(cache=True)
def _stratonovich_drift(drift, ito_correction, t, y, args, out, work):
    """out = f(t, y) − c(t, y)/2."""
    drift(t, y, args, out)
    ito_correction(t, y, args, work)
    for m in range(y.shape[0]):
        out[m] -= 0.5 * work[m]


@njit(cache=True)
def stochastic_heun_step(terms, t, h, y, dw, args, vec, mat, y_out):
    """Stochastic Heun (trapezoidal predictor–corrector) on the Stratonovich form of the Itô SDE.

    predictor  ỹ = y + f_S(y) h + b(y) dw,
    corrector  y_out = y + ½[f_S(y) + f_S(ỹ)] h + ½[b(y) + b(ỹ)] dw,   f_S = f − c/2.
    terms = (drift, diffusion, ito_correction). Strong order 1 for commutative noise (scalar,
    diagonal, additive), 1/2 for general non-commutative noise (no Lévy areas); weak order 1.
    """
    drift, diffusion, ito_correction = terms
    f0, y_pred, f1, work = vec[0], vec[1], vec[2], vec[3]
    b0, b1 = mat[0], mat[1]
    _stratonovich_drift(drift, ito_correction, t, y, args, f0, work)
    diffusion(t, y, args, b0)
    _add_drift_and_noise(y, h, f0, b0, dw, 1.0, y_pred)
    _stratonovich_drift(drift, ito_correction, t + h, y_pred, args, f1, work)
    diffusion(t + h, y_pred, args, b1)
    for m in range(y.shape[0]):
        acc = 0.5 * h * (f0[m] + f1[m])
        for j in range(dw.shape[0]):
            acc += 0.5 * (b0[m, j] + b1[m, j]) * dw[j]
        y_out[m] = y[m] + acc
