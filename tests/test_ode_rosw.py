"""Rosenbrock-W integration (solvers/ode_rosw.py): coefficient algebra, W-order 3 with an arbitrary
partial Jacobian (block and diagonal), adaptive error control on stiff problems where explicit steps
are bounded by 2/|λ|: a stiff block, and a stiff mode outside it carried by the diagonal."""

import numpy as np
import pytest
from numba import njit
from scipy.linalg import expm

from lnsgd.solvers.ode import solve_ode
from lnsgd.solvers.ode_rosw import ROS34PW2
from tests.ode_order import fit_order, linear_rhs

MATRIX = np.array([[-1.0, 1.0, 0.3], [2.0, -0.5, 2.0], [0.1, -2.0, -0.5]])
Y0 = np.array([1.0, 0.5, -0.3])


@njit
def block_jac(t, y, args, J, D):
    """The leading k×k block of M (k = J.shape[0]): T = [[M_kk, 0], [0, 0]]."""
    k = J.shape[0]
    J[:, :] = args[0][:k, :k]
    D[:] = 0.0


@njit
def block_diag_jac(t, y, args, J, D):
    """The leading k×k block of M and the diagonal of the rest: T = [[M_kk, 0], [0, diag M]]."""
    k = J.shape[0]
    J[:, :] = args[0][:k, :k]
    for m in range(D.shape[0]):
        D[m] = args[0][k + m, k + m]


def test_coefficient_properties():
    """Order conditions up to 2 that hold for any T (W-method): Σb = 1, Σ b_i α_i = 1/2,
    Σ_i b_i Σ_{j≤i} γ_ij = 0; the embedded b̂ satisfies the same (it is order 2)."""
    tab = ROS34PW2
    gam_rows = tab.gamma.sum(axis=1)
    for w in (tab.b, tab.b_hat):
        assert w.sum() == pytest.approx(1.0, abs=1e-14)
        assert w @ tab.c == pytest.approx(0.5, abs=1e-14)
        assert w @ gam_rows == pytest.approx(0.0, abs=1e-14)
    assert tab.b @ tab.c**2 == pytest.approx(1 / 3, abs=1e-14)  # 3rd order, bushy tree


@pytest.mark.parametrize("jac", [block_jac, block_diag_jac])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_w_order_three_for_any_partial_jacobian(k, jac):
    """Fitted slope on dt = 2⁻³ … 2⁻⁸ within 0.1 of 3 whether T is the exact Jacobian (k = 3) or only a
    block of it (k = 1, 2), with or without the rest's diagonal: the W property (measured 3.03, 3.01,
    2.99 for the block alone)."""
    dts = 2.0 ** -np.arange(3, 9)
    exact = expm(2.0 * MATRIX) @ Y0
    errors = [
        np.max(
            np.abs(
                solve_ode(
                    linear_rhs, Y0, (0.0, 2.0), (MATRIX,), method="ros34pw2", dt=float(dt), jac=jac, jac_size=k
                ).y[-1]
                - exact
            )
        )
        for dt in dts
    ]
    assert abs(fit_order(dts, np.array(errors)) - 3) < 0.1


def test_stiff_block_takes_large_steps_and_meets_tolerance():
    """λ = −10⁶ in the block: an explicit method's stability bound h ≤ 3.3/10⁶ forces ≥ 3·10⁶ steps on
    [0, 10]; the W-method with the block Jacobian is bound by accuracy on the rotation only (measured
    1485 steps), with global error ≤ 10·rtol on the smooth components (Hermite t_eval)."""
    M = np.array([[-1e6, 1.0, 0.0], [0.0, -0.5, 2.0], [0.0, -2.0, -0.5]])
    grid = np.linspace(0.0, 10.0, 21)
    sol = solve_ode(
        linear_rhs,
        Y0,
        (0.0, 10.0),
        (M,),
        method="ros34pw2",
        jac=block_jac,
        jac_size=1,
        t_eval=grid,
        rtol=1e-6,
        atol=1e-10,
    )
    assert sol.success, sol.message
    assert sol.n_steps < 5000
    exact = np.array([expm(M * t) @ Y0 for t in grid])
    assert np.max(np.abs(sol.y - exact)[1:]) < 10 * 1e-6


def test_stiff_mode_outside_the_block_is_carried_by_the_diagonal():
    """λ = −10⁴ on a component outside the 1×1 block (driven by the rotation, y₂ ≈ y₀/10⁴): with D = 0
    the steps are bounded by stability, ≥ 10/(3.3·10⁻⁴) ≈ 3·10⁴ on [0, 10]; with D = diag M by accuracy
    (measured 50032 vs 3366 steps; 1317 with the full Jacobian: the coupling left out of T costs some
    accuracy, no stability), and the error stays ≤ 10·rtol on every component."""
    M = np.array([[-0.5, 2.0, 0.0], [-2.0, -0.5, 0.0], [1.0, 0.0, -1e4]])
    grid = np.linspace(0.0, 10.0, 21)
    exact = np.array([expm(M * t) @ Y0 for t in grid])
    steps = {}
    for jac in (block_jac, block_diag_jac):
        sol = solve_ode(
            linear_rhs, Y0, (0.0, 10.0), (M,), method="ros34pw2", jac=jac, jac_size=1, t_eval=grid, rtol=1e-6,
            atol=1e-10,
        )  # fmt: skip
        assert sol.success, sol.message
        assert np.max(np.abs(sol.y - exact)[1:]) < 10 * 1e-6
        steps[jac] = sol.n_steps
    assert steps[block_jac] > 30000
    assert steps[block_diag_jac] < 5000


def test_needs_a_jacobian():
    with pytest.raises(ValueError, match="needs jac"):
        solve_ode(linear_rhs, Y0, (0.0, 1.0), (MATRIX,), method="ros34pw2")
