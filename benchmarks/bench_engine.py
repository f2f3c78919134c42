"""µs per step of the direct simulation, against a plain numpy per-step loop (the baseline).

Paper config: n = 200, d = 20, B = 1, label-noise SGD, recording every 1000 steps (all observables
of docs/results-schema.md), for m = 1000 and m = 10⁴; η = 10⁻³·1000/m keeps η·tr G ≈ 1 (the paper's
η at m = 10⁴ is beyond SGD's stability edge and diverges). The numpy loop does the same arithmetic
per step (gradient of one noisy sample, update of W and a) with no recording.

    python benchmarks/bench_engine.py [--steps N]
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import time

import numpy as np

from lnsgd.experiments.config import SimulationConfig
from lnsgd.experiments.runner import simulate


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


def engine(m: int, steps: int, repeats: int = 3) -> float:
    """Seconds for `steps` steps of `simulate` (compiled beforehand), recording every 1000; the
    best of `repeats` runs (the machine is a VM whose speed drifts by tens of per cent)."""
    cfg = dataclasses.replace(SimulationConfig(), m=m, eta=1.0 / m, steps=steps, record_every=1000)
    simulate(dataclasses.replace(cfg, steps=2000), progress=False)  # compile / load the cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        simulate(cfg, progress=False)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200_000)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"{'m':>6} {'engine us/step':>15} {'numpy us/step':>14} {'speed-up':>9}")
    for m in (1000, 10_000):
        steps = args.steps if m == 1000 else args.steps // 4
        base_steps = max(steps // 20, 2000)
        t_engine = engine(m, steps) / steps * 1e6
        t_numpy = min(numpy_loop(m, base_steps) for _ in range(3)) / base_steps * 1e6
        print(f"{m:>6} {t_engine:>15.2f} {t_numpy:>14.2f} {t_numpy / t_engine:>8.1f}x")


if __name__ == "__main__":
    main()
