"""One step of an SDE scheme for the Itô SDE  dy = f(t, y) dt + b(t, y) dW,  W ∈ R^q.

The loop over steps and paths lives in `lnsgd.solvers.sde._run_chunk`. Calling conventions (all
numba-jitted; ``args`` a tuple or float64 array passed through unchanged):

    drift(t, y, args, out)              # out[:]    = f(t, y)                       (dim,)
    diffusion(t, y, args, out)          # out[:, :] = b(t, y)                       (dim, q)   form "matrix"
    diffusion(t, y, args, dw, out)      # out[:]    = b(t, y) dw                    (dim,)     form "product"
    ito_correction(t, y, args, out)     # out[:]    = c(t, y) = Σ_j (∂b_j/∂y) b_j   (dim,)

where b_j is the j-th column of b. ``c/2`` converts the Itô drift to the Stratonovich drift
f_S = f − c/2 used by the Heun scheme. For additive noise c = 0 (`zero_ito_correction`).

The schemes use b only through the noise term b(t, y) dw, which ``noise(diffusion, t, y, args, dw,
mat, out)`` evaluates from either form of the diffusion (`NOISE_FORMS`): "matrix" fills b into the
scratch ``mat`` and multiplies, "product" lets the diffusion return b dw itself, so a large structured
b (e.g. low rank, b = J(y) Z(y) with J of size dim × r, r ≪ q) is never formed.

Every step has the signature ``step(terms, t, h, y, dw, args, vec, mat, y_out)``: ``terms`` is the
tuple (drift, diffusion, noise[, ito_correction]) of what the scheme needs, ``dw`` the Brownian
increment over [t, t + h], ``vec`` (N_VEC, dim) and ``mat`` (N_MAT, dim, q), or (N_MAT, 0, 0) for
the "product" form, scratch owned by the driver, so a step allocates nothing. Schemes and their
orders are discussed in docs/integrators.md.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def zero_ito_correction(t, y, args, out):
    """c = 0: the Itô correction of an SDE with additive (state-independent) noise."""
    out[:] = 0.0


@njit(cache=True)
def matrix_noise(diffusion, t, y, args, dw, mat, out):
    """out = b(t, y) dw with b written by ``diffusion(t, y, args, mat)`` into mat (dim, q)."""
    diffusion(t, y, args, mat)
    for m in range(y.shape[0]):
        acc = 0.0
        for j in range(dw.shape[0]):
            acc += mat[m, j] * dw[j]
        out[m] = acc


@njit(cache=True)
def product_noise(diffusion, t, y, args, dw, mat, out):
    """out = b(t, y) dw straight from ``diffusion(t, y, args, dw, out)`` (b never formed; mat unused)."""
    diffusion(t, y, args, dw, out)


NOISE_FORMS = {"matrix": matrix_noise, "product": product_noise}

EULER_N_VEC, EULER_N_MAT = 2, 1


@njit(cache=True)
def euler_maruyama_step(terms, t, h, y, dw, args, vec, mat, y_out):
    """y_out = y + f(t, y) h + b(t, y) dw.  terms = (drift, diffusion, noise).

    Strong order 1/2 (1 for additive noise), weak order 1.
    """
    drift, diffusion, noise = terms
    f, bdw = vec[0], vec[1]
    drift(t, y, args, f)
    noise(diffusion, t, y, args, dw, mat[0], bdw)
    for m in range(y.shape[0]):
        y_out[m] = y[m] + (h * f[m] + bdw[m])


HEUN_N_VEC, HEUN_N_MAT = 6, 1


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
    corrector  y_out = y + ½[f_S(y) + f_S(ỹ)] h + ½[b(y) dw + b(ỹ) dw],   f_S = f − c/2.
    terms = (drift, diffusion, noise, ito_correction). Strong order 1 for commutative noise (scalar,
    diagonal, additive), 1/2 for general non-commutative noise (no Lévy areas); weak order 1.
    """
    drift, diffusion, noise, ito_correction = terms
    f0, y_pred, f1, work, n0, n1 = vec[0], vec[1], vec[2], vec[3], vec[4], vec[5]
    _stratonovich_drift(drift, ito_correction, t, y, args, f0, work)
    noise(diffusion, t, y, args, dw, mat[0], n0)
    for m in range(y.shape[0]):
        y_pred[m] = y[m] + (h * f0[m] + n0[m])
    _stratonovich_drift(drift, ito_correction, t + h, y_pred, args, f1, work)
    noise(diffusion, t + h, y_pred, args, dw, mat[0], n1)
    for m in range(y.shape[0]):
        y_out[m] = y[m] + 0.5 * (h * (f0[m] + f1[m]) + (n0[m] + n1[m]))
