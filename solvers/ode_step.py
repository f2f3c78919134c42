"""One explicit Runge–Kutta step and its helpers, jitted, for any tableau of `lnsgd.solvers.tableaus`.

These kernels take one step; the loop (step-size control, saving, stopping) lives in
`lnsgd.solvers.ode._integrate`, shared by every method. Right-hand sides follow the calling convention

    rhs(t: float, y: float64[:], args, out: float64[:]) -> None      # writes dy/dt into out

with ``rhs`` a numba-jitted function and ``args`` a tuple or float64 array passed through untouched.

A method plugs into the driver with a `StepParts`: a jitted step and a jitted interpolant with the
common signatures

    step(rhs, jac, t, y, f, h, args, coeffs, work, y_new, f_new, err) -> ok
    interp(y, f, y_new, f_new, h, theta, coeffs, work, out)

f = f(t, y) is given; the step writes y_new and the local error estimate err (a vector, already
scaled by h; the driver takes its weighted RMS norm), and f_new = f(t + h, y_new) when the method is
FSAL. ``coeffs`` (the tableau) and ``work`` (scratch arrays, allocated once per solve) are tuples the
driver passes through; ``interp`` samples the step just taken at t + θh. Explicit RK ignores ``jac``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numba import njit


class StepParts(NamedTuple):
    """What one method contributes to the driver `ode._integrate`; everything else is shared."""

    step: Any  # jitted step(rhs, jac, t, y, f, h, args, coeffs, work, y_new, f_new, err) -> ok
    interp: Any  # jitted interp(y, f, y_new, f_new, h, theta, coeffs, work, out)
    coeffs: tuple  # method coefficients, read by step and interp
    work: tuple  # scratch arrays of step and interp
    fsal: bool  # step writes f_new = f(t + h, y_new) (else the driver evaluates it)
    evals_per_step: int  # rhs evaluations per step attempt
    error_order: int  # order of the embedded solution: the controller's exponent is 1/(error_order + 1)


def rk_parts(tab, n: int, adaptive: bool) -> StepParts:
    """`StepParts` of an explicit Butcher tableau for a state of length n. Without step-size control
    (or an embedded pair) the error weights are empty and the step computes no error estimate."""
    e = tab.e if (adaptive and tab.e is not None) else np.empty(0)
    coeffs = (tab.a, tab.b, tab.c, e, tab.p, tab.fsal)
    work = (np.empty((tab.n_stages, n)), np.empty(n))  # stages k, stage state
    return StepParts(rk_step, rk_dense, coeffs, work, tab.fsal, tab.n_stages - 1, tab.error_order)


@njit(cache=True)
def rk_step(rhs, jac, t, y, f, h, args, coeffs, work, y_new, f_new, err):
    """Stages k, y_new = y + h Σ b_i k_i and err = h Σ e_i k_i of one explicit RK step; f = f(t, y).

    Vectorized equivalent: ``k[0] = f; k[i] = rhs(t + c[i] h, y + h a[i, :i] @ k[:i])``,
    ``y_new = y + h b @ k``, ``err = h e @ k``.
    A loop (not numpy expressions) because it allocates nothing: it runs millions of times.
    For an FSAL tableau the last stage is f(t + h, y_new), evaluated here and copied to f_new.
    Never fails (returns True); ``jac`` is ignored.
    """
    a, b, c, e, p, fsal = coeffs
    k, y_stage = work
    s = b.shape[0]
    n = y.shape[0]
    k[0, :] = f
    for i in range(1, s):
        for m in range(n):
            acc = 0.0
            for j in range(i):
                acc += a[i, j] * k[j, m]
            y_stage[m] = y[m] + h * acc
        rhs(t + c[i] * h, y_stage, args, k[i])
    for m in range(n):
        acc = 0.0
        for j in range(s):
            acc += b[j] * k[j, m]
        y_new[m] = y[m] + h * acc
        acc = 0.0
        for j in range(e.shape[0]):
            acc += e[j] * k[j, m]
        err[m] = h * acc
    if fsal:
        f_new[:] = k[s - 1]
    return True


@njit(cache=True)
def rk_dense(y, f, y_new, f_new, h, theta, coeffs, work, out):
    """The tableau's continuous extension inside the step just taken (stages in work[0])."""
    dense_eval(y, h, work[0], coeffs[4], theta, out)


@njit(cache=True)
def error_norm(y, y_new, err, rtol, atol):
    """RMS norm of the local error estimate err, scaled by atol + rtol·max(|y|, |y_new|).

    A step is accepted when the norm is ≤ 1 (Hairer, Nørsett & Wanner I, §II.4, eq. 4.11).
    """
    n = y.shape[0]
    total = 0.0
    for m in range(n):
        scale = atol[m] + rtol * max(abs(y[m]), abs(y_new[m]))
        total += (err[m] / scale) ** 2
    return np.sqrt(total / n)


@njit(cache=True)
def dense_eval(y, h, k, p, theta, out):
    """Continuous extension y(t + θh) = y + h Σ_i k_i Σ_j p_ij θ^{j+1}, written into out."""
    n = y.shape[0]
    s, deg = p.shape
    for m in range(n):
        acc = 0.0
        for i in range(s):
            poly = 0.0
            power = theta
            for j in range(deg):
                poly += p[i, j] * power
                power *= theta
            acc += poly * k[i, m]
        out[m] = y[m] + h * acc


@njit(cache=True)
def initial_step(rhs, t0, y0, f0, args, order, rtol, atol, h_max, work, f1):
    """Starting step size, Hairer, Nørsett & Wanner I, §II.4 (as scipy `select_initial_step`).

    Costs one evaluation of rhs.
    """
    n = y0.shape[0]
    d0 = 0.0
    d1 = 0.0
    for m in range(n):
        scale = atol[m] + rtol * abs(y0[m])
        d0 += (y0[m] / scale) ** 2
        d1 += (f0[m] / scale) ** 2
    d0 = np.sqrt(d0 / n)
    d1 = np.sqrt(d1 / n)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = min(h0, h_max)
    for m in range(n):
        work[m] = y0[m] + h0 * f0[m]
    rhs(t0 + h0, work, args, f1)
    d2 = 0.0
    for m in range(n):
        scale = atol[m] + rtol * abs(y0[m])
        d2 += ((f1[m] - f0[m]) / scale) ** 2
    d2 = np.sqrt(d2 / n) / h0
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1.0 / (order + 1))
    return min(100.0 * h0, h1, h_max)
