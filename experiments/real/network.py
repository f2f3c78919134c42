"""Two-layer erf network, its explicit Jacobian and empirical NTK, label-flip SGD, and the
closed-form training trajectory of its linearization (docs/real-data.md).

Model (standard parametrization, C outputs):
    f(x) = V φ(W x + b) + c,   φ = erf,   φ'(z) = (2/√π) e^{−z²},
    W_kj ~ N(0, W_std²/d), b_k ~ N(0, b_std²), V_ak ~ N(0, W_std²/m), c_a ~ N(0, b_std²).
Loss on n samples with targets Y ∈ R^{n×C}: L(θ) = (1/2n) Σ_i ‖f(x_i) − y_i‖².

Parameter vector θ = [vec W (row-major), b, vec V (row-major), c], P = m(d + 1) + C(m + 1).
Jacobian rows (sample i, output a), h_i = W x_i + b:
    ∂f_a/∂W_kj = V_ak φ'(h_ik) x_ij,  ∂f_a/∂b_k = V_ak φ'(h_ik),
    ∂f_a/∂V_bk = δ_ab φ(h_ik),        ∂f_a/∂c_b = δ_ab.
Empirical NTK, index (i, a) ↦ i·C + a:
    K[(i,a),(j,b)] = (x_i·x_j + 1) Σ_k V_ak φ'(h_ik) V_bk φ'(h_jk) + δ_ab (φ(h_i)·φ(h_j) + 1).

Linearization f_lin(x; θ) = f(x; θ0) + J(x; θ0)(θ − θ0), trained by GD θ ← θ − η∇L on targets Y.
The training residual r_t = f_lin(X) − Y obeys r_{t+1} = (I − ηK/n) r_t, so with K = Q Λ Qᵀ
    f_lin,t(x) = f_0(x) − K(x, X) α_t,  α_t = Q diag(g_t(λ)) Qᵀ r_0,
    g_t(λ) = Σ_{s<t} (η/n)(1 − ηλ/n)^s = (1 − (1 − ηλ/n)^t)/λ     (exact discrete steps),
    g_t(λ) = (1 − e^{−ηλt/n})/λ                                   (gradient flow, time ηt),
and g_t(0) = ηt/n. At x = X this is f_0 + (I − (I − ηK/n)^t)(Y − f_0), the textbook form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erf

_TWO_OVER_SQRT_PI = 2.0 / np.sqrt(np.pi)


@dataclass
class ErfParams:
    """Weights of f(x) = V erf(W x + b) + c: W (m, d), b (m,), V (C, m), c (C,)."""

    W: np.ndarray
    b: np.ndarray
    V: np.ndarray
    c: np.ndarray

    def copy(self) -> ErfParams:
        return ErfParams(self.W.copy(), self.b.copy(), self.V.copy(), self.c.copy())

    def flatten(self) -> np.ndarray:
        """θ = [vec W, b, vec V, c]."""
        return np.concatenate([self.W.ravel(), self.b, self.V.ravel(), self.c])

    def unflatten(self, theta: np.ndarray) -> ErfParams:
        """Parameters of the same shapes as self holding the entries of θ."""
        m, d = self.W.shape
        C = self.c.shape[0]
        cuts = np.cumsum([m * d, m, C * m])
        W, b, V, c = np.split(np.asarray(theta, dtype=np.float64), cuts)
        return ErfParams(W.reshape(m, d), b, V.reshape(C, m), c)


def init_params(d: int, width: int, n_classes: int, w_std: float, b_std: float, rng: np.random.Generator) -> ErfParams:
    """Standard-parametrization initialization (weights N(0, W_std²/fan_in), biases N(0, b_std²))."""
    W = rng.standard_normal((width, d)) * (w_std / np.sqrt(d))
    b = rng.standard_normal(width) * b_std
    V = rng.standard_normal((n_classes, width)) * (w_std / np.sqrt(width))
    c = rng.standard_normal(n_classes) * b_std
    return ErfParams(W, b, V, c)


def preactivations(p: ErfParams, X: np.ndarray) -> np.ndarray:
    """h = X Wᵀ + b, shape (n, m)."""
    return X @ p.W.T + p.b


def dphi(h: np.ndarray) -> np.ndarray:
    """φ'(h) = (2/√π) exp(−h²)."""
    return _TWO_OVER_SQRT_PI * np.exp(-h * h)


def forward(p: ErfParams, X: np.ndarray) -> np.ndarray:
    """f(X) = erf(X Wᵀ + b) Vᵀ + c, shape (n, C)."""
    return erf(preactivations(p, X)) @ p.V.T + p.c


def jacobian(p: ErfParams, X: np.ndarray) -> np.ndarray:
    """Explicit Jacobian ∂f_a(x_i)/∂θ, shape (n, C, P), θ ordered as ErfParams.flatten."""
    n, d = X.shape
    C, m = p.V.shape
    h = preactivations(p, X)
    g = p.V[None, :, :] * dphi(h)[:, None, :]  # (n, C, m): V_ak φ'(h_ik)
    eye = np.broadcast_to(np.eye(C)[None], (n, C, C))
    blocks = [
        (g[:, :, :, None] * X[:, None, None, :]).reshape(n, C, m * d),  # W
        g,  # b
        (eye[:, :, :, None] * erf(h)[:, None, None, :]).reshape(n, C, C * m),  # V
        eye,  # c
    ]
    return np.concatenate(blocks, axis=2)


def ntk(p: ErfParams, X1: np.ndarray, X2: np.ndarray) -> np.ndarray:
    """Empirical NTK K(X1, X2) = J(X1) J(X2)ᵀ, shape (n1·C, n2·C), from the factorized formula.

    Never forms J (P ≈ 4·10⁴ columns at the paper's width): the first-layer part is
    (G1 G2ᵀ) ⊙ ((X1 X2ᵀ + 1) ⊗ 1_{C×C}) with G[(i,a), k] = V_ak φ'(h_ik), the second-layer part
    (Φ1 Φ2ᵀ + 1) ⊗ I_C. Vectorized reference: ``J1.reshape(-1, P) @ J2.reshape(-1, P).T``.
    """
    C, m = p.V.shape
    h1, h2 = preactivations(p, X1), preactivations(p, X2)
    G1 = (p.V[None] * dphi(h1)[:, None, :]).reshape(-1, m)
    G2 = (p.V[None] * dphi(h2)[:, None, :]).reshape(-1, m)
    first = (G1 @ G2.T) * np.kron(X1 @ X2.T + 1.0, np.ones((C, C)))
    second = np.kron(erf(h1) @ erf(h2).T + 1.0, np.eye(C))
    return first + second


def gradient_step(p: ErfParams, X: np.ndarray, Y: np.ndarray, eta: float) -> None:
    """In place θ ← θ − η ∇_θ (1/2B) Σ_i ‖f(x_i) − y_i‖² over the B rows of (X, Y).

    With R = (f − Y)/B: ∇V = Rᵀφ(h), ∇c = Σ_i R_i, H = (R V) ⊙ φ'(h), ∇W = Hᵀ X, ∇b = Σ_i H_i.
    """
    h = preactivations(p, X)
    phi = erf(h)
    R = (phi @ p.V.T + p.c - Y) / X.shape[0]
    H = (R @ p.V) * dphi(h)
    p.V -= eta * (R.T @ phi)
    p.c -= eta * R.sum(axis=0)
    p.W -= eta * (H.T @ X)
    p.b -= eta * H.sum(axis=0)


def flipped_targets(labels: np.ndarray, flip: np.ndarray, new_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """One-hot rows of the label-flip labels: c̃ = new_label where flip, else the true label.

    new_labels are drawn uniformly from all C classes, so a flipped label keeps its class with
    probability 1/C: E[ỹ] = (1 − p) y + (p/C) 1.
    """
    return np.eye(n_classes)[np.where(flip, new_labels, labels)]


def expected_flip_targets(Y: np.ndarray, flip_prob: float) -> np.ndarray:
    """E[ỹ] = (1 − p) y + (p/C) 1, the targets whose GD is the mean linearized label-flip SGD."""
    return (1.0 - flip_prob) * Y + flip_prob / Y.shape[1]


def train_chunk(
    p: ErfParams,
    X: np.ndarray,
    labels: np.ndarray,
    eta: float,
    batch_idx: np.ndarray | None,
    flip: np.ndarray,
    new_labels: np.ndarray,
) -> None:
    """Run len(flip) label-flip SGD steps in place, with the chunk's pre-drawn randomness.

    batch_idx (T, B) picks each step's minibatch; None means full batch (GD, B = n). flip (T, B)
    bool and new_labels (T, B) give the step's fresh label flips (all False: clean labels).
    """
    C = p.c.shape[0]
    for t in range(flip.shape[0]):
        idx = slice(None) if batch_idx is None else batch_idx[t]
        Y = flipped_targets(labels[idx], flip[t], new_labels[t], C)
        gradient_step(p, X[idx], Y, eta)


@dataclass(frozen=True)
class LinearizedGD:
    """GD on the linearized model in closed form, from the eigendecomposition K = Q Λ Qᵀ.

    eigvals are clipped at 0 (K is PSD; round-off can make the smallest slightly negative).
    discrete=True gives the exact iterate after t GD steps, False the gradient flow at time ηt.
    """

    eigvals: np.ndarray
    eigvecs: np.ndarray
    eta: float
    n: int
    discrete: bool = True

    @classmethod
    def from_gram(cls, K: np.ndarray, eta: float, n: int, discrete: bool = True) -> LinearizedGD:
        lam, Q = np.linalg.eigh(K)
        return cls(np.clip(lam, 0.0, None), Q, eta, n, discrete)

    @property
    def max_rate(self) -> float:
        """η λ_max / n; the discrete iteration diverges beyond 2."""
        return self.eta * float(self.eigvals[-1]) / self.n

    def gain(self, t: int) -> np.ndarray:
        """g_t(λ) for every eigenvalue (see the module docstring), accurate for small ηλ/n."""
        lam = self.eigvals
        h = self.eta * lam / self.n
        safe = np.where(lam > 0, lam, 1.0)
        if self.discrete:
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                via_log = -np.expm1(t * np.log1p(-h))  # 1 − (1 − h)^t without cancellation
                via_pow = 1.0 - np.power(1.0 - h, t)  # h ≥ 1: oscillating or divergent
            contraction = np.where(h < 1, via_log, via_pow)
        else:
            contraction = -np.expm1(-h * t)
        return np.where(lam > 0, contraction / safe, self.eta * t / self.n)

    def dual(self, t: int, r0: np.ndarray) -> np.ndarray:
        """α_t = Q diag(g_t) Qᵀ r_0 for the flattened initial residual r_0 = f_0(X) − Y."""
        return self.eigvecs @ (self.gain(t) * (self.eigvecs.T @ r0))

    def predict(self, t: int, r0: np.ndarray, f0_x: np.ndarray, K_xX: np.ndarray) -> np.ndarray:
        """f_lin,t(x) = f_0(x) − K(x, X) α_t, shaped like f0_x (n_x, C)."""
        return f0_x - (K_xX @ self.dual(t, r0)).reshape(f0_x.shape)
