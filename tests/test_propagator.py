"""The propagator engine against the direct engine (same config, seed and draws), its single map
against the dense product M P Mᵀ, reproducibility, and noise-path ensembles."""

import dataclasses

import numpy as np
import pytest
from numba import njit

from lnsgd.experiments import runner
from lnsgd.experiments.config import SimulationConfig
from lnsgd.solvers import propagator

# Every algorithm variant whose map is shared (solvers/propagator.py), at small width.
VARIANTS = {
    "sgd": {},
    "sgd-rademacher-B4-without-replacement": {"noise": "rademacher", "batch_size": 4, "replacement": False},
    "clean-sgd": {"delta": 0.0},
    "gd": {"batch_size": 200, "delta": 0.0},
    "gd-label-noise": {"batch_size": 200, "eta": 2e-3},
    "sam": {"algorithm": "sam", "rho": 0.05},
    "usam": {"algorithm": "usam", "rho": 5e-4},
    # full-batch normalized SAM without noise reaches the minimum within ~800 steps and then bounces
    # with c = ρ/‖∇L‖ → ∞, which amplifies any rounding difference (1e-15 → 1e-7 in one bounce):
    # compared over the approach only
    "sam-full-batch": {
        "algorithm": "sam",
        "batch_size": 200,
        "rho": 0.05,
        "delta": 0.0,
        "steps": 500,
        "record_every": 100,
    },
    "usam-full-batch": {"algorithm": "usam", "batch_size": 200, "rho": 1e-3},
    "sam-B3": {"algorithm": "sam", "batch_size": 3, "rho": 0.1},
    "periodic-schedule": {"schedule": "periodic", "period": 700},
    "ntk": {"parametrization": "ntk", "eta": 0.03},
    "mean-field": {"parametrization": "mean-field", "m": 40, "eta": 0.2},
    "alpha": {"alpha": 0.5},
}
BASE = SimulationConfig(m=100, steps=20_000, record_every=2000, snapshots=2)


def _final_state(config):
    run = runner.run_engine(config)
    assert run.status == "completed", run.message
    Wt, a = run.engine.state()
    return np.array(Wt), np.array(a), run


@pytest.mark.parametrize("name", VARIANTS)
def test_propagator_reproduces_the_direct_engine(name):
    """Same config and seed: W and a of the two engines agree to 1e-10 relative after 2·10⁴ steps."""
    cfg = dataclasses.replace(BASE, **VARIANTS[name])
    Wd, ad, direct = _final_state(dataclasses.replace(cfg, engine="direct"))
    Wp, ap, prop = _final_state(dataclasses.replace(cfg, engine="propagator"))
    assert (direct.engine.name, prop.engine.name) == ("direct", "propagator")
    assert np.max(np.abs(Wp - Wd)) <= 1e-10 * np.max(np.abs(Wd))
    assert np.max(np.abs(ap - ad)) <= 1e-10 * np.max(np.abs(ad))
    assert not np.allclose(Wd, runner.initial_state(cfg).W0.T, rtol=1e-6)  # the state did move


@njit
def _sam_map_without_ascent_length(t, P, X, y, idx, xi, delta, params, gp, g, work):
    """A wrong map: SAM's g′ at the ascent point, but κ = c·s dropped from M."""
    loss, _ = propagator.sam_map(t, P, X, y, idx, xi, delta, params, gp, g, work)
    return loss, 0.0


def test_a_wrong_map_is_caught(monkeypatch):
    """The comparison above fails when the map is wrong (SAM's ascent term dropped from M)."""
    cfg = dataclasses.replace(BASE, **VARIANTS["sam"])
    Wd, _, _ = _final_state(dataclasses.replace(cfg, engine="direct"))
    monkeypatch.setattr(runner, "select_map", lambda config: _sam_map_without_ascent_length)
    Wp, _, _ = _final_state(dataclasses.replace(cfg, engine="propagator"))
    assert np.max(np.abs(Wp - Wd)) > 1e-6 * np.max(np.abs(Wd))


def _dense_map(h, kappa, gp, g):
    D = len(g) + 1

    def J(v):
        out = np.zeros((D, D))
        out[0, 1:] = v
        out[1:, 0] = v
        return out

    return np.eye(D) - h * J(gp) - h * kappa * J(gp) @ J(g)


@pytest.mark.parametrize("kappa", [0.0, 0.7])
def test_apply_map_equals_the_dense_product(kappa):
    """One O(d²) update equals P ← M P Mᵀ, Φ ← M Φ with M formed densely (1e-13 relative), and P
    stays exactly symmetric."""
    rng = np.random.default_rng(3)
    d = 7
    Z = rng.standard_normal((d + 1, 30))
    P = Z @ Z.T
    P = 0.5 * (P + P.T)
    Phi = np.eye(d + 1) + 0.1 * rng.standard_normal((d + 1, d + 1))
    g = rng.standard_normal(d)
    gp = g if kappa == 0.0 else rng.standard_normal(d)
    h = 0.05
    M = _dense_map(h, kappa, gp, g)
    P1, Phi1 = P.copy(), Phi.copy()
    propagator.apply_map(P1, Phi1, h, kappa, gp, g, propagator.work_arrays(d))
    np.testing.assert_allclose(P1, M @ P @ M.T, rtol=0, atol=1e-13 * np.abs(P).max())
    np.testing.assert_allclose(Phi1, M @ Phi, rtol=0, atol=1e-13 * np.abs(Phi).max())
    np.testing.assert_array_equal(P1, P1.T)


@pytest.fixture(scope="module")
def paper_million():
    """The paper config over 10⁶ steps on both engines (records every 10⁴ steps)."""
    cfg = SimulationConfig(steps=1_000_000, record_every=10_000, snapshots=3)
    prop = dataclasses.replace(cfg, engine="propagator")
    return (
        runner.simulate(dataclasses.replace(cfg, engine="direct"), progress=False),
        runner.simulate(prop, progress=False),
        runner.run_engine(prop),
    )


def test_paper_config_every_observable_agrees_over_a_million_steps(paper_million):
    """Every recorded observable of the two engines agrees to 1e-8 relative over 10⁶ steps (the
    dynamics contracts onto the manifold, so rounding does not grow)."""
    direct, prop, _ = paper_million
    for name, var in direct.data_vars.items():
        if "step" not in var.dims and "snapshot" not in var.dims:
            continue
        a, b = var.values, prop[name].values
        scale = np.nanmax(np.abs(a), axis=0)
        err = np.nanmax(np.abs(a - b), axis=0)
        assert np.all(err <= 1e-8 * scale + 1e-300), name


def test_gram_state_stays_consistent_with_the_propagator(paper_million):
    """P is propagated, not re-formed: after 10⁶ steps it still equals Φ N₀ Φᵀ to 1e-11 relative
    (docs/engine.md), so per-neuron statistics (from Φ) and Gram statistics (from P) describe one state."""
    eng = paper_million[2].engine
    P_phi = eng.Phi @ eng.ref.N0 @ eng.Phi.T
    assert np.max(np.abs(eng.P - P_phi)) <= 1e-11 * np.max(np.abs(eng.P))


@pytest.mark.parametrize("engine", ["direct", "propagator"])
def test_bit_identical_reruns(engine):
    cfg = dataclasses.replace(BASE, engine=engine, algorithm="sam", steps=5000)
    first, second = runner.simulate(cfg, progress=False), runner.simulate(cfg, progress=False)
    for name in first.data_vars:
        np.testing.assert_array_equal(first[name].values, second[name].values, err_msg=name)
    assert first.attrs["engine"] == engine


def test_ensemble_paths_equal_single_runs():
    """Path j of an N-path run is the single run with noise_seed + j, bit for bit; the paths share
    data and initialisation (same step-0 record) and differ afterwards."""
    cfg = dataclasses.replace(BASE, paths=3, noise_seed=5, steps=6000)
    ens = runner.simulate(cfg, progress=False, workers=2)
    assert ens.sizes["path"] == 3 and list(ens.noise_seed.values) == [5, 6, 7]
    single = runner.simulate(runner.path_config(cfg, 2), progress=False)
    for name in single.data_vars:
        np.testing.assert_array_equal(single[name].values, ens[name].sel(path=2).values, err_msg=name)
    w = ens.w_norm_mean.values
    assert np.all(w[:, 0] == w[0, 0]) and len(np.unique(w[:, -1])) == 3
    assert ens.attrs["status"] == "completed" and ens.attrs["paths"] == 3


def test_seed_and_noise_seed_are_separate():
    """seed draws data and initialisation; noise_seed only the noise path."""
    a = runner.initial_state(dataclasses.replace(BASE, noise_seed=0))
    b = runner.initial_state(dataclasses.replace(BASE, noise_seed=9))
    c = runner.initial_state(dataclasses.replace(BASE, seed=1))
    np.testing.assert_array_equal(a.W0, b.W0)
    assert not np.array_equal(a.W0, c.W0)


def test_ensemble_with_a_diverged_path_says_so():
    cfg = dataclasses.replace(BASE, paths=2, eta=0.05, steps=3000, record_every=10)
    with pytest.warns(runner.StabilityWarning):
        ens = runner.simulate(cfg, progress=False)
    assert ens.attrs["status"] == "diverged"
    assert "2 of 2 paths did not complete" in ens.attrs["message"]
    assert np.all(np.isfinite(ens.w_norm_mean.values[:, 0]))


def test_kept_states_are_the_propagator_at_each_record():
    """keep_states: one (P, Φ) per record; at the end Φ Z₀ is the final state (z = (a, w) rows) and
    P = Φ N₀ Φᵀ (N₀ = Z₀Z₀ᵀ), both to rounding; the direct engine keeps none."""
    run = runner.run_engine(BASE, keep_states=True)
    assert len(run.records.states) == len(run.records.steps)
    P, Phi = run.records.states[-1]
    start = runner.initial_state(BASE)
    Z0 = np.vstack([start.a0[None, :], start.W0.T])
    Wt, a = run.engine.state()
    Z = np.vstack([np.asarray(a)[None, :], np.asarray(Wt)])
    np.testing.assert_allclose(Phi @ Z0, Z, rtol=0, atol=1e-10 * np.abs(Z).max())
    np.testing.assert_allclose(P, Phi @ (Z0 @ Z0.T) @ Phi.T, rtol=0, atol=1e-9 * np.abs(P).max())
    assert not np.allclose(run.records.states[0][1], Phi)  # Φ moved between the first and last record
    assert runner.run_engine(dataclasses.replace(BASE, engine="direct"), keep_states=True).records.states == []
