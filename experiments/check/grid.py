"""The configurations `lnsgd check` runs, and how long each runs.

Horizon rule for label-noise SGD: Phases I and II run on the clock λt = ηδ²/(4B)·η·steps, so
    steps = HORIZON_BASE · B · (η_paper/η)² · (δ_paper/δ)²        (HORIZON_BASE = 10⁶ at the paper config)
covers both phases at the paper configuration (T_II ≈ 750k steps) and the same span of λt everywhere.
SAM and USAM are regularized by other terms (theory/sam.py); their grid points carry their own
horizon, about 2.5 T_II of the simulation. A configuration of one's own runs for its `steps`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

from lnsgd.experiments.config import SimulationConfig

HORIZON_BASE = 1_000_000
PAPER = SimulationConfig()
RECORDS = 400
PATHS = 4  # noise paths per configuration before the standard-error rule asks for more
MAX_PATHS = 16

# (rho, delta, steps) of the SAM points (B = 1) and the USAM point of the default grid.
SAM_POINTS = ((0.05, 4.0, 500_000), (0.2, 4.0, 300_000), (0.05, 0.0, 3_000_000), (0.2, 0.0, 400_000))
USAM_POINT = (2e-4, 4.0, 700_000)


def horizon_steps(eta: float, delta: float, batch_size: int, *, base: int = HORIZON_BASE) -> int:
    """steps = base·B·(η_paper/η)²·(δ_paper/δ)², rounded up to a multiple of RECORDS."""
    raw = base * batch_size * (PAPER.eta / eta) ** 2 * (PAPER.delta / delta) ** 2
    return int(math.ceil(raw / RECORDS) * RECORDS)


def with_steps(config: SimulationConfig, steps: int, paths: int = PATHS) -> SimulationConfig:
    """`config` run for `steps` with RECORDS records, no snapshots, `paths` noise paths."""
    steps = int(math.ceil(steps / RECORDS) * RECORDS)
    return dataclasses.replace(config, steps=steps, record_every=steps // RECORDS, snapshots=0, paths=paths)


def with_horizon(config: SimulationConfig, *, base: int = HORIZON_BASE, paths: int = PATHS) -> SimulationConfig:
    return with_steps(config, horizon_steps(config.eta, config.delta, config.batch_size, base=base), paths)


def default_grid(seed: int = 0) -> list[SimulationConfig]:
    """Label-noise SGD: δ ∈ {4, 2} × B ∈ {1, 4} × ξ ∈ {gaussian, rademacher} × η ∈ {1e-3, 5e-4}, each
    with its horizon; 1-SAM ρ ∈ {0.05, 0.2} × δ ∈ {4, 0}; USAM ρ = 2·10⁻⁴, δ = 4 (ρ‖∇f_i‖² ≈ 0.2 at the
    start: ρ = 10⁻³ diverges)."""
    base = dataclasses.replace(PAPER, seed=seed)
    sgd = [
        with_horizon(dataclasses.replace(base, delta=dl, batch_size=B, noise=xi, eta=eta))
        for dl, B, xi, eta in itertools.product((4.0, 2.0), (1, 4), ("gaussian", "rademacher"), (1e-3, 5e-4))
    ]
    sam = [
        with_steps(dataclasses.replace(base, algorithm="sam", rho=rho, delta=dl), steps)
        for rho, dl, steps in SAM_POINTS
    ]
    rho, dl, steps = USAM_POINT
    usam = [with_steps(dataclasses.replace(base, algorithm="usam", rho=rho, delta=dl), steps)]
    return sgd + sam + usam


def quick_grid() -> list[SimulationConfig]:
    """Small and fast: the paper configuration at width m = 200 (10⁶ steps), both ξ, and 1-SAM."""
    base = dataclasses.replace(PAPER, m=200)
    return [with_horizon(dataclasses.replace(base, noise=xi)) for xi in ("gaussian", "rademacher")] + [
        with_steps(dataclasses.replace(base, algorithm="sam", rho=0.05), 500_000)
    ]


def label(config: SimulationConfig) -> str:
    """A short name: the fields that differ from the paper configuration, in a fixed order."""
    parts = [] if config.algorithm == "sgd" else [config.algorithm, f"rho={config.rho:g}"]
    parts += [
        f"delta={config.delta:g}",
        f"B={config.batch_size}",
        f"xi={config.noise}",
        f"eta={config.eta:g}",
        f"seed={config.seed}",
    ]
    if config.m != PAPER.m:
        parts.append(f"m={config.m}")
    return " ".join(parts)
