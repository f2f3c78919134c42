"""Sweeps (docs/sweeps.md): spec validation, resume after SIGKILL, failures recorded, Dask = process pool,
corrupt files recomputed, the combined Dataset and the figures, a declared-model sweep. Tiny configs
(m = 20, d = 5; the diagonal network at d = 30, 10k steps), at most 2 worker processes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from lnsgd.experiments.config import SimulationConfig
from lnsgd.experiments.sweep.combine import open_sweep
from lnsgd.experiments.sweep.run import run_sweep
from lnsgd.experiments.sweep.spec import load_spec, spec_from_dict
from lnsgd.experiments.sweep.store import MARKER, point_state, result_file
from lnsgd.experiments.sweep.theory import isotropic_prediction
from lnsgd.experiments.validation import ConfigError

DIAGONAL = {
    "model": "diagonal",
    "teacher": "sparse",
    "n": 20,
    "d": 30,
    "eta": 2e-3,
    "steps": 10_000,
    "record_every": 1000,
}
TINY = {"n": 40, "d": 5, "m": 20, "eta": 0.02, "delta": 2.0, "steps": 2000, "record_every": 100, "snapshots": 2}


def tiny_spec(grid=None, points=None, name="tiny", **base):
    data = {"name": name, "base": TINY | base, "grid": grid or {"eta": [0.01, 0.02], "seed": [0, 1]}}
    if points is not None:
        data["points"] = points
    return spec_from_dict(data)


def digest_files(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.glob("*.nc"))
        if not p.name.endswith(".summary.nc")
    }


# --- spec validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, words",
    [
        ({"grid": {"etaa": [0.1]}}, ["etaa", "not a field of two-layer configs"]),
        ({"base": DIAGONAL, "grid": {"osc_eps": [0.1]}}, ["osc_eps", "not a field of declared-model configs"]),
        ({"base": DIAGONAL, "grid": {"m": [50]}}, ["grid.m", "m = 50 does not apply to model = 'diagonal'"]),
        ({"grid": {"eta": []}}, ["grid.eta", "empty"]),
        ({"grid": {}}, ["empty grid"]),
        ({"grid": {"eta": [0.01, -1.0]}}, ["grid.eta", "-1.0", "eta > 0"]),
        ({"grid": {"noise": ["gaussian", "cauchy"]}}, ["grid.noise", "cauchy"]),
        ({"base": {"m": 0}, "grid": {"eta": [0.1]}}, ["base", "m = 0"]),
        ({"grid": {"eta": 0.1}}, ["grid.eta", "list"]),
        ({"grid": {"eta": {"geomspace": [0.1, "x", 3]}}}, ["grid.eta", "geomspace"]),
        ({"grid": {"eta": [0.1]}, "points": [{"delta": 1.0, "bogus": 2}]}, ["points[0]", "bogus"]),
        ({"grid": {"eta": [0.1]}, "points": [{"eta": 0.2}]}, ["points[0]", "eta", "also in grid"]),
        ({"grid": {"eta": [0.1]}, "colour": 1}, ["colour"]),
    ],
)
def test_invalid_spec_names_the_field(data, words):
    with pytest.raises(ConfigError) as err:
        spec_from_dict({"name": "bad", **data})
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_spec_expansion_types_and_parts(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "base: {n: 40}\nsweeps:\n  a:\n    grid: {eta: {geomspace: [1e-3, 1e-1, 3]}, "
        "m: ['10', 20.0], seed: {range: [0, 2]}}\n  b:\n    points: [{delta: 1}, {rho: 0.1}]\n"
    )
    spec = load_spec(path)
    assert spec.name == "s" and [p.name for p in spec.parts] == ["a", "b"]
    a = spec.part("a")
    assert dict(a.grid)["eta"] == (0.001, 0.01, 0.1) and dict(a.grid)["m"] == (10, 20)
    assert dict(a.grid)["seed"] == (0, 1) and len(a.expand()) == 12
    b = spec.part("b").expand()
    assert spec.part("b").dims == ("delta", "rho")
    assert [dict(p.coords) for p in b] == [{"delta": 1.0, "rho": 0.05}, {"delta": 4.0, "rho": 0.1}]
    with pytest.raises(ConfigError, match="parts a, b"):
        spec.part()


# --- execution ------------------------------------------------------------------------------------


def test_failures_recorded_others_finish_and_combined(tmp_path):
    """An invalid combination and a diverging point are recorded with their reason; the rest
    finish; a corrupt file is detected and recomputed; the combined Dataset has the swept dims."""
    spec = tiny_spec(grid={"n": [10, 40], "batch_size": [1, 20], "eta": [0.02, 50.0]})
    report = run_sweep(spec, tmp_path, workers=2, progress=False)
    assert report.total == 8 and report.complete
    assert report.count("invalid") == 2  # batch_size 20 > n 10, for both eta
    assert report.count("diverged") == 3  # eta = 50 on the valid combinations
    assert report.count("completed") == 3
    ds = open_sweep(tmp_path, curves=True)
    assert dict(ds.sizes)["n"] == 2 and set(ds.dims) >= {"n", "batch_size", "eta", "step"}
    bad = ds.sel(n=10, batch_size=20, eta=0.02)
    assert bad.status == "invalid" and "batch_size" in str(bad.message.values)
    div = ds.sel(n=40, batch_size=1, eta=50.0)
    assert div.status == "diverged" and "diverged at step" in str(div.message.values)
    ok = ds.sel(n=40, batch_size=1, eta=0.02)
    assert ok.status == "completed" and np.isfinite(ok.w_norm_final) and np.isfinite(ok.cos_final)
    assert np.isfinite(ok.w_norm_mean.sel(step=2000))

    # corrupt one finished file: truncated, then one without the completion marker
    target = result_file(tmp_path, str(ok.config_hash.values))
    target.write_bytes(target.read_bytes()[:300])
    assert point_state(tmp_path, str(ok.config_hash.values)).state == "corrupt"
    again = run_sweep(spec, tmp_path, workers=1, progress=False)
    assert again.corrupt == [str(ok.config_hash.values)] and again.count("completed") == 1
    assert again.skipped == 7
    with xr.open_dataset(target) as reopened:
        assert reopened.attrs[MARKER] == str(ok.config_hash.values)


def test_declared_model_sweep_runs_resumes_and_combines(tmp_path):
    """A diagonal-network sweep (declared model): points run through ModelConfig, a larger grid
    resumes from the stored points, the summary has the declared scalars and no two-layer theory."""
    first = run_sweep(
        spec_from_dict({"name": "diag", "base": DIAGONAL, "grid": {"delta": [0.0, 2.0], "alpha": [1.0]}}),
        tmp_path,
        workers=1,
        progress=False,
    )
    assert first.count("completed") == 2
    stored = digest_files(tmp_path)
    spec = spec_from_dict({"name": "diag", "base": DIAGONAL, "grid": {"delta": [0.0, 2.0], "alpha": [0.5, 1.0]}})
    again = run_sweep(spec, tmp_path, workers=1, progress=False)
    assert again.skipped == 2 and again.count("completed") == 2 and again.complete
    assert {k: v for k, v in digest_files(tmp_path).items() if k in stored} == stored
    ds = open_sweep(spec, out=tmp_path, curves=True, theory=True)
    assert dict(ds.sizes)["delta"] == 2 and dict(ds.sizes)["alpha"] == 2 and (ds.status == "completed").all()
    assert np.isfinite(ds.beta_error_final).all() and np.isfinite(ds.beta_l1.sel(step=10_000)).all()
    assert "plateau" not in ds and "T_I_theory" not in ds and "two-layer" in ds.attrs["theory"]
    assert np.isnan(ds.w_norm_final).all()  # no neurons in the diagonal network


def _descendants(pid: int) -> set[int]:
    """Pids of the live (non-zombie) descendants of `pid`, from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_the_parent_leaves_no_worker_or_resource_tracker(tmp_path):
    spec_path = tmp_path / "orphans.yaml"
    spec_path.write_text(
        "name: orphans\nbase: {n: 40, d: 5, m: 20, eta: 0.01, delta: 2.0, steps: 2000000, "
        "record_every: 20000, snapshots: 2}\ngrid: {seed: [0, 1, 2, 3]}\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lnsgd",
            "sweep",
            str(spec_path),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "2",
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    children: set[int] = set()
    while time.time() < deadline and len(children) < 3:  # two workers and the resource tracker
        time.sleep(0.2)
        children = _descendants(proc.pid)
    assert len(children) >= 3, f"the pool did not start: {children}"
    os.kill(proc.pid, signal.SIGKILL)  # the parent only, not its process group
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.1)
    survivors = [pid for pid in children if _alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert survivors == []


def test_sigkill_resume_keeps_finished_points_byte_for_byte(tmp_path):
    spec_path = tmp_path / "kill.yaml"
    spec_path.write_text(
        "name: kill\nbase: {n: 40, d: 5, m: 20, eta: 0.01, delta: 2.0, steps: 400000, "
        "record_every: 2000, snapshots: 2}\ngrid: {seed: [0, 1, 2, 3, 4, 5, 6, 7]}\n"
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lnsgd", "sweep", str(spec_path), "--out", str(out), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(out.glob("*.nc"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its pool workers, mid-sweep
    proc.wait()
    finished = digest_files(out)
    assert 2 <= len(finished) < 8, f"kill was not midway: {len(finished)} points finished"
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(finished)} already stored" in rerun.stdout
    after = digest_files(out)
    assert len(after) == 8
    assert {k: after[k] for k in finished} == finished
    ds = open_sweep(out)
    assert (ds.status == "completed").all() and ds.attrs["finished"] == 8
    assert np.isfinite(ds.w_norm_final).all()


def test_dask_local_cluster_matches_process_pool(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = tiny_spec()
    run_sweep(spec, tmp_path / "pool", workers=2, progress=False)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        report = run_sweep(spec, tmp_path / "dask", dask=cluster.scheduler_address, progress=False)
    assert report.count("completed") == 4
    pool = open_sweep(tmp_path / "pool", curves=True)
    dask = open_sweep(tmp_path / "dask", curves=True)
    for var in (
        "w_norm_final",
        "cos_final",
        "T_I",
        "T_II",
        "plateau",
        "w_norm_mean",
        "cos_abs_mean",
        "w_rel_change",
        "config_hash",
        "status",
    ):
        xr.testing.assert_identical(pool[var], dask[var])
    for name in digest_files(tmp_path / "pool"):  # every array of every point file
        with xr.open_dataset(tmp_path / "pool" / name) as a, xr.open_dataset(tmp_path / "dask" / name) as b:
            xr.testing.assert_equal(a, b)


def test_theory_columns_scale_as_first_order_law(tmp_path):
    """The theory columns are `isotropic_prediction` of each point. Without λ_eff's finite-η clock the
    predictions depend on η, δ, B through λ = ηδ²/(4B) only, so T·η²δ²/B = 4λt is one function of λ: equal
    at equal λ, with or without the conjugation; the first-order ones are nearly constant (B/(η²δ²)
    scaling) up to the O(λ) shift of the fixed point ‖β‖ = ‖β*‖ − 2λs√(τ/σ_b) that sizes the plateau."""
    spec = tiny_spec(grid={"eta": [0.01, 0.02, 0.04], "delta": [1.0, 2.0]}, steps=100)
    ds = open_sweep(spec, out=tmp_path, theory=True)  # nothing run: theory only, statuses missing
    assert (ds.status == "missing").all()
    np.testing.assert_allclose(
        ds.lambda_implicit.values, (ds.eta * ds.delta**2 / 4).transpose(*ds.lambda_implicit.dims).values
    )
    configs = {(p.config_dict()["eta"], p.config_dict()["delta"]): p.config_dict() for p in spec.unique_points()}
    for (eta, delta), cfg in configs.items():
        at = ds.sel(eta=eta, delta=delta)
        pred = isotropic_prediction(SimulationConfig(**cfg))
        for var in ("T_I_theory", "T_II_theory", "plateau_theory"):
            np.testing.assert_equal(float(at[var]), pred[var])
    for conjugated in (False, True):
        for var in ("T_I_theory", "T_II_theory"):
            c = {
                k: isotropic_prediction(SimulationConfig(**cfg), finite_eta=False, conjugated=conjugated)[var]
                * k[0] ** 2
                * k[1] ** 2
                for k, cfg in configs.items()
            }
            assert c[(0.04, 1.0)] == pytest.approx(c[(0.01, 2.0)], rel=1e-12)  # λ = 0.01 both
            values = np.array(list(c.values()))
            if not conjugated:  # (the conjugated form is NaN at λ = 0.04, where its expansion breaks down)
                assert np.all(np.isfinite(values))
                assert np.ptp(values) < 0.05 * np.abs(values).max()  # λ from 0.0025 to 0.04


def test_sweep_figures_from_a_tiny_suite(tmp_path, monkeypatch):
    """Every registered sweep figure builds from a tiny four-part sweep; the phase diagram draws
    the stored T_I."""
    from lnsgd.figures import sweeps as figs

    base = TINY | {"steps": 20000, "record_every": 500}
    spec = spec_from_dict(
        {
            "name": figs.SWEEP,
            "base": base,
            "sweeps": {
                "phases": {"grid": {"eta": [0.01, 0.02], "delta": [2.0, 4.0]}},
                "lazy-rich": {"grid": {"delta": [0.0, 4.0], "m": [10, 20]}},
                "plateau": {"grid": {"m": [10, 20], "d": [3, 5]}},
                "sam": {"base": {"algorithm": "sam"}, "grid": {"rho": [0.0, 0.2], "delta": [0.0, 2.0]}},
            },
        }
    )
    run_sweep(spec, tmp_path / "sweeps" / figs.SWEEP, workers=2, progress=False)
    ds = figs.load_part(tmp_path, "phases")
    fig = figs.build_phases(ds)
    mesh = fig.axes[0].collections[0]
    np.testing.assert_array_equal(
        np.ma.filled(mesh.get_array(), np.nan).ravel(), ds.T_I.transpose("delta", "eta").values.ravel()
    )
    monkeypatch.setattr(figs.style, "latex_available", lambda: False)  # PDF only: fast
    for name, make in figs.SWEEP_FIGURES.items():
        with pytest.warns(UserWarning, match="pdflatex"):
            paths = make(tmp_path, tmp_path / "figs")
        assert [p.name for p in paths] == [f"{name}.pdf"] and paths[0].stat().st_size > 1000
    with pytest.raises(figs.MissingSweepError, match="lnsgd sweep"):
        figs.load_part(tmp_path / "nowhere", "phases")


def test_a_model_named_only_by_the_grid_is_validated_with_each_of_its_values():
    """Fields of the swept models (deep-linear's h, m) are accepted in the base; a model they do not
    apply to is named."""
    base = {"h": 10, "m": 8, "n": 20, "d": 5, "steps": 100, "record_every": 10}
    spec = spec_from_dict({"name": "ok", "base": base, "grid": {"model": ["deep-linear"], "eta": [1e-3, 2e-3]}})
    assert len(spec.parts[0].expand()) == 2
    with pytest.raises(ConfigError, match="grid.model = 'diagonal'.*m = 8 does not apply"):
        spec_from_dict({"name": "bad", "base": base, "grid": {"model": ["deep-linear", "diagonal"], "eta": [1e-3]}})
