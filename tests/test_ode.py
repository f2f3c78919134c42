"""ODE integrators against closed-form solutions (after diffrax test/test_integrate.py::test_ode_order)."""

import numpy as np
import pytest
from numba import njit
from scipy.linalg import expm

from lnsgd.solvers.ode import OdeOptions, solve_ode
from lnsgd.solvers.status import Status
from tests.ode_order import linear_rhs, ode_convergence

# Damped rotation: eigenvalues −0.5 ± 2i, non-normal scaling of nothing, smooth; exact expm(M t) y0.
MATRIX = np.array([[-0.5, 2.0], [-2.0, -0.5]])
Y0 = np.array([1.0, 0.5])
T1 = 2.0


def _exact(t):
    return np.array([expm(MATRIX * s) @ Y0 for s in np.atleast_1d(t)])


@njit(cache=True)
def _square(t, y, args, out):
    out[0] = y[0] * y[0]


def test_fixed_step_orders():
    """Fitted slope within ±0.1 of the order on dt = 2^-2 … 2^-6 (errors 1e-3…1e-11, far above round-off)."""
    ds = ode_convergence(MATRIX, Y0, T1, 2.0 ** -np.arange(2, 7))
    for method in ("rk4", "dopri5"):
        assert abs(ds.order.sel(scheme=method) - ds.expected_order.sel(scheme=method)) < 0.1, ds.order


@pytest.mark.parametrize("rtol", [1e-4, 1e-7, 1e-10])
def test_adaptive_meets_tolerance(rtol):
    """Global error on a dense grid <= rtol·max|y| (measured ≈ 0.5·rtol: error control per step
    on a contracting problem does not accumulate beyond the tolerance)."""
    grid = np.linspace(0.0, T1, 41)
    sol = solve_ode(linear_rhs, Y0, (0.0, T1), (MATRIX,), t_eval=grid, rtol=rtol, atol=1e-14)
    assert sol.success, sol.message
    err = np.max(np.abs(sol.y - _exact(grid)))
    assert err <= rtol * np.max(np.abs(Y0)), (err, rtol)
    assert sol.n_rhs == 6 * (sol.n_steps + sol.n_rejected) + 2  # FSAL: 6 new stages a step, +f0, +initial step


def test_dense_output_between_steps():
    """Large fixed steps, t_eval between them: dense output error converges with order >= dense order + 1
    (local interpolation error O(h^{p*+1})), and at step ends it is the step value itself."""
    grid = np.linspace(0.0, T1, 17)[1:-1] + 0.013  # off the step grids below
    for method, dense_order in (("rk4", 3), ("dopri5", 4)):
        errs = []
        for dt in (0.25, 0.125, 0.0625):
            sol = solve_ode(linear_rhs, Y0, (0.0, T1), (MATRIX,), method=method, dt=dt, t_eval=grid)
            errs.append(np.max(np.abs(sol.y - _exact(grid))))
        slope = np.polyfit(np.log([0.25, 0.125, 0.0625]), np.log(errs), 1)[0]
        assert slope > dense_order + 1 - 0.1, (method, slope, errs)
    on_grid = np.arange(0.0, T1 + 1e-12, 0.25)
    sol = solve_ode(linear_rhs, Y0, (0.0, T1), (MATRIX,), method="rk4", dt=0.25, t_eval=on_grid)
    ref = solve_ode(linear_rhs, Y0, (0.0, T1), (MATRIX,), method="rk4", dt=0.25)
    assert sol.y[-1].tobytes() == ref.y[-1].tobytes()


def test_args_as_array_and_atol_vector():
    @njit(cache=True)
    def decay(t, y, args, out):
        for i in range(y.shape[0]):
            out[i] = -args[i] * y[i]

    rates = np.array([1.0, 3.0])
    sol = solve_ode(decay, np.ones(2), (0.0, 1.0), rates, rtol=1e-9, atol=np.array([1e-12, 1e-12]))
    np.testing.assert_allclose(sol.y[-1], np.exp(-rates), rtol=1e-8)


def test_blow_up_reported_with_kept_samples():
    """y' = y², y(0) = 1: y = 1/(1 − t) blows up at t = 1."""
    grid = np.linspace(0.0, 2.0, 21)
    sol = solve_ode(_square, np.array([1.0]), (0.0, 2.0), t_eval=grid, rtol=1e-8, atol=1e-10)
    assert sol.status is Status.STEP_TOO_SMALL and not sol.success and "t = 1.0" in sol.message
    assert np.all(np.isfinite(sol.y)) and sol.t[-1] >= 0.9 and sol.t.size == sol.y.shape[0] <= 11
    np.testing.assert_allclose(sol.y[:10, 0], 1 / (1 - grid[:10]), rtol=1e-6)
    fixed = solve_ode(_square, np.array([1.0]), (0.0, 2.0), method="rk4", dt=0.01, t_eval=grid)
    assert fixed.status is Status.DIVERGED and np.all(np.isfinite(fixed.y)) and 1.0 <= fixed.t_final < 1.1
    capped = solve_ode(_square, np.array([1.0]), (0.0, 0.5), max_steps=3)
    assert capped.status is Status.MAX_STEPS and capped.n_steps == 3


def test_bit_identical_reruns():
    a = solve_ode(linear_rhs, Y0, (0.0, T1), (MATRIX,), t_eval=np.linspace(0, T1, 7), rtol=1e-9)
    b = solve_ode(linear_rhs, Y0, (0.0, T1), (MATRIX,), t_eval=np.linspace(0, T1, 7), rtol=1e-9)
    assert a.y.tobytes() == b.y.tobytes() and a.n_steps == b.n_steps


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"method": "rk45"}, "method"),
        ({"method": "rk4"}, "dt"),
        ({"rtol": 2.0}, "rtol"),
        ({"atol": -1.0}, "atol"),
        ({"max_steps": 0}, "max_steps"),
        ({"pi_beta": 0.5}, "pi_beta"),
    ],
)
def test_options_validated(kwargs, field):
    with pytest.raises(ValueError, match=field):
        OdeOptions(**kwargs)
