"""µs per step of the generated engine of each declared model against a plain numpy loop.

Label-noise SGD (B = 1) on each model's preset-like setting: `diagonal` (d = 100, n = 40),
`deep-linear` (d = 20, h = m = 100, n = 200), `two-layer` (d = 20, m = 1000, n = 200; its specialized
engines are the fast path, see bench_engine.py). The generated engine runs `declared_engine.run_chunk`
on pre-drawn minibatches and ξ; the numpy loop is the same step written by hand with numpy (its own
gradient formulas), on the same draws, so the benchmark also checks that both end at the same θ.
Target: the generated engine ≥ 5× faster. Best of `--repeats` runs (the VM's speed drifts).

    python benchmarks/bench_declared.py [--steps 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lnsgd.experiments.declared.config import ModelConfig
from lnsgd.experiments.declared.runner import model_start
from lnsgd.solvers import declared_engine as de

SETTINGS = {
    "diagonal": dict(teacher="sparse", n=40, d=100, eta=1e-3, delta=3.0),
    "deep-linear": dict(n=200, d=20, h=100, m=100, eta=1e-3, delta=4.0),
    "two-layer": dict(n=200, d=20, m=1000, eta=1e-3, delta=4.0),
}


def numpy_step(model: str, layout: dict, theta: np.ndarray, x: np.ndarray, label: float, eta: float) -> None:
    """One label-noise SGD step θ ← θ − η r ∇f(x), r = f(x) − label, with hand-written numpy gradients."""
    blocks = {name: theta[lo:hi].reshape(shape) for name, (lo, hi, shape) in layout.items()}
    if model == "diagonal":
        u, v = blocks["u"][:, 0], blocks["v"][:, 0]
        r = (u * u - v * v) @ x - label
        gu, gv = 2 * r * u * x, -2 * r * v * x
        u -= eta * gu
        v -= eta * gv
    elif model == "deep-linear":
        W1, W2, a = blocks["W1"], blocks["W2"], blocks["a"][:, 0]
        h1 = W1 @ x
        h2 = W2 @ h1
        r = a @ h2 - label
        back = W2.T @ a
        ga, gW2, gW1 = r * h2, r * np.outer(a, h1), r * np.outer(back, x)
        a -= eta * ga
        W2 -= eta * gW2
        W1 -= eta * gW1
    else:
        W, a = blocks["W"], blocks["a"][:, 0]
        h = W @ x
        r = a @ h - label
        ga, gW = r * h, r * np.outer(a, x)
        a -= eta * ga
        W -= eta * gW


def bench(model: str, steps: int, repeats: int) -> tuple[float, float, float]:
    """(µs/step generated, µs/step numpy, max relative difference of the final θ)."""
    config = ModelConfig(model=model, **SETTINGS[model])
    start = model_start(config)
    p = start.problem
    rng = np.random.default_rng(0)
    idx = rng.integers(0, config.n, (steps, 1))
    xi = rng.standard_normal((steps, 1))
    delta = np.full(steps, config.delta)
    kernels = de.model_kernels(model)
    best_gen, best_np = np.inf, np.inf
    for _ in range(repeats + 1):  # the first generated run compiles
        theta = start.theta0.copy()
        grad, ascent = np.zeros_like(theta), np.zeros_like(theta)
        t0 = time.perf_counter()
        de.run_chunk(
            kernels.add_residual_gradient, theta, start.sizes, start.s, p.X, p.y, idx, xi, delta,
            config.eta, 0.0, de.MODE_SGD, grad, ascent, 1e300,
        )  # fmt: skip
        best_gen = min(best_gen, time.perf_counter() - t0)
    for _ in range(repeats):
        ref = start.theta0.copy()
        t0 = time.perf_counter()
        for t in range(steps):
            i = idx[t, 0]
            numpy_step(model, start.layout, ref, p.X[i], p.y[i] + config.delta * xi[t, 0], config.eta)
        best_np = min(best_np, time.perf_counter() - t0)
    diff = float(np.max(np.abs(theta - ref)) / np.max(np.abs(ref)))
    return 1e6 * best_gen / steps, 1e6 * best_np / steps, diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'model':<12} {'generated µs/step':>18} {'numpy µs/step':>14} {'speed-up':>9} {'max rel. diff θ':>16}")
    for model in SETTINGS:
        gen, ref, diff = bench(model, args.steps, args.repeats)
        print(f"{model:<12} {gen:>18.2f} {ref:>14.2f} {ref / gen:>8.1f}x {diff:>16.2e}")


if __name__ == "__main__":
    main()
