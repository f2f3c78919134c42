"""RealConfig validation and the behaviour of simulate_real (experiments/real/experiment.py)."""

import json

import numpy as np
import pytest
import xarray as xr

from lnsgd.experiments.real.experiment import OBSERVABLES, RealConfig, simulate_real

# Width scaling: standard parametrization with η = η0·512/m (so η λ_max(K0)/n ≈ 1.2–1.5 at every
# width), clean full-batch GD. Measured RMS output distance to the linearization on test inputs after
# 400 steps: 0.125 (m=128), 0.0158 (512), 0.0014 (2048) — exponent ≈ −1.7, faster than the
# NTK-parametrization O(m^{-1/2}), consistent with the first layer moving O(m^{-3/2}) under η ∝ 1/m.
WIDTHS = (128, 512, 2048)
MIN_RATIO_PER_4X = 4.0  # each 4× in width must shrink the distance at least 4×
EXPONENT_RANGE = (-2.2, -1.0)  # fitted slope of log distance vs log width
MAX_DIST_WIDEST = 5e-3  # RMS ‖f − f_lin‖ at m = 2048, while ‖f − f0‖ RMS ≈ 4


def tiny(**kw) -> RealConfig:
    base = dict(n_train=40, n_test=50, width=32, eta=1e-2, steps=60, batch_size=8, record_every=20)
    return RealConfig(**{**base, **kw})


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("flip_prob", 1.5, r"flip_prob = 1.5 is out of range: expected 0.0 <= flip_prob <= 1.0"),
        ("dataset", "mnist", r"dataset = 'mnist' is not valid: expected one of"),
        ("batch_size", 41, r"batch_size = 41 is out of range: expected 1 <= batch_size <= 40"),
        ("eta", 0.0, r"eta = 0.0 is out of range"),
        ("record_every", 61, r"record_every = 61 is out of range"),
        ("width", 0, r"width = 0 is out of range"),
        ("n_train", 1700, r"n_train \+ n_test = 1750 is out of range"),
        ("linearization", "euler", r"linearization = 'euler'"),
        ("w_std", -1.0, r"w_std = -1.0"),
        ("seed", -3, r"seed = -3"),
    ],
)
def test_config_validation(field, value, match):
    with pytest.raises(ValueError, match=match):
        tiny(**{field: value})


def test_cifar_requires_data_dir():
    with pytest.raises(ValueError, match="data_dir = None is missing"):
        RealConfig(dataset="cifar10")


def test_dataset_layout_and_reproducibility():
    cfg = tiny()
    a, b = simulate_real(cfg, progress=False), simulate_real(cfg, progress=False)
    xr.testing.assert_identical(a, b)  # same config + seed ⇒ bit-identical
    assert dict(a.sizes) == {"noise": 2, "step": 4}
    assert a.noise.values.tolist() == [0.5, 0.0] and a.step.values.tolist() == [0, 20, 40, 60]
    assert set(OBSERVABLES) <= set(a.data_vars) and a.attrs["status"] == "completed"
    assert json.loads(a.attrs["config"])["flip_prob"] == 0.5
    first = a.isel(step=0)
    np.testing.assert_array_equal(first.dist_test, 0.0)  # f_lin,0 = f_0
    np.testing.assert_array_equal(first.ntk_rel_change, 0.0)
    np.testing.assert_array_equal(first.train_loss, first.lin_train_loss)
    c = simulate_real(tiny(seed=1), progress=False)
    assert not np.array_equal(a.train_loss.values, c.train_loss.values)


def test_divergence_is_reported():
    with pytest.warns(UserWarning, match="stability edge"):
        ds = simulate_real(tiny(eta=5.0, batch_size=40), progress=False)
    assert ds.attrs["status"] == "diverged" and "diverged by step" in ds.attrs["message"]
    assert np.isnan(ds.train_loss.values[:, -1]).all() and np.isfinite(ds.train_loss.values[:, 0]).all()


def test_clean_gd_tracks_linearization_closer_with_width():
    dist = []
    for m in WIDTHS:
        ds = simulate_real(
            RealConfig(
                n_train=40,
                n_test=100,
                width=m,
                eta=8e-3 * 512 / m,
                steps=400,
                batch_size=40,
                flip_prob=0.0,
                record_every=100,
            ),
            progress=False,
        )
        assert ds.lin_train_loss.values[0, -1] < 0.01 * ds.lin_train_loss.values[0, 0]  # it trained
        dist.append(float(ds.dist_test.max()))
    dist = np.array(dist)
    assert np.all(dist[:-1] / dist[1:] >= MIN_RATIO_PER_4X), dist
    slope = np.polyfit(np.log(WIDTHS), np.log(dist), 1)[0]
    assert EXPONENT_RANGE[0] < slope < EXPONENT_RANGE[1], (slope, dist)
    assert dist[-1] < MAX_DIST_WIDEST


# Noise effect, paired by seed (common init, minibatches and uniforms). Measured over seeds 0–5:
# Δ mean‖w_k‖ (flip 0.5) − Δ mean‖w_k‖ (clean) = −0.0110 ± 0.0008 (sd), ntk_rel_change ratio 1.38–1.55.
NOISE_SEEDS = range(6)
MIN_MEAN_SHRINK = 0.005  # required mean paired extra shrinkage of mean‖w_k‖
T_SIGMA = 5.0  # and mean difference beyond T_SIGMA · sd/√N
MIN_NTK_RATIO = 1.2


def test_flip_noise_moves_neuron_norms_more_than_clean():
    diffs, ntk_ratio = [], []
    for seed in NOISE_SEEDS:
        ds = simulate_real(
            RealConfig(
                n_train=40,
                n_test=50,
                width=64,
                eta=1e-2,
                steps=3000,
                batch_size=1,
                flip_prob=0.5,
                record_every=3000,
                seed=seed,
            ),
            progress=False,
        )
        shift = ds.w_norm_mean.isel(step=-1) - ds.w_norm_mean.isel(step=0)
        diffs.append(float(shift.sel(noise=0.5) - shift.sel(noise=0.0)))
        last = ds.ntk_rel_change.isel(step=-1)
        ntk_ratio.append(float(last.sel(noise=0.5) / last.sel(noise=0.0)))
    diffs = np.array(diffs)
    assert np.all(diffs < 0), diffs
    assert diffs.mean() < -MIN_MEAN_SHRINK
    assert diffs.mean() < -T_SIGMA * diffs.std(ddof=1) / np.sqrt(diffs.size)
    assert min(ntk_ratio) > MIN_NTK_RATIO, ntk_ratio
