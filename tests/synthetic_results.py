"""Small synthetic results in the stored schema (docs/results-schema.md), for tests and demos.

They mimic the shapes the paper reports (two phases under label noise, a lazy run at δ = 0,
shrinkage only while periodic noise is on, ...) with closed-form curves, so the figures and the
paper can be built and checked in seconds without a simulation. They are *not* simulation output:
``attrs['message']`` says so.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xarray as xr

from lnsgd.experiments.config import values_digest
from lnsgd.solvers.observables import QUANTILES

#: Per preset: total steps, δ, and the two rates (norm decay, alignment) in units of 1/steps.
PRESETS = {
    "two-phase": dict(steps=100_000, delta=4.0, shrink=6.0, align=10.0, algorithm="label_noise_sgd"),
    "lazy": dict(steps=100_000, delta=0.0, shrink=0.0, align=0.0, algorithm="label_noise_sgd"),
    "periodic": dict(steps=40_000, delta=4.0, shrink=8.0, align=6.0, algorithm="label_noise_sgd", period=5_000),
    "oscillation": dict(steps=100_000, delta=0.0, shrink=3.0, align=4.0, algorithm="oscillation"),
    "oscillation-control": dict(steps=100_000, delta=0.0, shrink=0.0, align=0.0, algorithm="oscillation"),
    "sam": dict(steps=100_000, delta=4.0, shrink=5.0, align=8.0, algorithm="sam"),
}


def _delta_schedule(step: np.ndarray, spec: dict) -> np.ndarray:
    """δ(t): constant, or on/off every ``period`` steps (on first)."""
    if "period" in spec:
        return np.where((step // spec["period"]) % 2 == 0, spec["delta"], 0.0)
    return np.full(step.shape, spec["delta"])


def _first_step(step: np.ndarray, reached: np.ndarray, what: str) -> xr.DataArray:
    """Phase time as a 0-d variable with a ``reason`` attr (NaN when never reached)."""
    if reached.any():
        return xr.DataArray(float(step[np.argmax(reached)]), attrs={"reason": ""})
    return xr.DataArray(np.nan, attrs={"reason": f"{what} not reached within {int(step[-1])} steps"})


def make_result(
    name: str, *, n_records: int = 81, m: int = 40, d: int = 20, seed: int = 0, created: datetime | None = None
) -> xr.Dataset:
    """A synthetic Dataset for preset ``name`` (one of :data:`PRESETS`) in the stored schema."""
    if name not in PRESETS:
        raise ValueError(f"make_result: name={name!r} is not one of {sorted(PRESETS)}")
    spec = PRESETS[name]
    rng = np.random.default_rng(seed)
    steps, eta, tau = spec["steps"], 1e-3, float(d)
    step = np.linspace(0, steps, n_records).round().astype(np.int64)
    delta = _delta_schedule(step, spec)
    # Progress of the regularization: integrates the noise-on fraction, so periodic noise only
    # moves the curves while it is on.
    on = np.concatenate([[0.0], np.cumsum((delta[:-1] > 0) | (spec["algorithm"] == "oscillation"))])
    progress = on / max(on[-1], 1.0) if spec["shrink"] else np.zeros(n_records)
    w0, plateau = 0.98, 0.11
    shrink = np.exp(-spec["shrink"] * progress)
    w_norm_mean = plateau + (w0 - plateau) * shrink if spec["shrink"] else np.full(n_records, w0)
    align = 1 / (1 + np.exp(-spec["align"] * (progress - 0.55))) if spec["align"] else 0 * progress
    cos_abs_mean = 0.176 + (0.96 - 0.176) * align
    a_abs_mean = 0.025 + 0.004 * np.sin(step / max(steps / 40, 1)) * (delta > 0)
    w_rel = 0.98 * (1 - shrink) if spec["shrink"] else 0.0035 * (1 - np.exp(-50 * step / steps))
    loss = 0.3 * (delta > 0) + 1e-3 * np.exp(-30 * step / steps)
    trace_g = tau * (w_norm_mean**2 * 0.4 + 0.2 * a_abs_mean * 40)
    qs = np.asarray(QUANTILES)
    spread = 0.12 * w_norm_mean
    coords = {"step": step, "time": ("step", eta * step), "quantile": qs}
    ds = xr.Dataset(
        {
            "w_norm_mean": ("step", w_norm_mean),
            "w_norm_std": ("step", spread),
            "w_norm_q": (("step", "quantile"), w_norm_mean[:, None] + spread[:, None] * (qs - 0.5) * 3),
            "a_abs_mean": ("step", a_abs_mean),
            "a_abs_std": ("step", 0.6 * a_abs_mean),
            "a_abs_q": (("step", "quantile"), a_abs_mean[:, None] * (0.2 + 1.6 * qs)),
            "cos_abs_mean": ("step", cos_abs_mean),
            "cos_abs_std": ("step", 0.1 * (1 - cos_abs_mean) + 0.02),
            "beta_cos": ("step", 1 - np.exp(-20 * step / steps) * 0.9),
            "scale_product": ("step", np.sqrt(m) * a_abs_mean * np.sqrt(m) * w_norm_mean),
            "w_rel_change": ("step", w_rel),
            "ntk_rel_change": ("step", 0.5 * w_rel),
            "kernel_target_alignment": ("step", 0.3 + 0.6 * align),
            "train_loss": ("step", loss),
            "test_loss": ("step", 1.2 * loss),
            "noisy_loss": ("step", loss + 0.5 * delta**2),
            "trace_G": ("step", trace_g),
            "lambda_max_G": ("step", 0.25 * trace_g),
            "balance_drift": ("step", 1 - shrink if spec["shrink"] else 1e-3 * step / steps),
            "balance_mean": ("step", a_abs_mean**2 - w_norm_mean**2),
            "delta": ("step", delta),
        },
        coords=coords,
    )
    # Per-neuron snapshots: each neuron moves from its initial norm to the balance ‖w‖ = √τ|a|.
    snap_idx = np.linspace(0, n_records - 1, 5).round().astype(int)
    a_k = rng.normal(0, 0.03, (snap_idx.size, m))
    w_init = rng.normal(w0, 0.1, m)
    balance = np.sqrt(tau) * np.abs(a_k)
    s = shrink[snap_idx, None] if spec["shrink"] else np.ones((snap_idx.size, 1))
    w_norm_k = balance + (w_init[None, :] - balance) * s
    cos_k = np.clip(rng.normal(cos_abs_mean[snap_idx, None], 0.05, (snap_idx.size, m)), -1, 1)
    cos_k *= rng.choice([-1.0, 1.0], m)
    ds = ds.assign_coords(
        snapshot=np.arange(snap_idx.size), neuron=np.arange(m), snapshot_step=("snapshot", step[snap_idx])
    )
    ds["w_norm_k"] = (("snapshot", "neuron"), w_norm_k)
    ds["a_k"] = (("snapshot", "neuron"), a_k)
    ds["cos_k"] = (("snapshot", "neuron"), cos_k)
    plateau_est = float(np.median(w_norm_mean[-max(n_records // 10, 1) :]))
    ds["T_I"] = _first_step(
        step,
        np.abs(w_norm_mean - plateau_est) <= 0.1 * plateau_est if spec["shrink"] else np.zeros(n_records, bool),
        "plateau of mean|w_k|",
    )
    ds["T_II"] = _first_step(step, cos_abs_mean >= 0.9, "mean|cos(w_k, beta*)| >= 0.9")
    cfg = {
        "preset": name,
        "algorithm": spec["algorithm"],
        "model": {"n": 200, "d": d, "m": m, "parametrization": "standard", "alpha": 1.0},
        "optimizer": {"eta": eta, "batch_size": 1, "delta": spec["delta"], "period": spec.get("period")},
        "run": {"steps": steps, "record_every": int(step[1] - step[0]), "seed": seed},
        "tau": tau,
    }
    cfg_json = json.dumps(cfg, sort_keys=True)
    created = created or datetime.now(timezone.utc)
    ds.attrs.update(
        config=cfg_json,
        config_hash=values_digest(json.loads(cfg_json)),
        seed=seed,
        status="completed",
        message="synthetic result (tests.synthetic_results), not a simulation",
        steps_done=steps,
        lnsgd_version="0.1.0",
        git_commit="synthetic",
        versions=json.dumps({"python": "", "numpy": np.__version__}),
        created=created.isoformat(),
    )
    return ds


def write_results(results_dir: str | Path, names: tuple[str, ...] = tuple(PRESETS), **kwargs) -> list[Path]:
    """Write :func:`make_result` of each name as ``<results_dir>/<name>-<hash12>.nc``."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        ds = make_result(name, **kwargs)
        path = results_dir / f"{name}-{ds.attrs['config_hash']}.nc"
        ds.to_netcdf(path)
        paths.append(path)
    return paths


# --- real data, multi-seed runs, a tiny sweep -------------------------------------------------------


def make_real_result(
    name: str = "real-digits", *, n_records: int = 41, steps: int = 20_000, flips: tuple[float, ...] = (0.5, 0.0)
) -> xr.Dataset:
    """A synthetic real-data Dataset (dims ``noise`` × ``step``, docs/real-data.md): with flips the
    network leaves its linearization and its neuron norms shrink and spread; without, it tracks it."""
    step = np.linspace(0, steps, n_records).round().astype(np.int64)
    x = step / steps
    data: dict[str, list[np.ndarray]] = {}
    for p in flips:
        lin_train = 0.1 * p + 5.0 * np.exp(-30 * x) + 1e-3
        values = {
            "lin_train_loss": lin_train,
            "lin_test_loss": lin_train + 0.2,
            "train_loss": lin_train * (1 + 4 * p * x) + 0.5 * p * x,
            "test_loss": lin_train + 0.2 + 0.6 * p * x,
            "lin_train_acc": 0.9 - 0.1 * p + 0 * x,
            "lin_test_acc": 0.85 - 0.1 * p + 0 * x,
            "train_acc": 0.9 - 0.5 * p * x,
            "test_acc": 0.85 - 0.6 * p * x,
            "dist_train": (0.1 + 2 * p) * (1 - np.exp(-20 * x)),
            "dist_test": (0.1 + 2 * p) * (1 - np.exp(-20 * x)),
            "w_norm_mean": 0.995 * (1 - 0.04 * p * x - 0.002 * x),
            "w_norm_std": 0.0864 * (1 + 0.3 * p * x),
            "w_rel_change": (0.01 + 0.3 * p) * x,
            "ntk_rel_change": (0.02 + 0.3 * p) * np.sqrt(x),
        }
        for k, v in values.items():
            data.setdefault(k, []).append(np.asarray(v, float))
    ds = xr.Dataset(
        {k: (("noise", "step"), np.stack(v)) for k, v in data.items()},
        coords={"noise": list(flips), "step": step, "time": ("step", 5e-3 * step)},
    )
    cfg = json.dumps({"dataset": name.removeprefix("real-"), "steps": steps, "flip_prob": max(flips)})
    ds.attrs.update(
        config=cfg,
        config_hash=values_digest(json.loads(cfg)),
        seed=0,
        status="completed",
        preset=name,
        created=datetime.now(timezone.utc).isoformat(),
        message="synthetic result (tests.synthetic_results), not a simulation",
    )
    return ds


def write_real_result(results_dir: str | Path, name: str = "real-digits", **kwargs) -> Path:
    """Write :func:`make_real_result` as ``<results_dir>/<name>-<hash12>.nc``."""
    ds = make_real_result(name, **kwargs)
    path = Path(results_dir) / f"{name}-{ds.attrs['config_hash']}.nc"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(path)
    return path


def write_claims(
    results_dir: str | Path,
    presets: tuple[str, ...] = ("two-phase", "lazy", "sam"),
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    configs: dict | None = None,
) -> list[Path]:
    """Synthetic multi-seed runs as ``lnsgd claims`` stores them: ``<results_dir>/claims/<hash>.nc``
    with ``attrs['config']`` = the preset's config (``configs[name]``, default its default
    SimulationConfig) with the seed replaced, and no ``preset`` attribute. The curves of seed s are
    :func:`make_result`'s with mean‖w_k‖ and mean|cos| scaled by 1 + 0.02(s − 2)."""
    import dataclasses

    from lnsgd.experiments.presets import PRESETS

    folder = Path(results_dir) / "claims"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in presets:
        base = (configs or {}).get(name) or PRESETS[name].config()
        for seed in seeds:
            cfg = dataclasses.replace(base, seed=seed)
            ds = make_result(name, seed=seed)
            for var in ("w_norm_mean", "cos_abs_mean"):
                ds[var] = ds[var] * (1 + 0.02 * (seed - 2))
            ds.attrs.update(config=cfg.to_json(), config_hash=cfg.digest(), seed=seed)
            path = folder / f"{cfg.digest()}.nc"
            ds.to_netcdf(path)
            paths.append(path)
    return paths


def write_tiny_sweep(results_dir: str | Path, workers: int = 1) -> Path:
    """Run (really simulate) a tiny version of the default sweep's four parts (n = 40, d = 5,
    m ≤ 40, 4000–20000 steps; ~10 s) into ``<results_dir>/sweeps/small``, for the sweep figures' tests.
    Needs a ``__main__`` guard when called from a script (spawned workers)."""
    from lnsgd.experiments.sweep.run import run_sweep
    from lnsgd.experiments.sweep.spec import spec_from_dict
    from lnsgd.figures.sweeps import SWEEP

    tiny = {"n": 40, "d": 5, "m": 20, "eta": 0.02, "delta": 2.0, "steps": 4000, "record_every": 200, "snapshots": 2}
    spec = spec_from_dict(
        {
            "name": SWEEP,
            "base": tiny,
            "sweeps": {
                "phases": {
                    "base": {"steps": 20000, "record_every": 500},
                    "grid": {"eta": [0.01, 0.02], "delta": [2.0, 4.0]},
                },
                "lazy-rich": {"grid": {"delta": [0.0, 4.0], "m": [10, 20, 40]}},
                "plateau": {"grid": {"m": [10, 20], "d": [3, 5]}},
                "sam": {
                    "base": {"algorithm": "sam", "steps": 20000, "record_every": 500},
                    "grid": {"rho": [0.0, 0.2], "delta": [0.0, 2.0]},
                },
            },
        }
    )
    folder = Path(results_dir) / "sweeps" / SWEEP
    run_sweep(spec, folder, workers=workers, progress=False)
    return folder


# --- declared models --------------------------------------------------------------------------------

#: Declared-model presets: model, δ, batch size, noise paths, n, d.
DECLARED = {
    "diagonal-sparse": dict(model="diagonal", delta=3.0, batch_size=1, paths=4, n=40, d=100),
    "diagonal-gd": dict(model="diagonal", delta=0.0, batch_size=40, paths=1, n=40, d=100),
    "deep-linear": dict(model="deep-linear", delta=4.0, batch_size=1, paths=4, n=200, d=20),
    "deep-linear-lazy": dict(model="deep-linear", delta=0.0, batch_size=1, paths=1, n=200, d=20),
}


def _declared_curves(name: str, step: np.ndarray, beta_star: np.ndarray, jitter: np.ndarray) -> dict:
    """Closed-form records of a declared preset for one path (``jitter`` = 0: the flow's): with label
    noise β goes to β* and the neurons shrink and align; without, β goes to a dense interpolator and
    the neurons stay where they start."""
    spec = DECLARED[name]
    x = step / step[-1]
    if spec["delta"] > 0:
        target, rate = beta_star + jitter, 5.0
    else:
        target = 0.5 * beta_star + 0.1 * np.cos(np.arange(beta_star.size))
        rate = 50.0
    beta = (1 - np.exp(-rate * x))[:, None] * target[None, :]
    curves = {
        "beta": (("step", "input"), beta),
        "loss": ("step", np.exp(-rate * x)),
        "beta_error": ("step", np.linalg.norm(beta - beta_star, axis=1)),
        "beta_l1": ("step", np.abs(beta).sum(axis=1)),
        "trace_G": ("step", 20 + 80 * np.exp(-rate * x)),
        "noisy_loss": ("step", np.exp(-rate * x) + 0.5 * spec["delta"] ** 2),
    }
    if spec["model"] == "diagonal":
        return curves | {"norm_u": ("step", 1 + x), "norm_v": ("step", 1 + x)}
    if spec["delta"] > 0:
        w = 0.35 + 0.65 * np.exp(-5 * x) + jitter[0] * x
        cos = 0.18 + 0.8 / (1 + np.exp(-10 * (x - 0.5))) + jitter[1] * x
    else:
        w, cos = np.full(x.shape, 1.0), np.full(x.shape, 0.18)
    norms = {"norm_W1": ("step", 10 * w), "norm_W2": ("step", 10 + 0 * x), "norm_a": ("step", 1 + 0 * x)}
    return curves | norms | {"w_norm_mean": ("step", w), "cos_abs_mean": ("step", cos)}


def make_declared_result(name: str, *, n_records: int = 41, steps: int = 1_000_000, flow: bool = False) -> xr.Dataset:
    """A synthetic declared-model result (schema of ``lnsgd run``, ``path`` dim when the preset has
    several paths, per-path T_I/T_II for neuron models); ``flow``: add the noise-free curves as
    ``pred_<var>`` and ``attrs['preset']``, as a ``lnsgd check`` file."""
    from lnsgd.experiments.phases import phase_one_time, phase_two_time

    spec = DECLARED[name]
    rng = np.random.default_rng(0)
    step = np.linspace(0, steps, n_records).round().astype(np.int64)
    beta_star = np.zeros(spec["d"])
    beta_star[np.linspace(0, spec["d"] - 1, 7)[1:-1].round().astype(int)] = [1, -1, 1, -1, 1]  # 5-sparse
    runs = []
    for _ in range(spec["paths"]):
        ds = xr.Dataset(_declared_curves(name, step, beta_star, 0.03 * rng.standard_normal(spec["d"])))
        if "w_norm_mean" in ds:
            ds["T_I"] = phase_one_time(step, ds["w_norm_mean"].values).step
            ds["T_II"] = phase_two_time(step, ds["cos_abs_mean"].values).step
        runs.append(ds)
    ds = xr.concat(runs, dim="path") if spec["paths"] > 1 else runs[0]
    coords = {"step": step, "time": ("step", 1e-3 * step), "input": np.arange(spec["d"])}
    ds = ds.assign_coords(coords | ({"path": np.arange(spec["paths"])} if spec["paths"] > 1 else {}))
    ds["beta_star"] = ("input", beta_star)
    if flow:
        for var, value in _declared_curves(name, step, beta_star, np.zeros(spec["d"])).items():
            ds[f"pred_{var}"] = value
        if "pred_w_norm_mean" in ds:  # the flow's phase times, as lnsgd check stores them
            ds["pred_T_I"] = phase_one_time(step, ds["pred_w_norm_mean"].values).step
            ds["pred_T_II"] = phase_two_time(step, ds["pred_cos_abs_mean"].values).step
    cfg = {"algorithm": "sgd", "alpha": 1.0, "eta": 1e-3, "steps": steps, "seed": 0, **spec}
    cfg_json = json.dumps(cfg, sort_keys=True)
    ds.attrs.update(
        config=cfg_json,
        config_hash=values_digest(json.loads(cfg_json)),
        status="completed",
        message="synthetic result (tests.synthetic_results), not a simulation",
        model=spec["model"],
        paths=spec["paths"],
        preset=name,
        created=datetime.now(timezone.utc).isoformat(),
    )
    return ds


def write_declared(
    results_dir: str | Path,
    names: tuple[str, ...] = tuple(DECLARED),
    checks: tuple[str, ...] = ("diagonal-sparse", "deep-linear"),
) -> list[Path]:
    """Write the declared presets' :func:`make_declared_result` as ``<name>-<hash12>.nc`` and, for
    ``checks``, a check file ``<results_dir>/check/check_<hash12>.nc`` with the flow's curves."""
    results_dir = Path(results_dir)
    paths = []
    for name in names:
        ds = make_declared_result(name)
        paths.append(results_dir / f"{name}-{ds.attrs['config_hash']}.nc")
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        ds.to_netcdf(paths[-1])
    for name in checks:
        ds = make_declared_result(name, flow=True)
        paths.append(results_dir / "check" / f"check_{ds.attrs['config_hash']}.nc")
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        ds.to_netcdf(paths[-1])
    return paths


def write_everything(results_dir: str | Path) -> Path:
    """Every stored input of the registered figures: the presets' synthetic results, a synthetic
    ``real-digits``, synthetic declared-model results and check files, synthetic multi-seed runs
    and a tiny (simulated) sweep."""
    write_results(results_dir)
    write_real_result(results_dir)
    write_declared(results_dir)
    write_claims(results_dir)
    write_tiny_sweep(results_dir)
    return Path(results_dir)
