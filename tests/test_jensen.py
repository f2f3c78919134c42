"""The fast fluctuation of the network behind `flow_eff_jensen` (docs/theory.md §10): its predicted
covariance against the noise paths of the exact propagator engine, and the cubature of the Gaussian
expectation against Monte Carlo."""

import dataclasses

import numpy as np
import pytest

from lnsgd.experiments import runner
from lnsgd.experiments.check.predict import JENSENS, effective_setup, predict
from lnsgd.experiments.config import SimulationConfig
from lnsgd.solvers import effective as eff

SMALL = SimulationConfig(n=50, d=5, m=50, eta=2e-3, steps=200_000, record_every=2000, snapshots=0)
PATHS = 16


def test_fast_fluctuation_covariance_matches_the_path_covariance():
    """After Phase II, the shared displacement v_p = −(δW_p a)/(s‖a‖²) of path p (δW_p = W_p − mean over
    paths) has covariance 2λ_eff K⁻¹: the whitened ratio tr(C_pred⁻¹ Ĉ)/d, pooled over the last 30
    records (e relaxes in ≪ 2000 steps, so the records are nearly independent: sd ≈ √(2/(15·30·5)) ≈ 0.03),
    is within 0.2 of 1 (the trace approximation of λ_eff and the remaining slow fluctuations stay below
    that; a covariance off by a factor 2 fails)."""
    start = runner.initial_state(SMALL)
    runs = [runner.run_engine(dataclasses.replace(SMALL, noise_seed=j), start, keep_states=True) for j in range(PATHS)]
    Phi = np.array([[state[1] for state in run.records.states] for run in runs])  # (path, record, d+1, d+1)
    Z0 = np.vstack([start.a0[None, :], start.W0.T])  # z = (a, w) columns
    setup = effective_setup(SMALL, start.problem, start.s, "lambda-eff")
    ratios = []
    for i in range(Phi.shape[1] - 30, Phi.shape[1]):
        Z = np.einsum("pij,jm->pim", Phi[:, i], Z0)
        mean = Z.mean(axis=0)
        gram = np.einsum("pij,pkj->ik", Z, Z) / PATHS
        pred = eff.fast_fluctuation_cov(setup, gram[1:, 1:], gram[0, 0])
        v = -(Z[:, 1:] - mean[None, 1:]) @ mean[0] / (start.s * mean[0] @ mean[0])
        ratios.append(np.trace(np.linalg.solve(pred, v.T @ v / (PATHS - 1))) / SMALL.d)
    assert abs(np.mean(ratios) - 1.0) < 0.2, np.mean(ratios)


def test_cubature_matches_monte_carlo_of_the_gaussian():
    """The 2d-node cubature of E f(z_k − sJ(δV)z_k), δV ~ N(0, C), equals a 40 000-sample Monte Carlo
    average to 5 standard errors (plus 10⁻⁴ for the cubature's own degree-3 error) at a state with
    poorly aligned neurons, where the fluctuation moves |cos| by more than that tolerance."""
    rng = np.random.default_rng(3)
    m, d, s = 200, 6, 1.0
    W = rng.standard_normal((m, d)) * 0.3 + np.outer(rng.standard_normal(m), np.ones(d))
    a = rng.standard_normal(m)
    beta_star = rng.standard_normal(d)
    G = rng.standard_normal((d, d))
    C = 0.01 * (G @ G.T / d + np.eye(d))
    L = np.linalg.cholesky(C)
    nodes = np.sqrt(d) * np.vstack([np.eye(d), -np.eye(d)]) @ L.T
    cub = eff._neuron_means_cubature(W, a, beta_star, np.ascontiguousarray(nodes), s)
    shifts = rng.standard_normal((40_000, d)) @ L.T
    samples = np.array([eff._neuron_means(W - s * np.outer(a, v), a - s * W @ v, beta_star) for v in shifts])
    se = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    np.testing.assert_array_less(np.abs(cub - samples.mean(axis=0)), 5 * se + 1e-4)
    at_mean = np.array(eff._neuron_means(W, a, beta_star))
    assert abs(cub[1] - at_mean[1]) > 5 * (5 * se[1] + 1e-4)  # the test sees the Jensen gap


def test_jensen_observables_reduce_to_the_mean_network_without_noise():
    """On one solve (δ = 4): with δ = 0 in the setup (no fluctuation) the curves are those of
    `reduced_observables`; with δ = 4, mean|cos| lies below its value at the mean network (the
    fluctuation adds off-β* components)."""
    start = runner.initial_state(SMALL)
    setup = effective_setup(SMALL, start.problem, start.s, "lambda-eff")
    sol = eff.solve_reduced(setup, start.W0, start.a0, SMALL.eta * np.linspace(0.0, SMALL.steps, 11))
    at_mean = eff.reduced_observables(sol, start.W0, start.a0, start.problem.beta_star)
    quiet = effective_setup(dataclasses.replace(SMALL, delta=0.0), start.problem, start.s, "lambda-eff")
    for key, curve in eff.jensen_observables(sol, quiet, start.W0, start.a0).items():
        np.testing.assert_allclose(curve, at_mean[key], rtol=1e-12)
    over = eff.jensen_observables(sol, setup, start.W0, start.a0)
    assert np.all(over["cos_abs_mean"][1:] < at_mean["cos_abs_mean"][1:])


@pytest.mark.parametrize("flow", ["flow_eff", "flow_conj"])
def test_check_predicts_the_jensen_curves_next_to_their_flow(flow):
    """`lnsgd check --methods FLOW FLOW_jensen`: the same solve, the Jensen curves lower in mean|cos|."""
    steps = np.linspace(0, SMALL.steps, 11)
    jensen = f"{flow}_jensen"
    assert jensen in JENSENS
    out = predict(SMALL, steps, methods=(flow, jensen))
    assert np.all(np.isfinite(out[jensen]["cos_abs_mean"]))
    assert np.all(out[jensen]["cos_abs_mean"][1:] < out[flow]["cos_abs_mean"][1:])


def test_cubature_kernel_equals_the_shifted_networks():
    """The O(m) per-node kernel (expanded norms and dots) against shifting the network explicitly,
    w_k − s a_k v and a_k − s w_k·v, and taking the three neuron means (1e-12)."""
    rng = np.random.default_rng(0)
    m, d, s = 300, 7, 0.7
    W, a, b = rng.standard_normal((m, d)), 0.1 * rng.standard_normal(m), rng.standard_normal(d)
    V = 0.3 * rng.standard_normal((2 * d, d))
    shifted = []
    for v in V:
        Wv, av = W - s * a[:, None] * v[None, :], a - s * W @ v
        nw = np.linalg.norm(Wv, axis=1)
        shifted.append([nw.mean(), np.mean(np.abs(Wv @ b) / (nw * np.linalg.norm(b))), np.abs(av).mean()])
    np.testing.assert_allclose(eff._neuron_means_cubature(W, a, b, V, s), np.mean(shifted, axis=0), rtol=1e-12)
