"""Observables of THEORY.md §3, computed from (W, a) in O(md² + d³) — never from m × m or n × n
matrices: every kernel quantity reduces to d × d matrices because the empirical NTK Gram matrix is
K = s² X(S + A I)Xᵀ with S = WᵀW, A = ‖a‖², whose non-zero spectrum is that of
s²·Σ̂^{1/2}(S + A I)Σ̂^{1/2} times n.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lnsgd.solvers.problem import Problem

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class Reference:
    """What the observables compare against: the initial state and fixed functions of the data."""

    problem: Problem
    s: float
    Wt0: np.ndarray  # (d, m) = W0ᵀ
    a0: np.ndarray
    root_sigma: np.ndarray  # Σ̂^{1/2}
    M0: np.ndarray  # S0 + A0 I
    D0_norm: float  # ‖a0a0ᵀ − W0W0ᵀ‖_F
    W0_norm: float

    @classmethod
    def at_init(cls, problem: Problem, s: float, Wt0: np.ndarray, a0: np.ndarray) -> "Reference":
        evals, evecs = np.linalg.eigh(problem.Sigma_hat)
        root = (evecs * np.sqrt(np.clip(evals, 0.0, None))) @ evecs.T
        return cls(
            problem=problem, s=s, Wt0=Wt0.copy(), a0=a0.copy(), root_sigma=root,
            M0=_kernel_matrix(Wt0, a0),
            D0_norm=_signed_gram_norm(np.vstack([a0, Wt0]), np.r_[1.0, -np.ones(Wt0.shape[0])]),
            W0_norm=float(np.linalg.norm(Wt0)),
        )


def _kernel_matrix(Wt: np.ndarray, a: np.ndarray) -> np.ndarray:
    """M = S + A I with S = WᵀW, A = ‖a‖² (so that K = s² X M Xᵀ)."""
    return Wt @ Wt.T + float(a @ a) * np.eye(Wt.shape[0])


def _signed_gram_norm(U: np.ndarray, c: np.ndarray) -> float:
    """‖Σ_i c_i u_i u_iᵀ‖_F for the rows u_i of U, via tr((C UUᵀ)²) on the small Gram matrix."""
    N = c[:, None] * (U @ U.T)
    return float(np.sqrt(max(np.sum(N * N.T), 0.0)))


def balance_drift(Wt: np.ndarray, a: np.ndarray, ref: Reference) -> float:
    """‖D_t − D_0‖_F / ‖D_0‖_F with D = aaᵀ − WWᵀ (m × m, never formed).

    D_t − D_0 = aaᵀ − a0a0ᵀ − WWᵀ + W0W0ᵀ: rows [a, a0, Wᵀ, W0ᵀ] with signs [+, −, −, +].
    """
    d = Wt.shape[0]
    U = np.vstack([a, ref.a0, Wt, ref.Wt0])
    c = np.concatenate([[1.0, -1.0], -np.ones(d), np.ones(d)])
    return _signed_gram_norm(U, c) / ref.D0_norm


def observe(Wt: np.ndarray, a: np.ndarray, ref: Reference) -> dict[str, object]:
    """All per-record observables of the state (Wt = Wᵀ, a); scalars and `quantile` arrays."""
    p, s = ref.problem, ref.s
    norms = np.sqrt(np.einsum("jk,jk->k", Wt, Wt))
    abs_a = np.abs(a)
    bs_norm = np.linalg.norm(p.beta_star)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (p.beta_star @ Wt) / (norms * bs_norm)
    beta = s * (Wt @ a)
    err = beta - p.beta_star
    M = _kernel_matrix(Wt, a)
    R = ref.root_sigma
    RMR = R @ M @ R
    K_norm = np.linalg.norm(RMR)
    Xty = p.X.T @ p.y
    A = float(a @ a)
    q = np.asarray(QUANTILES)
    return {
        "w_norm_mean": norms.mean(), "w_norm_std": norms.std(), "w_norm_q": np.quantile(norms, q),
        "a_abs_mean": abs_a.mean(), "a_abs_std": abs_a.std(), "a_abs_q": np.quantile(abs_a, q),
        "cos_abs_mean": np.abs(cos).mean(), "cos_abs_std": np.abs(cos).std(),
        "beta_cos": float(beta @ p.beta_star) / (np.linalg.norm(beta) * bs_norm),
        "scale_product": s * np.sqrt(A) * np.linalg.norm(Wt),
        "w_rel_change": np.linalg.norm(Wt - ref.Wt0) / ref.W0_norm,
        "ntk_rel_change": np.linalg.norm(R @ (M - ref.M0) @ R) / np.linalg.norm(R @ ref.M0 @ R),
        "kernel_target_alignment": float(Xty @ M @ Xty) / (p.n * K_norm * float(p.y @ p.y)),
        "train_loss": 0.5 * float(err @ p.Sigma_hat @ err),
        "test_loss": 0.5 * float(err @ err),
        "trace_G": s * s * (float(np.sum((Wt @ Wt.T) * p.Sigma_hat)) + A * p.tau),
        "lambda_max_G": s * s * float(np.linalg.eigvalsh(RMR)[-1]),
        "balance_drift": balance_drift(Wt, a, ref),
        "balance_mean": float(np.mean(a * a - norms * norms)),
    }


def neuron_snapshot(Wt: np.ndarray, a: np.ndarray, beta_star: np.ndarray) -> dict[str, np.ndarray]:
    """Per-neuron ‖w_k‖, a_k and cos(w_k, β*)."""
    norms = np.sqrt(np.einsum("jk,jk->k", Wt, Wt))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (beta_star @ Wt) / (norms * np.linalg.norm(beta_star))
    return {"w_norm_k": norms, "a_k": a.copy(), "cos_k": cos}
