"""Theory predictions for the points of a sweep, from the derived closed forms (no copies).

`isotropic_prediction(config)` uses the codegen'd isotropic closed forms of
`lnsgd.solvers.generated_rhs` (THEORY.md §4.3; derived in `lnsgd.theory.isotropic`): with
λ = `implicit_lambda`(η, δ, B), every neuron of the run's own initialisation follows
‖w_k(t)‖² = x_k(t)² + ‖w_k⊥(0)‖² e^{−4λs²t} with x_k(t) = `phase2_x` (g frozen at its fixed point)
and cos(w_k, β*) = `neuron_cos_isotropic`; T_I and T_II are then read off the predicted mean curves
with the simulation's own definitions (within 10 % of the plateau; mean|cos| ≥ 0.9). In these
closed forms η, δ and B enter only through λt, so the predicted times scale exactly as
B/(η²δ²) — the first-order law the collapse figure checks (`first_order_time_scale`).

`sam_equivalent_lambda(rho)`: the λ of 1-SAM's first-order regularizer R_1SAM = (ρ²/2) tr G, taken
from the sympy expression `lnsgd.theory.sam.one_sam_regularizer` (evaluated, not re-typed).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np

from lnsgd.experiments.config import SimulationConfig
from lnsgd.solvers import generated_rhs as gen
from lnsgd.experiments.runner import initial_state

#: T_I: within this fraction of the plateau; T_II: mean|cos| reaches this (THEORY.md §3).
PLATEAU_TOL = 0.1
ALIGN = 0.9


@numba.njit(cache=True)
def _mean_curves(x0, a0, w_perp0, lam_t, tau, s):
    """Predicted mean‖w_k‖ and mean|cos(w_k,β*)| over neurons at the times λt = lam_t (lam = 1).

    A separate kernel because it loops over times × neurons calling the scalar generated forms;
    vectorised equivalent: norms = sqrt(phase2_x(x0, a0, t)² + w_perp0² exp(−4 s² t)).mean(1).
    """
    nt, m = lam_t.shape[0], x0.shape[0]
    w_mean = np.zeros(nt)
    cos_mean = np.zeros(nt)
    for i in range(nt):
        acc_w = 0.0
        acc_c = 0.0
        for k in range(m):
            x = gen.phase2_x(x0[k], a0[k], lam_t[i], 1.0, tau, s)
            acc_w += math.sqrt(x * x + w_perp0[k] ** 2 * math.exp(-4.0 * s * s * lam_t[i]))
            acc_c += abs(gen.neuron_cos_isotropic(x0[k], a0[k], w_perp0[k], lam_t[i], 1.0, tau, s))
        w_mean[i] = acc_w / m
        cos_mean[i] = acc_c / m
    return w_mean, cos_mean


@lru_cache(maxsize=256)
def _dimensionless_times(n: int, d: int, m: int, parametrization: str, alpha: float,
                         seed: int) -> tuple[float, float, float]:
    """(λ T_I, λ T_II, plateau) of the isotropic prediction for this data and initialisation."""
    start = initial_state(SimulationConfig(n=n, d=d, m=m, parametrization=parametrization, alpha=alpha, seed=seed))
    problem, s, W0, a0 = start.problem, start.s, start.W0, start.a0
    unit = problem.beta_star / np.linalg.norm(problem.beta_star)
    x0 = W0 @ unit
    w_perp0 = np.sqrt(np.maximum(np.sum(W0 * W0, axis=1) - x0 ** 2, 0.0))
    tau = float(problem.tau)
    # λt grid: far beyond the Phase I decay e^{-4 s² λ t} and the Phase II rate 2 s²(1 + τ).
    lam_t = np.concatenate([[0.0], np.geomspace(1e-6, 60.0, 6000)]) / (s * s)
    w_mean, cos_mean = _mean_curves(x0, np.asarray(a0, float), w_perp0, lam_t, tau, s)
    plateau = float(w_mean[-1])
    hit1 = np.nonzero(w_mean <= (1.0 + PLATEAU_TOL) * plateau)[0]
    hit2 = np.nonzero(cos_mean >= ALIGN)[0]
    t1 = float(lam_t[hit1[0]]) if w_mean[0] > (1.0 + PLATEAU_TOL) * plateau else math.nan
    t2 = float(lam_t[hit2[0]]) if len(hit2) else math.nan
    return t1, t2, plateau


def isotropic_prediction(config: SimulationConfig) -> dict[str, float]:
    """Predicted T_I, T_II (steps) and plateau of mean‖w_k‖ at `config`, with λ the point's
    first-order `effective_lambda` (label-noise SGD; 1-SAM adds ρ²/2). NaN where no first-order
    regularizer applies (λ = 0, full-batch or unnormalised SAM, oscillation, a δ schedule)."""
    nan = {"T_I_theory": math.nan, "T_II_theory": math.nan, "plateau_theory": math.nan}
    lam = effective_lambda(config.algorithm, config.eta, config.delta, config.batch_size, config.rho)
    if config.schedule != "constant" or not lam > 0:
        return nan
    t1, t2, plateau = _dimensionless_times(config.n, config.d, config.m, config.parametrization,
                                           float(config.alpha), config.seed)
    return {"T_I_theory": t1 / (lam * config.eta), "T_II_theory": t2 / (lam * config.eta),
            "plateau_theory": plateau}


def first_order_time_scale(eta: float, delta: float, batch_size: int) -> float:
    """B/(η²δ²): the step scale of every isotropic prediction (T_I = c·B/(η²δ²), c from the init).

    It is 1/(4ηλ) with λ = `implicit_lambda`; the collapse figure plots T_I / this."""
    return 1.0 / (4.0 * eta * gen.implicit_lambda(eta, delta, batch_size))


def sam_equivalent_lambda(rho: float) -> float:
    """λ of 1-SAM's first-order regularizer λ·tr G, from `theory.sam.one_sam_regularizer`."""
    import sympy as sp

    from lnsgd.theory.sam import one_sam_regularizer

    return float(one_sam_regularizer(sp.Integer(1), sp.Float(rho)))


def effective_lambda(algorithm: str, eta: float, delta: float, batch_size: int, rho: float) -> float:
    """First-order implicit regularization λ of a point: label noise's ηδ²/(4B), plus 1-SAM's
    ρ²/2 for algorithm 'sam' with B = 1 (first order; other SAM variants: NaN)."""
    lam = gen.implicit_lambda(eta, delta, batch_size)
    if algorithm == "sgd":
        return float(lam)
    if algorithm == "sam" and batch_size == 1:
        return float(lam) + sam_equivalent_lambda(rho)
    return math.nan
