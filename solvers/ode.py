"""ODE integration: one driver for every method (explicit RK, Rosenbrock-W), fixed-step or adaptive.

    sol = solve_ode(rhs, y0, (t0, t1), args, method="dopri5", t_eval=grid, rtol=1e-8, atol=1e-10)

``rhs(t, y, args, out)`` is a numba-jitted function writing dy/dt into ``out`` (float64, length dim);
``args`` is a tuple or a float64 array handed to it unchanged. The driver `_integrate` is jitted and
receives ``rhs`` and the method's step and interpolant as first-class functions: each method only
contributes its step (`ode_step.rk_parts`, `ode_rosw.rosw_parts`); the loop — step-size control,
stopping, sampling t_eval, status — exists once. Python picks the method once, outside the loop.

- ``method="dopri5"``: Dormand–Prince 5(4), FSAL, error control on the RMS norm scaled by
  ``atol + rtol·|y|`` with Hairer's PI controller (``pi_beta``; 0 gives the standard controller),
  and the 4th-order continuous extension to sample ``t_eval``. Given ``dt`` it runs with fixed steps
  (used to measure its order).
- ``method="rk4"``: classical RK4 with fixed step ``dt`` (rounded down so that an integer number of
  equal steps covers ``t_span``), 3rd-order continuous extension for ``t_eval`` points off the grid.
- ``method="ros34pw2"``: linearly implicit Rosenbrock-W 3(2) with a Jacobian ``jac`` of the leading
  ``jac_size`` components (the stiff block) and a diagonal on the rest, `lnsgd.solvers.ode_rosw`;
  same control and result.

The result says how the run ended (``status``, ``message``, like scipy's ``OdeResult``) and keeps the
samples computed before a failure: a blow-up never returns NaN rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .ode_rosw import ROSW_TABLEAUS, RosenbrockTableau, rosw_parts
from .ode_step import error_norm, initial_step, rk_parts
from .status import Status
from .tableaus import TABLEAUS, ButcherTableau

SUCCESS = 0
NON_FINITE = -1
STEP_TOO_SMALL = -2
MAX_STEPS = -3
SINGULAR = -4  # a fixed step failed: I − hγJ singular (the only step that can fail, ros34pw2)
_MESSAGES = {
    SUCCESS: "The solver successfully reached the end of the integration interval.",
    NON_FINITE: "The state became non-finite at t = {t:.17g}; samples up to there are kept.",
    STEP_TOO_SMALL: "Required step size fell below the round-off limit at t = {t:.17g} "
    "(blow-up or stiffness); samples up to there are kept.",
    MAX_STEPS: "max_steps = {max_steps} steps taken before reaching the end, at t = {t:.17g}.",
    SINGULAR: "I − hγJ became singular at t = {t:.17g} (fixed step too large); samples up to there are kept.",
}
_STATUS = {
    SUCCESS: Status.COMPLETED,
    NON_FINITE: Status.DIVERGED,
    STEP_TOO_SMALL: Status.STEP_TOO_SMALL,
    MAX_STEPS: Status.MAX_STEPS,
    SINGULAR: Status.SINGULAR,
}  # codes of the compiled loop → Status
METHODS = tuple(TABLEAUS) + tuple(ROSW_TABLEAUS)


@dataclass(frozen=True)
class OdeOptions:
    """Validated options of `solve_ode`; every error names the field, its value and the valid range."""

    method: str = "dopri5"
    rtol: float = 1e-6
    atol: float | np.ndarray = 1e-9
    dt: float | None = None
    first_step: float | None = None
    max_steps: int = 1_000_000
    safety: float = 0.9
    min_factor: float = 0.2
    max_factor: float = 10.0
    pi_beta: float = 0.04

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method = {self.method!r}; valid: {sorted(METHODS)}")
        tab = self.tableau
        if not getattr(tab, "adaptive", True) and self.dt is None:
            raise ValueError(f"method = {self.method!r} has no error estimate: give a fixed step dt > 0")
        if self.dt is not None and not (math.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"dt = {self.dt}; valid: finite and > 0 (or None for adaptive dopri5)")
        if not (0 <= self.rtol < 1):
            raise ValueError(f"rtol = {self.rtol}; valid: 0 <= rtol < 1")
        atol = np.asarray(self.atol, dtype=np.float64)
        if atol.ndim > 1 or not np.all(atol >= 0) or not np.all(np.isfinite(atol)):
            raise ValueError(f"atol = {self.atol}; valid: finite scalar or 1-d array, all >= 0")
        if self.rtol == 0 and np.any(atol == 0):
            raise ValueError(f"rtol = 0 and atol = {self.atol}: the error scale atol + rtol|y| must be > 0")
        if self.first_step is not None and not (math.isfinite(self.first_step) and self.first_step > 0):
            raise ValueError(f"first_step = {self.first_step}; valid: finite and > 0, or None")
        if not (isinstance(self.max_steps, (int, np.integer)) and self.max_steps >= 1):
            raise ValueError(f"max_steps = {self.max_steps}; valid: integer >= 1")
        if not (0 < self.safety <= 1):
            raise ValueError(f"safety = {self.safety}; valid: 0 < safety <= 1")
        if not (0 < self.min_factor < 1):
            raise ValueError(f"min_factor = {self.min_factor}; valid: 0 < min_factor < 1")
        if not (1 < self.max_factor <= 100):
            raise ValueError(f"max_factor = {self.max_factor}; valid: 1 < max_factor <= 100")
        if not (0 <= self.pi_beta <= 0.2):
            raise ValueError(f"pi_beta = {self.pi_beta}; valid: 0 <= pi_beta <= 0.2 (0: standard control)")

    @property
    def tableau(self) -> ButcherTableau | RosenbrockTableau:
        return TABLEAUS[self.method] if self.method in TABLEAUS else ROSW_TABLEAUS[self.method]

    @property
    def implicit(self) -> bool:
        """A Rosenbrock-W method (needs ``jac``, see `lnsgd.solvers.ode_rosw`)."""
        return self.method in ROSW_TABLEAUS


@dataclass(frozen=True)
class OdeSolution:
    """Samples y[i] ≈ y(t[i]) on the requested grid, truncated at a failure (never NaN-padded)."""

    t: np.ndarray  # (n_saved,)
    y: np.ndarray  # (n_saved, dim)
    status: Status  # completed, diverged (non-finite state), step-too-small, max-steps or singular I − hγJ
    message: str
    n_steps: int  # accepted steps
    n_rejected: int
    n_rhs: int  # evaluations of rhs
    t_final: float  # time reached (end of the last accepted step)
    options: OdeOptions = field(repr=False)

    @property
    def success(self) -> bool:
        return self.status is Status.COMPLETED


# Not cached on disk: numba cannot cache a function that takes another jitted function as an
# argument (see `kernels.run_chunk`); the steps it calls are cached, so it compiles once per process
# for each (rhs, method) pair.
@njit
def _integrate(
    step,
    interp,
    rhs,
    jac,
    y0,
    t0,
    t1,
    args,
    t_eval,
    coeffs,
    work,
    fsal,
    evals_per_step,
    adaptive,
    h_fixed,
    h_first,
    error_order,
    rtol,
    atol,
    safety,
    min_factor,
    max_factor,
    pi_beta,
    max_steps,
    ys,
):
    """The loop of every method: take `step`, control its size (adaptive), sample t_eval by `interp`.

    ``step``, ``interp``, ``coeffs``, ``work``, ``fsal``, ``evals_per_step`` come from the method's
    `ode_step.StepParts` (see there for the signatures). Returns (status, n_saved, n_steps,
    n_rejected, n_rhs, t_reached); fills ys[:n_saved]. With ``adaptive`` False the steps are
    t0 + k·h_fixed (the last one ending exactly at t1). A failed step (``ok`` False) is retried
    with a smaller step when adaptive and ends the run with SINGULAR when the step is fixed.
    """
    n = y0.shape[0]
    y = y0.copy()
    f = np.empty(n)  # f(t, y)
    y_new = np.empty(n)
    f_new = np.empty(n)
    err_vec = np.empty(n)  # local error estimate of the last step
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
            h = initial_step(rhs, t0, y, f, args, error_order, rtol, atol, t1 - t0, y_new, f_new)
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
        ok = step(rhs, jac, t, y, f, h, args, coeffs, work, y_new, f_new, err_vec)
        n_rhs += evals_per_step
        if not ok:
            if not adaptive:
                return SINGULAR, n_saved, n_steps, n_rejected, n_rhs, t
            h *= min_factor
            n_rejected += 1
            last_rejected = True
            continue
        if adaptive:
            err = error_norm(y, y_new, err_vec, rtol, atol)
            if not (err <= 1.0):  # also catches NaN from a non-finite stage
                factor = min_factor if not np.isfinite(err) else max(min_factor, safety * err**-expo)
                h *= factor
                n_rejected += 1
                last_rejected = True
                continue
            if err == 0.0:
                factor = max_factor
            else:
                factor = safety * err ** -(expo - 0.75 * pi_beta) * err_prev**pi_beta
                factor = min(max_factor, max(min_factor, factor))
            if last_rejected:
                factor = min(factor, 1.0)
            err_prev = max(err, 1e-4)
            last_rejected = False
        if not np.all(np.isfinite(y_new)):
            return NON_FINITE, n_saved, n_steps, n_rejected, n_rhs, t
        t_new = t1 if h == t1 - t else t + h
        if not fsal:
            rhs(t_new, y_new, args, f_new)
            n_rhs += 1
        while n_saved < t_eval.shape[0] and t_eval[n_saved] <= t_new:
            if t_eval[n_saved] == t_new:
                ys[n_saved] = y_new
            else:
                interp(y, f, y_new, f_new, h, (t_eval[n_saved] - t) / h, coeffs, work, ys[n_saved])
            n_saved += 1
        n_steps += 1
        t = t_new
        y, y_new = y_new, y  # swap buffers: no copy
        f, f_new = f_new, f
        if adaptive:
            h *= factor
    return SUCCESS, n_saved, n_steps, n_rejected, n_rhs, t


def solve_ode(
    rhs,
    y0: np.ndarray,
    t_span: tuple[float, float],
    args: tuple | np.ndarray = (),
    *,
    method: str = "dopri5",
    t_eval: np.ndarray | None = None,
    rtol: float = 1e-6,
    atol: float | np.ndarray = 1e-9,
    dt: float | None = None,
    first_step: float | None = None,
    max_steps: int = 1_000_000,
    pi_beta: float = 0.04,
    jac=None,
    jac_size: int | None = None,
) -> OdeSolution:
    """Integrate y' = rhs(t, y, args) from t_span[0] to t_span[1] (forward) and sample at t_eval.

    ``t_eval`` (sorted, inside t_span) defaults to the two end points. ``atol`` may be a scalar or a
    per-component array. See `OdeOptions` for the meaning and valid range of each option.
    ``method="ros34pw2"`` (linearly implicit Rosenbrock-W, `lnsgd.solvers.ode_rosw`) needs ``jac``, a
    jitted ``jac(t, y, args, J_out, D_out)`` writing the Jacobian ∂f_{0:k}/∂y_{0:k} of the leading
    ``jac_size`` = k components (the stiff block) and an approximate diagonal of ∂f_{k:}/∂y_{k:} (stiff
    decaying modes of the rest; zeros treat it explicitly); the other methods ignore it.
    """
    opts = OdeOptions(
        method=method, rtol=rtol, atol=atol, dt=dt, first_step=first_step, max_steps=max_steps, pi_beta=pi_beta
    )
    y0 = np.ascontiguousarray(y0, dtype=np.float64)
    if y0.ndim != 1 or y0.size == 0 or not np.all(np.isfinite(y0)):
        raise ValueError(f"y0 must be a finite non-empty 1-d float array; got shape {y0.shape}")
    t0, t1 = (float(v) for v in t_span)
    if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
        raise ValueError(f"t_span = {t_span}; valid: finite (t0, t1) with t1 > t0")
    t_eval = np.array([t0, t1]) if t_eval is None else np.ascontiguousarray(t_eval, dtype=np.float64)
    if t_eval.ndim != 1 or np.any(np.diff(t_eval) < 0) or t_eval[0] < t0 or t_eval[-1] > t1:
        raise ValueError(f"t_eval must be a sorted 1-d array inside t_span = {t_span}")
    atol_vec = np.broadcast_to(np.asarray(opts.atol, dtype=np.float64), y0.shape).copy()
    tab = opts.tableau
    adaptive = opts.dt is None
    h_fixed = 0.0
    if not adaptive:
        n_fixed = max(1, math.ceil((t1 - t0) / opts.dt * (1 - 1e-12)))
        h_fixed = (t1 - t0) / n_fixed
    ys = np.empty((t_eval.size, y0.size))
    if opts.implicit:
        if jac is None or jac_size is None or not (1 <= jac_size <= y0.size):
            raise ValueError(
                f"method = {method!r} needs jac and 1 <= jac_size <= {y0.size}; got jac = {jac}, jac_size = {jac_size}"
            )
        parts = rosw_parts(tab, y0.size, int(jac_size))
    else:
        parts, jac = rk_parts(tab, y0.size, adaptive), None
    status, n_saved, n_steps, n_rej, n_rhs, t_reached = _integrate(
        parts.step,
        parts.interp,
        rhs,
        jac,
        y0,
        t0,
        t1,
        args,
        t_eval,
        parts.coeffs,
        parts.work,
        parts.fsal,
        parts.evals_per_step,
        adaptive,
        h_fixed,
        opts.first_step or 0.0,
        parts.error_order,
        opts.rtol,
        atol_vec,
        opts.safety,
        opts.min_factor,
        opts.max_factor,
        opts.pi_beta,
        opts.max_steps,
        ys,
    )
    message = _MESSAGES[status].format(t=t_reached, max_steps=opts.max_steps)
    return OdeSolution(
        t=t_eval[:n_saved].copy(),
        y=ys[:n_saved],
        status=_STATUS[int(status)],
        message=message,
        n_steps=int(n_steps),
        n_rejected=int(n_rej),
        n_rhs=int(n_rhs),
        t_final=float(t_reached),
        options=opts,
    )
