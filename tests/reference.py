"""Readable numpy references for the engine's tests (independent of solvers/kernels.py).

Loss on a batch S with noisy labels ỹ: L_S(W, a) = (1/2B) Σ_{i∈S} (s·aᵀW x_i − ỹ_i)².
"""

from __future__ import annotations

import numpy as np


def batch_loss(W, a, Xb, yb, s):
    r = s * (Xb @ W.T @ a) - yb
    return 0.5 * np.mean(r * r)


def batch_grad(W, a, Xb, yb, s):
    """(∂L_S/∂W, ∂L_S/∂a) written out from the chain rule."""
    B = len(yb)
    r = s * (Xb @ W.T @ a) - yb
    gW = s * np.outer(a, Xb.T @ r) / B
    ga = s * W @ (Xb.T @ r) / B
    return gW, ga


def fd_grad(W, a, Xb, yb, s, h=1e-6):
    """Central finite differences of batch_loss."""
    gW = np.zeros_like(W)
    ga = np.zeros_like(a)
    for idx in np.ndindex(W.shape):
        E = np.zeros_like(W)
        E[idx] = h
        gW[idx] = (batch_loss(W + E, a, Xb, yb, s) - batch_loss(W - E, a, Xb, yb, s)) / (2 * h)
    for k in range(len(a)):
        e = np.zeros_like(a)
        e[k] = h
        ga[k] = (batch_loss(W, a + e, Xb, yb, s) - batch_loss(W, a - e, Xb, yb, s)) / (2 * h)
    return gW, ga


def sgd_step(W, a, Xb, yb, s, eta):
    gW, ga = batch_grad(W, a, Xb, yb, s)
    return W - eta * gW, a - eta * ga


def sam_step(W, a, Xb, yb, s, eta, rho, normalize):
    """θ ← θ − η∇L_S(θ + ε), ε = ρ g/‖g‖ (SAM) or ρ g (USAM), g = ∇L_S(θ)."""
    gW, ga = batch_grad(W, a, Xb, yb, s)
    c = rho / np.sqrt(np.sum(gW**2) + np.sum(ga**2)) if normalize else rho
    gW2, ga2 = batch_grad(W + c * gW, a + c * ga, Xb, yb, s)
    return W - eta * gW2, a - eta * ga2


def oscillation_step(W, a_bar, zeta, eps, X, y, s, eta):
    """GD at (W, a_t = ā + εζ): W ← W − η∂_W L(W, a_t), ā ← ā − η∂_a L(W, a_t)."""
    gW, ga = batch_grad(W, a_bar + eps * zeta, X, y, s)
    return W - eta * gW, a_bar - eta * ga
