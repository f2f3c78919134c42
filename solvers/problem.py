"""The teacher problem and the network initialisation (docs/model.md §1–§2).

Data X ∈ R^{n×d} with rows x_i ~ N(0, I_d), teacher β* ~ N(0, I_d), clean labels y = Xβ*,
Σ̂ = XᵀX/n, τ = tr Σ̂. Network f_θ(x) = s·aᵀWx with W ∈ R^{m×d}, a ∈ R^m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lnsgd.solvers.generated_rhs import PARAMETRIZATIONS


@dataclass(frozen=True)
class Problem:
    """One synthetic regression problem; arrays are float64 and C-contiguous."""

    X: np.ndarray  # (n, d)
    y: np.ndarray  # (n,) clean labels
    beta_star: np.ndarray  # (d,)
    Sigma_hat: np.ndarray  # (d, d) = XᵀX / n
    Xty: np.ndarray  # (d,) = Xᵀy / n = Σ̂β*

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def tau(self) -> float:
        """τ = tr Σ̂."""
        return float(np.trace(self.Sigma_hat))


def make_problem(n: int, d: int, rng: np.random.Generator) -> Problem:
    """Draw X (rows N(0, I_d)), β* ~ N(0, I_d) and y = Xβ*."""
    X = np.ascontiguousarray(rng.standard_normal((n, d)))
    beta_star = rng.standard_normal(d)
    y = X @ beta_star
    return Problem(X=X, y=y, beta_star=beta_star, Sigma_hat=X.T @ X / n, Xty=X.T @ y / n)


def output_scale(parametrization: str, m: int) -> float:
    """s = 1 (standard), 1/√m (NTK), 1/m (mean-field)."""
    if parametrization == "standard":
        return 1.0
    if parametrization == "ntk":
        return 1.0 / np.sqrt(m)
    if parametrization == "mean-field":
        return 1.0 / m
    raise ValueError(f"parametrization = {parametrization!r} is not one of {PARAMETRIZATIONS}")


def init_params(
    m: int, d: int, parametrization: str, alpha: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """W0 rows ~ N(0, I/d); a0 ~ N(0, 1/m) (standard) or N(0, 1) (NTK, mean-field); both × α."""
    W = rng.standard_normal((m, d)) / np.sqrt(d)
    a_std = 1.0 / np.sqrt(m) if parametrization == "standard" else 1.0
    a = rng.standard_normal(m) * a_std
    output_scale(parametrization, m)  # validates the name
    return np.ascontiguousarray(alpha * W), alpha * a
