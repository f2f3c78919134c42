"""The full second order in the fast displacement, integrated outside the solver: a measurement of
what `flow_conj` leaves out (docs/theory.md §11), on a stored `lnsgd check` Dataset of label-noise SGD
or 1-SAM/USAM (their whole regularizer conjugated as label noise's is).

    python -m lnsgd.experiments.check.second_order DIR/check_<digest>.nc [--no-area] [--displaced]

From the `flow_eff` state after the fast transient, the neurons' Gram matrix Ξ̃ = Σ_k z̃_k z̃_kᵀ and the
propagator Φ̃ of the slow neurons z̃ = e^X z move with the averaged conjugated generator
𝔐 = M + ½{E X², M} − E[X M X] (+ Q, the Stratonovich rotational diffusion of the shared map, §10),
M = [[−2Ω, −s g], [−s gᵀ, −2ω]] with the residual g of the true Gram matrix E[e^{−X} Ξ̃ e^{−X}] and
(Ω, ω) the flow's regularizer (`effective.regularizer_at`); X = sJ(Y), Cov Y = Σ_Y = 2λ_f K⁻¹/s² with λ_f
the residual fluctuation's scale (label noise's λ_eff, 1-SAM's closure). The area diffusion takes the
noise as label noise's with that λ_f. The observables are taken
on the mean network (I + ½E X²)Φ̃ z_k(0) and compared with the stored path mean (`measure.compare`).
Q costs O(d⁵) per evaluation, so it is evaluated every AREA_EVERY records on the `flow_eff` trajectory;
a configuration takes minutes.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import xarray as xr
from scipy.integrate import solve_ivp
from scipy.linalg import cholesky

from lnsgd.experiments.check.measure import compare
from lnsgd.experiments.check.predict import effective_setup
from lnsgd.experiments.config import SimulationConfig
from lnsgd.experiments.runner import initial_state
from lnsgd.solvers import effective as eff

START_FRACTION = 0.02  # of the check's horizon: past the fast transient (20k of the paper configuration's 1M steps)
AREA_EVERY = 10


def _fluct(setup, S, A, args=None):
    """(Σ_X = E X² on z = (w, a), Σ_Y, λ_f, Ω, ω) of the state."""
    d, s = setup.d, setup.s
    Omega, omega, lam = eff.regularizer_at(setup, S, A, args)
    SY = eff.displacement_cov(lam, S + A * np.eye(d), s)
    SX = np.zeros((d + 1, d + 1))
    SX[:d, :d] = s * s * SY
    SX[d, d] = s * s * np.trace(SY)
    return SX, SY, lam, Omega, omega


def _sandwich(SY, Mat, s):
    """E[X Mat X] for X = sJ(Y), Cov Y = Σ_Y, Mat = [[A, b], [cᵀ, e]] on z = (w, a)."""
    d = SY.shape[0]
    out = np.zeros((d + 1, d + 1))
    out[:d, :d] = Mat[d, d] * SY
    out[:d, d] = SY @ Mat[d, :d]
    out[d, :d] = SY @ Mat[:d, d]
    out[d, d] = np.trace(Mat[:d, :d] @ SY)
    return s * s * out


def _exp_displacement(Y, c, s):
    """e^{c s J(Y)} = I + sinh(c s r)/r J + (cosh(c s r) − 1)/r² J², r = ‖Y‖ (J(Y)³ = r² J(Y))."""
    d = Y.shape[0]
    J = np.zeros((d + 1, d + 1))
    J[:d, d] = J[d, :d] = Y
    r = np.linalg.norm(Y)
    if r == 0.0:
        return np.eye(d + 1)
    return np.eye(d + 1) + np.sinh(c * s * r) / r * J + (np.cosh(c * s * r) - 1.0) / r**2 * (J @ J)


def displaced_regularizer(setup, args, Xi, SY) -> np.ndarray:
    """E_Y[e^X R(Ξ_Y) e^{−X}] by the degree-3 cubature of §10 (2d nodes Y = ±√d L e_j, Σ_Y = L Lᵀ) with
    exact exponentials: the regularizer R = −2 diag(Ω, ω) of each displaced network's Gram matrix
    Ξ_Y = e^{−X} Ξ̃ e^{−X}, conjugated. Unlike `_sandwich` it keeps R's dependence on the displaced state
    (1-SAM's weights c_i ∝ 1/‖∇f_i‖ follow q_i): the correlation of R with Y and its own Jensen term."""
    d, s = setup.d, setup.s
    L = np.linalg.cholesky(SY)
    acc = np.zeros((d + 1, d + 1))
    for j in range(d):
        for sign in (1.0, -1.0):
            Y = sign * np.sqrt(d) * L[:, j]
            back, ahead = _exp_displacement(Y, -1.0, s), _exp_displacement(Y, 1.0, s)
            shifted = back @ Xi @ back
            Omega, omega, _ = eff.regularizer_at(setup, shifted[:d, :d], shifted[d, d], args)
            R = np.zeros((d + 1, d + 1))
            R[:d, :d], R[d, d] = -2.0 * Omega, -2.0 * omega
            acc += ahead @ R @ back
    return acc / (2 * d)


def area_diffusion(setup, beta, S, A) -> np.ndarray:
    """Q = ½ Σ G(Λ)² of the rotational diffusion of the shared map (docs/theory.md §10)."""
    d, s = setup.d, setup.s
    Sig = setup.Sigma_hat
    K = S + A * np.eye(d)
    Ki = np.linalg.inv(K)
    lam = _fluct(setup, S, A)[2]
    H = s * s * K @ Sig
    root = setup.args()[4]
    D, U = np.linalg.eigh(s * s * root @ K @ root)
    T = U.T @ root
    Ti = np.linalg.inv(T)
    x = cholesky(2 * lam * s * s * K, lower=True).T
    n = cholesky(4 * lam * s**4 * K @ Sig @ K, lower=True).T
    Yt = np.einsum("ia,jb->ijab", x @ T.T, n @ T.T)
    Yt = Yt + Yt.transpose(0, 1, 3, 2)
    Xm = np.einsum("ac,ijcd,bd->ijab", Ti, Yt / (D[:, None] + D[None, :]), Ti, optimize=True)
    area = 0.5 * (Xm @ H.T - H @ Xm + np.einsum("ja,ib->ijab", n, x) - np.einsum("ia,jb->ijab", x, n))
    Lam = Ki @ area @ Ki / s**2
    u = (Lam @ beta) @ Ki.T / s
    G = np.zeros((d, d, d + 1, d + 1))
    G[..., :d, :d] = Lam
    G[..., :d, d] = -u
    G[..., d, :d] = -u
    return 0.5 * np.einsum("ijab,ijbc->ac", G, G, optimize=True)


def second_order_curves(path: str, *, area: bool = True, displaced: bool = False) -> tuple[np.ndarray, dict, dict]:
    """(steps, curves, row) of the full second order against the stored simulation at `path`; `displaced`
    averages the regularizer over the displaced networks (`displaced_regularizer`) instead of conjugating
    the current one (tens of minutes for 1-SAM: 2d regularizer evaluations per generator call)."""
    with xr.open_dataset(path) as ds:
        sim = ds.load()
    config = SimulationConfig.from_dict(json.loads(sim.attrs["config"]))
    steps = sim["step"].values
    start = initial_state(config)
    setup = effective_setup(config, start.problem, start.s, "lambda-eff")
    d, s, t = setup.d, setup.s, config.eta * steps
    Sig, bstar = setup.Sigma_hat, start.problem.beta_star
    sol = eff.solve_reduced(setup, start.W0, start.a0, t)
    r0 = max(1, int(np.searchsorted(steps, START_FRACTION * steps[-1])))
    areas = {r: area_diffusion(setup, sol.beta[r], sol.S[r], sol.A[r]) for r in range(0, len(t), AREA_EVERY)}
    last = (len(t) - 1) // AREA_EVERY * AREA_EVERY

    args = setup.args()

    def generator(tt, Xi):
        S, A = Xi[:d, :d], Xi[d, d]
        SX, SY, _, Omega, omega = _fluct(setup, S, A, args)
        true = Xi + 0.5 * (SX @ Xi + Xi @ SX) + _sandwich(SY, Xi, s)
        g = Sig @ (s * true[:d, d] - bstar)
        M = np.zeros((d + 1, d + 1))
        M[:d, d] = M[d, :d] = -s * g
        if not displaced:
            M[:d, :d], M[d, d] = -2 * Omega, -2 * omega
        out = M + 0.5 * (SX @ M + M @ SX) - _sandwich(SY, M, s)
        if displaced:
            out = out + displaced_regularizer(setup, args, Xi, SY)
        if area:
            out = out + areas[min(int(np.searchsorted(t, tt)) // AREA_EVERY * AREA_EVERY, last)]
        return out

    def rhs(tt, y):
        Xi, Phi = y[: (d + 1) ** 2].reshape(d + 1, d + 1), y[(d + 1) ** 2 :].reshape(d + 1, d + 1)
        G = generator(tt, Xi)
        return np.concatenate([(G @ Xi + Xi @ G.T).ravel(), (G @ Phi).ravel()])

    Xi0 = np.zeros((d + 1, d + 1))
    Xi0[:d, :d], Xi0[d, d] = sol.S[r0], sol.A[r0]
    Xi0[:d, d] = Xi0[d, :d] = sol.beta[r0] / s
    out = solve_ivp(rhs, (t[r0], t[-1]), np.concatenate([Xi0.ravel(), sol.Phi[r0].ravel()]), method="LSODA",
                    t_eval=t[r0:], rtol=1e-7, atol=1e-10)  # fmt: skip
    if not out.success:
        raise RuntimeError(f"second-order integration failed: {out.message}")
    phis = list(sol.Phi[:r0])
    for y in out.y.T:
        Xi, Phi = y[: (d + 1) ** 2].reshape(d + 1, d + 1), y[(d + 1) ** 2 :].reshape(d + 1, d + 1)
        phis.append((np.eye(d + 1) + 0.5 * _fluct(setup, Xi[:d, :d], Xi[d, d])[0]) @ Phi)
    curves = eff.propagated_observables(np.stack(phis), start.W0, start.a0, bstar)
    w_paths, c_paths = sim["w_norm_mean_paths"].values, sim["cos_abs_mean_paths"].values
    return steps, curves, compare(steps, w_paths, c_paths, curves["w_norm_mean"], curves["cos_abs_mean"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("check_file", help="a check_<digest>.nc written by `lnsgd check`")
    parser.add_argument("--no-area", action="store_true", help="leave out the rotational diffusion")
    parser.add_argument("--displaced", action="store_true", help="average the regularizer over the displaced networks")
    args = parser.parse_args(argv)
    _, _, row = second_order_curves(args.check_file, area=not args.no_area, displaced=args.displaced)
    keys = ("rate_err", "plateau_err", "T_II_err", "T_II_se", "max_dw", "max_dcos")
    print(" ".join(f"{k} {row[k]:+.4f}" for k in keys))


if __name__ == "__main__":
    main()
