"""Linearly implicit Rosenbrock-W integration with a partial (block) Jacobian, for stiff relaxations.

A Rosenbrock-W method (Hairer & Wanner II, §IV.7, eq. 7.4; Steihaug & Wolfbrandt 1979) takes one
step of y' = f(t, y) as

    (I − hγT) k_i = h f(t + α_i h, y + Σ_{j<i} α_ij k_j) + hT Σ_{j<i} γ_ij k_j,   i = 1…s,
    y_{n+1} = y + Σ b_i k_i,   error estimate Σ (b_i − b̂_i) k_i,

with *any* matrix T: unlike a classical Rosenbrock method, a W-method keeps its order when T is only
an approximation of ∂f/∂y (and the ∂f/∂t term is dropped: T has a zero column for t). Only its
stability needs T to carry the stiff directions. Here T is the Jacobian of the leading block of k
components and a diagonal on the rest,

    T = [[J_k, 0], [0, diag(D)]],   J_k = ∂f_{0:k}/∂y_{0:k},  D ≈ diag ∂f_{k:}/∂y_{k:}
    (from ``jac(t, y, args, J_out, D_out)``; D = 0 treats the rest explicitly),

so each stage costs one evaluation of f plus one k×k solve (a k×k inverse once per step) and an
elementwise division, however large the rest of the state is: the stiff block is treated implicitly,
decaying modes of the rest that D carries semi-implicitly (their steps are not bounded by 2/|D|), the
rest explicitly.

Method: ROS34PW2 (Rang & Angermann, BIT 45 (2005) 761–787): 4 stages, order 3 as a W-method (any T),
embedded order 2, L-stable and stiffly accurate for T = ∂f/∂y. t_eval is sampled by cubic Hermite
interpolation from (y_n, f_n, y_{n+1}, f_{n+1}) (3rd order, like the method); f_{n+1} is the next
step's first stage, so the interpolant costs no evaluation. This module contributes the step and the
interpolant (`rosw_parts`); the loop is the one driver `ode._integrate` of every method, so steps are
controlled on the same RMS norm and PI controller as dopri5, with exponent 1/(2 + 1) (embedded order 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .ode_step import StepParts


@dataclass(frozen=True)
class RosenbrockTableau:
    """Coefficients of a Rosenbrock-W method: ``alpha`` (strictly lower), ``gamma`` (lower, constant
    diagonal γ), weights ``b`` and embedded ``b_hat``; α_i = Σ_j α_ij are the stage times."""

    name: str
    order: int
    error_order: int
    alpha: np.ndarray
    gamma: np.ndarray
    b: np.ndarray
    b_hat: np.ndarray

    def __post_init__(self) -> None:
        s = self.b.shape[0]
        if self.alpha.shape != (s, s) or self.gamma.shape != (s, s) or self.b_hat.shape != (s,):
            raise ValueError(f"tableau {self.name!r}: alpha, gamma must be {s}x{s} and b_hat of length {s}")
        if np.any(np.triu(self.alpha) != 0) or np.any(np.triu(self.gamma, 1) != 0):
            raise ValueError(f"tableau {self.name!r}: alpha strictly lower, gamma lower triangular")
        if np.ptp(np.diag(self.gamma)) != 0:
            raise ValueError(f"tableau {self.name!r}: gamma needs a constant diagonal (one matrix per step)")
        for arr in (self.alpha, self.gamma, self.b, self.b_hat):
            arr.setflags(write=False)

    @property
    def n_stages(self) -> int:
        return self.b.shape[0]

    @property
    def c(self) -> np.ndarray:
        return self.alpha.sum(axis=1)

    @property
    def diag(self) -> float:
        return float(self.gamma[0, 0])

    @property
    def gamma_offdiag(self) -> np.ndarray:
        return np.tril(self.gamma, -1)


_G = 0.435866521508459  # γ of ROS34PW2 (root of the L-stability polynomial)
ROS34PW2 = RosenbrockTableau(
    name="ros34pw2",
    order=3,
    error_order=2,
    alpha=np.array(
        [
            [0.0, 0.0, 0.0, 0.0],
            [0.87173304301691801, 0.0, 0.0, 0.0],
            [0.84457060015369423, -0.11299064236484185, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ]
    ),
    gamma=np.array(
        [
            [_G, 0.0, 0.0, 0.0],
            [-0.87173304301691801, _G, 0.0, 0.0],
            [-0.90338057013044082, 0.054180672388095326, _G, 0.0],
            [0.24212380706095346, -1.2232505839045147, 0.54526025533510214, _G],
        ]
    ),
    b=np.array([0.24212380706095346, -1.2232505839045147, 1.545260255335102, _G]),
    b_hat=np.array([0.37810903145819369, -0.096042292212423178, 0.5, 0.2179332607542295]),
)

ROSW_TABLEAUS: dict[str, RosenbrockTableau] = {ROS34PW2.name: ROS34PW2}


def rosw_parts(tab: RosenbrockTableau, n: int, kb: int) -> StepParts:
    """`StepParts` of a Rosenbrock-W tableau for a state of length n, implicit in the leading kb
    components (and, through the diagonal D, in the rest). Its step fails (returns False) when
    I − hγT is singular: the driver then shrinks the step, or stops with status SINGULAR when the
    step is fixed."""
    s = tab.n_stages
    coeffs = (tab.alpha, tab.c, tab.gamma_offdiag, tab.diag, tab.b, tab.b - tab.b_hat)
    # stages k, J_k, inv(I − hγJ_k), stage state, stage f, Σ_j γ_ij k_j (then the block solve's scratch), D
    work = (
        np.empty((s, n)),
        np.empty((kb, kb)),
        np.empty((kb, kb)),
        np.empty(n),
        np.empty(n),
        np.empty(n),
        np.zeros(n - kb),  # a jac that leaves D alone treats the rest explicitly
    )
    return StepParts(rosw_step, hermite, coeffs, work, False, s - 1, tab.error_order)


@njit(cache=True)
def rosw_step(rhs, jac, t, y, f, h, args, coeffs, work, y_new, f_new, err):
    """One Rosenbrock-W step with T = [[J_k, 0], [0, diag(D)]], J_k on the leading kb components.

    f = f(t, y) is given (the previous step's end evaluation). Writes y_new and err = Σ e_i k_i, fills
    the stages k (s × n); returns False when I − hγT is singular. f_new is not touched (not FSAL).
    Vectorized equivalent per stage, with v = γ_off[i] @ k:
    ``u = h f(t + c_i h, y + α[i] @ k) ; u[:kb] += h J @ v[:kb] ; u[kb:] += h D v[kb:] ;
    k[i, :kb] = inv(I − hγJ) @ u[:kb] ; k[i, kb:] = u[kb:] / (1 − hγD)``. Loops: no allocation but
    the k×k inverse.
    """
    alpha, c, gamma_off, gam, b, e = coeffs
    k, J, Minv, y_stage, f_stage, v, D = work
    s = b.shape[0]
    n = y.shape[0]
    kb = J.shape[0]
    jac(t, y, args, J, D)
    for p in range(kb):
        for q in range(kb):
            Minv[p, q] = (1.0 if p == q else 0.0) - h * gam * J[p, q]
    try:
        Minv[:, :] = np.linalg.inv(Minv)
    except Exception:  # numba raises on a singular matrix
        return False
    for m in range(n - kb):
        if 1.0 - h * gam * D[m] == 0.0:
            return False
    for i in range(s):
        if i == 0:
            f_stage[:] = f
        else:
            for m in range(n):
                acc = 0.0
                for j in range(i):
                    acc += alpha[i, j] * k[j, m]
                y_stage[m] = y[m] + acc
            rhs(t + c[i] * h, y_stage, args, f_stage)
        for m in range(n):
            k[i, m] = h * f_stage[m]
        if i > 0:  # + h T Σ_{j<i} γ_ij k_j
            for m in range(n):
                acc = 0.0
                for j in range(i):
                    acc += gamma_off[i, j] * k[j, m]
                v[m] = acc
            for p in range(kb):
                acc = 0.0
                for q in range(kb):
                    acc += J[p, q] * v[q]
                k[i, p] += h * acc
            for m in range(kb, n):
                k[i, m] += h * D[m - kb] * v[m]
        for p in range(kb):  # solve on the block
            acc = 0.0
            for q in range(kb):
                acc += Minv[p, q] * k[i, q]
            v[p] = acc
        for p in range(kb):
            k[i, p] = v[p]
        for m in range(kb, n):  # and on the diagonal
            k[i, m] /= 1.0 - h * gam * D[m - kb]
    for m in range(n):
        acc = 0.0
        ea = 0.0
        for i in range(s):
            acc += b[i] * k[i, m]
            ea += e[i] * k[i, m]
        y_new[m] = y[m] + acc
        err[m] = ea
    return True


@njit(cache=True)
def hermite(y0, f0, y1, f1, h, theta, coeffs, work, out):
    """Cubic Hermite interpolant at t + θh from (y0, f0) and (y1, f1); 3rd-order accurate.

    The interpolant of `rosw_parts` (common signature; it needs neither coeffs nor work).
    """
    h00 = (1.0 + 2.0 * theta) * (1.0 - theta) ** 2
    h10 = theta * (1.0 - theta) ** 2
    h01 = theta * theta * (3.0 - 2.0 * theta)
    h11 = theta * theta * (theta - 1.0)
    for m in range(y0.shape[0]):
        out[m] = h00 * y0[m] + h * h10 * f0[m] + h01 * y1[m] + h * h11 * f1[m]
