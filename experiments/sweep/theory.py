"""Theory predictions for the points of a sweep, from the derived closed forms (no copies).

`isotropic_prediction(config)` evaluates the codegen'd closed forms of `lnsgd.solvers.generated_rhs`
(derived in `lnsgd.theory.isotropic`, docs/theory.md §5 and docs/sweeps.md) on the run's own data and
initialisation. With b the unit vector of β*'s projection on the range of Σ̂ (β̂* when n ≥ d) and
Σ̂ = Σ_j σ_j v_j v_jᵀ, every neuron is w_k = x_k b + w_k⊥, written on the clock Λ = ∫λ dt (the forms
depend on λt only):

    x_k(Λ) = `phase2_x_balanced` (from x_k(0) to x_scale·x̃_∞,k, x̃_∞,k = `phase2_limit_aligned`,
             x_scale² = `balanced_limit_scale_sq`: Σ_k x_∞,k² on the fixed point's balance τA/σ_b),
    (v_j·w_k⊥(Λ))² = (v_j·w_k⊥(0))² u_j(Λ)/u_j(0),  u_j = Σ_k (v_j·w_k⊥)², Λ(u_j) = `conjugated_perp_time`
             (the decay off b with the conjugated regularizer at K_j = A_∞ + u_j; first order when off),
    t(Λ) = ∫ dΛ/λ(Λ), λ(Λ) label noise's λ_eff on the predicted state plus 1-SAM's `one_sam_lambda`,

so cos(w_k, β*) = `neuron_cos_spectral`; null-space components (σ_j = 0 when n < d) are conserved. The
plateau is the t → ∞ limit of mean‖w_k‖; T_I and T_II are read off the predicted mean curves with the
simulation's definitions (within 10 % of the plateau; mean|cos| ≥ 0.9). `Regularization` holds what
sets λ, each piece an ablation switch. Times depend on η, δ, B through λt up to O(λ) terms (the fixed
point's A, λ_eff, the conjugation), so they scale as B/(η²δ²) (`first_order_time_scale`).

`sam_equivalent_lambda(config)`: 1-SAM's λ tr G equivalent at the initial state (the sweeps' λ axis).
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
from lnsgd.solvers.effective import XI_ABS_MEAN, sampling_constant

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
    """What the prediction needs of a run's data and initialisation (m neurons, r = rank Σ̂, n samples)."""

    s: float
    tau: float
    sigma: np.ndarray  # (r,) non-zero eigenvalues of Σ̂
    coef_sq: np.ndarray  # (m, r) (v_j·w_k⊥(0))² on those eigenvectors
    null_sq: np.ndarray  # (m,) ‖null-space part of w_k(0)‖² (0 when n ≥ d)
    offset: np.ndarray  # (m,) null-space part of w_k(0) · β̂*
    x0: np.ndarray  # (m,)
    a0: np.ndarray  # (m,)
    sigma_b: float  # bᵀΣ̂b
    overlap: float  # b·β̂*
    target_norm: float  # ‖learnable part of β*‖
    b_coef: np.ndarray  # (r,) v_j·b
    xn2: np.ndarray  # (n,) ‖x_i‖²
    xb2: np.ndarray  # (n,) (x_i·b)²
    xv2: np.ndarray  # (n, r) (x_i·v_j)²


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
    X = problem.X
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
        b_coef=VR.T @ b,
        xn2=np.einsum("ij,ij->i", X, X),
        xb2=(X @ b) ** 2,
        xv2=np.ascontiguousarray((X @ VR) ** 2),
    )


@dataclass(frozen=True)
class Regularization:
    """The implicit regularization a prediction uses, as λ(Λ) along the predicted path.

    `lam` is label noise's λ = ηδ²/(4B). `eta` > 0 makes it λ_eff = λ/(1 − η G_B/2) (finite η,
    theory/finite_eta.py, minibatch constant `c_B`); 0 keeps it λ. `rho` > 0 adds 1-SAM's regularizer (B = 1,
    label noise δ with E|ξ| = `xi_abs`) as its λ tr G equivalent ω_SAM/(s²τ) of the current state
    (`one_sam_lambda`). `conjugated` adds the second order in the fast displacement to the decay of w_k⊥
    (theory/isotropic.py, ``conjugated_perp_time``), with λ_f label noise's λ at the aligned fixed point."""

    lam: float
    eta: float = 0.0
    batch_size: int = 1
    c_B: float = 1.0
    conjugated: bool = True
    rho: float = 0.0
    delta: float = 0.0
    xi_abs: float = 0.0

    def __post_init__(self) -> None:
        for name in ("lam", "eta", "rho", "delta", "xi_abs"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} = {getattr(self, name)}; valid: >= 0")
        if not (self.lam > 0 or self.rho > 0):
            raise ValueError(f"lam = {self.lam}, rho = {self.rho}: no regularization; valid: lam > 0 or rho > 0")


@lru_cache(maxsize=256)
def _start(n: int, d: int, m: int, parametrization: str, alpha: float, seed: int) -> SpectralStart:
    """`spectral_start` of this data and initialisation (drawn as the simulation draws them)."""
    start = initial_state(SimulationConfig(n=n, d=d, m=m, parametrization=parametrization, alpha=alpha, seed=seed))
    return spectral_start(start.problem, start.W0, start.a0, start.s)


@numba.njit(cache=True)
def _mean_curves(x0, a0, perp_sq, null_sq, offset, clock, tau, s, sigma_b, x_scale, overlap):
    """mean‖w_k‖, mean|cos(w_k, β*)| and Σ_k x_k² at the clock values Λ = ∫λ dt (`phase2_x_balanced`
    at λ = 1, t = Λ: it depends on λt only); perp_sq (nt, m): ‖w_k⊥‖² of the range part."""
    nt, m = clock.shape[0], x0.shape[0]
    w_mean = np.zeros(nt)
    cos_mean = np.zeros(nt)
    x_sq = np.zeros(nt)
    for i in range(nt):
        acc_w = 0.0
        acc_c = 0.0
        acc_x = 0.0
        for k in range(m):
            x = gen.phase2_x_balanced(x0[k], a0[k], clock[i], 1.0, tau, s, sigma_b, x_scale)
            p2 = perp_sq[i, k] + null_sq[k]
            acc_w += math.sqrt(x * x + p2)
            acc_c += abs(gen.neuron_cos_spectral(x, p2, overlap, offset[k]))
            acc_x += x * x
        w_mean[i] = acc_w / m
        cos_mean[i] = acc_c / m
        x_sq[i] = acc_x
    return w_mean, cos_mean, x_sq


@numba.njit(cache=True)
def _perp_log_decay(clock, u0, sigma, lam_c, A, tau, s):
    """(nt, r) ln(u_j(Λ)/u_j(0)) for u_j = Σ_k (v_j·w_k⊥)²: −4s²σ_jΛ at lam_c = 0, else the inverse of
    the explicit Λ(u) (`conjugated_perp_time` at λ = 1, λ_f = lam_c) on a geometric grid of u/u_j(0) down
    to 1e-60, beyond which u_j decays at its asymptotic rate 4s²σ_j e/A (e = A − 2lam_c(τ − σ_j)/σ_j)."""
    nt, r = clock.shape[0], sigma.shape[0]
    out = np.empty((nt, r))
    ratio = np.exp(np.linspace(0.0, -60.0 * math.log(10.0), 3000))
    for j in range(r):
        if lam_c == 0.0:
            for i in range(nt):
                out[i, j] = -4.0 * s * s * sigma[j] * clock[i]
            continue
        grid = np.empty(ratio.shape[0])
        for g in range(ratio.shape[0]):
            grid[g] = gen.conjugated_perp_time(u0[j], u0[j] * ratio[g], sigma[j], 1.0, lam_c, A, tau, s)
        e = A - 2.0 * lam_c * (tau - sigma[j]) / sigma[j]
        tail = 4.0 * s * s * sigma[j] * e / A
        logs = np.log(ratio)
        for i in range(nt):
            if clock[i] <= grid[-1]:
                out[i, j] = np.interp(clock[i], grid, logs)
            else:
                out[i, j] = logs[-1] - tail * (clock[i] - grid[-1])
    return out


@numba.njit(cache=True)
def _one_sam_weights(q, s, eta, rho, delta, xi_abs):
    """c_i at every q_i (any shape): the compiled 1-SAM weight plus the ascent's enlarged label noise."""
    flat = q.ravel()
    out = np.empty(flat.shape[0])
    for i in range(flat.shape[0]):
        out[i] = gen.one_sam_weight(flat[i], s, rho, delta, xi_abs) + gen.one_sam_noise_weight(
            flat[i], s, eta, rho, delta, xi_abs
        )
    return out.reshape(q.shape)


def one_sam_lambda(
    q: np.ndarray, xn2: np.ndarray, s: float, tau: float, eta: float, rho: float, delta: float, xi_abs: float
) -> np.ndarray:
    """λ tr G equivalent of 1-SAM's regularizer at per-sample forms q (..., n): ω_SAM/(s²τ) with
    ω_SAM = (1/n) Σ_i c_i ‖x_i‖², c_i the compiled 1-SAM weight plus the ascent's enlarged label noise
    (theory/sam.py). 1-SAM weights samples by 1/‖∇f_i‖, so it changes along the run."""
    c = _one_sam_weights(np.ascontiguousarray(q, dtype=float), s, eta, rho, delta, xi_abs)
    return np.mean(c * xn2, axis=-1) / (s * s * tau)


def _path_lambda(start: SpectralStart, reg: Regularization, A, x_sq, u) -> tuple[np.ndarray, np.ndarray]:
    """(λ, label noise's λ) at the states (A, Σ_k x_k², u_j) (arrays over time, u (nt, r)), from
    K = A I + (Σ_k x_k²) b bᵀ + Σ_j u_j v_j v_jᵀ: q_i = x_iᵀKx_i, T₂ = tr((Σ̂K)²) in Σ̂'s eigenbasis.
    Label noise's λ is λ_eff(G_B) when `reg.eta` > 0 (NaN past the pole η G_B ≥ 2)."""
    A, x_sq, u = np.atleast_1d(np.asarray(A, float)), np.atleast_1d(np.asarray(x_sq, float)), np.atleast_2d(u)
    q = np.outer(A, start.xn2) + np.outer(x_sq, start.xb2) + u @ start.xv2.T
    label = np.full(A.shape, reg.lam)
    if reg.eta > 0 and reg.lam > 0:
        Au = A[:, None] + u
        T2 = (
            np.sum(start.sigma**2 * Au * (Au + 2.0 * x_sq[:, None] * start.b_coef**2), axis=1)
            + (x_sq * start.sigma_b) ** 2
        )
        curvature = np.array(
            [
                gen.fluctuation_curvature(qm, q2m, t2, start.s, float(reg.batch_size), reg.c_B)
                for qm, q2m, t2 in zip(q.mean(axis=1), (q * q).mean(axis=1), T2, strict=True)
            ]
        )
        label = np.array([gen.lambda_eff(reg.lam, reg.eta, c) if reg.eta * c < 2.0 else np.nan for c in curvature])
    total = label
    if reg.rho > 0:
        total = label + one_sam_lambda(q, start.xn2, start.s, start.tau, reg.eta, reg.rho, reg.delta, reg.xi_abs)
    return total, label


def _fixed_point(start: SpectralStart, reg: Regularization) -> tuple[float, float, float]:
    """(λ, label noise's λ, A) at the aligned fixed point: A = `aligned_fixed_point_A`(λ), λ of
    K_∞ = A I + (τA/σ_b) b bᵀ (`_path_lambda`); three passes from λ of K = I (λ moves A at O(λ²))."""
    A = 1.0
    for _ in range(3):
        lam, label = _path_lambda(start, reg, [A], [start.tau * A / start.sigma_b], np.zeros((1, len(start.sigma))))
        if not np.isfinite(lam[0]):
            return math.nan, math.nan, math.nan
        A = gen.aligned_fixed_point_A(start.target_norm, float(lam[0]), start.tau, start.s, start.sigma_b)
    return float(lam[0]), float(label[0]), A


def predicted_curves(start: SpectralStart, reg: Regularization) -> dict[str, np.ndarray | float | str]:
    """Predicted mean‖w_k‖(t), mean|cos(w_k, β*)|(t) (time t = η·steps), the plateau (t → ∞ limit of
    mean‖w_k‖), x_scale and `why` (empty, or why the curves are NaN), for one start.

    Everything is computed on the clock Λ = ∫λ dt, in which the closed forms depend on λt only, then
    mapped to t = ∫dΛ/λ(Λ) (λ constant: t = Λ/λ)."""
    s, tau, sigma_b = start.s, start.tau, start.sigma_b
    lam_fp, lam_f, A_fp = _fixed_point(start, reg)
    nan_curves = {"t": np.array([0.0]), "w_norm_mean": np.array([np.nan]), "cos_abs_mean": np.array([np.nan])}
    if not (np.isfinite(lam_fp) and A_fp > 0):
        why = "eta G_B >= 2 at the fixed point" if not np.isfinite(lam_fp) else "the fixed point is beta = 0 (A <= 0)"
        return {**nan_curves, "plateau": math.nan, "x_scale": math.nan, "why": why}
    x_tilde = np.array([gen.phase2_limit_aligned(x, a, tau, sigma_b) for x, a in zip(start.x0, start.a0, strict=True)])
    scale_sq = gen.balanced_limit_scale_sq(start.target_norm, lam_fp, tau, s, sigma_b, float(np.sum(x_tilde**2)))
    x_scale = math.sqrt(max(scale_sq, 0.0))  # < 0: 2λs√(τ/σ_b) ≥ ‖β*‖, the fixed point is β = 0
    plateau = float(np.mean(np.sqrt((x_scale * x_tilde) ** 2 + start.null_sq)))
    lam_c = lam_f**2 / lam_fp if reg.conjugated else 0.0  # λ_f of the conjugation on the clock Λ
    if lam_c > 0 and np.any(A_fp - 2.0 * lam_c * (tau - start.sigma) / start.sigma <= 0):
        why = "the conjugation cancels the regularization of w_k off b (2 lam_f (tau - sigma_j)/sigma_j >= A)"
        return {**nan_curves, "plateau": plateau, "x_scale": x_scale, "why": why}
    sig_min = max(float(start.sigma.min()), 1e-4)
    clock = np.concatenate([[0.0], np.geomspace(1e-6, DECAYS / sig_min, N_TIMES)]) / (4.0 * s * s)
    u0 = start.coef_sq.sum(axis=0)
    log_decay = _perp_log_decay(clock, u0, start.sigma, lam_c, A_fp, tau, s)
    decay = np.exp(log_decay)
    perp_sq = np.ascontiguousarray(decay @ start.coef_sq.T)
    w_mean, cos_mean, x_sq = _mean_curves(
        start.x0, start.a0, perp_sq, start.null_sq, start.offset, clock, tau, s, sigma_b, x_scale, start.overlap
    )
    if reg.eta == 0.0 and reg.rho == 0.0:
        t = clock / lam_fp
    else:  # A relaxes with the propagator's fast mode, from Σ_k a_k(0)² to A_∞
        A = A_fp + (float(start.a0 @ start.a0) - A_fp) * np.exp(-2.0 * s * s * (sigma_b + tau) * clock)
        lam_t = _path_lambda(start, reg, A, x_sq, decay * u0)[0]
        if not np.all(np.isfinite(lam_t)):
            return {**nan_curves, "plateau": plateau, "x_scale": x_scale, "why": "eta G_B >= 2 on the path"}
        inv = 1.0 / lam_t
        t = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(clock))])
    return {"t": t, "w_norm_mean": w_mean, "cos_abs_mean": cos_mean, "plateau": plateau, "x_scale": x_scale, "why": ""}


def predicted_times(curves: dict) -> tuple[float, float]:
    """(T_I, T_II) in t read off the predicted curves with the simulation's definitions."""
    t, w, c, plateau = curves["t"], curves["w_norm_mean"], curves["cos_abs_mean"], curves["plateau"]
    hit1 = np.nonzero(w <= (1.0 + PLATEAU_TOL) * plateau)[0]
    hit2 = np.nonzero(c >= ALIGN)[0]
    t1 = float(t[hit1[0]]) if w[0] > (1.0 + PLATEAU_TOL) * plateau and len(hit1) else math.nan
    t2 = float(t[hit2[0]]) if len(hit2) else math.nan
    return t1, t2


def regularization(config: SimulationConfig, *, finite_eta: bool = True, conjugated: bool = True) -> Regularization:
    """The `Regularization` of a point: label noise's λ (λ_eff along the path with `finite_eta`) plus, for
    1-SAM (B = 1), its regularizer's λ equivalent; ValueError where no λ tr G prediction applies."""
    lam = float(gen.implicit_lambda(config.eta, config.delta, config.batch_size))
    one_sam = config.algorithm == "sam" and config.batch_size == 1
    if config.algorithm != "sgd" and not one_sam:
        raise ValueError(f"algorithm = {config.algorithm!r} (B = {config.batch_size}) has no λ tr G prediction")
    return Regularization(
        lam,
        eta=config.eta if finite_eta else 0.0,
        batch_size=config.batch_size,
        c_B=sampling_constant(config.n, config.batch_size, config.replacement),
        conjugated=conjugated,
        rho=config.rho if one_sam else 0.0,
        delta=config.delta,
        xi_abs=XI_ABS_MEAN[config.noise],
    )


def isotropic_prediction(config: SimulationConfig, *, finite_eta: bool = True, conjugated: bool = True) -> dict:
    """Predicted T_I, T_II (steps) and plateau of mean‖w_k‖ at `config`, with `regularization(config)`.
    NaN where no first-order regularizer applies (λ = 0, full-batch or unnormalised SAM, oscillation, a δ
    schedule) or the prediction breaks down (`theory_note` says why)."""
    nan = {"T_I_theory": math.nan, "T_II_theory": math.nan, "plateau_theory": math.nan}
    if config.schedule != "constant" or not effective_lambda(config) > 0:
        return nan
    start = _start(config.n, config.d, config.m, config.parametrization, float(config.alpha), config.seed)
    curves = predicted_curves(start, regularization(config, finite_eta=finite_eta, conjugated=conjugated))
    t1, t2 = predicted_times(curves)
    out = {"T_I_theory": t1 / config.eta, "T_II_theory": t2 / config.eta, "plateau_theory": curves["plateau"]}
    return {**out, "theory_note": curves["why"]} if curves["why"] else out


def first_order_time_scale(eta: float, delta: float, batch_size: int) -> float:
    """B/(η²δ²): the step scale of the predictions (T_I = c·B/(η²δ²), c from the init, up to the
    O(λ) shift of the fixed point).

    It is 1/(4ηλ) with λ = `implicit_lambda`; the collapse figure plots T_I / this."""
    return 1.0 / (4.0 * eta * gen.implicit_lambda(eta, delta, batch_size))


def sam_equivalent_lambda(config: SimulationConfig) -> float:
    """`one_sam_lambda` at the initial state, q_i = x_iᵀ(S₀ + A₀I)x_i: 1-SAM's strength where Phase I
    starts (the predictions follow it along the path)."""
    start = initial_state(config)
    X, W0, a0, s = start.problem.X, start.W0, start.a0, start.s
    q = np.sum((X @ W0.T) ** 2, axis=1) + (a0 @ a0) * np.sum(X * X, axis=1)
    tau = float(np.trace(start.problem.Sigma_hat))
    xi_abs = XI_ABS_MEAN[config.noise]
    return float(one_sam_lambda(q, np.sum(X * X, axis=1), s, tau, config.eta, config.rho, config.delta, xi_abs))


def effective_lambda(config: SimulationConfig) -> float:
    """Implicit regularization λ of a point: label noise's ηδ²/(4B), plus `sam_equivalent_lambda`
    for 1-SAM (B = 1); NaN for the other SAM variants and the oscillation experiment."""
    lam = float(gen.implicit_lambda(config.eta, config.delta, config.batch_size))
    if config.algorithm == "sgd":
        return lam
    if config.algorithm == "sam" and config.batch_size == 1:
        return lam + sam_equivalent_lambda(config)
    return math.nan
