"""The "conjugated" correction (theory/fast_displacement.py, docs/theory.md §11): the averaged
conjugation against exact matrix exponentials, and the theory against the simulation where the
first-order-in-fluctuation flow misses Phase II."""

import dataclasses
import itertools

import numpy as np
import pytest
from scipy.linalg import expm

from lnsgd.experiments.check import grid, measure, predict
from lnsgd.experiments.check.run import simulate_paths
from lnsgd.solvers import generated_rhs as gen


def _J(v):
    d = v.shape[0]
    J = np.zeros((d + 1, d + 1))
    J[:d, d] = v
    J[d, :d] = v
    return J


def _relative_error(scale, rng, nodes=5):
    """|E[e^X R e^{−X}]_ww − R_ww − ∆_ww| / |∆_ww| with exact expm, the Gaussian expectation by a product
    Gauss–Hermite rule (nodes⁴ points, no sampling noise), ∆_ww = −2·`regularizer_conjugation` (label noise's R),
    2λ_f/K_min = scale."""
    d, s = 4, 1.3
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    K = Q @ np.diag([1.0, 1.5, 2.0, 3.0]) @ Q.T
    Sig = np.diag([0.5, 1.0, 1.5, 2.0])
    tau = np.trace(Sig)
    lam_f = scale / 2
    R = np.zeros((d + 1, d + 1))
    R[:d, :d] = -2 * lam_f * s**2 * Sig
    R[d, d] = -2 * lam_f * s**2 * tau
    L = np.linalg.cholesky(2 * lam_f * np.linalg.inv(K) / s**2)
    x, wts = np.polynomial.hermite_e.hermegauss(nodes)  # weight e^{−x²/2}
    wts = wts / wts.sum()
    mean = np.zeros((d, d))
    for idx in itertools.product(range(nodes), repeat=d):
        v = L @ x[list(idx)]
        mean += np.prod(wts[list(idx)]) * (expm(s * _J(v)) @ R @ expm(-s * _J(v)))[:d, :d]
    want = np.empty((d, d))
    gen.regularizer_conjugation(np.linalg.inv(K), lam_f * s**2 * Sig, lam_f * s**2 * tau, lam_f, want)
    return np.linalg.norm(mean - R[:d, :d] + 2 * want) / np.linalg.norm(2 * want)


def test_w_block_is_the_average_of_exact_conjugations_to_second_order():
    """Against exact matrix exponentials averaged over Y ~ N(0, 2λ_f K⁻¹/s²): the second-order w-block
    is within 10 % of the exact average at 2λ_f/K_min = 0.05 (the paper configuration has 0.01), and the
    remainder is of higher order: it falls at least 3× when the fluctuation falls 4× (0.05 → 0.0125)."""
    big = _relative_error(0.05, np.random.default_rng(0))
    small = _relative_error(0.0125, np.random.default_rng(0))
    assert big < 0.10 and small < big / 3, (big, small)


@pytest.fixture(scope="module")
def width_200():
    """The paper configuration at width 200 (where K is smallest), 8 noise paths, and its predictions."""
    config = grid.with_steps(dataclasses.replace(grid.PAPER, m=200, record_every=2500), 1_000_000, 8)
    sim = simulate_paths(config)
    steps = sim["step"].values
    preds = predict.predict(config, steps, ("flow_eff", "flow_conj"))
    return steps, sim, preds


def test_conjugated_flow_predicts_phase_two_where_flow_eff_misses_it(width_200):
    """T_II of the 8-path mean (path s.e. ≈ 1 %): `flow_eff` is early by more than 10 %, `flow_conj`
    within the 5 % target, and its Phase I rate within 5 % and curve errors within the check's targets."""
    steps, sim, preds = width_200
    w, c = sim["w_norm_mean"].values, sim["cos_abs_mean"].values
    rows = {m: measure.compare(steps, w, c, p["w_norm_mean"], p["cos_abs_mean"]) for m, p in preds.items()}
    assert rows["flow_eff"]["T_II_err"] < -0.10
    conj = rows["flow_conj"]
    assert abs(conj["T_II_err"]) <= 0.05 and abs(conj["rate_err"]) <= 0.05, conj
    assert conj["max_dw"] <= 0.01 and conj["max_dcos"] <= 0.025, conj


def test_full_second_order_measurement_fixes_phase_one_at_width_200(tmp_path):
    """`experiments/check/second_order.py` on a stored check of the width-200 paper configuration over
    Phase I (2·10⁵ steps, 2 paths; area diffusion left out for speed): the full second order meets the
    Phase I rate and curve targets that `flow_eff` misses there (rate +6.8 % over the whole run)."""
    from lnsgd.experiments.check import run, second_order

    config = grid.with_steps(dataclasses.replace(grid.PAPER, m=200), 200_000, 2)
    run.run_configuration(config, ("flow_eff",), tmp_path, judged="flow_eff")
    (path,) = tmp_path.glob("check_*.nc")
    _, curves, row = second_order.second_order_curves(str(path), area=False)
    assert np.all(np.isfinite(curves["w_norm_mean"])) and np.all(np.isfinite(curves["cos_abs_mean"]))
    assert abs(row["rate_err"]) <= 0.05 and row["max_dw"] <= 0.01, row


def test_displaced_regularizer_reduces_to_the_conjugation_for_a_fixed_regularizer():
    """`second_order.displaced_regularizer` (degree-3 cubature, exact exponentials) of label noise's
    state-independent R (first-order λ) against the second-order conjugation R + ½{E X², R} − E[XRX] of
    `second_order`: their corrections to R agree within 10 % (the cubature is exact for the second order;
    the rest is fourth order in Y, 2λ/K ≤ 0.01 here) and the correction is not negligible; 1-SAM's R, whose
    weights follow the displaced state, differs from its own conjugation by more than that."""
    from lnsgd.experiments.check import second_order as so
    from lnsgd.experiments.runner import initial_state
    from lnsgd.solvers import effective as eff

    def corrections(config, correction):
        start = initial_state(config)
        setup = predict.effective_setup(config, start.problem, start.s, correction)
        sol = eff.solve_reduced(setup, start.W0, start.a0, np.array([0.0, 100.0]))
        d, s, args = setup.d, setup.s, setup.args()
        Xi = np.zeros((d + 1, d + 1))
        Xi[:d, :d], Xi[d, d] = sol.S[-1], sol.A[-1]
        Xi[:d, d] = Xi[d, :d] = sol.beta[-1] / s
        SX, SY, _, Omega, omega = so._fluct(setup, sol.S[-1], sol.A[-1], args)
        R = np.zeros((d + 1, d + 1))
        R[:d, :d], R[d, d] = -2 * Omega, -2 * omega
        analytic = 0.5 * (SX @ R + R @ SX) - so._sandwich(SY, R, s)
        return so.displaced_regularizer(setup, args, Xi, SY) - R, analytic, R

    label = dataclasses.replace(grid.PAPER, m=200)
    displaced, analytic, R = corrections(label, "first-order")
    assert np.linalg.norm(analytic) > 1e-3 * np.linalg.norm(R)
    assert np.linalg.norm(displaced - analytic) <= 0.1 * np.linalg.norm(analytic)
    one_sam = dataclasses.replace(label, algorithm="sam", rho=0.05)
    displaced, analytic, _ = corrections(one_sam, "lambda-eff")
    assert np.linalg.norm(displaced - analytic) > 0.1 * np.linalg.norm(analytic)
