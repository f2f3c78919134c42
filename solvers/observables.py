"""Observables of a recorded state: two compiled passes, one over the neurons and one over small
Gram matrices.

Write the state as Z = [a; Wᵀ] ((d+1) × m: row 0 the second layer, rows 1..d the first layer, one
column z_k = (a_k, w_k) per neuron), the initial state as Z₀ and the change as Δ = Z − Z₀.
Everything that is not a per-neuron statistic is a function of four (d+1) × (d+1) matrices:
    P = Z Zᵀ = [[A, bᵀ], [b, S]]  (A = ‖a‖², b = Wᵀa = β/s, S = WᵀW),
    N₀ = Z₀ Z₀ᵀ,   X = Δ Z₀ᵀ,   Q = Δ Δᵀ,
because the empirical NTK Gram is K = s² X(S + A I)Xᵀ (its non-zero spectrum is n·s²·Σ̂^{1/2}(S + AI)Σ̂^{1/2}),
P − N₀ = X + Xᵀ + Q, ‖W − W₀‖_F² = tr Q_ww, and the balancedness D = aaᵀ − WWᵀ = Zᵀ E Z
(E = diag(1, −1, …, −1)) changes by D − D₀ = Uᵀ G U with U = [Z₀; Δ], G = [[0, E], [E, E]], so
‖D − D₀‖_F² = tr((G T)²), T = U Uᵀ = [[N₀, Xᵀ], [X, Q]]. Changes are taken from (X, Q), never as
differences of large numbers (a lazy run moves W by 10⁻³ relative, D by far less). So neither engine
forms an m × m, n × n or parameter-space matrix: the direct engine forms X and Q from (W, a) in
O(m d²); the propagator engine has P as its state and X = (Φ − I)N₀, Q = (Φ − I)N₀(Φ − I)ᵀ.

Both passes are jitted kernels writing into one row (`RECORD_FIELDS`), because a record made of
numpy calls costs about a millisecond, a fifth of a direct run at the default cadence. Quantiles are
exact (numpy's 'linear' definition) from a histogram pass and a sort of the few values in the bins
that hold the wanted ranks: O(m), not O(m log m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from lnsgd.solvers.problem import Problem

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
NEURON_FIELDS = ("w_norm_mean", "w_norm_std", "a_abs_mean", "a_abs_std", "cos_abs_mean", "cos_abs_std")
GRAM_FIELDS = (
    "beta_cos",
    "scale_product",
    "w_rel_change",
    "ntk_rel_change",
    "kernel_target_alignment",
    "train_loss",
    "test_loss",
    "trace_G",
    "lambda_max_G",
    "balance_drift",
)
QUANTILE_FIELDS = ("w_norm_q", "a_abs_q")
HISTOGRAM_BINS = 4096  # at most; m/8 for smaller widths


@dataclass(frozen=True)
class Reference:
    """What the observables compare against: the initial state and fixed functions of the data."""

    problem: Problem
    s: float
    Z0t: np.ndarray  # (d+1, m): row 0 = a0, rows 1.. = W0ᵀ
    N0: np.ndarray  # Z0 Z0ᵀ
    root_sigma: np.ndarray  # Σ̂^{1/2}
    M0_norm: float  # ‖Σ̂^{1/2}(S0 + A0 I)Σ̂^{1/2}‖_F
    D0_norm: float  # ‖a0a0ᵀ − W0W0ᵀ‖_F
    beta_star_unit: np.ndarray  # β*/‖β*‖
    Xty: np.ndarray  # Xᵀy

    @classmethod
    def at_init(cls, problem: Problem, s: float, Wt0: np.ndarray, a0: np.ndarray) -> Reference:
        evals, evecs = np.linalg.eigh(problem.Sigma_hat)
        root = np.ascontiguousarray((evecs * np.sqrt(np.clip(evals, 0.0, None))) @ evecs.T)
        Z0t = stack_neurons(Wt0, a0)
        N0 = symmetric(Z0t @ Z0t.T)
        EN0 = balance_sign(N0.shape[0]) @ N0
        return cls(
            problem=problem,
            s=s,
            Z0t=Z0t,
            N0=N0,
            root_sigma=root,
            M0_norm=float(np.linalg.norm(root @ kernel_matrix(N0) @ root)),
            D0_norm=float(np.sqrt(max(np.sum(EN0 * EN0.T), 0.0))),
            beta_star_unit=problem.beta_star / np.linalg.norm(problem.beta_star),
            Xty=problem.X.T @ problem.y,
        )


def stack_neurons(Wt: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Z = [a; Wᵀ], (d+1) × m, C order."""
    return np.ascontiguousarray(np.vstack([a[None, :], Wt]))


def symmetric(P: np.ndarray) -> np.ndarray:
    """(P + Pᵀ)/2: removes the rounding asymmetry of a product Z Zᵀ."""
    return 0.5 * (P + P.T)


def kernel_matrix(P: np.ndarray) -> np.ndarray:
    """M = S + A I (so that K = s² X M Xᵀ)."""
    return P[1:, 1:] + P[0, 0] * np.eye(P.shape[0] - 1)


def balance_sign(size: int) -> np.ndarray:
    """E = diag(1, −1, …, −1) of D = Zᵀ E Z."""
    return np.diag(np.r_[1.0, -np.ones(size - 1)])


@dataclass(frozen=True)
class Grams:
    """P = ZZᵀ and the change Grams X = ΔZ₀ᵀ, Q = ΔΔᵀ of one state (module docstring)."""

    P: np.ndarray
    X: np.ndarray
    Q: np.ndarray

    @classmethod
    def of_state(cls, Wt: np.ndarray, a: np.ndarray, ref: Reference) -> Grams:
        """From (Wᵀ, a) in O(m d²) (direct engine)."""
        delta = stack_neurons(Wt, a) - ref.Z0t
        X = delta @ ref.Z0t.T
        Q = symmetric(delta @ delta.T)
        return cls(symmetric(ref.N0 + X + X.T + Q), X, Q)

    @classmethod
    def of_propagator(cls, P: np.ndarray, Phi: np.ndarray, ref: Reference) -> Grams:
        """From the propagated P and Φ (Z = ΦZ₀, Δ = (Φ − I)Z₀) in O(d³) (propagator engine)."""
        F = Phi - np.eye(Phi.shape[0])
        X = F @ ref.N0
        return cls(np.ascontiguousarray(P), X, symmetric(X @ F.T))


# ---------------------------------------------------------------- compiled passes
@njit(cache=True, nogil=True)
def _lerp(a, b, t):
    """numpy's linear interpolation of quantiles (np.lib._function_base_impl._lerp), bit for bit."""
    diff = b - a
    return b - diff * (1.0 - t) if t >= 0.5 else a + diff * t


@njit(cache=True, nogil=True)
def exact_quantiles(x, qs, counts, out):
    """out[j] = np.quantile(x, qs[j]) ('linear') in O(m): three passes over x — its range, a histogram
    of len(counts) bins, and the values of the (at most 2·len(qs)) bins that hold the ranks
    floor(q(m−1)) and floor(q(m−1)) + 1 — then a sort of those few values. Exact for any data: bin
    membership is computed by the same expression in both passes. NaN if x holds a non-finite value."""
    m = x.shape[0]
    lo = x[0]
    hi = x[0]
    finite = True
    for k in range(m):
        lo = min(lo, x[k])
        hi = max(hi, x[k])
        finite = finite and np.isfinite(x[k])
    if not finite:
        out[:] = np.nan  # a non-finite value (a diverged state): no order statistics
        return
    if not hi > lo:
        out[:] = lo
        return
    nb = counts.shape[0]
    scale = nb / (hi - lo)
    counts[:] = 0
    for k in range(m):
        counts[min(int((x[k] - lo) * scale), nb - 1)] += 1
    nq = qs.shape[0]
    ranks = np.empty(2 * nq, dtype=np.int64)
    for j in range(nq):
        r0 = int(np.floor(qs[j] * (m - 1)))
        ranks[2 * j] = r0
        ranks[2 * j + 1] = min(r0 + 1, m - 1)
    bins = np.empty(2 * nq, dtype=np.int64)  # the bin of each rank, and the count below that bin
    below = np.empty(2 * nq, dtype=np.int64)
    for r in range(2 * nq):
        acc = 0
        b = 0
        while acc + counts[b] <= ranks[r]:
            acc += counts[b]
            b += 1
        bins[r] = b
        below[r] = acc
    slot_of_bin = np.full(nb, -1, dtype=np.int64)
    n_slots = 0
    for r in range(2 * nq):
        if slot_of_bin[bins[r]] < 0:
            slot_of_bin[bins[r]] = n_slots
            n_slots += 1
    starts = np.zeros(n_slots + 1, dtype=np.int64)
    for r in range(2 * nq):
        starts[slot_of_bin[bins[r]] + 1] = counts[bins[r]]
    starts = np.cumsum(starts)
    members = np.empty(starts[-1])
    fill = starts[:-1].copy()
    for k in range(m):
        slot = slot_of_bin[min(int((x[k] - lo) * scale), nb - 1)]
        if slot >= 0:
            members[fill[slot]] = x[k]
            fill[slot] += 1
    for slot in range(n_slots):
        members[starts[slot] : starts[slot + 1]].sort()
    for j in range(nq):
        vals = np.empty(2)
        for i in range(2):
            r = 2 * j + i
            vals[i] = members[starts[slot_of_bin[bins[r]]] + ranks[r] - below[r]]
        out[j] = _lerp(vals[0], vals[1], qs[j] * (m - 1) - ranks[2 * j])


@njit(cache=True, nogil=True)
def neuron_pass(Wt, a, unit, norms, cos):
    """norms[k] ← ‖w_k‖, cos[k] ← cos(w_k, β*) (NaN for a zero neuron), one pass over Wᵀ (d × m).

    Vectorised equivalent: norms = sqrt(einsum('jk,jk->k', Wt, Wt)); cos = unit @ Wt / norms.
    """
    d, m = Wt.shape
    norms[:] = 0.0
    cos[:] = 0.0
    for j in range(d):
        w = Wt[j]
        u = unit[j]
        for k in range(m):
            norms[k] += w[k] * w[k]
            cos[k] += u * w[k]
    for k in range(m):
        nk = np.sqrt(norms[k])
        norms[k] = nk
        cos[k] = cos[k] / nk if nk > 0.0 else np.nan


@njit(cache=True, nogil=True)
def _mean_std(x):
    mean = x.mean()
    acc = 0.0
    for v in x:
        acc += (v - mean) * (v - mean)
    return mean, np.sqrt(acc / x.shape[0])


@njit(cache=True, nogil=True)
def neuron_statistics(norms, cos, a, qs, counts, out, out_q):
    """NEURON_FIELDS into `out` and the quantiles of ‖w_k‖ and |a_k| into out_q (2 × len(qs))."""
    abs_a = np.abs(a)
    out[0], out[1] = _mean_std(norms)
    out[2], out[3] = _mean_std(abs_a)
    out[4], out[5] = _mean_std(np.abs(cos))
    exact_quantiles(norms, qs, counts, out_q[0])
    exact_quantiles(abs_a, qs, counts, out_q[1])


@njit(cache=True, nogil=True)
def gram_statistics(P, X, Q, N0, R, M0_norm, Sigma_hat, beta_star, Xty, yy, n, tau, s, D0_norm, out):
    """GRAM_FIELDS into `out` from P, X = ΔZ₀ᵀ, Q = ΔΔᵀ (module docstring); R = Σ̂^{1/2},
    M0_norm = ‖R(S₀ + A₀I)R‖_F, yy = ‖y‖². O(d³)."""
    D = P.shape[0]
    d = D - 1
    A = P[0, 0]
    M = np.empty((d, d))  # S + A I
    dM = np.empty((d, d))  # its change: (X + Xᵀ + Q) restricted, plus the change of A times I
    dA = 2.0 * X[0, 0] + Q[0, 0]
    beta = np.empty(d)
    trS = 0.0
    trQw = 0.0
    trN0w = 0.0
    trG = 0.0
    for i in range(d):
        beta[i] = s * P[i + 1, 0]
        trS += P[i + 1, i + 1]
        trQw += Q[i + 1, i + 1]
        trN0w += N0[i + 1, i + 1]
        for j in range(d):
            M[i, j] = P[i + 1, j + 1]
            dM[i, j] = X[i + 1, j + 1] + X[j + 1, i + 1] + Q[i + 1, j + 1]
            trG += P[i + 1, j + 1] * Sigma_hat[i, j]
        M[i, i] += A
        dM[i, i] += dA
    err = beta - beta_star
    RMR = R @ M @ R
    # ‖D − D₀‖_F² = tr((GT)²), G = [[0, E], [E, E]], T = [[N₀, Xᵀ], [X, Q]], E = diag(1, −1, …):
    # (GT)_{ij} = e_i T'_{ij} with the row sign e_i, so tr((GT)²) = Σ_ij e_i e_j T'_ij T'_ji
    GT = np.empty((2 * D, 2 * D))
    for i in range(D):
        ei = 1.0 if i == 0 else -1.0
        for j in range(D):
            GT[i, j] = ei * X[i, j]
            GT[i, D + j] = ei * Q[i, j]
            GT[D + i, j] = ei * (N0[i, j] + X[i, j])
            GT[D + i, D + j] = ei * (X[j, i] + Q[i, j])
    bal = 0.0
    for i in range(2 * D):
        for j in range(2 * D):
            bal += GT[i, j] * GT[j, i]
    out[0] = np.dot(beta, beta_star) / (np.sqrt(np.dot(beta, beta)) * np.sqrt(np.dot(beta_star, beta_star)))
    out[1] = s * np.sqrt(A * trS)
    out[2] = np.sqrt(max(trQw, 0.0) / trN0w)
    out[3] = np.linalg.norm(R @ dM @ R) / M0_norm
    out[4] = np.dot(Xty, M @ Xty) / (n * np.linalg.norm(RMR) * yy)
    out[5] = 0.5 * np.dot(err, Sigma_hat @ err)
    out[6] = 0.5 * np.dot(err, err)
    out[7] = s * s * (trG + A * tau)
    out[8] = s * s * np.linalg.eigvalsh(RMR)[-1]
    out[9] = np.sqrt(max(bal, 0.0)) / D0_norm


def neuron_snapshot(Wt: np.ndarray, a: np.ndarray, ref: Reference) -> dict[str, np.ndarray]:
    """Per-neuron ‖w_k‖, a_k and cos(w_k, β*)."""
    m = a.shape[0]
    norms, cos = np.empty(m), np.empty(m)
    neuron_pass(Wt, a, ref.beta_star_unit, norms, cos)
    return {"w_norm_k": norms, "a_k": np.array(a), "cos_k": cos}


def gram_observables(grams: Grams, ref: Reference, m: int) -> dict[str, float]:
    """GRAM_FIELDS of a state from its Grams (O(d³)), and balance_mean = (A − tr S)/m."""
    p = ref.problem
    out = np.empty(len(GRAM_FIELDS))
    gram_statistics(
        grams.P,
        grams.X,
        grams.Q,
        ref.N0,
        ref.root_sigma,
        ref.M0_norm,
        p.Sigma_hat,
        p.beta_star,
        ref.Xty,
        float(p.y @ p.y),
        float(p.n),
        p.tau,
        ref.s,
        ref.D0_norm,
        out,
    )
    row = dict(zip(GRAM_FIELDS, out.tolist(), strict=True))
    row["balance_mean"] = (float(grams.P[0, 0]) - float(np.trace(grams.P[1:, 1:]))) / m
    return row


def observe(
    grams: Grams, Wt: np.ndarray, a: np.ndarray, ref: Reference, snapshot: dict[str, np.ndarray] | None = None
) -> dict[str, object]:
    """Every per-record observable (docs/results-schema.md): per-neuron statistics of (Wᵀ, a) and
    `gram_observables(grams)`. `snapshot` (`neuron_snapshot` of the same state) saves the pass."""
    snap = neuron_snapshot(Wt, a, ref) if snapshot is None else snapshot
    out = np.empty(len(NEURON_FIELDS))
    out_q = np.empty((2, len(QUANTILES)))
    bins = min(HISTOGRAM_BINS, max(64, a.shape[0] // 8))
    neuron_statistics(
        snap["w_norm_k"], snap["cos_k"], snap["a_k"], np.asarray(QUANTILES), np.empty(bins, dtype=np.int64), out, out_q
    )
    row: dict[str, object] = dict(zip(NEURON_FIELDS, out.tolist(), strict=True))
    row.update(zip(QUANTILE_FIELDS, out_q.copy(), strict=True))
    row.update(gram_observables(grams, ref, a.shape[0]))
    return row
