"""Step-size stability edges at initialisation, matrix-free (THEORY.md §2).

L = ½(β − β*)ᵀΣ̂(β − β*) with β = s Wᵀa. With e = β − β*, g = Σ̂e and a direction (V, b),
δβ = s(Vᵀa + Wᵀb), the Hessian-vector product is
    ∇²L·(V, b) = (s·b gᵀ + s·a (Σ̂δβ)ᵀ,  s·V g + s·W Σ̂δβ).
GD is stable for η < 2/λ_max(∇²L); single-sample SGD is mean-square stable for η·tr G < 2B.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

from lnsgd.solvers.problem import Problem


def hessian_lambda_max(W: np.ndarray, a: np.ndarray, problem: Problem, s: float) -> float:
    """Largest eigenvalue of ∇²L at (W, a) by Lanczos on Hessian-vector products."""
    m, d = W.shape
    Sig = problem.Sigma_hat
    g = Sig @ (s * (W.T @ a) - problem.beta_star)

    def hvp(v: np.ndarray) -> np.ndarray:
        V = v[: m * d].reshape(m, d)
        b = v[m * d:]
        sdb = Sig @ (s * (V.T @ a + W.T @ b))
        hV = s * np.outer(b, g) + s * np.outer(a, sdb)
        hb = s * (V @ g) + s * (W @ sdb)
        return np.concatenate([hV.ravel(), hb])

    op = LinearOperator((m * d + m, m * d + m), matvec=hvp, dtype=np.float64)
    v0 = np.ones(m * d + m)
    return float(eigsh(op, k=1, which="LA", v0=v0, tol=1e-6, return_eigenvectors=False)[0])


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
