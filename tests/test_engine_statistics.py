"""Statistical and structural properties of the engine (docs/model.md §3; moments: docs/theory.md §2)."""

import numpy as np
import pytest

from lnsgd.solvers import kernels
from tests.engine_helpers import one_step


def _small_problem(seed=3, n=6, d=2, m=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d)
    W = rng.standard_normal((m, d)) / np.sqrt(d)
    a = rng.standard_normal(m)
    return X, y, W, a


def _per_sample_grads(W, a, X, y, s):
    """∇_θ ℓ_i / r_i = ∇f_i stacked: rows (∂f_i/∂W flattened, ∂f_i/∂a); residuals r_i."""
    r = s * (X @ W.T @ a) - y
    J = np.hstack([s * np.einsum("k,ij->ikj", a, X).reshape(len(y), -1), s * X @ W.T])
    return J, r


def test_label_noise_sgd_increment_moments():
    """E[Δθ] = −η∇L and Cov[Δθ] = (η²/B)[(1/n)Σ(r_i² + δ²)∇f_i∇f_iᵀ − ∇L∇Lᵀ] over i ~ U{1..n}
    (with replacement, B = 1) and ξ ~ N(0, 1). Checked entrywise within 5·σ̂/√N, σ̂ the sample
    standard deviation of the estimator's summands (N = 40000 steps from the same state)."""
    X, y, W, a = _small_problem()
    n = len(y)
    s, eta, delta, N = 1.0, 0.01, 0.7, 40000
    rng = np.random.default_rng(0)
    J, r = _per_sample_grads(W, a, X, y, s)
    grad = J.T @ r / n
    cov = (eta**2) * ((J.T * (r**2 + delta**2)) @ J / n - np.outer(grad, grad))
    theta0 = np.concatenate([W.ravel(), a])
    incs = np.empty((N, len(theta0)))
    rows_all = rng.integers(0, n, N)
    xi_all = rng.standard_normal(N)
    for t in range(N):
        W1, a1, _, _, _ = one_step(
            kernels.sgd_minibatch_step, W, a, X, y, rows_all[t : t + 1], delta * xi_all[t : t + 1], s, eta
        )
        incs[t] = np.concatenate([W1.ravel(), a1]) - theta0
    mean = incs.mean(0)
    se_mean = incs.std(0) / np.sqrt(N)
    assert np.all(np.abs(mean + eta * grad) < 5 * se_mean + 1e-15)
    centred = incs - mean
    prods = np.einsum("ti,tj->tij", centred, centred)
    se_cov = prods.std(0) / np.sqrt(N)
    assert np.all(np.abs(prods.mean(0) - cov) < 5 * se_cov + 1e-15)


def _balance(W, a):
    return np.outer(a, a) - W @ W.T


def test_gd_conserves_balancedness_to_second_order():
    """One GD step changes D = aaᵀ − WWᵀ by η²(∇_a L∇_a Lᵀ − ∇_W L∇_W Lᵀ): halving η divides the
    change by 4 (fitted slope 2 ± 0.05), while W itself moves at first order."""
    X, y, W, a = _small_problem(seed=5, n=8, d=3, m=4)
    rows = np.arange(len(y))
    changes, moves = [], []
    etas = np.array([4e-3, 2e-3, 1e-3, 5e-4])
    for eta in etas:
        W1, a1, _, _, _ = one_step(
            kernels.gd_full_batch_step, W, a, X, y, rows, np.zeros(len(y)), 1.0, eta, full_batch=True
        )
        changes.append(np.linalg.norm(_balance(W1, a1) - _balance(W, a)))
        moves.append(np.linalg.norm(W1 - W))
    slope = np.polyfit(np.log(etas), np.log(changes), 1)[0]
    assert slope == pytest.approx(2.0, abs=0.05)
    assert np.polyfit(np.log(etas), np.log(moves), 1)[0] == pytest.approx(1.0, abs=0.05)
