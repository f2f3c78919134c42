"""1-SAM at finite η: the Gaussian closure of the residual fluctuation (theory/sam.py, docs/theory.md §6).

The closure's ingredients are exact (the sign moments, its ρ = 0 limit); the closure itself is checked
against a Monte Carlo of the residual chain it describes, e ← e − η s² K x_i v_i with the exact sign."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from lnsgd.solvers import effective as eff
from lnsgd.theory import finite_eta, sam
from lnsgd.theory import symbols as sy

NOISES = ("gaussian", "rademacher")


def _xi(noise: str, rng: np.random.Generator, size) -> np.ndarray:
    return rng.standard_normal(size) if noise == "gaussian" else rng.choice([-1.0, 1.0], size=size)


@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("delta", [0.0, 0.7])
def test_sign_moments_match_quadrature(noise, delta):
    """E|r − δξ| and E[sgn(r − δξ) r], r ~ N(0, v), against quadrature (1e-9): ξ by Gauss–Hermite
    (Gaussian) or its two values (Rademacher), r by Gauss–Legendre split at the kink r = δξ."""
    v = 0.3
    if noise == "gaussian":
        xis, xi_weights = np.polynomial.hermite_e.hermegauss(80)
        xi_weights = xi_weights / math.sqrt(2 * math.pi)
    else:
        xis, xi_weights = np.array([-1.0, 1.0]), np.array([0.5, 0.5])
    nodes, weights = np.polynomial.legendre.leggauss(200)
    edge = 14 * math.sqrt(v)
    abs_q = sign_q = 0.0
    for xi, xi_weight in zip(xis, xi_weights):
        kink = delta * xi
        for left, right in ((-edge, kink), (kink, edge)):
            r = 0.5 * (right - left) * nodes + 0.5 * (right + left)
            dens = xi_weight * weights * 0.5 * (right - left) * np.exp(-(r**2) / (2 * v)) / math.sqrt(2 * math.pi * v)
            abs_q += dens @ np.abs(r - kink)
            sign_q += dens @ (np.sign(r - kink) * r)
    abs_m, sign_m = (float(e) for e in sam.sign_moments(sp.Float(v), sp.Float(delta), noise))
    assert abs_m == pytest.approx(abs_q, rel=1e-9)
    assert sign_m == pytest.approx(sign_q, rel=1e-9)


@pytest.mark.parametrize("noise", NOISES)
def test_closure_without_ascent_is_lambda_eff(noise):
    """At ρ = 0 the stationarity's root is c = η s² δ²/(2 − η tr G) = 2 λ_eff s² (B = 1), and the weight
    is λ_eff s²: the closure extends label noise's own finite-η regularizer (exact, symbolic)."""
    n = 3
    qs = sp.symbols("q0:3", positive=True)
    c, s, eta, delta = sy.fluct_scale, sy.s, sy.eta, sy.delta
    mean = sum(sam.one_sam_stationarity(c, qi, s, eta, 0, delta, noise) for qi in qs) / n
    root = sp.solve(sp.Eq(mean, 0), c)
    trace_G = s**2 * sum(qs) / n
    lam_eff = finite_eta.lambda_eff(eta * delta**2 / 4, eta, trace_G, 1)
    assert len(root) == 1 and sp.simplify(root[0] - 2 * lam_eff * s**2) == 0
    weight = sam.one_sam_closure_weight(root[0], qs[0], s, 0, delta, noise)
    assert sp.simplify(weight - lam_eff * s**2) == 0


def _residual_chain(X, K, s, eta, rho, delta, noise, *, chains=256, steps=3000, burn=1000, seed=0):
    """Per-sample E|r̃_i| and E[σ_i r_i] of the exact 1-SAM residual chain at frozen K (Monte Carlo)."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    q = np.einsum("ij,jk,ik->i", X, K, X)
    KX = X @ K
    e = 1e-3 * rng.standard_normal((chains, d))
    abs_sum, sign_sum, count = np.zeros(n), np.zeros(n), np.zeros(n)
    for step in range(steps):
        i = rng.integers(n, size=chains)
        r = np.einsum("cj,cj->c", X[i], e)
        noisy = r - delta * _xi(noise, rng, chains)
        sign = np.sign(noisy)
        if step >= burn:
            np.add.at(abs_sum, i, np.abs(noisy))
            np.add.at(sign_sum, i, sign * r)
            np.add.at(count, i, 1.0)
        e -= eta * s * s * KX[i] * (noisy + rho * sign * s * np.sqrt(q[i]))[:, None]
    return q, abs_sum / count, sign_sum / count


def _params(s, eta, rho, delta, noise) -> np.ndarray:
    p = np.zeros(12)
    p[eff.P_S], p[eff.P_ETA], p[eff.P_RHO], p[eff.P_DELTA] = s, eta, rho, delta
    p[eff.P_XIABS], p[eff.P_GAUSSIAN] = eff.XI_ABS_MEAN[noise], float(noise == "gaussian")
    return p


@pytest.mark.parametrize("noise,delta", [("gaussian", 0.0), ("gaussian", 0.3), ("rademacher", 0.3)])
def test_closure_against_the_residual_chain(noise, delta):
    """The ascent's finite-η excess E|r̃_i| + E[σ_i r_i] − δE|ξ| (what the closure adds to the η → 0
    weight), mean over samples, against the exact chain at n = 200, d = 20, η tr G = 0.2: within 25 %
    (a closure: Gaussian r_i and P ∝ K; measured 5–13 % low here, 11–29 % low on states of the paper
    configuration). Dropping the sign's restoring gain γ_i (c from 2c = η s² ⟨E v²⟩) overshoots by
    2.0–2.9× and is rejected."""
    rng = np.random.default_rng(1)
    n, d, s, rho = 200, 20, 1.0, 0.1
    X = rng.standard_normal((n, d))
    L = rng.standard_normal((d, d)) / math.sqrt(d)
    K = L @ L.T + 0.5 * np.eye(d)
    q = np.einsum("ij,jk,ik->i", X, K, X)
    eta = 0.2 / (s * s * q.mean())  # η tr G = 0.2
    q, abs_sim, sign_sim = _residual_chain(X, K, s, eta, rho, delta, noise)
    xi_abs = eff.XI_ABS_MEAN[noise]
    excess_sim = np.mean(abs_sim + sign_sim - delta * xi_abs)

    v = sp.Symbol("v", positive=True)
    moments = sp.lambdify((v,), sam.sign_moments(v, sp.Float(delta), noise), "math")

    def excess(c: float) -> float:
        return float(np.mean([sum(moments(c * qi)) for qi in q])) - delta * xi_abs

    c = eff._one_sam_fluctuation_scale(q, _params(s, eta, rho, delta, noise))
    assert excess(c) == pytest.approx(excess_sim, rel=0.25)
    c_no_gain = 0.0
    for _ in range(200):  # 2c = η s² ⟨E v²⟩ without the gain: a contraction for η tr G < 2
        second = [
            c_no_gain * qi + delta**2 + rho**2 * s**2 * qi + 2 * rho * s * math.sqrt(qi) * moments(c_no_gain * qi + 1e-300)[0]
            for qi in q
        ]
        c_no_gain = eta * s * s * float(np.mean(second)) / 2
    assert excess(c_no_gain) > 1.6 * excess_sim
