"""Butcher tableaus of the explicit Runge–Kutta methods used by `lnsgd.solvers.ode`.

Coefficients are data: the integrator (`ode_step.rk_step`) reads them and never hard-codes a method.
Their algebra (row sums, order conditions, dense-output consistency) is checked in
`tests/test_ode_tableaus.py`, after scipy's `tests/test_rk.py::test_coefficient_properties`.

Conventions (s stages):
- ``a`` (s×s, strictly lower triangular), ``b`` (s), ``c`` (s) as usual: c_i = Σ_j a_ij.
- ``e = b̂ − b`` (s): weights of the local error estimate h Σ_i e_i K_i (its sign is irrelevant); ``None``
  for methods without an embedded pair.
- ``fsal``: the last stage is f(t + h, y_{n+1}) (row a[s−1] = b), reused as the next step's first stage.
- ``p`` (s×k): continuous extension y(t + θh) = y + h Σ_i K_i Σ_j p_ij θ^{j+1}; at θ = 1 it gives b.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge–Kutta method with optional embedded error estimate and dense output."""

    name: str
    order: int
    error_order: int  # order of the embedded solution b̂ (0 when there is none)
    dense_order: int  # order of the continuous extension p
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    p: np.ndarray
    e: np.ndarray | None = None
    fsal: bool = False

    def __post_init__(self) -> None:
        s = self.b.shape[0]
        if self.a.shape != (s, s) or self.c.shape != (s,) or self.p.shape[0] != s:
            raise ValueError(
                f"tableau {self.name!r}: a must be {s}x{s}, c of length {s} and p with {s} rows; "
                f"got a {self.a.shape}, c {self.c.shape}, p {self.p.shape}"
            )
        if np.any(np.triu(self.a) != 0.0):
            raise ValueError(f"tableau {self.name!r}: a must be strictly lower triangular (explicit method)")
        if self.e is not None and self.e.shape != (s,):
            raise ValueError(f"tableau {self.name!r}: e must have length {s}, got {self.e.shape}")
        for arr in (self.a, self.b, self.c, self.p) + (() if self.e is None else (self.e,)):
            arr.setflags(write=False)

    @property
    def n_stages(self) -> int:
        return self.b.shape[0]

    @property
    def adaptive(self) -> bool:
        return self.e is not None


def _arr(rows: list) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


# Classical RK4 (Kutta 1901). Continuous extension of order 3: Hairer, Nørsett & Wanner, *Solving
# ODEs I*, §II.6 (b1(θ) = θ − 3θ²/2 + 2θ³/3, b2 = b3 = θ² − 2θ³/3, b4 = −θ²/2 + 2θ³/3).
RK4 = ButcherTableau(
    name="rk4",
    order=4,
    error_order=0,
    dense_order=3,
    a=_arr([[0, 0, 0, 0], [1 / 2, 0, 0, 0], [0, 1 / 2, 0, 0], [0, 0, 1, 0]]),
    b=_arr([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
    c=_arr([0, 1 / 2, 1 / 2, 1]),
    p=_arr([[1, -3 / 2, 2 / 3], [0, 1, -2 / 3], [0, 1, -2 / 3], [0, -1 / 2, 2 / 3]]),
)

# Dormand & Prince (1980) 5(4), 7 stages with FSAL. Error weights and the 4th-order continuous
# extension (Shampine 1986, optimum c_6) as in scipy `scipy/integrate/_ivp/rk.py::RK45`.
_DP_B = [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0]
DOPRI5 = ButcherTableau(
    name="dopri5",
    order=5,
    error_order=4,
    dense_order=4,
    a=_arr(
        [
            [0, 0, 0, 0, 0, 0, 0],
            [1 / 5, 0, 0, 0, 0, 0, 0],
            [3 / 40, 9 / 40, 0, 0, 0, 0, 0],
            [44 / 45, -56 / 15, 32 / 9, 0, 0, 0, 0],
            [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0, 0],
            [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0, 0],
            _DP_B,
        ]
    ),
    b=_arr(_DP_B),
    c=_arr([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1]),
    e=_arr([-71 / 57600, 0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40]),
    p=_arr(
        [
            [1, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
            [0, 0, 0, 0],
            [0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
            [0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
            [0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
            [0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
            [0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
        ]
    ),
    fsal=True,
)

TABLEAUS: dict[str, ButcherTableau] = {t.name: t for t in (RK4, DOPRI5)}
