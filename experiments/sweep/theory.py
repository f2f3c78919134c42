"""Theory predictions for the points of a sweep, from the derived closed forms (no copies).

`isotropic_prediction(config)` evaluates the codegen'd closed forms of `lnsgd.solvers.generated_rhs`
(derived in `lnsgd.theory.isotropic`, docs/theory.md §5) on the run's own data and initialisation, with
λ = `effective_lambda` and b the unit vector of β*'s projection on the range of Σ̂ (β̂* when n ≥ d):

    w_k(t) = x_k(t) b + w_k⊥(t),  x_k(t) = `phase2_x_balanced`,
    v_j·w_k⊥(t) = `perp_component` = (v_j·w_k⊥(0)) e^{−2λs²σ_j t}  (Σ̂ = Σ_j σ_j v_j v_jᵀ),

so ‖w_k(t)‖² = x_k(t)² + Σ_j (v_j·w_k⊥(0))² e^{−4λs²σ_j t} and cos(w_k, β*) = `neuron_cos_spectral`.
x_k(t) relaxes from x_k(0) at the frozen-g propagator's rate to x_scale·x̃_∞,k, where x̃_∞,k =
`phase2_limit_aligned` and x_scale = √`balanced_limit_scale_sq` puts Σ_k x_∞,k² on the fixed point's
balance τA/σ_b (tr(Σ̂S) = τA, σ_b = bᵀΣ̂b). The plateau is the t → ∞ limit of mean‖w_k‖; T_I and T_II
are read off the predicted mean curves with the simulation's definitions (within 10 % of the
plateau; mean|cos| ≥ 0.9). Two departures from the frozen-g, Σ̂ = I forms (`phase2_x`,
`neuron_cos_isotropic`), both measured in docs/sweeps.md: the limit's size (frozen g keeps
Σ_k x_k(0)²) and w_k⊥'s decay (each eigen-direction at 2λs²σ_j, not all at 2λs²; null-space
components, σ_j = 0 when n < d, are conserved). Times depend on η, δ, B through λt except for the
O(λ) shift of the fixed point (‖β‖ = ‖β*‖ − 2λs√(τ/σ_b)), so they scale as B/(η²δ²) up to that shift
(`first_order_time_scale`).

`sam_equivalent_lambda(config)`: the λ tr G equivalent of 1-SAM's regularizer (O(ρδ) term, (ρ²/2) tr G
and the ascent's enlarged label noise; theory/sam.py) matched on ω at the initial state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np

from lnsgd.experiments.config import SimulationConfig
from lnsgd.experiments.runner import initial_state
from lnsgd.solvers import generated_rhs as gen

#: T_I: within this fraction of the plateau; T_II: mean|cos| reaches this (docs/model.md §6).
PLATEAU_TOL = 0.1
ALIGN = 0.9
#: Eigenvalues of Σ̂ below this fraction of the largest are its null space (rank Σ̂ = min(n, d)).
NULL_RTOL = 1e-10
#: Time grid: N_TIMES geometric points of 4λs²t from 1e-6 to DECAYS/σ_min (σ_min: the smallest
#: non-zero eigenvalue of Σ̂, capped at 1e-4), far past every decay e^{−4λs²σ_j t}.
N_TIMES, DECAYS = 6000, 240.0


@dataclass(frozen=True)
class SpectralStart:
    """What the prediction needs of a run's data and initialisation (m neurons, r = rank Σ̂)."""

    s: float
    tau: float
    sigma: np.ndarray  # (r,) non-zero eigenvalues of Σ̂
    coef_sq: np.ndarray  # (m, r) (v_j·w_k⊥(0))² on those eigenvectors
    null_sq: np.ndarray  # (m,) ‖null-space part of w_k(0)‖² (0 when n ≥ d)
    offset: np.ndarray  # (m,) null-space part of w_k(0) · β̂*
    x0: np.ndarray  # (m,) w_k(0)·b
    a0: np.ndarray  # (m,)
    sigma_b: float  # bᵀΣ̂b
    overlap: float  # b·β̂*
    target_norm: float  # ‖learnable part of β*‖


def spectral_start(problem, W0: np.ndarray, a0: np.ndarray, s: float) -> SpectralStart:
    """Spectrum of Σ̂ and the initial neurons (W0, a0) in its eigenbasis, for a `Problem`."""
    sigma, V = np.linalg.eigh(problem.Sigma_hat)
    rng = sigma > NULL_RTOL * sigma.max()
    VR, VN = V[:, rng], V[:, ~rng]
    target = VR @ (VR.T @ problem.beta_star)
    b = target / np.linalg.norm(target)
    unit = problem.beta_star / np.linalg.norm(problem.beta_star)
    x0 = W0 @ b
    WN = (W0 @ VN) @ VN.T
    WR_perp = W0 - WN - np.outer(x0, b)
    return SpectralStart(
        s=float(s),
        tau=float(np.trace(problem.Sigma_hat)),
        sigma=np.ascontiguousarray(sigma[rng]),
        coef_sq=np.ascontiguousarray((WR_perp @ VR) ** 2),
        null_sq=np.sum(WN * WN, axis=1),
        offset=WN @ unit,
        x0=x0,
        a0=np.asarray(a0, float),
        sigma_b=float(b @ problem.Sigma_hat @ b),
        overlap=float(b @ unit),
        target_norm=float(np.linalg.norm(target)),
    )


@lru_cache(maxsize=256)
def _start(n: int, d: int, m: int, parametrization: str, alpha: float, seed: int) -> SpectralStart:
    """`spectral_start` of this data and initialisation (drawn as the simulation draws them)."""
    start = initial_state(SimulationConfig(n=n, d=d, m=m, parametrization=parametrization, alpha=alpha, seed=seed))
    return spectral_start(start.problem, start.W0, start.a0, start.s)


@numba.njit(cache=True)
def _decays_sq(sigma, t, lam, s):
    """(nt, r) squared eigen-direction decays perp_component(1, σ_j, t_i)²."""
    out = np.empty((t.shape[0], sigma.shape[0]))
    for i in range(t.shape[0]):
        for j in range(sigma.shape[0]):
            out[i, j] = gen.perp_component(1.0, sigma[j], t[i], lam, s) ** 2
    return out


@numba.njit(cache=True)
def _mean_curves(x0, a0, perp_sq, null_sq, offset, t, lam, tau, s, sigma_b, x_scale, overlap):
    """mean‖w_k‖ and mean|cos(w_k, β*)| over neurons at the times t; perp_sq (nt, m): ‖w_k⊥(t)‖²
    of the range part. Vectorised: x = phase2_x_balanced(x0, a0, t); sqrt(x² + perp_sq + null_sq)."""
    nt, m = t.shape[0], x0.shape[0]
    w_mean = np.zeros(nt)
    cos_mean = np.zeros(nt)
    for i in range(nt):
        acc_w = 0.0
        acc_c = 0.0
        for k in range(m):
            x = gen.phase2_x_balanced(x0[k], a0[k], t[i], lam, tau, s, sigma_b, x_scale)
            p2 = perp_sq[i, k] + null_sq[k]
            acc_w += math.sqrt(x * x + p2)
            acc_c += abs(gen.neuron_cos_spectral(x, p2, overlap, offset[k]))
        w_mean[i] = acc_w / m
        cos_mean[i] = acc_c / m
    return w_mean, cos_mean


def predicted_curves(start: SpectralStart, lam: float) -> dict[str, np.ndarray | float]:
    """Predicted mean‖w_k‖(t), mean|cos(w_k, β*)|(t) on the grid t (time t = η·steps), the plateau
    (t → ∞ limit of mean‖w_k‖) and x_scale, for one start and λ."""
    s, tau, sigma_b = start.s, start.tau, start.sigma_b
    x_tilde = np.array([gen.phase2_limit_aligned(x, a, tau, sigma_b) for x, a in zip(start.x0, start.a0, strict=True)])
    scale_sq = gen.balanced_limit_scale_sq(start.target_norm, lam, tau, s, sigma_b, float(np.sum(x_tilde**2)))
    x_scale = math.sqrt(max(scale_sq, 0.0))  # < 0: 2λs√(τ/σ_b) ≥ ‖β*‖, the fixed point is β = 0
    rate = 4.0 * lam * s * s  # 4λs²: the unit of the grid
    sig_min = max(float(start.sigma.min()), 1e-4)
    t = np.concatenate([[0.0], np.geomspace(1e-6, DECAYS / sig_min, N_TIMES)]) / rate
    perp_sq = np.ascontiguousarray(_decays_sq(start.sigma, t, lam, s) @ start.coef_sq.T)
    w_mean, cos_mean = _mean_curves(
        start.x0, start.a0, perp_sq, start.null_sq, start.offset, t, lam, tau, s, sigma_b, x_scale, start.overlap
    )
    plateau = float(np.mean(np.sqrt((x_scale * x_tilde) ** 2 + start.null_sq)))
    return {"t": t, "w_norm_mean": w_mean, "cos_abs_mean": cos_mean, "plateau": plateau, "x_scale": float(x_scale)}


def predicted_times(curves: dict) -> tuple[float, float]:
    """(T_I, T_II) in t read off the predicted curves with the simulation's definitions."""
    t, w, c, plateau = curves["t"], curves["w_norm_mean"], curves["cos_abs_mean"], curves["plateau"]
    hit1 = np.nonzero(w <= (1.0 + PLATEAU_TOL) * plateau)[0]
    hit2 = np.nonzero(c >= ALIGN)[0]
    t1 = float(t[hit1[0]]) if w[0] > (1.0 + PLATEAU_TOL) * plateau and len(hit1) else math.nan
    t2 = float(t[hit2[0]]) if len(hit2) else math.nan
    return t1, t2


def isotropic_prediction(config: SimulationConfig) -> dict[str, float]:
    """Predicted T_I, T_II (steps) and plateau of mean‖w_k‖ at `config`, with λ the point's
    `effective_lambda` (label-noise SGD; 1-SAM adds its initial-state equivalent). NaN where no first-order
    regularizer applies (λ = 0, full-batch or unnormalised SAM, oscillation, a δ schedule)."""
    nan = {"T_I_theory": math.nan, "T_II_theory": math.nan, "plateau_theory": math.nan}
    lam = effective_lambda(config)
    if config.schedule != "constant" or not lam > 0:
        return nan
    start = _start(config.n, config.d, config.m, config.parametrization, float(config.alpha), config.seed)
    curves = predicted_curves(start, lam)
    t1, t2 = predicted_times(curves)
    return {"T_I_theory": t1 / config.eta, "T_II_theory": t2 / config.eta, "plateau_theory": curves["plateau"]}


def first_order_time_scale(eta: float, delta: float, batch_size: int) -> float:
    """B/(η²δ²): the step scale of the predictions (T_I = c·B/(η²δ²), c from the init, up to the
    O(λ) shift of the fixed point).

    It is 1/(4ηλ) with λ = `implicit_lambda`; the collapse figure plots T_I / this."""
    return 1.0 / (4.0 * eta * gen.implicit_lambda(eta, delta, batch_size))


def sam_equivalent_lambda(config: SimulationConfig) -> float:
    """The λ tr G equivalent of 1-SAM's regularizer at the initial state: ω_SAM(θ₀)/(s²τ), with
    ω_SAM = (1/n) Σ_i c_i ‖x_i‖², c_i the compiled 1-SAM weight plus the ascent's enlarged label
    noise at q_i = x_iᵀ(S₀ + A₀I)x_i (theory/sam.py). 1-SAM's regularizer weights samples by
    1/‖∇f_i‖ and changes along the run, so this matches its strength where Phase I starts only."""
    start = initial_state(config)
    X, W0, a0, s = start.problem.X, start.W0, start.a0, start.s
    q = np.sum((X @ W0.T) ** 2, axis=1) + (a0 @ a0) * np.sum(X * X, axis=1)
    xi_abs = math.sqrt(2.0 / math.pi) if config.noise == "gaussian" else 1.0
    c = np.array(
        [
            gen.one_sam_weight(qi, s, config.rho, config.delta, xi_abs)
            + gen.one_sam_noise_weight(qi, s, config.eta, config.rho, config.delta, xi_abs)
            for qi in q
        ]
    )
    return float(np.mean(c * np.sum(X * X, axis=1)) / (s * s * np.trace(start.problem.Sigma_hat)))


def effective_lambda(config: SimulationConfig) -> float:
    """Implicit regularization λ of a point: label noise's ηδ²/(4B), plus `sam_equivalent_lambda`
    for 1-SAM (B = 1); NaN for the other SAM variants and the oscillation experiment."""
    lam = float(gen.implicit_lambda(config.eta, config.delta, config.batch_size))
    if config.algorithm == "sgd":
        return lam
    if config.algorithm == "sam" and config.batch_size == 1:
        return lam + sam_equivalent_lambda(config)
    return math.nan
