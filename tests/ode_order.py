"""Measured order of accuracy of the ODE methods on y' = M y, whose solution is expm(M t) y0.

After diffrax `test/test_integrate.py::test_ode_order`: integrate with fixed steps dt, take the
final-time error against the closed form and fit the slope of log(error) against log(dt).
The result is an xarray Dataset (dims method × dt) ready for an order plot.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from numba import njit
from scipy.linalg import expm

from lnsgd.solvers.ode import solve_ode
from lnsgd.solvers.tableaus import TABLEAUS


@njit(cache=True)
def linear_rhs(t, y, args, out):
    """out = M y with M = args[0]; vectorized equivalent ``args[0] @ y`` (a loop: no allocation)."""
    mat = args[0]
    for i in range(y.shape[0]):
        acc = 0.0
        for j in range(y.shape[0]):
            acc += mat[i, j] * y[j]
        out[i] = acc


def fit_order(dt: np.ndarray, error: np.ndarray) -> float:
    """Least-squares slope of log(error) against log(dt)."""
    return float(np.polyfit(np.log(dt), np.log(error), 1)[0])


def ode_convergence(
    matrix: np.ndarray,
    y0: np.ndarray,
    t1: float,
    dts: np.ndarray,
    methods: tuple[str, ...] = ("rk4", "dopri5"),
) -> xr.Dataset:
    """Final-time max-norm error of fixed-step runs of each method on y' = M y, y(0) = y0, over [0, t1].

    Returns a Dataset with ``error`` (scheme, dt), the fitted ``order`` (scheme) and the theoretical
    ``expected_order`` (scheme).
    """
    matrix = np.ascontiguousarray(matrix, dtype=np.float64)
    y0 = np.asarray(y0, dtype=np.float64)
    exact = expm(matrix * t1) @ y0
    dts = np.asarray(dts, dtype=np.float64)
    errors = np.empty((len(methods), dts.size))
    for i, method in enumerate(methods):
        for j, dt in enumerate(dts):
            sol = solve_ode(linear_rhs, y0, (0.0, t1), (matrix,), method=method, dt=float(dt))
            if not sol.success:
                raise RuntimeError(f"{method} with dt = {dt}: {sol.message}")
            errors[i, j] = np.max(np.abs(sol.y[-1] - exact))
    return xr.Dataset(
        {
            "error": (("scheme", "dt"), errors, {"long_name": "max-norm error at t1"}),
            "order": ("scheme", [fit_order(dts, e) for e in errors]),
            "expected_order": ("scheme", [TABLEAUS[m].order for m in methods]),
        },
        coords={"scheme": list(methods), "dt": dts},
        attrs={
            "problem": "y' = M y, exact expm(M t) y0",
            "t1": t1,
            "matrix": str(matrix.tolist()),
            "y0": str(y0.tolist()),
        },
    )
