"""Linearly implicit Rosenbrock-W integration with a partial (block) Jacobian, for stiff relaxations.

A Rosenbrock-W method (Hairer & Wanner II, §IV.7, eq. 7.4; Steihaug & Wolfbrandt 1979) takes one
step of y' = f(t, y) as

    (I − hγT) k_i = h f(t + α_i h, y + Σ_{j<i} α_ij k_j) + hT Σ_{j<i} γ_ij k_j,   i = 1…s,
    y_{n+1} = y + Σ b_i k_i,   error estimate Σ (b_i − b̂_i) k_i,

with *any* matrix T: unlike a classical Rosenbrock method, a W-method keeps its order when T is only
an approximation of ∂f/∂y (and the ∂f/∂t term is dropped: T has a zero column for t). Only its
stability needs T to carry the stiff directions. Here T is the exact Jacobian of the leading
block of k components and zero elsewhere,

    T = [[J_k, 0], [0, 0]],   J_k = ∂f_{0:k}/∂y_{0:k}  (from ``jac(t, y, args, J_out)``),

so each stage costs one evaluation of f plus one k×k solve (a k×k inverse once per step), however
large the rest of the state is: the stiff part is treated implicitly, the rest explicitly.

Method: ROS34PW2 (Rang & Angermann, BIT 45 (2005) 761–787): 4 stages, order 3 as a W-method (any T),
embedded order 2, L-stable and stiffly accurate for T = ∂f/∂y. t_eval is sampled by cubic Hermite
interpolation from (y_n, f_n, y_{n+1}, f_{n+1}) (3rd order, like the method); f_{n+1} is the next
step's first stage, so the interpolant costs no evaluation. Steps are controlled on the same RMS
norm and PI controller as dopri5 (`ode._integrate`), with exponent 1/(2 + 1) (embedded order 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .ode_step import error_norm, initial_step

SUCCESS, NON_FINITE, STEP_TOO_SMALL, MAX_STEPS, SINGULAR = 0, -1, -2, -3, -4


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
    alpha=np.array([[0.0, 0.0, 0.0, 0.0],
                    [0.87173304301691801, 0.0, 0.0, 0.0],
                    [0.84457060015369423, -0.11299064236484185, 0.0, 0.0],
                    [0.0, 0.0, 1.0, 0.0]]),
    gamma=np.array([[_G, 0.0, 0.0, 0.0],
                    [-0.87173304301691801, _G, 0.0, 0.0],
                    [-0.90338057013044082, 0.054180672388095326, _G, 0.0],
                    [0.24212380706095346, -1.2232505839045147, 0.54526025533510214, _G]]),
    b=np.array([0.24212380706095346, -1.2232505839045147, 1.545260255335102, _G]),
    b_hat=np.array([0.37810903145819369, -0.096042292212423178, 0.5, 0.2179332607542295]),
)

ROSW_TABLEAUS: dict[str, RosenbrockTableau] = {ROS34PW2.name: ROS34PW2}


@njit(cache=True)
def rosw_step(rhs, jac, t, y, f0, h, args, alpha, c, gamma_off, gam, b, e, kb, J, Minv, k, y_stage,
              f_stage, v, y_new, err_vec):
    """One Rosenbrock-W step with T = [[J_k, 0], [0, 0]] on the leading kb components.

    f0 = f(t, y) is given (the previous step's end evaluation). Writes y_new and err_vec, fills the
    stages k (s × n); returns False when I − hγJ_k is singular. Vectorized equivalent per stage:
    ``u = h f(t + c_i h, y + α[i] @ k) ; u[:kb] += h J @ (γ_off[i] @ k)[:kb] ;
    k[i] = u ; k[i, :kb] = inv(I − hγJ) @ u[:kb]``. Loops: no allocation but the k×k inverse.
    """
    s = b.shape[0]
    n = y.shape[0]
    jac(t, y, args, J)
    for p in range(kb):
        for q in range(kb):
            Minv[p, q] = (1.0 if p == q else 0.0) - h * gam * J[p, q]
    try:
        Minv[:, :] = np.linalg.inv(Minv)
    except Exception:  # numba raises on a singular matrix
        return False
    for i in range(s):
        if i == 0:
            f_stage[:] = f0
        else:
            for m in range(n):
                acc = 0.0
                for j in range(i):
                    acc += alpha[i, j] * k[j, m]
                y_stage[m] = y[m] + acc
            rhs(t + c[i] * h, y_stage, args, f_stage)
        for m in range(n):
            k[i, m] = h * f_stage[m]
        if i > 0:  # + h J Σ_{j<i} γ_ij k_j on the block
            for m in range(kb):
                acc = 0.0
                for j in range(i):
                    acc += gamma_off[i, j] * k[j, m]
                v[m] = acc
            for p in range(kb):
                acc = 0.0
                for q in range(kb):
                    acc += J[p, q] * v[q]
                k[i, p] += h * acc
        for p in range(kb):  # solve on the block
            acc = 0.0
            for q in range(kb):
                acc += Minv[p, q] * k[i, q]
            v[p] = acc
        for p in range(kb):
            k[i, p] = v[p]
    for m in range(n):
        acc = 0.0
        ea = 0.0
        for i in range(s):
            acc += b[i] * k[i, m]
            ea += e[i] * k[i, m]
        y_new[m] = y[m] + acc
        err_vec[m] = ea
    return True


@njit(cache=True)
def hermite(y0, f0, y1, f1, h, theta, out):
    """Cubic Hermite interpolant at t + θh from (y0, f0) and (y1, f1); 3rd-order accurate."""
    h00 = (1.0 + 2.0 * theta) * (1.0 - theta) ** 2
    h10 = theta * (1.0 - theta) ** 2
    h01 = theta * theta * (3.0 - 2.0 * theta)
    h11 = theta * theta * (theta - 1.0)
    for m in range(y0.shape[0]):
        out[m] = h00 * y0[m] + h * h10 * f0[m] + h01 * y1[m] + h * h11 * f1[m]


@njit(cache=True)
def integrate_rosw(rhs, jac, kb, y0, t0, t1, args, t_eval, alpha, c, gamma_off, gam, b, e, adaptive,
                   h_fixed, h_first, error_order, rtol, atol, safety, min_factor, max_factor, pi_beta,
                   max_steps, ys):
    """The loop of `ode._integrate` for a Rosenbrock-W tableau (same returns, same control).

    Returns (status, n_saved, n_steps, n_rejected, n_rhs, t_reached); fills ys[:n_saved].
    """
    n = y0.shape[0]
    s = b.shape[0]
    k = np.empty((s, n))
    J = np.empty((kb, kb))
    Minv = np.empty((kb, kb))
    y = y0.copy()
    f = np.empty(n)
    f_new = np.empty(n)
    y_new = np.empty(n)
    y_stage = np.empty(n)
    f_stage = np.empty(n)
    err_vec = np.empty((1, n))
    one = np.ones(1)
    v = np.empty(max(kb, 1))
    t = t0
    n_saved = 0
    while n_saved < t_eval.shape[0] and t_eval[n_saved] == t0:
        ys[n_saved] = y
        n_saved += 1
    rhs(t, y, args, f)
    n_rhs = 1
    if not np.all(np.isfinite(f)):
        return NON_FINITE, n_saved, 0, 0, n_rhs, t
    h = h_fixed
    if adaptive:
        if h_first > 0:
            h = min(h_first, t1 - t0)
        else:
            h = initial_step(rhs, t0, y, f, args, error_order, rtol, atol, t1 - t0, y_stage, f_new)
            n_rhs += 1
    expo = 1.0 / (error_order + 1)
    err_prev = 1e-4
    last_rejected = False
    n_steps = 0
    n_rejected = 0
    while t < t1:
        if n_steps >= max_steps:
            return MAX_STEPS, n_saved, n_steps, n_rejected, n_rhs, t
        if adaptive:
            h = min(h, t1 - t)
            if h < 10.0 * np.finfo(np.float64).eps * max(abs(t), 1e-300):
                return STEP_TOO_SMALL, n_saved, n_steps, n_rejected, n_rhs, t
        else:
            h = t0 + (n_steps + 1) * h_fixed - t
            if t + h > t1 or t1 - (t + h) < 1e-9 * h_fixed:
                h = t1 - t
        ok = rosw_step(rhs, jac, t, y, f, h, args, alpha, c, gamma_off, gam, b, e, kb, J, Minv, k,
                       y_stage, f_stage, v, y_new, err_vec[0])
        n_rhs += s - 1
        if not ok:
            if not adaptive:
                return SINGULAR, n_saved, n_steps, n_rejected, n_rhs, t
            h *= min_factor
            n_rejected += 1
            last_rejected = True
            continue
        if adaptive:
            err = error_norm(y, y_new, 1.0, err_vec, one, rtol, atol)
            if not (err <= 1.0):
                factor = min_factor if not np.isfinite(err) else max(min_factor, safety * err ** -expo)
                h *= factor
                n_rejected += 1
                last_rejected = True
                continue
            if err == 0.0:
                factor = max_factor
            else:
                factor = safety * err ** -(expo - 0.75 * pi_beta) * err_prev ** pi_beta
                factor = min(max_factor, max(min_factor, factor))
            if last_rejected:
                factor = min(factor, 1.0)
            err_prev = max(err, 1e-4)
            last_rejected = False
        if not np.all(np.isfinite(y_new)):
            return NON_FINITE, n_saved, n_steps, n_rejected, n_rhs, t
        t_new = t1 if h == t1 - t else t + h
        rhs(t_new, y_new, args, f_new)
        n_rhs += 1
        while n_saved < t_eval.shape[0] and t_eval[n_saved] <= t_new:
            if t_eval[n_saved] == t_new:
                ys[n_saved] = y_new
            else:
                hermite(y, f, y_new, f_new, h, (t_eval[n_saved] - t) / h, ys[n_saved])
            n_saved += 1
        n_steps += 1
        t = t_new
        y[:] = y_new
        f[:] = f_new
        if adaptive:
            h *= factor
    return SUCCESS, n_saved, n_steps, n_rejected, n_rhs, t
