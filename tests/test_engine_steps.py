"""Each kernel step against the readable numpy reference, and the reference against finite
differences (algorithms: docs/model.md §3). Tolerances: the reference gradient vs central differences with
h = 1e-6 has truncation O(h²·‖∇³L‖) + rounding O(ε/h) ≈ 1e-9 relative; kernel vs reference differ by
rounding only (1e-12)."""

import numpy as np
import pytest

from lnsgd.solvers import kernels
from tests import reference as ref
from tests.engine_helpers import one_step

RTOL_FD = 1e-7
RTOL_EXACT = 1e-11


@pytest.fixture
def state():
    rng = np.random.default_rng(1)
    n, d, m = 7, 3, 5
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d)
    W = rng.standard_normal((m, d)) / np.sqrt(d)
    a = rng.standard_normal(m)
    return X, y, W, a, rng


@pytest.mark.parametrize("s", [1.0, 1 / np.sqrt(5), 1 / 5])
def test_reference_gradient_matches_finite_differences(state, s):
    X, y, W, a, rng = state
    rows = np.array([0, 3, 3])
    yb = y[rows] + rng.standard_normal(3)
    gW, ga = ref.batch_grad(W, a, X[rows], yb, s)
    fW, fa = ref.fd_grad(W, a, X[rows], yb, s)
    np.testing.assert_allclose(gW, fW, rtol=RTOL_FD, atol=1e-9)
    np.testing.assert_allclose(ga, fa, rtol=RTOL_FD, atol=1e-9)


@pytest.mark.parametrize("rows", [[2], [0, 4, 4, 6]])
def test_sgd_minibatch_step(state, rows):
    X, y, W, a, rng = state
    rows = np.array(rows)
    noise = rng.standard_normal(len(rows))
    W1, a1, loss, H, _ = one_step(kernels.sgd_minibatch_step, W, a, X, y, rows, noise, 0.7, 0.05)
    Wr, ar = ref.sgd_step(W, a, X[rows], y[rows] + noise, 0.7, 0.05)
    np.testing.assert_allclose(W1, Wr, rtol=RTOL_EXACT)
    np.testing.assert_allclose(a1, ar, rtol=RTOL_EXACT)
    assert loss == pytest.approx(ref.batch_loss(W, a, X[rows], y[rows] + noise, 0.7), rel=1e-12)
    # the carried probes belong to the next batch (here: the same rows) at the new W
    np.testing.assert_allclose(H, X[rows] @ W1.T, rtol=1e-11)


@pytest.mark.parametrize("normalize", [1.0, 0.0])
@pytest.mark.parametrize("rows", [[5], [1, 2, 6]])
def test_sam_minibatch_step_matches_definition(state, normalize, rows):
    X, y, W, a, rng = state
    rows = np.array(rows)
    noise = rng.standard_normal(len(rows))
    W1, a1, _, _, _ = one_step(
        kernels.sam_minibatch_step, W, a, X, y, rows, noise, 1.0, 0.05, rho=0.1, normalize=normalize
    )
    Wr, ar = ref.sam_step(W, a, X[rows], y[rows] + noise, 1.0, 0.05, 0.1, normalize)
    np.testing.assert_allclose(W1, Wr, rtol=RTOL_EXACT)
    np.testing.assert_allclose(a1, ar, rtol=RTOL_EXACT)


def test_sam_ascent_uses_finite_difference_gradient(state):
    """SAM's ascent point and descent gradient built from finite differences only."""
    X, y, W, a, rng = state
    rows = np.array([1, 4])
    yb = y[rows] + rng.standard_normal(2)
    gW, ga = ref.fd_grad(W, a, X[rows], yb, 1.0)
    c = 0.1 / np.sqrt(np.sum(gW**2) + np.sum(ga**2))
    gW2, ga2 = ref.fd_grad(W + c * gW, a + c * ga, X[rows], yb, 1.0)
    W1, a1, _, _, _ = one_step(
        kernels.sam_minibatch_step, W, a, X, y, rows, yb - y[rows], 1.0, 0.05, rho=0.1, normalize=1.0
    )
    np.testing.assert_allclose(W1, W - 0.05 * gW2, rtol=RTOL_FD, atol=1e-10)
    np.testing.assert_allclose(a1, a - 0.05 * ga2, rtol=RTOL_FD, atol=1e-10)


def test_full_batch_gd_with_label_noise(state):
    X, y, W, a, rng = state
    noise = rng.standard_normal(len(y))
    rows = np.arange(len(y))
    W1, a1, _, _, beta = one_step(kernels.gd_full_batch_step, W, a, X, y, rows, noise, 0.5, 0.03, full_batch=True)
    Wr, ar = ref.sgd_step(W, a, X, y + noise, 0.5, 0.03)
    np.testing.assert_allclose(W1, Wr, rtol=RTOL_EXACT)
    np.testing.assert_allclose(a1, ar, rtol=RTOL_EXACT)
    np.testing.assert_allclose(beta, 0.5 * W1.T @ a1, rtol=1e-11)


@pytest.mark.parametrize("normalize", [1.0, 0.0])
def test_full_batch_sam(state, normalize):
    X, y, W, a, rng = state
    noise = rng.standard_normal(len(y))
    rows = np.arange(len(y))
    W1, a1, _, _, _ = one_step(
        kernels.sam_full_batch_step, W, a, X, y, rows, noise, 1.0, 0.03, rho=0.05, normalize=normalize, full_batch=True
    )
    Wr, ar = ref.sam_step(W, a, X, y + noise, 1.0, 0.03, 0.05, normalize)
    np.testing.assert_allclose(W1, Wr, rtol=RTOL_EXACT)
    np.testing.assert_allclose(a1, ar, rtol=RTOL_EXACT)


def test_oscillation_step(state):
    X, y, W, a, rng = state
    zeta = rng.standard_normal(len(a))
    rows = np.arange(len(y))
    W1, a1, _, _, _ = one_step(
        kernels.oscillation_step, W, a, X, y, rows, np.zeros(len(y)), 1.0, 0.02, eps=0.3, zeta=zeta, full_batch=True
    )
    Wr, ar = ref.oscillation_step(W, a, zeta, 0.3, X, y, 1.0, 0.02)
    np.testing.assert_allclose(W1, Wr, rtol=RTOL_EXACT)
    np.testing.assert_allclose(a1, ar, rtol=RTOL_EXACT)


@pytest.mark.parametrize("d", [1, 4, 5])
def test_update_and_probe_any_width(d):
    """The two-rows-at-a-time loop and its odd remainder."""
    rng = np.random.default_rng(d)
    m, n = 9, 6
    X = rng.standard_normal((n, d))
    Wt = rng.standard_normal((d, m))
    a, a_src, da, v = rng.standard_normal(m), rng.standard_normal(m), rng.standard_normal(m), rng.standard_normal(d)
    rows = np.array([4, 1, 1])
    H = np.zeros((3, m))
    W_new = Wt.T - 0.3 * np.outer(a_src, v)
    a_expected = a - da
    kernels.update_and_probe(Wt, a, 0.3, a_src, v, da, X, rows, H)
    np.testing.assert_allclose(Wt.T, W_new, rtol=1e-13)
    np.testing.assert_allclose(a, a_expected, rtol=1e-13)
    np.testing.assert_allclose(H, X[rows] @ W_new.T, rtol=1e-12)
