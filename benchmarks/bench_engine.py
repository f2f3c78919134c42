"""µs per step of the two engines and of a plain numpy loop, side by side; ensemble throughput.

Paper config (n = 200, d = 20, B = 1, label-noise SGD, δ = 4), η = 10⁻³·1000/m so that η·tr G ≈ 1 at
every width (the paper's η is beyond SGD's stability edge for m > 10³). Per width m:
- propagator: `simulate` with engine = propagator, recording every 1000 steps (the presets' default
  cadence), and with a single record at the end ("records aside");
- direct: the same with engine = direct;
- numpy: a plain numpy loop of the direct step's arithmetic (the baseline), no recording.
Each figure is the best of `--repeats` runs (the machine is a VM whose speed drifts by tens of per
cent between minutes). Then: the recording share of a direct run (time of its records / run time),
10⁶ steps at m = 10⁵ (wall time), and 100 noise paths × 10⁶ steps at the paper config on the
usable cores (path-steps per second).

    python benchmarks/bench_engine.py [--quick] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

import numpy as np

from lnsgd.experiments import runner
from lnsgd.experiments.config import SimulationConfig

PAPER = SimulationConfig()


def numpy_loop(m: int, steps: int, seed: int = 0) -> float:
    """Seconds for `steps` label-noise SGD steps written as a plain numpy loop."""
    rng = np.random.default_rng(seed)
    n, d, eta, delta = 200, 20, 1.0 / m, 4.0
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d)
    W = rng.standard_normal((m, d)) / np.sqrt(d)
    a = rng.standard_normal(m) / np.sqrt(m)
    idx = rng.integers(0, n, steps)
    xi = rng.standard_normal(steps)
    t0 = time.perf_counter()
    for t in range(steps):
        x = X[idx[t]]
        h = W @ x
        r = a @ h - (y[idx[t]] + delta * xi[t])
        a_old = a
        a = a - eta * r * h
        W -= eta * r * np.outer(a_old, x)
    return time.perf_counter() - t0


def best_seconds(config: SimulationConfig, repeats: int) -> float:
    """Best wall time of `simulate(config)` over `repeats` runs (compiled beforehand)."""
    runner.simulate(dataclasses.replace(config, steps=2000, record_every=1000), progress=False)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        runner.simulate(config, progress=False)
        times.append(time.perf_counter() - t0)
    return min(times)


def engine_table(widths, steps_for, repeats: int) -> None:
    print(f"{'m':>8} {'engine':>10} {'steps':>9} {'us/step':>9} {'records aside':>14} {'vs numpy':>9}")
    for m in widths:
        base = dataclasses.replace(PAPER, m=m, eta=1.0 / m, record_every=1000, snapshots=0)
        numpy_steps = max(200, min(20_000, 2 * 10**7 // (m * 20)))
        t_numpy = min(numpy_loop(m, numpy_steps) for _ in range(repeats)) / numpy_steps * 1e6
        for engine in ("propagator", "direct"):
            steps = steps_for(engine, m)
            cfg = dataclasses.replace(base, engine=engine, steps=steps)
            with_rec = best_seconds(cfg, repeats) / steps * 1e6
            aside = best_seconds(dataclasses.replace(cfg, record_every=steps), repeats) / steps * 1e6
            print(f"{m:>8} {engine:>10} {steps:>9} {with_rec:>9.3f} {aside:>14.3f} {t_numpy / with_rec:>8.1f}x")
        print(f"{m:>8} {'numpy':>10} {numpy_steps:>9} {t_numpy:>9.3f} {'':>14} {1.0:>8.1f}x")


def recording_share(repeats: int) -> None:
    """Share of a direct run at the paper config spent in its records (default cadence)."""
    cfg = dataclasses.replace(PAPER, engine="direct", steps=200_000)
    best = best_seconds(cfg, repeats)
    run = runner.run_engine(dataclasses.replace(cfg, steps=1000, record_every=1000))
    ref = run.engine.ref
    n_rec = 200
    t0 = time.perf_counter()
    for _ in range(n_rec):
        runner._record(runner.Records(), 1, run.engine, ref, 0.0, 4.0, set())
    per_record = (time.perf_counter() - t0) / n_rec
    records = per_record * (cfg.steps // cfg.record_every + 1)
    print(
        f"direct engine, paper config, {cfg.steps} steps: run {best:.2f} s, one record "
        f"{per_record * 1e3:.3f} ms, records {records / best:.1%} of the run"
    )


def wide_run(m: int) -> None:
    cfg = dataclasses.replace(PAPER, m=m, eta=1.0 / m, steps=1_000_000, snapshots=0)
    t0 = time.perf_counter()
    ds = runner.simulate(cfg, progress=False)
    print(
        f"10^6 steps at m = {m} with {ds.sizes['step']} records (propagator): "
        f"{time.perf_counter() - t0:.2f} s, status {ds.attrs['status']}"
    )


def ensemble(paths: int, steps: int) -> None:
    cfg = dataclasses.replace(PAPER, steps=steps, paths=paths, snapshots=0)
    runner.simulate(dataclasses.replace(cfg, steps=2000, paths=2), progress=False)
    workers = len(os.sched_getaffinity(0))
    t0 = time.perf_counter()
    ds = runner.simulate(cfg, progress=False)
    wall = time.perf_counter() - t0
    print(
        f"{paths} paths x {steps} steps, paper config, {workers} workers: {wall:.1f} s, "
        f"{paths * steps / wall / 1e6:.2f} M path-steps/s; T_II = {float(ds.T_II.mean()):.0f} "
        f"+- {float(ds.T_II.std(ddof=1)):.0f} steps over paths"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small widths and step counts only")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
        f"python {platform.python_version()}"
    )
    if args.quick:
        engine_table((1000,), lambda e, m: 50_000 if e == "propagator" else 10_000, 1)
        ensemble(8, 100_000)
        return
    widths = (1000, 10_000, 100_000, 1_000_000)

    def steps_for(engine: str, m: int) -> int:
        if engine == "propagator":
            return 1_000_000 if m <= 10_000 else 100_000
        return max(2000, 2 * 10**8 // (m * 20))

    engine_table(widths, steps_for, args.repeats)
    recording_share(args.repeats)
    wide_run(100_000)
    ensemble(100, 1_000_000)


if __name__ == "__main__":
    main()
