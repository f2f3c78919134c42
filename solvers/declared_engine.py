"""The engine of the declared models: one chunk driver for label-noise SGD / GD / SAM / USAM, and the
regularized flow, both calling a model's generated kernels (solvers/generated_models.py).

θ is one flat float64 vector (the model's blocks, row-major). A step on minibatch S (|S| = B; B = n
is full batch) with noisy labels ỹ_i = y_i + δξ_i:

    u = ∇L̃_S(θ) = (1/B) Σ_{i∈S} r_i ∇f(x_i),  r_i = f(x_i) − ỹ_i;
    SGD/GD:  θ ← θ − η u;
    SAM:     θ ← θ − η ∇L̃_S(θ + ρ u/‖u‖);   USAM: θ ← θ − η ∇L̃_S(θ + ρ u)  (same ξ in both gradients).

Randomness comes from the caller (rows `idx`, variates `xi`, levels `delta`), drawn like the
two-layer engines' (solvers/sampling.py), so the two-layer model declared and run here takes the
same steps as solvers/kernels.py on the same draws. The kernels are passed as first-class
functions: one driver serves every model.

The flow θ̇ = −(1/n) Σ_i [r_i ∇f(x_i) + c_i ∇q(x_i)] (q = ‖∇f‖², c_i = φ′(q_i): label noise
c = λ = ηδ²/(4B), optionally with λ_eff; 1-SAM c(q_i) of lnsgd.theory.sam at s = 1, since q is already
‖∇f‖²) is built by `flow_rhs` for solvers/ode.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from . import generated_models as gm
from . import generated_rhs as gen

MODE_SGD, MODE_SAM, MODE_USAM = 0, 1, 2
REG_LABEL_NOISE, REG_ONE_SAM = 0, 1


@dataclass(frozen=True)
class ModelKernels:
    """A declared model's generated kernels (see lnsgd.theory.declared_codegen)."""

    output: Callable
    norm_sq: Callable
    add_gradient: Callable
    add_residual_gradient: Callable
    step: Callable
    add_norm_gradient: Callable
    predictor: Callable


def model_kernels(name: str) -> ModelKernels:
    """The generated kernels of the declared model `name`."""
    p = name.replace("-", "_")
    names = ("output", "norm_sq", "add_gradient", "add_residual_gradient", "step", "add_norm_gradient", "predictor")
    return ModelKernels(*(getattr(gm, f"{p}_{k}") for k in names))


@numba.njit(cache=True, nogil=True)
def batch_gradient(add_residual_gradient, theta, sizes, s, X, y, rows, xi, delta, grad):
    """grad += ∇L̃_S(θ) = (1/B) Σ_j r_j ∇f(x_{rows[j]}) (grad zero on entry); returns the noisy minibatch
    loss (1/2B) Σ_j r_j²."""
    B = rows.shape[0]
    loss = 0.0
    for j in range(B):
        i = rows[j]
        r = add_residual_gradient(theta, sizes, s, X[i], y[i] + delta * xi[j], 1.0 / B, grad)
        loss += r * r
    return loss / (2.0 * B)


@numba.njit(cache=True, nogil=True)
def run_chunk(
    add_residual_gradient, step, theta, sizes, s, X, y, idx, xi, delta, eta, rho, mode, grad, ascent, loss_bound
):
    """Advance θ by L = len(delta) steps (row t of idx/xi: minibatch and variates of step t).

    Returns (steps run, sum of noisy minibatch losses, the offending loss or NaN); stops before
    applying a step whose loss is non-finite or above `loss_bound` (SGD at B = 1 updates θ in place
    through `step`, one pass; its bound check follows the step)."""
    L = delta.shape[0]
    total = 0.0
    if mode == MODE_SGD and idx.shape[1] == 1:
        for t in range(L):
            i = idx[t, 0]
            r = step(theta, sizes, s, X[i], y[i] + delta[t] * xi[t, 0], -eta)
            loss = 0.5 * r * r
            if not math.isfinite(loss) or loss > loss_bound:
                return t, total, loss
            total += loss
        return L, total, np.nan
    grad[:] = 0.0
    for t in range(L):
        loss = batch_gradient(add_residual_gradient, theta, sizes, s, X, y, idx[t], xi[t], delta[t], grad)
        if not math.isfinite(loss) or loss > loss_bound:
            return t, total, loss
        if mode != MODE_SGD:
            scale = rho
            if mode == MODE_SAM:
                norm = math.sqrt(np.sum(grad * grad))
                scale = rho / norm if norm > 0.0 else 0.0
            for j in range(theta.shape[0]):
                ascent[j] = theta[j] + scale * grad[j]
                grad[j] = 0.0
            batch_gradient(add_residual_gradient, ascent, sizes, s, X, y, idx[t], xi[t], delta[t], grad)
        for j in range(theta.shape[0]):
            theta[j] -= eta * grad[j]
            grad[j] = 0.0
        total += loss
    return L, total, np.nan


@numba.njit(cache=True, nogil=True)
def sample_weight(q, reg, lam, eta, rho, delta, xi_abs_mean):
    """c = φ′(q) of one sample: λ (label noise) or 1-SAM's ascent + enlarged-noise weight (s = 1)."""
    if reg == REG_LABEL_NOISE:
        return lam
    return (
        lam
        + gen.one_sam_weight(q, 1.0, rho, delta, xi_abs_mean)
        + gen.one_sam_noise_weight(q, 1.0, eta, rho, delta, xi_abs_mean)
    )


def flow_rhs(kernels: ModelKernels) -> Callable:
    """rhs(t, θ, args, out) of the regularized flow of a model, for solvers/ode.py.

    args = (sizes, s, X, Q, Sigma_hat, Xty, weights), weights = [reg, λ, η, ρ, δ, E|ξ|, λ_eff flag, B, c₀]:
    out = −∇L − (1/n) Σ_i c_i ∇q(x_i), c_i = `sample_weight`(q_i). Every declared f is linear in x
    (f = β(θ)ᵀx), so ∇L = (1/n) Σ_i r_i ∇f(x_i) = ∇_θ f(θ, x)|_{x = g}, g = Σ̂β − Xᵀy/n: one call. q is a
    quadratic form in x, so with rows Q such that QᵀQ = Σ̂ (min(n, d) of them, `trace_rows`)
    (1/n) Σ_i q(x_i) = Σ_k q(Q_k): label noise's λ∇tr G costs min(n, d) calls; 1-SAM, whose weight
    depends on q_i, runs over the samples. With the λ_eff flag λ becomes λ_eff(tr G); the constant c₀
    (USAM's leading ρδ²/(2B)) is added to λ after that.
    """
    norm_sq, add_gradient, add_norm_gradient, predictor = (
        kernels.norm_sq,
        kernels.add_gradient,
        kernels.add_norm_gradient,
        kernels.predictor,
    )

    @numba.njit(nogil=True)
    def rhs(t, theta, args, out):
        sizes, s, X, Q, Sigma_hat, Xty, w = args
        reg = int(w[0])
        beta = np.empty(X.shape[1])
        predictor(theta, sizes, s, beta)
        g = Sigma_hat @ beta - Xty
        out[:] = 0.0
        add_gradient(theta, sizes, s, g, -1.0, out)
        if reg == REG_LABEL_NOISE:
            lam = w[1]
            if w[6] != 0.0:
                trace_G = 0.0
                for k in range(Q.shape[0]):
                    trace_G += norm_sq(theta, sizes, s, Q[k])
                lam = gen.lambda_eff(lam, w[2], trace_G / w[7])  # trace-part closure, G_B = tr G/B
            for k in range(Q.shape[0]):
                add_norm_gradient(theta, sizes, s, Q[k], -(lam + w[8]), out)
            return
        n = X.shape[0]
        for i in range(n):
            c = sample_weight(norm_sq(theta, sizes, s, X[i]), reg, w[1], w[2], w[3], w[4], w[5])
            add_norm_gradient(theta, sizes, s, X[i], -c / n, out)

    return rhs


def trace_rows(X: np.ndarray) -> np.ndarray:
    """Rows Q with QᵀQ = Σ̂ = XᵀX/n: X/√n when n ≤ d, else √λ_k e_kᵀ from Σ̂'s eigenpairs (d rows)."""
    n, d = X.shape
    if n <= d:
        return np.ascontiguousarray(X / np.sqrt(n))
    vals, vecs = np.linalg.eigh(X.T @ X / n)
    return np.ascontiguousarray((vecs * np.sqrt(np.clip(vals, 0.0, None))).T)
