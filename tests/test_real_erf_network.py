"""Model, Jacobian, NTK and the closed-form linearized trajectory (experiments/real/network.py)."""

import numpy as np
import pytest
from scipy.linalg import expm

from lnsgd.experiments.real.network import (
    LinearizedGD,
    expected_flip_targets,
    flipped_targets,
    forward,
    gradient_step,
    init_params,
    jacobian,
    ntk,
)

FD_STEP = 1e-6
FD_TOL = 1e-7  # central differences: error O(h²·f''') ≈ 1e-12 plus round-off ε·f/h ≈ 1e-10
CLOSED_FORM_TOL = 1e-10


@pytest.fixture
def small():
    rng = np.random.default_rng(1)
    n, d, m, C = 6, 4, 7, 3
    p = init_params(d, m, C, 1.0, 1.0, rng)
    X = rng.standard_normal((n, d))
    X_test = rng.standard_normal((5, d))
    Y = np.eye(C)[rng.integers(0, C, n)]
    return p, X, X_test, Y


def test_jacobian_matches_finite_differences(small):
    p, X, _, _ = small
    theta = p.flatten()
    J = jacobian(p, X)
    fd = np.empty_like(J)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = FD_STEP
        fd[:, :, k] = (forward(p.unflatten(theta + e), X) - forward(p.unflatten(theta - e), X)) / (2 * FD_STEP)
    np.testing.assert_allclose(J, fd, atol=FD_TOL)


def test_ntk_equals_jacobian_gram_and_finite_differences(small):
    p, X, X_test, _ = small
    J, J_test = jacobian(p, X), jacobian(p, X_test)
    P = J.shape[2]
    np.testing.assert_allclose(ntk(p, X_test, X), J_test.reshape(-1, P) @ J.reshape(-1, P).T, rtol=1e-12, atol=1e-12)
    # directional check without the Jacobian: f(θ + h v) − f(θ − h v) ≈ 2h J v, so K u = J Jᵀ u
    rng = np.random.default_rng(2)
    u = rng.standard_normal(J.shape[0] * J.shape[1])
    v = J.reshape(-1, P).T @ u
    theta = p.flatten()
    jv = (forward(p.unflatten(theta + FD_STEP * v), X) - forward(p.unflatten(theta - FD_STEP * v), X)).ravel() / (
        2 * FD_STEP
    )
    np.testing.assert_allclose(ntk(p, X, X) @ u, jv, rtol=1e-7)


def test_gradient_step_is_jacobian_transpose_residual(small):
    p, X, _, Y = small
    q = p.copy()
    eta = 0.1
    gradient_step(q, X, Y, eta)
    J = jacobian(p, X).reshape(-1, p.flatten().size)
    r = (forward(p, X) - Y).ravel() / X.shape[0]
    np.testing.assert_allclose(q.flatten(), p.flatten() - eta * J.T @ r, rtol=1e-13, atol=1e-14)


def test_label_flip_targets():
    labels = np.array([0, 1, 2, 2])
    flip = np.array([False, True, True, False])
    new = np.array([2, 0, 2, 1])
    np.testing.assert_array_equal(flipped_targets(labels, flip, new, 3).argmax(1), [0, 0, 2, 2])
    Y = np.eye(4)[[1, 3]]
    np.testing.assert_allclose(expected_flip_targets(Y, 0.5), 0.5 * Y + 0.125)


@pytest.mark.parametrize("eta", [0.05, 0.3])
def test_closed_form_matches_explicit_linearized_gd(small, eta):
    """Iterate θ ← θ − (η/n) J0ᵀ(f_lin(X) − Y) explicitly; the closed form must agree to 1e-10."""
    p, X, X_test, Y = small
    n = X.shape[0]
    P = p.flatten().size
    J, J_test = jacobian(p, X).reshape(-1, P), jacobian(p, X_test).reshape(-1, P)
    f0, f0_test = forward(p, X), forward(p, X_test)
    K = ntk(p, X, X)
    lin = LinearizedGD.from_gram(K, eta, n, discrete=True)
    assert lin.max_rate < 2
    r0 = (f0 - Y).ravel()
    dtheta = np.zeros(P)
    for t in range(201):
        if t in (0, 1, 7, 50, 200):
            np.testing.assert_allclose(
                lin.predict(t, r0, f0, K), f0 + (J @ dtheta).reshape(f0.shape), atol=CLOSED_FORM_TOL, rtol=0
            )
            np.testing.assert_allclose(
                lin.predict(t, r0, f0_test, ntk(p, X_test, X)),
                f0_test + (J_test @ dtheta).reshape(f0_test.shape),
                atol=CLOSED_FORM_TOL,
                rtol=0,
            )
        dtheta -= eta / n * J.T @ (r0 + J @ dtheta)


def test_flow_variant_matches_matrix_exponential_and_limits(small):
    p, X, _, Y = small
    n, eta = X.shape[0], 0.05
    K = ntk(p, X, X)
    f0 = forward(p, X)
    r0 = (f0 - Y).ravel()
    flow = LinearizedGD.from_gram(K, eta, n, discrete=False)
    for t in (0, 10, 300):
        expected = Y.ravel() + expm(-eta * t / n * K) @ r0
        np.testing.assert_allclose(flow.predict(t, r0, f0, K).ravel(), expected, atol=CLOSED_FORM_TOL)
    # t = 0 is the initial function; t → ∞ interpolates (K is full rank here: nC < P)
    np.testing.assert_array_equal(flow.predict(0, r0, f0, K), f0)
    discrete = LinearizedGD.from_gram(K, eta, n, discrete=True)
    np.testing.assert_allclose(discrete.predict(10**9, r0, f0, K), Y, atol=1e-8)
