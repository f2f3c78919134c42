"""SDE schemes: orders on nested grids with shared Brownian paths, OU moments, reproducibility, failures."""

import numba
import numpy as np
import pytest

from lnsgd.solvers.sde import SdeOptions, solve_sde
from lnsgd.solvers.sde_brownian import brownian_increments, coarsen
from lnsgd.solvers.sde_step import zero_ito_correction
from tests.sde_order import gbm, levy_area, ou, ou_moments, sde_convergence

# Grids 16·2^k steps on [0, 1], k = 0…4 (dt = 1/16 … 1/256), 20 000 paths (seed 0): the fitted slopes
# varied by < 0.01 (strong) and < 0.005 (weak) across seeds 0–2, far inside the ±0.1 tolerance.
ORDER_TOL = 0.1
LEVELS = dict(coarsest_steps=16, n_levels=5, n_paths=20_000, seed=0)


def test_strong_orders_gbm():
    """σ = 1 dominates μ = 0.5, so the σ² term (order 1/2 for EM) sets the measured slope.
    Measured: EM 0.499, Heun 0.976."""
    ds = sde_convergence(gbm(mu=0.5, sigma=1.0), **LEVELS)
    np.testing.assert_allclose(ds.strong_order, [0.5, 1.0], atol=ORDER_TOL)
    assert list(ds.scheme.values) == ["euler", "heun"]


def test_weak_orders_gbm():
    """μ = 2 dominates σ = 0.5 so the weak error (of E X(1)) stands ≥ 70 standard errors above the
    Monte Carlo noise of the control-variate estimator. Measured: EM 0.959, Heun 1.057."""
    ds = sde_convergence(gbm(mu=2.0, sigma=0.5), **LEVELS)
    assert np.all(ds.weak_error > 20 * ds.weak_error_se)
    np.testing.assert_allclose(ds.weak_order, [1.0, 1.0], atol=ORDER_TOL)


def test_ou_ensemble_moments():
    """Mean and variance of N = 4000 OU paths vs closed form at 8 saved times.

    Tolerance k·σ/√N with k = 4 (mean: σ(t)/√N; variance: v(t)·√(2/(N−1)) for Gaussian samples);
    the O(dt) bias of Heun with dt = 1/256 is < 0.003, below the smallest tolerance (0.016 at t = 0.125).
    """
    theta, mean, sigma, y0, n = 1.0, 0.5, 0.8, 2.0, 4000
    sol = solve_sde(
        ou().drift,
        ou().diffusion,
        np.array([y0]),
        (0.0, 1.0, 256),
        (theta, mean, sigma),
        method="heun",
        ito_correction=zero_ito_correction,
        q=1,
        n_paths=n,
        seed=3,
        save_every=32,
    )
    assert sol.success and sol.y.shape == (9, n, 1)
    m, v = ou_moments(theta, mean, sigma, y0, sol.t[1:])
    k = 4.0
    assert np.all(np.abs(sol.y[1:, :, 0].mean(axis=1) - m) <= k * np.sqrt(v / n))
    assert np.all(np.abs(sol.y[1:, :, 0].var(axis=1, ddof=1) - v) <= k * v * np.sqrt(2 / (n - 1)))


def _gbm_run(**kw):
    p = gbm()
    base = dict(method="heun", ito_correction=p.ito_correction, q=1, n_paths=64, seed=11, save_every=5)
    return solve_sde(p.drift, p.diffusion, p.y0, (0.0, 1.0, 100), p.args, **(base | kw))


def test_bit_identical_reruns_threads_and_chunks():
    ref = _gbm_run()
    assert _gbm_run().y.tobytes() == ref.y.tobytes()
    assert _gbm_run(chunk_bytes=8 * 64 * 7).y.tobytes() == ref.y.tobytes()  # chunks of 7 steps
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert _gbm_run().y.tobytes() == ref.y.tobytes()
    finally:
        numba.set_num_threads(threads)
    assert _gbm_run(seed=12).y.tobytes() != ref.y.tobytes()


def test_explicit_increments_match_seed_and_nest():
    """Passing the increments a seeded run draws reproduces it; a nested coarse grid sees the same path."""
    ref = _gbm_run()
    dW = brownian_increments(np.random.default_rng(11), np.diff(np.linspace(0.0, 1.0, 101)), 64, 1)
    assert _gbm_run(dW=dW, seed=None).y.tobytes() == ref.y.tobytes()
    p = gbm()
    coarse = solve_sde(
        p.drift, p.diffusion, p.y0, (0.0, 1.0, 20), p.args, method="euler", n_paths=64, dW=coarsen(dW, 5)
    )
    w1 = dW.sum(axis=0)  # W(1) of each path
    exact = p.exact(w1)
    assert np.mean(np.abs(coarse.y[-1] - exact)) < np.mean(np.abs(coarse.y[-1] - p.exact(w1[::-1])))


@numba.njit(cache=True)
def _levy_noise_product(t, y, args, dw, out):
    """b(y) dw of the Lévy-area SDE, b = [[1, 0], [0, y₀]], without forming b."""
    out[0] = dw[0]
    out[1] = y[0] * dw[1]


@pytest.mark.parametrize("method", ["euler", "heun"])
def test_product_form_diffusion_equals_the_matrix_form(method):
    """diffusion_form="product" (the diffusion returns b dw) integrates the same SDE as the (dim, q) matrix."""
    p = levy_area()
    dW = brownian_increments(np.random.default_rng(2), np.full(50, 0.02), 16, 2)
    corr = p.ito_correction if method == "heun" else None
    kw = dict(method=method, ito_correction=corr, n_paths=16, dW=dW, save_every=10)
    dense = solve_sde(p.drift, p.diffusion, p.y0, (0.0, 1.0, 50), p.args, **kw)
    product = solve_sde(p.drift, _levy_noise_product, p.y0, (0.0, 1.0, 50), p.args, diffusion_form="product", **kw)
    assert dense.success and product.success
    np.testing.assert_allclose(product.y, dense.y, rtol=1e-14, atol=1e-14)
    assert np.std(product.y[-1, :, 1]) > 0.1  # the state-dependent column acted


def test_divergence_reported_and_kept():
    """EM on GBM with μ = 1000, dt = 0.01: |1 + μ dt|^n overflows after ~300 steps."""
    p = gbm(mu=1000.0, sigma=0.1)
    sol = solve_sde(
        p.drift, p.diffusion, p.y0, (0.0, 5.0, 500), p.args, method="euler", q=1, n_paths=4, seed=0, save_every=10
    )
    assert sol.status == "diverged" and not sol.success and "4 of 4 paths" in sol.message
    assert np.all((sol.failed_step > 250) & (sol.failed_step < 400))
    for path, step in enumerate(sol.failed_step):
        kept = sol.y[: (step - 1) // 10 + 1, path]
        assert np.all(np.isfinite(kept)) and np.all(np.isnan(sol.y[(step - 1) // 10 + 1 :, path]))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"method": "milstein"}, "method"),
        ({"n_paths": 0}, "n_paths"),
        ({"save_every": 0}, "save_every"),
        ({"seed": -1}, "seed"),
        ({"diffusion_form": "dense"}, "diffusion_form"),
    ],
)
def test_options_validated(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SdeOptions(**kwargs)


def test_call_errors():
    p = gbm()
    with pytest.raises(ValueError, match="ito_correction"):
        solve_sde(p.drift, p.diffusion, p.y0, (0.0, 1.0, 10), p.args, method="heun", q=1)
    with pytest.raises(ValueError, match="save_every"):
        _gbm_run(save_every=7)
