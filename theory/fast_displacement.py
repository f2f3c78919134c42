"""Second order in the fast displacement of the network: the regularizer seen by the slow neuron.

Every SGD step moves each neuron z_k = (w_k, a_k) by the same linear map, z ↦ z − ηs J(u) z with
J(v) = [[0, v], [vᵀ, 0]] (w ↦ a v, a ↦ v·w). Written in Stratonovich form, the label noise's regularizer
is the quadratic-variation drift R = −2λ_f s² diag(Σ̂, τ) and the rest of the motion is the fast
displacement X = sJ(Y) of the summed steps, Y = −K⁻¹e/s² for the residual fluctuation e with
Cov e = 2λ_f s² K (finite_eta.py), so Cov Y = Σ_Y = 2λ_f K⁻¹/s². The slow neuron z̃ = e^X z then moves
with the conjugated generator E[e^X R e^{−X}] = R + ½{E X², R} − E[X R X] + O(Y⁴). Its w-block is the
regularizer Ω + λ_f(K⁻¹Ω + ΩK⁻¹ − 2ωK⁻¹) (`regularizer_conjugation`); for label noise (Ω, ω) =
λ_f s²(Σ̂, τ): a correction λ_f² s²(K⁻¹Σ̂ + Σ̂K⁻¹ − 2τK⁻¹) (`conjugation_correction`) that weakens the
regularization in the directions where K is small. With 1-SAM's or 1-USAM's closure the fluctuation
part of the regularizer weighs the samples by the gain of the force, (c/2)(1 + γ_i) (sam.py), and is
conjugated as it is.
"""

from __future__ import annotations

import sympy as sp

from lnsgd.theory import symbols as sy

Kinv = sy.Kinv  # K⁻¹, K = S + A I


def displacement_generator(Y: sp.Matrix) -> sp.Matrix:
    """J(Y) on z = (w, a) as an explicit (d+1)×(d+1) matrix: J(Y)(w, a) = (a Y, Y·w)."""
    k = Y.shape[0]
    J = sp.zeros(k + 1, k + 1)
    J[:k, k] = Y
    J[k, :k] = Y.T
    return J


def conjugated_generator_second_order(R: sp.Matrix, Y: sp.Matrix, s) -> sp.Matrix:
    """e^X R e^{−X} to second order in X = sJ(Y): R + [X, R] + ½[X, [X, R]] (explicit matrices)."""
    X = s * displacement_generator(Y)
    comm = X * R - R * X
    return R + comm + (X * comm - comm * X) / 2


def regularizer_conjugation(Kinv_, Omega_R, omega_R, lam_f) -> sp.MatrixExpr:
    """The w-block of ½{E X², R} − E[X R X] for a fluctuation regularizer R = −2 diag(Ω_R, ω_R) (Ω_R
    symmetric), Σ_Y = 2λ_f K⁻¹/s²: λ_f (K⁻¹Ω_R + Ω_R K⁻¹ − 2ω_R K⁻¹), added to Ω (so the w-generator
    −2Ω loses twice it). s cancels: X = sJ(Y) enters twice, Σ_Y carries 1/s²."""
    return lam_f * (Kinv_ * Omega_R + Omega_R * Kinv_ - 2 * omega_R * Kinv_)


def conjugation_correction(Kinv_, Sigma_hat, tau, s, lam_f) -> sp.MatrixExpr:
    """Label noise's case, (Ω_R, ω_R) = λ_f s² (Σ̂, τ): λ_f² s² (K⁻¹Σ̂ + Σ̂K⁻¹ − 2τ K⁻¹)."""
    return regularizer_conjugation(Kinv_, lam_f * s**2 * Sigma_hat, lam_f * s**2 * tau, lam_f)
