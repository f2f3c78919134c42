"""Solvers of the effective dynamics of label-noise SGD (docs/theory.md §3, §4, §8).

Three predictions of the same run (same data X, β*, same initialisation W0, a0), in time t = η·steps:

- `solve_reduced`: the regularized flow θ̇ = −∇(L + λ tr G) through its closure on (β, S, A) plus the
  shared (d+1)×(d+1) propagator Φ(t) of the per-neuron linear ODE ż_k = M(t) z_k, z_k = (w_k, a_k),
  M(t) = [[−2λs²Σ̂, −s g], [−s gᵀ, −2λs²τ]], g = Σ̂(β − β*). All m neurons move with one Φ:
  z_k(t) = Φ(t) z_k(0), so the solve costs O(d³) per right-hand side, independent of m; only the
  observables at the output times touch the m neurons (O(m d²) per output time).
- `solve_full_flow`: the same flow on the full m(d+1)-dimensional parameters (the reference the reduced
  solve is tested against).
- `solve_sde_ensemble`: the label-noise SDE dθ = −∇L dt + √η Σ(θ)^{1/2} dB (Itô) with the exact
  covariance Σ = J Cov(u) Jᵀ, Cov u = (δ²Σ̂ + M₄ − g gᵀ)/B (label noise plus minibatch sampling
  noise, theory/sde.py), integrated by the generic `solve_sde`. ∇_θ L_batch = J u with
  J u = (s a uᵀ, s W u), so drift and noise share J:
      f = −J g (`label_noise_drift`),  b ΔB = √(η/B)·J ζ,  ζ = n^{-1/2}[Xᵀ(r∘ΔB₁ + δ ΔB₂) − g ΣΔB₁],
  r = X(β − β*), ΔB₁, ΔB₂ ∈ R^n Brownian increments (Cov ζ = (δ²Σ̂ + M₄ − g gᵀ)·dt). The diffusion
  (`label_noise_diffusion`) is given in product form (it returns b ΔB): O(md + nd) per step instead of
  a dense m(d+1)×2n diffusion matrix; paths run in parallel (numba prange).
  Euler–Maruyama, not stochastic Heun: the noise is not commutative, so Heun would still be strong
  order 1/2 and would need the Itô correction c (without it, it converges to the Stratonovich SDE, a
  spurious drift); EM is weak order 1 for the Itô SDE (docs/integrators.md).

The regularizer R(S, A) enters only through Ω = ∂R/∂S and ω = ∂R/∂A (theory/flow.py), written as
per-sample weights c_i: Ω = (1/n) Σ_i c_i x_i x_iᵀ, ω = (1/n) Σ_i c_i ‖x_i‖². Label noise gives
c_i = λ s² (Ω = λ s² Σ̂); minibatch/full-batch SAM adds `batch_sam_weight`, USAM `usam_weight`. 1-SAM
and 1-USAM (B = 1) add, to first order, `one_sam_weight`(q_i) / `one_usam_weight`(q_i) and their enlarged
noise `one_sam_noise_weight` / `one_usam_noise_weight`; with "lambda-eff" they take label noise, the
ascent and its noise together from one stationary residual fluctuation P = c K (`one_sam_closure_weight`,
`one_usam_closure_weight` at c, the root of ⟨q_i F_i(c)⟩ = 0 with F_i from `one_sam_stationarity` /
`one_usam_stationarity`: a Gaussian closure of the ascent) (theory/sam.py), with q_i = x_iᵀ(S + A I)x_i.
Corrections (`correction=`): "first-order" uses λ = ηδ²/(4B); "lambda-eff" replaces it by
λ_eff(t) = λ/(1 − η G_B(t)/2) (finite η: the K⁻¹-trace of the stationary residual fluctuation,
G_B = s²[(1 − c_B/B) tr((Σ̂K)²) + (c_B/B)⟨q²⟩]/⟨q⟩, theory/finite_eta.py), evaluated on the current
state; "conjugated" adds to λ_eff's Ω the w-block of the fluctuation regularizer conjugated by the fast
displacement of the network, λ_f (K⁻¹Ω_R + Ω_R K⁻¹ − 2ω_R K⁻¹) (`regularizer_conjugation`,
theory/fast_displacement.py): label noise's (Ω_R, ω_R) = λ_f s²(Σ̂, τ), 1-SAM's/1-USAM's the closure's
fluctuation weights (c/2)(1 + γ_i).
The SDE carries the full sampling noise by itself.
`jensen_observables` evaluates the neuron means as expectations over the fast fluctuation of the network
around the mean solve (Cov δw_k = 2λ_eff a_k² K⁻¹, docs/theory.md §10) instead of at the mean network.
Every derived formula comes from `solvers.generated_rhs` (codegen of theory/); nothing is re-typed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from lnsgd.solvers import generated_rhs as gen
from lnsgd.solvers.ode import OdeSolution, solve_ode
from lnsgd.solvers.problem import Problem
from lnsgd.solvers.sde import solve_sde
from lnsgd.solvers.sde_brownian import brownian_increments
from lnsgd.solvers.status import Status

CORRECTIONS = ("first-order", "lambda-eff", "lyapunov", "conjugated")
# Regularizers beyond label noise's λ tr G, by code: none, 1-SAM, minibatch/full-batch SAM, USAM.
REG_LABEL, REG_ONE_SAM, REG_BATCH_SAM, REG_USAM, REG_ONE_USAM = range(5)
XI_ABS_MEAN = {"gaussian": math.sqrt(2.0 / math.pi), "rademacher": 1.0}  # E|ξ|

# Layout of the float64 parameter vector handed to the right-hand sides.
P_TAU, P_S, P_LAM, P_ETA, P_B, P_CORR, P_REG, P_RHO, P_DELTA, P_XIABS, P_CB, P_GAUSSIAN = range(12)
CORR_LAMBDA_EFF, CORR_LYAPUNOV, CORR_CONJUGATED = (float(CORRECTIONS.index(c)) for c in CORRECTIONS[1:])


def sampling_constant(n: int, batch_size: int, replacement: bool) -> float:
    """c_B of the minibatch noise (theory/finite_eta.py): 1 with replacement, (n − B)/(n − 1) without."""
    return 1.0 if replacement or n == 1 else (n - batch_size) / (n - 1)


@dataclass(frozen=True)
class EffectiveSetup:
    """The data of one effective-dynamics problem: X (Σ̂ = XᵀX/n), β*, scale s, and the regularizer.

    λ = `implicit_lambda`(η, δ, B); with correction "lambda-eff" it becomes λ_eff(tr G(t)).
    `algorithm` "sgd" is label noise alone; "sam" adds 1-SAM's regularizer (B = 1) or the
    minibatch/full-batch SAM one (B > 1), "usam" USAM's, each with radius `rho` and E|ξ| of `noise`.
    """

    X: np.ndarray
    beta_star: np.ndarray
    s: float
    eta: float
    delta: float
    batch_size: int
    correction: str = "first-order"
    algorithm: str = "sgd"
    rho: float = 0.0
    noise: str = "gaussian"
    replacement: bool = True

    def __post_init__(self) -> None:
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction = {self.correction!r}; valid: {CORRECTIONS}")
        if self.algorithm not in ("sgd", "sam", "usam"):
            raise ValueError(f"algorithm = {self.algorithm!r} has no effective flow; valid: 'sgd', 'sam', 'usam'")
        if self.noise not in XI_ABS_MEAN:
            raise ValueError(f"noise = {self.noise!r}; valid: {sorted(XI_ABS_MEAN)}")
        if not self.rho >= 0:
            raise ValueError(f"rho = {self.rho}; valid: >= 0")
        d = self.beta_star.shape[0]
        if self.X.ndim != 2 or self.X.shape[1] != d:
            raise ValueError(f"X has shape {self.X.shape}; expected (n, {d}) to match beta_star")
        for name in ("s", "eta", "batch_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} = {getattr(self, name)}; valid: > 0")
        if not self.delta >= 0:
            raise ValueError(f"delta = {self.delta}; valid: >= 0")

    @classmethod
    def from_problem(
        cls,
        problem: Problem,
        s: float,
        eta: float,
        delta: float,
        batch_size: int,
        correction: str = "first-order",
        *,
        algorithm: str = "sgd",
        rho: float = 0.0,
        noise: str = "gaussian",
        replacement: bool = True,
    ) -> EffectiveSetup:
        return cls(
            np.ascontiguousarray(problem.X),
            np.ascontiguousarray(problem.beta_star),
            float(s),
            float(eta),
            float(delta),
            int(batch_size),
            correction,
            algorithm,
            float(rho),
            noise,
            replacement,
        )

    @property
    def d(self) -> int:
        return self.beta_star.shape[0]

    @property
    def Sigma_hat(self) -> np.ndarray:
        return self.X.T @ self.X / self.X.shape[0]

    @property
    def regularizer(self) -> int:
        """REG_* code of the regularizer added to label noise's λ tr G."""
        if self.algorithm == "usam":
            return REG_ONE_USAM if self.batch_size == 1 else REG_USAM
        if self.algorithm == "sam":
            return REG_ONE_SAM if self.batch_size == 1 else REG_BATCH_SAM
        return REG_LABEL

    @property
    def lam(self) -> float:
        return float(gen.implicit_lambda(self.eta, self.delta, float(self.batch_size)))

    def args(self) -> tuple:
        """(Σ̂, β*, X, ‖x_i‖², Σ̂^{1/2}, p): what the jitted right-hand sides read."""
        Sigma_hat = np.ascontiguousarray(self.Sigma_hat)
        evals, evecs = np.linalg.eigh(Sigma_hat)
        root = np.ascontiguousarray((evecs * np.sqrt(np.clip(evals, 0.0, None))) @ evecs.T)
        p = np.zeros(12)
        p[P_TAU] = np.trace(Sigma_hat)
        p[P_S], p[P_LAM], p[P_ETA], p[P_B] = self.s, self.lam, self.eta, self.batch_size
        p[P_CORR] = CORRECTIONS.index(self.correction)
        p[P_REG], p[P_RHO], p[P_DELTA], p[P_XIABS] = self.regularizer, self.rho, self.delta, XI_ABS_MEAN[self.noise]
        n = self.X.shape[0]
        p[P_CB] = sampling_constant(n, self.batch_size, self.replacement)
        p[P_GAUSSIAN] = 1.0 if self.noise == "gaussian" else 0.0
        X = np.ascontiguousarray(self.X)
        return (Sigma_hat, np.ascontiguousarray(self.beta_star), X, np.einsum("ij,ij->i", X, X), root, p)


# ---------------------------------------------------------------- adapters: flat y <-> named state
def pack_reduced(beta: np.ndarray, S: np.ndarray, A: float, Phi: np.ndarray | None = None) -> np.ndarray:
    """y = [β, vec S, A, vec P_W, p_a] with [P_W | p_a] = Ψ = Φᵀ: row j of Ψ is the neuron z = Φ e_j,
    split into its w part P_W ((d+1)×d) and its a part p_a (d+1) so that the generated propagator kernel
    moves all d + 1 rows in one call. Φ defaults to the identity (the propagator from the initial time)."""
    d = beta.shape[0]
    Psi = np.eye(d + 1) if Phi is None else np.asarray(Phi).T
    return np.concatenate([beta, S.ravel(), [A], np.ascontiguousarray(Psi[:, :d]).ravel(), Psi[:, d]])


def unpack_reduced(y: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(β, S, A, Φ) from y; leading axes of y (e.g. time) are kept."""
    y = np.asarray(y)
    lead = y.shape[:-1]
    off = d + d * d + 1
    beta = y[..., :d]
    S = y[..., d : d + d * d].reshape(*lead, d, d)
    A = y[..., d + d * d]
    P_W = y[..., off : off + (d + 1) * d].reshape(*lead, d + 1, d)
    Psi = np.concatenate([P_W, y[..., off + (d + 1) * d :, None]], axis=-1)
    return beta, S, A, np.swapaxes(Psi, -1, -2)


def reduced_from_params(W: np.ndarray, a: np.ndarray, s: float) -> np.ndarray:
    """The reduced initial state of (W, a): β = sWᵀa, S = WᵀW, A = ‖a‖², Φ = I."""
    return pack_reduced(s * (W.T @ a), W.T @ W, float(a @ a))


def pack_full(W: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.concatenate([np.ascontiguousarray(W).ravel(), a])


def unpack_full(y: np.ndarray, m: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(W, a) from y; leading axes kept: W (..., m, d), a (..., m)."""
    y = np.asarray(y)
    return y[..., : m * d].reshape(*y.shape[:-1], m, d), y[..., m * d :]


# ---------------------------------------------------------------- right-hand sides (jitted)
@numba.njit(cache=True)
def _curvature(q, K, Sigma_hat, p):
    """G_B of the current state (theory/finite_eta.py) from ⟨q⟩, ⟨q²⟩ and, for minibatches,
    T₂ = tr((Σ̂ K)²)."""
    n = q.shape[0]
    q_mean, q2_mean, T2 = np.sum(q) / n, np.dot(q, q) / n, 0.0
    if p[P_CB] != p[P_B]:  # the discrete-time term (1 − c_B/B) T₂ does not cancel
        SK = Sigma_hat @ K
        T2 = np.sum(SK * SK.T)
    return gen.fluctuation_curvature(q_mean, q2_mean, T2, p[P_S], p[P_B], p[P_CB])


@numba.njit(cache=True)
def _finite_eta(p):
    """Whether the correction solves the stationary fluctuation at finite η ("lambda-eff", "conjugated")."""
    return p[P_CORR] == CORR_LAMBDA_EFF or p[P_CORR] == CORR_CONJUGATED


@numba.njit(cache=True)
def _lambda_now(p, q, K, Sigma_hat):
    """λ of the current state: the constant λ, or λ_eff = λ/(1 − η G_B/2); NaN past the pole η G_B ≥ 2."""
    if not _finite_eta(p):
        return p[P_LAM]
    curvature = _curvature(q, K, Sigma_hat, p)
    if p[P_ETA] * curvature >= 2.0:
        return np.nan
    return gen.lambda_eff(p[P_LAM], p[P_ETA], curvature)


@numba.njit(cache=True)
def _fluctuation_gradients(beta, S, A, Sigma_hat, beta_star, X, R, p, Omega):
    """Label noise's (Ω, ω) from the stationary fluctuations of one SGD step, exact in the step size.

    Near the manifold the error e = β − β̄ moves by e ← (I − ηH) e − η s² K ζ, H = s² K Σ̂, with
    Cov ζ = C = (δ² Σ̂ + c_B (M₄(P) − Σ̂ P Σ̂))/B (label noise plus the sampling noise of the fluctuation), so
    its covariance solves the discrete Lyapunov equation P = (I − ηH) P (I − ηH)ᵀ + η² s⁴ K C Kᵀ
    (C depends on P: three fixed-point passes). A neuron's fluctuation δz_k = L_k Y e-correlated,
    L_k = [wᵀ; a I], with Y = [η s³ C K − s Σ̂ P (I − ηH)ᵀ](Hᵀ)⁻¹, and the mean drift −ηs E[J(Σ̂e) δz_k]
    gives Ω = (s/2) Σ̂ Yᵀ, ω = (s/2) tr(Σ̂ Yᵀ) (docs/theory.md). As η → 0 this is λ s² Σ̂, λ s² τ.
    R = Σ̂^{1/2}: H is similar to the symmetric s² R K R = U D Uᵀ, which diagonalizes the equation.
    """
    d = beta.shape[0]
    n = X.shape[0]
    s, eta, B, delta = p[P_S], p[P_ETA], p[P_B], p[P_DELTA]
    c_B = p[P_CB]
    K = S + A * np.eye(d)
    D, U = np.linalg.eigh(s * s * (R @ K @ R))
    T = U.T @ R  # T H T⁻¹ = diag(D)
    Tinv = np.linalg.solve(R, U)
    C_label = delta * delta * Sigma_hat / B
    C = C_label.copy()
    P = np.zeros((d, d))
    for _ in range(3):
        Qt = T @ (K @ C @ K) @ T.T * (eta * eta * s**4)
        Pt = np.empty((d, d))
        for i in range(d):
            for j in range(d):
                Pt[i, j] = Qt[i, j] / (1.0 - (1.0 - eta * D[i]) * (1.0 - eta * D[j]))
        P = Tinv @ Pt @ Tinv.T
        XP = X @ P
        M4 = np.zeros((d, d))
        for i in range(n):
            wgt = np.dot(XP[i], X[i]) / n
            for j in range(d):
                for k in range(d):
                    M4[j, k] += wgt * X[i, j] * X[i, k]
        C = C_label + c_B * (M4 - Sigma_hat @ P @ Sigma_hat) / B
    H = s * s * K @ Sigma_hat
    Z = eta * s**3 * C @ K - s * Sigma_hat @ P @ (np.eye(d) - eta * H).T
    Yt = np.linalg.solve(H, Z.T)  # Y Hᵀ = Z
    Omega[:, :] = (s / 2.0) * Sigma_hat @ Yt
    return (s / 2.0) * np.trace(Sigma_hat @ Yt)


@numba.njit(cache=True)
def _closure_stationarity(c, q, p):
    """⟨q_i F_i(c)⟩: the K⁻¹-trace of 1-SAM's or 1-USAM's stationarity condition (theory/sam.py) at P = c K."""
    s, eta, rho, delta = p[P_S], p[P_ETA], p[P_RHO], p[P_DELTA]
    total = 0.0
    for i in range(q.shape[0]):
        if int(p[P_REG]) == REG_ONE_USAM:
            total += q[i] * gen.one_usam_stationarity(c, q[i], s, eta, rho, delta)
        elif p[P_GAUSSIAN] == 1.0:
            total += q[i] * gen.one_sam_stationarity_gaussian(c, q[i], s, eta, rho, delta)
        else:
            total += q[i] * gen.one_sam_stationarity_rademacher(c, q[i], s, eta, rho, delta)
    return total / q.shape[0]


@numba.njit(cache=True)
def _closure_weights(c, q, p):
    """1-SAM's or 1-USAM's per-sample weight c_i on the stationary P = c K and its fluctuation part
    (c/2)(1 + γ_i), what the fast displacement conjugates (theory/sam.py)."""
    s, rho, delta = p[P_S], p[P_RHO], p[P_DELTA]
    if int(p[P_REG]) == REG_ONE_USAM:
        return gen.one_usam_closure_weight(c, q, s, rho, delta), gen.one_usam_fluctuation_weight(c, q, s, rho)
    if p[P_GAUSSIAN] == 1.0:
        return (
            gen.one_sam_closure_weight_gaussian(c, q, s, rho, delta),
            gen.one_sam_fluctuation_weight_gaussian(c, q, s, rho, delta),
        )
    return (
        gen.one_sam_closure_weight_rademacher(c, q, s, rho, delta),
        gen.one_sam_fluctuation_weight_rademacher(c, q, s, rho, delta),
    )


@numba.njit(cache=True)
def _fluctuation_scale(q, p):
    """c of the stationary residual fluctuation P = c K of 1-SAM or 1-USAM (B = 1): the root of the
    mean stationarity condition F(c), increasing from F(0⁺) < 0 (c = 10⁻³⁰⁰ stands for 0). NaN past
    the pole η G_1 ≥ 2 or where F has no root (no stationary fluctuation: the step is unstable); 0 when
    there is no noise.

    Safeguarded secant (Dekker's idea): secant steps from 0 and the root of F's slope-2 linearization
    (F is nearly linear: 5–7 evaluations), each at least 10⁻¹¹ c long so that a one-sided approach
    crosses the root; a step that leaves the bracket [lo, hi] bisects it (geometrically while hi > 4 lo),
    and so does a bracket that has not halved in three steps; without a bracket yet (no F(c) > 0 known)
    a step that does not go up quadruples c. Converged when hi − lo ≤ 10⁻¹¹ hi: the midpoint. (On
    20 000 synthetic increasing F, steep, flat and linear, from guesses over nine decades: every root
    to 10⁻⁹, at most 96 evaluations.)"""
    s, eta = p[P_S], p[P_ETA]
    if eta * s * s * np.dot(q, q) / np.sum(q) >= 2.0:  # past label noise's pole η G_1 = 2
        return np.nan
    rel = 1e-11
    c_prev = 0.0
    f_prev = _closure_stationarity(1e-300, q, p)
    if f_prev >= 0.0:
        return 0.0
    lo, hi = 0.0, np.inf
    c = -f_prev / (2.0 - eta * s * s * np.mean(q))
    width, since = np.inf, 0  # the bracket's width when it last halved, steps since
    for _ in range(300):
        f = _closure_stationarity(c, q, p)
        if f == 0.0:
            return c
        if f > 0.0:
            hi = c
        else:
            lo = c
        if hi < np.inf and hi - lo <= rel * hi:
            return 0.5 * (lo + hi)
        step = -f * (c - c_prev) / (f - f_prev) if f != f_prev else np.nan
        if abs(step) < rel * c:
            step = rel * c if step >= 0.0 else -rel * c
        c_new = c + step
        if hi < np.inf:
            since += 1
            if hi - lo <= 0.5 * width:
                width, since = hi - lo, 0
            if not (lo < c_new < hi) or since > 2:  # geometric mean while the bracket spans decades
                c_new = math.sqrt(lo * hi) if hi > 4.0 * lo > 0.0 else 0.5 * (lo + hi)
                width, since = hi - lo, 0
        elif not (c_new > lo):  # also NaN
            c_new = 4.0 * max(c, lo)
        c_prev, f_prev, c = c, f, c_new
    return 0.5 * (lo + hi) if hi < np.inf else np.nan  # no F(c) > 0 found: no root


@numba.njit(cache=True)
def _uniform_weight(q, p, lam):
    """The part c of the regularizer that weighs every sample alike (Ω = c Σ̂, ω = c τ): label noise's
    λ s² (λ or λ_eff(G_B), `_lambda_now`; 0 when it comes from elsewhere) plus USAM's or minibatch
    SAM's term."""
    s = p[P_S]
    c = lam * s * s
    reg = int(p[P_REG])
    if reg == REG_USAM:
        c += gen.usam_weight(s, p[P_RHO], p[P_DELTA], p[P_B])
    elif reg == REG_BATCH_SAM:
        c += gen.batch_sam_weight(np.sum(q), float(q.shape[0]), p[P_B], s, p[P_RHO], p[P_DELTA])
    return c


@numba.njit(cache=True)
def _first_order_sample_weight(q, p):
    """1-SAM's or 1-USAM's own weight of a sample with form q at first order (no closure): its
    enlarged label noise plus the ascent's regularizer (theory/sam.py)."""
    s, eta, rho, delta = p[P_S], p[P_ETA], p[P_RHO], p[P_DELTA]
    if int(p[P_REG]) == REG_ONE_SAM:
        return gen.one_sam_noise_weight(q, s, eta, rho, delta, p[P_XIABS]) + gen.one_sam_weight(
            q, s, rho, delta, p[P_XIABS]
        )
    return gen.one_usam_noise_weight(q, s, eta, rho, delta) + gen.one_usam_weight(q, s, rho, delta)


@numba.njit(cache=True)
def _regularizer_gradients(q, K, Sigma_hat, X, xn2, p, Omega, Omega_R):
    """Ω (into `Omega`) of the current state from the per-sample forms q_i and K; returns ω, ω_R and the
    scale λ_f of the residual fluctuation P = 2λ_f s² K (label noise's λ or λ_eff; c/(2s²) of 1-SAM's
    closure). (Ω_R, ω_R), Ω_R into `Omega_R`, is the fluctuation part that the "conjugated" correction
    conjugates: label noise's λ_f s²(Σ̂, τ), or the closure's (c/2)(1 + γ_i) weights (only filled with
    that correction).

    Label noise and USAM weigh every sample alike (`_uniform_weight`); 1-SAM's and 1-USAM's weights
    c_i depend on q_i: Ω = Xᵀ diag(c/n) X."""
    n = X.shape[0]
    s = p[P_S]
    reg = int(p[P_REG])
    lam = _lambda_now(p, q, K, Sigma_hat)
    c = _uniform_weight(q, p, 0.0 if p[P_CORR] == CORR_LYAPUNOV else lam)  # else from `_fluctuation_gradients`
    if reg != REG_ONE_SAM and reg != REG_ONE_USAM:
        Omega[:, :] = c * Sigma_hat
        Omega_R[:, :] = lam * s * s * Sigma_hat
        return c * p[P_TAU], lam * s * s * p[P_TAU], lam
    weights = np.empty(n)
    fluct = np.zeros(n)
    # 1-SAM and 1-USAM at finite η: label noise, the ascent and its noise from one stationary fluctuation
    # P = c K (theory/sam.py); c = NaN past the pole stops the solve, c = 0 (no noise) falls through.
    c_fl = _fluctuation_scale(q, p) if _finite_eta(p) else 0.0
    for i in range(n):
        if c_fl != 0.0:
            ci, fluct[i] = _closure_weights(c_fl, q[i], p)
            fluct[i] /= n
        else:
            ci = c + _first_order_sample_weight(q[i], p)
        weights[i] = ci / n
    d = X.shape[1]
    if p[P_CORR] == CORR_CONJUGATED:  # both weighted Gram matrices in one product
        XW = np.empty((n, 2 * d))
        for i in range(n):
            for j in range(d):
                XW[i, j] = X[i, j] * weights[i]
                XW[i, d + j] = X[i, j] * fluct[i]
        both = X.T @ XW
        Omega[:, :] = both[:, :d]  # (1/n) Σ_i c_i x_i x_iᵀ
        Omega_R[:, :] = both[:, d:]
    else:
        Omega[:, :] = X.T @ (X * weights[:, None])
    return np.dot(weights, xn2), np.dot(fluct, xn2), c_fl / (2.0 * s * s)


@numba.njit(cache=True)
def _conjugate(Omega, K, Omega_R, omega_R, lam_f):
    """The "conjugated" correction, in place: Ω += λ_f (K⁻¹Ω_R + Ω_R K⁻¹ − 2ω_R K⁻¹), the w-block of the
    fluctuation regularizer R = −2 diag(Ω_R, ω_R) averaged over the fast displacement of the network,
    E[e^X R e^{−X}], X = sJ(Y), Cov Y = 2λ_f K⁻¹/s² (theory/fast_displacement.py; λ_f: the scale of the
    residual fluctuation P = 2λ_f s² K). Label noise: (Ω_R, ω_R) = λ_f s²(Σ̂, τ), the correction
    λ_f² s²(K⁻¹Σ̂ + Σ̂K⁻¹ − 2τK⁻¹)."""
    extra = np.empty_like(Omega)
    gen.regularizer_conjugation(np.linalg.inv(K), Omega_R, omega_R, lam_f, extra)
    Omega += extra


@numba.njit(cache=True)
def _correction_terms(beta, S, A, K, Sigma_hat, beta_star, X, R, p, lam_f, Omega_R, omega_R, Omega):
    """The correction's additions to (Ω, ω), Ω in place, ω returned: "lyapunov" adds label noise's
    exact-in-η drift (`_fluctuation_gradients`), "conjugated" the fast-displacement term (`_conjugate`)
    of the fluctuation part (Ω_R, ω_R) from `_regularizer_gradients`."""
    if p[P_CORR] == CORR_LYAPUNOV:
        fluct = np.empty_like(Omega)
        omega = _fluctuation_gradients(beta, S, A, Sigma_hat, beta_star, X, R, p, fluct)
        Omega += fluct
        return omega
    if p[P_CORR] == CORR_CONJUGATED:
        _conjugate(Omega, K, Omega_R, omega_R, lam_f)
    return 0.0


@numba.njit(cache=True)
def _sample_forms(S, A, X, xn2):
    """q_i = x_iᵀ(S + A I)x_i = ‖∇f(x_i)‖²/s² (one pass over X)."""
    XS = X @ S
    n, d = X.shape
    q = np.empty(n)
    for i in range(n):  # a plain loop: a BLAS dot per row costs more than its d multiply-adds
        acc = A * xn2[i]
        for j in range(d):
            acc += XS[i, j] * X[i, j]
        q[i] = acc
    return q


@numba.njit(cache=True)
def _reduced_regularizer(beta, S, A, Sigma_hat, beta_star, X, xn2, R, p, Omega):
    """Ω, ω of the reduced state; with the "lyapunov" correction label noise's part comes from
    `_fluctuation_gradients`."""
    q = _sample_forms(S, A, X, xn2)
    K = S + A * np.eye(S.shape[0])
    Omega_R = np.empty_like(Omega)
    omega, omega_R, lam_f = _regularizer_gradients(q, K, Sigma_hat, X, xn2, p, Omega, Omega_R)
    return omega + _correction_terms(beta, S, A, K, Sigma_hat, beta_star, X, R, p, lam_f, Omega_R, omega_R, Omega)


@numba.njit(cache=True)
def reduced_rhs(t, y, args, out):
    """d/dt of y = [β, vec S, A, vec P_W, p_a]: the closure plus the propagator Φ̇ = M(t)Φ.

    The rows (P_W[j], p_a[j]) of Ψ = Φᵀ are the images of the basis neurons; each moves by the
    per-neuron right-hand side (linear in z), all d + 1 at once (`neuron_propagator_block`).
    Derivatives are written straight into views of `out` (no copies).
    """
    Sigma_hat, beta_star, X, xn2, R, p = args
    d = beta_star.shape[0]
    s = p[P_S]
    dd = d * d
    off = d + dd + 1
    offa = off + (d + 1) * d
    beta = y[:d]
    S = y[d : d + dd].reshape((d, d))
    A = y[d + dd]
    Omega = np.empty((d, d))
    omega = _reduced_regularizer(beta, S, A, Sigma_hat, beta_star, X, xn2, R, p, Omega)
    out[d + dd] = gen.reduced_flow(
        beta, S, A, Sigma_hat, beta_star, Omega, omega, s, out[:d], out[d : d + dd].reshape((d, d))
    )
    g = np.empty(d)
    gen.residual_gradient(beta, Sigma_hat, beta_star, g)
    gen.neuron_propagator_block(
        y[off:offa].reshape((d + 1, d)), y[offa:], g, Omega, omega, s, out[off:offa].reshape((d + 1, d)), out[offa:]
    )


@numba.njit(cache=True)
def reduced_jac(t, y, args, J, D):
    """The Rosenbrock-W matrix T = [[J, 0], [0, diag(D)]] (solvers/ode_rosw.py) of the current (S, A):
    J the stiff block ∂β̇/∂β ≈ −s²(A I + S)Σ̂ − 2c(Σ̂ + τI) on the leading d components, c the uniform
    weight (`_uniform_weight`: label noise, USAM, minibatch SAM; for 1-SAM and 1-USAM c = ω/τ with
    ω = (1/n)Σ c_i‖x_i‖² from their first-order weights c_i, `_first_order_sample_weight`); D the
    a-damping of the rest, −4ω on A and −2ω on the propagator's a-components p_a (0 elsewhere), ω = cτ.
    1-SAM's closure and the "lyapunov" anisotropy are left out. A W-method keeps its order with any
    matrix; J carries the stiff relaxation s²KΣ̂ ∝ m, which the regularizer (O(λ)) does not change, and D
    the a-damping, which once the flow has converged would otherwise bound the explicit steps
    (h·4ω ≲ 1–2; 1-SAM's ω is ≈ 5× label noise's; docs/integrators.md)."""
    Sigma_hat, beta_star, X, xn2, R, p = args
    d = beta_star.shape[0]
    dd = d * d
    S = y[d : d + dd].reshape((d, d))
    A = y[d + dd]
    K = S + A * np.eye(d)
    q = _sample_forms(S, A, X, xn2)
    c = _uniform_weight(q, p, _lambda_now(p, q, K, Sigma_hat))
    omega = c * p[P_TAU]
    reg = int(p[P_REG])
    if reg == REG_ONE_SAM or reg == REG_ONE_USAM:
        omega = 0.0
        for i in range(q.shape[0]):
            omega += (c + _first_order_sample_weight(q[i], p)) * xn2[i] / q.shape[0]
        c = omega / p[P_TAU]
    gen.reduced_beta_jacobian(S, A, Sigma_hat, c * Sigma_hat, omega, p[P_S], J)
    D[:] = 0.0
    D[dd] = -4.0 * omega  # Ȧ = −2β·g − 4ωA
    D[D.shape[0] - (d + 1) :] = -2.0 * omega  # ṗ_a = −s P_W g − 2ω p_a


@numba.njit(cache=True)
def full_flow_rhs(t, y, args, out):
    """d/dt of y = [vec W, a] under θ̇ = −∇(L + R), q_i = ‖W x_i‖² + ‖a‖² ‖x_i‖² of the full state."""
    Sigma_hat, beta_star, X, xn2, R, p = args
    d = beta_star.shape[0]
    m = y.shape[0] // (d + 1)
    W = y[: m * d].reshape((m, d))
    a = y[m * d :]
    XW = X @ W.T
    A = np.dot(a, a)
    q = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        q[i] = np.dot(XW[i], XW[i]) + A * xn2[i]
    Omega = np.empty((d, d))
    Omega_R = np.empty((d, d))
    K = W.T @ W + A * np.eye(d)
    omega, omega_R, lam_f = _regularizer_gradients(q, K, Sigma_hat, X, xn2, p, Omega, Omega_R)
    omega += _correction_terms(
        p[P_S] * (W.T @ a), W.T @ W, A, K, Sigma_hat, beta_star, X, R, p, lam_f, Omega_R, omega_R, Omega
    )
    dW = np.empty((m, d))
    da = np.empty(m)
    gen.regularized_flow_full(W, a, Sigma_hat, beta_star, Omega, omega, p[P_S], dW, da)
    out[: m * d] = dW.ravel()
    out[m * d :] = da


# ---------------------------------------------------------------- solves
@dataclass(frozen=True)
class ReducedSolution:
    """The reduced solve sampled at `t`: β (nt, d), S (nt, d, d), A (nt,), Φ (nt, d+1, d+1)."""

    t: np.ndarray
    beta: np.ndarray
    S: np.ndarray
    A: np.ndarray
    Phi: np.ndarray
    ode: OdeSolution

    def neurons(self, W0: np.ndarray, a0: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(W(t), a(t)) of the given initial neurons at sample `index`: z_k(t) = Φ(t) z_k(0)."""
        Z = np.concatenate([W0, a0[:, None]], axis=1) @ self.Phi[index].T
        return Z[:, :-1], Z[:, -1]


def _check_times(t_eval) -> np.ndarray:
    t_eval = np.ascontiguousarray(t_eval, dtype=np.float64)
    if t_eval.ndim != 1 or t_eval.size < 2 or t_eval[0] != 0.0 or np.any(np.diff(t_eval) <= 0):
        raise ValueError("t_eval must be increasing, start at 0 and have at least two points")
    return t_eval


# Default tolerances per method of the reduced solve: (rtol, atol). ros34pw2's keep the observables
# within 1e-3 of dopri5 at rtol 1e-8 (tests/test_effective_rosw.py, benchmarks/bench_effective.py).
REDUCED_METHODS = {"ros34pw2": (1e-4, 1e-6), "dopri5": (1e-9, 1e-11)}


def solve_reduced(
    setup: EffectiveSetup,
    W0: np.ndarray,
    a0: np.ndarray,
    t_eval: np.ndarray,
    *,
    method: str = "ros34pw2",
    rtol: float | None = None,
    atol: float | None = None,
    dt: float | None = None,
    max_steps: int = 2_000_000,
) -> ReducedSolution:
    """Solve (β, S, A, Φ) from the reduced state of (W0, a0); cost independent of m (beyond forming
    S(0) = W0ᵀW0 once). Truncated at a failure (see `.ode.status/.message`).

    method "ros34pw2" (default): linearly implicit Rosenbrock-W, implicit in the stiff β-relaxation
    (J = ∂β̇/∂β, a d×d solve per stage), explicit in the rest — its steps do not shrink as the
    relaxation rate s²λ_max((A I + S)Σ̂) ∝ m grows. "dopri5": explicit, steps ∝ 1/m (the reference).
    rtol/atol default to `REDUCED_METHODS[method]`; `dt` forces fixed steps (order measurements).
    """
    if method not in REDUCED_METHODS:
        raise ValueError(f"method = {method!r}; valid: {sorted(REDUCED_METHODS)}")
    rtol = REDUCED_METHODS[method][0] if rtol is None else rtol
    atol = REDUCED_METHODS[method][1] if atol is None else atol
    t_eval = _check_times(t_eval)
    d = setup.d
    y0 = reduced_from_params(W0, a0, setup.s)
    with threadpool_limits(limits=1, user_api="blas"):  # d × d BLAS calls: threads only add overhead
        sol = solve_ode(
            reduced_rhs,
            y0,
            (0.0, float(t_eval[-1])),
            setup.args(),
            method=method,
            t_eval=t_eval,
            rtol=rtol,
            atol=atol,
            dt=dt,
            max_steps=max_steps,
            jac=reduced_jac,
            jac_size=d,
        )
    beta, S, A, Phi = unpack_reduced(sol.y, d)
    if sol.status == Status.DIVERGED and setup.correction in ("lambda-eff", "conjugated"):
        sol = dataclasses.replace(sol, message=sol.message + _pole_note(setup, S[-1], A[-1]))
    return ReducedSolution(sol.t, beta, S, A, Phi, sol)


def _pole_note(setup: EffectiveSetup, S: np.ndarray, A: float) -> str:
    """Why a λ_eff solve stopped, when the last kept state has no stationary residual fluctuation:
    η G_B ≥ 2 (theory/finite_eta.py), or for 1-SAM/1-USAM no root of the ascent closure's
    stationarity (theory/sam.py) — the step is beyond the mean-square stability of the fluctuation."""
    K = np.ascontiguousarray(S) + A * np.eye(setup.d)
    q = np.sum((setup.X @ K) * setup.X, axis=1)
    p = setup.args()[-1]
    eta_G = setup.eta * _curvature(q, K, setup.Sigma_hat, p)
    closure = setup.regularizer in (REG_ONE_SAM, REG_ONE_USAM)
    if not (eta_G >= 2.0 or (closure and np.isnan(_fluctuation_scale(q, p)))):
        return ""
    return (
        f" λ_eff has no stationary fluctuation there (η G_B = {eta_G:.3g}; pole at 2"
        + (", earlier for 1-USAM's closure" if setup.regularizer == REG_ONE_USAM else "")
        + "): the step size is beyond the mean-square stability of the residual (lower eta, or use the"
        " first-order flow)."
    )


def solve_full_flow(
    setup: EffectiveSetup,
    W0: np.ndarray,
    a0: np.ndarray,
    t_eval: np.ndarray,
    *,
    rtol: float = 1e-9,
    atol: float = 1e-11,
    max_steps: int = 2_000_000,
) -> OdeSolution:
    """Solve the regularized flow on the full (W, a) ∈ R^{m(d+1)}; unpack with `unpack_full`."""
    t_eval = _check_times(t_eval)
    return solve_ode(
        full_flow_rhs,
        pack_full(W0, a0),
        (0.0, float(t_eval[-1])),
        setup.args(),
        method="dopri5",
        t_eval=t_eval,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
    )


# ---------------------------------------------------------------- observables
@numba.njit(cache=True)
def _neuron_means(W, a, beta_star):
    """(mean‖w_k‖, mean|cos(w_k, β*)|, mean|a_k|) of one state.

    A kernel so that the m×d loop does not allocate; vectorised equivalent:
    nw = norm(W, axis=1); (nw.mean(), abs(W @ b / (nw ‖b‖)).mean(), abs(a).mean()).
    """
    m, d = W.shape
    nb = math.sqrt(np.sum(beta_star * beta_star))
    sw, sc = 0.0, 0.0
    for k in range(m):
        q, c = 0.0, 0.0
        for j in range(d):
            q += W[k, j] * W[k, j]
            c += W[k, j] * beta_star[j]
        nw = math.sqrt(q)
        sw += nw
        sc += abs(c) / (nw * nb) if nw > 0 else 0.0
    return sw / m, sc / m, np.mean(np.abs(a))


def reduced_observables(
    sol: ReducedSolution, W0: np.ndarray, a0: np.ndarray, beta_star: np.ndarray
) -> dict[str, np.ndarray]:
    """Curves on the solution's samples: w_norm_mean, cos_abs_mean, a_abs_mean (`propagated_observables`
    of its Φ) and test_loss = ½‖β − β*‖²."""
    out = propagated_observables(sol.Phi, W0, a0, beta_star)
    out["test_loss"] = 0.5 * np.sum((sol.beta - beta_star) ** 2, axis=1)
    return out


def propagated_observables(
    Phi: np.ndarray, W0: np.ndarray, a0: np.ndarray, beta_star: np.ndarray
) -> dict[str, np.ndarray]:
    """w_norm_mean, cos_abs_mean, a_abs_mean of the networks z_k = Φ z_k(0) for each propagator of the
    stack Phi (nt, d+1, d+1), from the m initial neurons (O(m d²) per propagator)."""
    nt = Phi.shape[0]
    out = {k: np.empty(nt) for k in ("w_norm_mean", "cos_abs_mean", "a_abs_mean")}
    Z0 = np.ascontiguousarray(np.concatenate([W0, a0[:, None]], axis=1))
    with threadpool_limits(limits=1, user_api="blas"):
        for i in range(nt):
            Z = Z0 @ Phi[i].T
            out["w_norm_mean"][i], out["cos_abs_mean"][i], out["a_abs_mean"][i] = _neuron_means(
                np.ascontiguousarray(Z[:, :-1]), np.ascontiguousarray(Z[:, -1]), beta_star
            )
    return out


@numba.njit(cache=True)
def _neuron_means_cubature(W, a, beta_star, V, s):
    """The three neuron means of `_neuron_means` averaged over the shifted networks
    w_k − s a_k v, a_k − s w_k·v, one row v of V at a time (equal weights). With p = w_k·v:
    ‖w_k − s a_k v‖² = ‖w_k‖² − 2 s a_k p + s² a_k² ‖v‖², (w_k − s a_k v)·β* = w_k·β* − s a_k v·β*,
    so after the products W Vᵀ the cost is O(m) per node."""
    m = W.shape[0]
    nodes = V.shape[0]
    P = W @ V.T
    wb = W @ beta_star
    vb = V @ beta_star
    vv = np.sum(V * V, axis=1)
    nb = math.sqrt(np.sum(beta_star * beta_star))
    acc = np.zeros(3)
    for k in range(m):
        ww = np.dot(W[k], W[k])
        sa = s * a[k]
        for i in range(nodes):
            q = max(ww - 2.0 * sa * P[k, i] + sa * sa * vv[i], 0.0)
            nw = math.sqrt(q)
            acc[0] += nw
            acc[1] += abs(wb[k] - sa * vb[i]) / (nw * nb) if nw > 0 else 0.0
            acc[2] += abs(a[k] - s * P[k, i])
    return acc / (m * nodes)


def fast_fluctuation_cov(setup: EffectiveSetup, S: np.ndarray, A: float) -> np.ndarray:
    """Cov(δV) = 2λ_f K⁻¹/s² (`displacement_cov`) of the shared fast displacement δV of every neuron,
    δz_k = −s J(δV) z_k (δw_k = −s a_k δV, δa_k = −s w_k·δV), K = S + A I.

    From β' = β − ηs²K u the summed step directions are δV = −K⁻¹e/s² for the residual fluctuation
    e = β − β̄, and its stationary covariance P = 2λ_f s² K (§8) gives Cov(δw_k) = 2λ_f a_k² K⁻¹, with λ_f
    at finite η whatever the setup's correction: label noise's λ_eff = λ/(1 − η G_B/2), 1-SAM's or 1-USAM's
    closure (`regularizer_at`)."""
    return _fast_fluctuation_cov(setup, setup.args(), S, A)


def displacement_cov(lam_f: float, K: np.ndarray, s: float) -> np.ndarray:
    """Σ_Y = 2λ_f K⁻¹/s²: the covariance of the fast displacement for a residual fluctuation P = 2λ_f s² K."""
    return 2.0 * lam_f * np.linalg.inv(K) / s**2


def regularizer_at(
    setup: EffectiveSetup, S: np.ndarray, A: float, args: tuple | None = None
) -> tuple[np.ndarray, float, float]:
    """(Ω, ω, λ_f) of the setup's regularizer at the state (S, A), before the correction's additions
    (`_correction_terms`), with λ_f the scale of the residual fluctuation P = 2λ_f s² K (label noise's λ or
    λ_eff, 1-SAM's/1-USAM's closure). `args`: the setup's `args()`, when the caller has them."""
    args = setup.args() if args is None else args
    Sigma_hat, X, xn2, p = args[0], args[2], args[3], args[-1]
    S = np.ascontiguousarray(S, dtype=np.float64)
    K = S + A * np.eye(setup.d)
    Omega = np.empty((setup.d, setup.d))
    Omega_R = np.empty((setup.d, setup.d))
    omega, _, lam_f = _regularizer_gradients(_sample_forms(S, A, X, xn2), K, Sigma_hat, X, xn2, p, Omega, Omega_R)
    return Omega, float(omega), float(lam_f)


def _fast_fluctuation_cov(setup: EffectiveSetup, args: tuple, S: np.ndarray, A: float) -> np.ndarray:
    """`fast_fluctuation_cov` with the setup's `args()` computed once by the caller."""
    p = args[-1].copy()
    p[P_CORR] = CORR_LAMBDA_EFF  # the fluctuation at finite η, whatever the flow's correction
    lam_f = regularizer_at(setup, S, A, (*args[:-1], p))[2]
    return displacement_cov(lam_f, np.ascontiguousarray(S, dtype=np.float64) + A * np.eye(setup.d), setup.s)


def jensen_observables(
    sol: ReducedSolution, setup: EffectiveSetup, W0: np.ndarray, a0: np.ndarray
) -> dict[str, np.ndarray]:
    """`reduced_observables`' neuron means as expectations over the fast fluctuation of the network
    instead of their values at the mean network: E f(z_k − s J(δV) z_k), δV ~ N(0, `fast_fluctuation_cov`),
    by the degree-3 spherical cubature (the 2d nodes ±√d L e_j, C = L Lᵀ; exact for polynomials of
    degree ≤ 3 in δV). Zero fluctuation (δ = 0) gives `reduced_observables`' curves."""
    d = setup.d
    nodes = math.sqrt(d) * np.vstack([np.eye(d), -np.eye(d)])
    Z0 = np.ascontiguousarray(np.concatenate([W0, a0[:, None]], axis=1))
    names = ("w_norm_mean", "cos_abs_mean", "a_abs_mean")
    out = {k: np.empty(sol.t.size) for k in names}
    args = setup.args()
    with threadpool_limits(limits=1, user_api="blas"):
        for i in range(sol.t.size):
            Z = Z0 @ sol.Phi[i].T
            evals, evecs = np.linalg.eigh(_fast_fluctuation_cov(setup, args, sol.S[i], sol.A[i]))
            V = np.ascontiguousarray(nodes @ (evecs * np.sqrt(np.clip(evals, 0.0, None))).T)
            means = _neuron_means_cubature(
                np.ascontiguousarray(Z[:, :-1]), np.ascontiguousarray(Z[:, -1]), setup.beta_star, V, setup.s
            )
            for j, k in enumerate(names):
                out[k][i] = means[j]
    return out


def full_observables(sol: OdeSolution, m: int, beta_star: np.ndarray) -> dict[str, np.ndarray]:
    d = beta_star.shape[0]
    W, a = unpack_full(sol.y, m, d)
    rows = [_neuron_means(np.ascontiguousarray(W[i]), np.ascontiguousarray(a[i]), beta_star) for i in range(len(sol.t))]
    arr = np.array(rows).reshape(len(sol.t), 3)
    return {"w_norm_mean": arr[:, 0], "cos_abs_mean": arr[:, 1], "a_abs_mean": arr[:, 2]}


# ---------------------------------------------------------------- label-noise SDE ensemble
# y = [vec W, a] (`pack_full`), args = (X, β*, [s, √(η/B), δ, noise code]); ∇_θ L_batch = J u with
# J u = (s a uᵀ, s W u).
SDE_NOISES = ("full", "label", "trace")  # index = the noise code
SDE_CHUNK_STEPS = 2000  # increments drawn at a time: ≤ SDE_CHUNK_STEPS × paths × 2n


@numba.njit(cache=True)
def _residual_gradient(y, X, beta_star, s, r, g):
    """r = X(β − β*) (n,) and g = Xᵀr/n = Σ̂(β − β*) (d,) of y = [vec W, a], β = s Wᵀa."""
    n, d = X.shape
    m = y.shape[0] // (d + 1)
    beta = np.zeros(d)
    for k in range(m):
        sa = s * y[m * d + k]
        for j in range(d):
            beta[j] += sa * y[k * d + j]
    e = beta - beta_star
    for i in range(n):
        acc = 0.0
        for j in range(d):
            acc += X[i, j] * e[j]
        r[i] = acc
    g[:] = 0.0
    for i in range(n):
        for j in range(d):
            g[j] += X[i, j] * r[i]
    g /= n


@numba.njit(cache=True)
def _apply_jacobian(y, u, c, out):
    """out = c·(a uᵀ, W u), laid out like y: out_W[k] = c a_k u, out_a[k] = c w_k·u (c = s gives J u)."""
    d = u.shape[0]
    m = y.shape[0] // (d + 1)
    for k in range(m):
        ak = y[m * d + k]
        acc = 0.0
        for j in range(d):
            out[k * d + j] = c * ak * u[j]
            acc += y[k * d + j] * u[j]
        out[m * d + k] = c * acc


@numba.njit(cache=True)
def label_noise_drift(t, y, args, out):
    """f = −∇L = −J g: Ẇ = −s a gᵀ, ȧ = −s W g, g = Σ̂(β − β*)."""
    X, beta_star, p = args
    r = np.empty(X.shape[0])
    g = np.empty(X.shape[1])
    _residual_gradient(y, X, beta_star, p[0], r, g)
    _apply_jacobian(y, g, -p[0], out)


@numba.njit(cache=True)
def label_noise_diffusion(t, y, args, dw, out):
    """b dw = √(η/B) J ζ, dw = (dw₁, dw₂) ∈ R^{2n}, for the noise code p[3] (`SDE_NOISES`):

    - "full": ζ = n^{-1/2}[Xᵀ(r∘dw₁ + δ dw₂) − g Σ_i dw₁ᵢ], Cov ζ = (δ²Σ̂ + M₄ − ggᵀ)·dt,
      M₄ = (1/n) Σ_i r_i² x_i x_iᵀ: label plus minibatch sampling noise (with replacement);
    - "label": ζ = n^{-1/2} δ Xᵀdw₂, Cov ζ = δ²Σ̂·dt (label noise only);
    - "trace": ζ = n^{-1/2} σ Xᵀdw₂, σ² = δ² + 2L, Cov ζ = σ²Σ̂·dt (the sampling noise's trace part,
      M₄ − ggᵀ ↦ 2L Σ̂ with 2L = (1/n) Σ_i r_i²).

    Rank ≤ d per state, applied in O(md + nd) (the product form of `sde_step`)."""
    X, beta_star, p = args
    n, d = X.shape
    r = np.empty(n)
    g = np.empty(d)
    _residual_gradient(y, X, beta_star, p[0], r, g)
    full = p[3] == 0.0
    label_scale = p[2]
    if p[3] == 2.0:
        label_scale = math.sqrt(p[2] * p[2] + np.dot(r, r) / n)
    zeta = np.zeros(d)
    dw_sum = 0.0
    for i in range(n):
        wgt = label_scale * dw[n + i]
        if full:
            dw_sum += dw[i]
            wgt += r[i] * dw[i]
        for j in range(d):
            zeta[j] += X[i, j] * wgt
    inv_sqrt_n = 1.0 / math.sqrt(n)
    for j in range(d):
        zeta[j] = (zeta[j] - g[j] * dw_sum) * inv_sqrt_n
    _apply_jacobian(y, zeta, p[1] * p[0], out)


@dataclass(frozen=True)
class SdeEnsemble:
    """Path-averaged observables of the SDE ensemble at `t` (mean over the paths still finite)."""

    t: np.ndarray
    curves: dict[str, np.ndarray]  # name -> (nt,) mean over paths
    spread: dict[str, np.ndarray]  # name -> (nt,) standard deviation over paths
    n_paths: int
    dt: float
    status: Status  # completed when every path stays finite, else diverged (the message says how many)
    message: str


def solve_sde_ensemble(
    problem: Problem,
    s: float,
    eta: float,
    delta: float,
    batch_size: int,
    W0: np.ndarray,
    a0: np.ndarray,
    t_eval: np.ndarray,
    *,
    dt: float | None = None,
    n_paths: int = 4,
    seed: int = 0,
    noise: str = "full",
) -> SdeEnsemble:
    """Euler–Maruyama ensemble of the label-noise SDE from (W0, a0), observed at `t_eval`.

    `solve_sde` with `label_noise_drift` and the product-form `label_noise_diffusion` (q = 2n).
    dt defaults to η (one SDE step per SGD step); each interval between output times is split into
    equal steps of at most dt. `noise` (`SDE_NOISES`, see `label_noise_diffusion`) is "full" (label plus
    sampling noise) or, as ablations, "label" (label noise only) or "trace" (the sampling noise's trace
    part). Increments come from `brownian_increments` with one Generator per call
    (seeded) for all paths, so results are reproducible and independent of the chunking.
    """
    t_eval = _check_times(t_eval)
    if n_paths < 1:
        raise ValueError(f"n_paths = {n_paths}; valid: >= 1")
    if noise not in SDE_NOISES:
        raise ValueError(f"noise = {noise!r}; valid: {SDE_NOISES}")
    dt = eta if dt is None else float(dt)
    if not dt > 0:
        raise ValueError(f"dt = {dt}; valid: > 0")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 7919])))
    P, (m, d), n = n_paths, W0.shape, problem.n
    y = np.ascontiguousarray(np.broadcast_to(pack_full(W0, a0), (P, m * (d + 1)))).copy()
    args = (
        np.ascontiguousarray(problem.X),
        np.ascontiguousarray(problem.beta_star),
        np.array([s, math.sqrt(eta / batch_size), delta, float(SDE_NOISES.index(noise))], dtype=np.float64),
    )
    bstar = args[1]
    alive = np.ones(P, dtype=bool)
    names = ("w_norm_mean", "cos_abs_mean", "a_abs_mean")
    per_path = np.full((len(t_eval), P, 3), np.nan)

    def observe(i):
        for p in np.flatnonzero(alive):
            W, a = unpack_full(y[p], m, d)
            per_path[i, p] = _neuron_means(W, a, bstar)

    observe(0)
    for i in range(1, len(t_eval)):
        span = t_eval[i] - t_eval[i - 1]
        L = max(1, math.ceil(span / dt * (1 - 1e-12)))
        h = span / L
        for start in range(0, L, SDE_CHUNK_STEPS):
            count = min(SDE_CHUNK_STEPS, L - start)
            dB = brownian_increments(rng, np.full(count, h), P, 2 * n)  # every path draws, alive or not
            live = np.flatnonzero(alive)
            if live.size == 0:
                continue
            sol = solve_sde(
                label_noise_drift,
                label_noise_diffusion,
                y[live],
                t_eval[i - 1] + h * np.arange(start, start + count + 1),
                args,
                method="euler",
                n_paths=live.size,
                save_every=count,
                dW=dB[:, live],
                diffusion_form="product",
            )
            y[live] = sol.y[-1]
            alive[live[sol.failed_step >= 0]] = False
        observe(i)
    ok = alive
    curves = {
        k: np.nanmean(per_path[:, ok, j], axis=1) if ok.any() else np.full(len(t_eval), np.nan)
        for j, k in enumerate(names)
    }
    spread = {
        k: np.nanstd(per_path[:, ok, j], axis=1) if ok.any() else np.full(len(t_eval), np.nan)
        for j, k in enumerate(names)
    }
    n_bad = int((~ok).sum())
    msg = (
        f"{P} paths, dt = {dt:.3g}: all finite"
        if n_bad == 0
        else f"{n_bad} of {P} paths became non-finite (dt = {dt:.3g}); means over the rest"
    )
    return SdeEnsemble(t_eval, curves, spread, P, dt, Status.COMPLETED if n_bad == 0 else Status.DIVERGED, msg)
