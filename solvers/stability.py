"""Step-size stability edges at initialisation, exact and width-independent.

L = ½(β − β*)ᵀΣ̂(β − β*) with β = s Wᵀa. With e = β − β*, g = Σ̂e and a direction (V, b),
δβ = s(Vᵀa + Wᵀb), the Hessian-vector product is
    ∇²L·(V, b) = (s·b gᵀ + s·a (Σ̂δβ)ᵀ,  s·V g + s·W Σ̂δβ).
Its image lies in the (≤ 3d + 2)-dimensional span of (a pᵀ + r gᵀ, b′) with r, b′ in the column
space of Z = [a | W], so λ_max(∇²L) is an eigenvalue problem of that size (`hessian_lambda_max_gram`).
GD is stable for η < 2/λ_max(∇²L); single-sample SGD is mean-square stable for η·tr G < 2B.
"""

from __future__ import annotations

import numpy as np

from lnsgd.solvers.problem import Problem


def hessian_lambda_max(W: np.ndarray, a: np.ndarray, problem: Problem, s: float) -> float:
    """Largest eigenvalue of ∇²L at (W, a), exactly, from the Gram matrix P = ZᵀZ of Z = [a | W]."""
    Z = np.column_stack([a, W])
    return hessian_lambda_max_gram(Z.T @ Z, problem, s, W.shape[0])


def hessian_lambda_max_gram(P: np.ndarray, problem: Problem, s: float, m: int) -> float:
    """λ_max(∇²L) from P = [[A, bᵀ], [b, S]] (A = ‖a‖², b = Wᵀa, S = WᵀW) in O(d³), for any width m.

    With Z = [a | W] (m × (d+1)), the subspace 𝒮 = {(V, b) = (a pᵀ + Zζ_r gᵀ, Zζ_b)} of dimension
    ≤ 3d + 2 is invariant under the Hessian (module docstring): in the coordinates x = (ζ_b, ζ_r, p),
    δβ = s(A p + (P₀·ζ_r) g + P_w ζ_b) (P₀ = P[0], P_w = P[1:]), u = Σ̂δβ, and ∇²L maps x to
    (s(g·p)e₀ + s‖g‖²ζ_r + s(0, u), s ζ_b, s u). The Gram matrix of the coordinates is
    G = [[P, 0, 0], [0, ‖g‖²P, P₀gᵀ], [0, g P₀ᵀ, A I]], so the eigenvalues on 𝒮 solve the symmetric
    pencil (GT) x = λ G x, taken on the range of G. On the orthogonal complement ∇²L(V, b) =
    (s b gᵀ, s V g), with eigenvalues ±s‖g‖ when some b ≠ 0 is orthogonal to the columns of Z
    (m > rank P), else 0.
    """
    P = 0.5 * (P + P.T)
    D = P.shape[0]
    d = D - 1
    Sig = problem.Sigma_hat
    g = Sig @ (s * P[1:, 0] - problem.beta_star)
    gg = float(g @ g)
    A = float(P[0, 0])
    n_coord = 2 * D + d
    T = np.zeros((n_coord, n_coord))  # T[:, j] = image of the j-th coordinate vector
    zb, zr, pp = slice(0, D), slice(D, 2 * D), slice(2 * D, n_coord)
    # δβ = s(P_w ζ_b + (P₀·ζ_r) g + A p), u = Σ̂δβ, as a (d × n_coord) matrix acting on x
    dbeta = s * np.hstack([P[1:, :], np.outer(g, P[0, :]), A * np.eye(d)])
    U = Sig @ dbeta
    T[zb, :] += np.vstack([np.zeros((1, n_coord)), s * U])
    T[0, pp] += s * g
    T[zb, zr] += s * gg * np.eye(D)
    T[zr, zb] = s * np.eye(D)
    T[pp, :] = s * U
    G = np.zeros((n_coord, n_coord))
    G[zb, zb] = P
    G[zr, zr] = gg * P
    G[zr, pp] = np.outer(P[0, :], g)
    G[pp, zr] = G[zr, pp].T
    G[pp, pp] = A * np.eye(d)
    K = G @ T
    K = 0.5 * (K + K.T)
    evals, evecs = np.linalg.eigh(G)
    keep = evals > 1e-12 * evals[-1]
    C = evecs[:, keep] / np.sqrt(evals[keep])
    lam_s = float(np.linalg.eigvalsh(C.T @ K @ C)[-1])
    p_evals = np.linalg.eigvalsh(P)
    rank = int(np.sum(p_evals > 1e-12 * p_evals[-1]))
    return max(lam_s, s * np.sqrt(gg) if m > rank else 0.0)


def stability_warnings(
    W: np.ndarray, a: np.ndarray, problem: Problem, s: float, eta: float, batch_size: int
) -> list[str]:
    """Sentences for each stability edge that η crosses at (W, a); empty when η is safe."""
    out = []
    lam = hessian_lambda_max(W, a, problem, s)
    if eta * lam >= 2.0:
        out.append(
            f"eta = {eta:g} is beyond the gradient-descent stability edge 2/lambda_max(Hessian) "
            f"= {2.0 / lam:.4g} at initialisation; the run will likely diverge"
        )
    trace_G = s * s * (float(np.sum((W.T @ W) * problem.Sigma_hat)) + float(a @ a) * problem.tau)
    if batch_size < problem.n and eta * trace_G >= 2.0 * batch_size:
        out.append(
            f"eta = {eta:g} is beyond the mean-square stability edge of SGD, 2B/tr G = "
            f"{2.0 * batch_size / trace_G:.4g} at initialisation; the run will likely diverge"
        )
    return out
