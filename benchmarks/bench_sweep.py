"""Parallel efficiency of the sweep's local process pool (target: ≥ 1.8× on 2 cores).

Baseline: the same grid of equal points (the seed is the only swept field, so every point costs
the same) run by `run_sweep` with 1 worker; then with N workers (default 2). Both include the
pool's start-up (spawned workers import lnsgd and load numba's cache), as a real sweep does, and
each starts from an empty result folder.

    python benchmarks/bench_sweep.py [--workers 2] [--points 8] [--steps 4000000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from lnsgd.experiments.sweep.run import run_sweep
from lnsgd.experiments.sweep.spec import spec_from_dict


def equal_points_spec(points: int, steps: int):
    """`points` runs of the same cost (n = 100, d = 10, m = 50, `steps` steps; seeds 0..points-1)."""
    base = {
        "n": 100,
        "d": 10,
        "m": 50,
        "eta": 0.01,
        "delta": 2.0,
        "steps": steps,
        "record_every": min(2000, steps),
        "snapshots": 2,
    }
    return spec_from_dict({"name": "bench", "base": base, "grid": {"seed": {"range": [0, points]}}})


def timed(spec, workers: int) -> tuple[float, float]:
    """(wall seconds of the sweep, summed per-point seconds): their ratio is the concurrency the
    pool achieved, a diagnostic that stays meaningful when other processes share the cores."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        report = run_sweep(spec, Path(out), workers=workers, progress=False)
        elapsed = time.perf_counter() - start
    if report.count("completed") != report.total:
        raise RuntimeError(f"benchmark sweep did not complete: {report.summary()}")
    return elapsed, sum(o.seconds for o in report.outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4_000_000)
    args = parser.parse_args()
    spec = equal_points_spec(args.points, args.steps)
    timed(equal_points_spec(2, 1000), 1)  # warm numba's on-disk cache, not timed
    load = os.getloadavg()[0]
    serial, serial_work = timed(spec, 1)
    parallel, parallel_work = timed(spec, args.workers)
    speedup = serial / parallel
    print(f"sweep process pool: {args.points} equal points x {args.steps} steps (n=100, d=10, m=50)")
    print(f"  1 worker : {serial:7.2f} s (points busy {serial_work / serial:.2f} of the time)")
    print(f"  {args.workers} workers: {parallel:7.2f} s (concurrency {parallel_work / parallel:.2f})")
    print(f"  load average before: {load:.2f} on {os.cpu_count()} cores (others' processes slow both runs)")
    print(
        f"  speed-up {speedup:.2f}x, parallel efficiency {speedup / args.workers:.0%} "
        f"(target >= {0.9 * args.workers:.1f}x)"
    )


if __name__ == "__main__":
    main()
