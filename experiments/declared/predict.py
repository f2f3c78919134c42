"""The regularized-flow prediction of a ModelConfig, on the same records as its simulation.

θ̇ = −(1/n) Σ_i [r_i ∇f(x_i) + c_i ∇q(x_i)] (solvers/declared_engine.flow_rhs) from the same θ₀, with
c = λ = ηδ²/(4B) for label-noise SGD (`lambda-eff`: λ_eff(tr G) of lnsgd.theory.finite_eta), plus
ρδ²/(2B) for USAM, and 1-SAM's c(q_i) for SAM at B = 1; integrated by dopri5 (solvers/ode.py) and
sampled at t = η·step. Minibatch SAM has no declared-model prediction (rejected by name).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from lnsgd.experiments.declared.config import ModelConfig
from lnsgd.experiments.declared.runner import ModelStart, model_start, observe, records_dataset
from lnsgd.solvers import declared_engine as de
from lnsgd.solvers import generated_rhs as gen
from lnsgd.solvers.ode import solve_ode
from lnsgd.solvers.status import Status
from lnsgd.theory.declarations import MODELS

CORRECTIONS = ("first-order", "lambda-eff")
_RHS_CACHE: dict[str, object] = {}


def flow_weights(config: ModelConfig, correction: str = "lambda-eff") -> np.ndarray:
    """The weight vector of `flow_rhs`: [reg, λ, η, ρ, δ, E|ξ|, λ_eff flag, B, c_USAM]; USAM adds its
    leading (ρδ²/(2B)) tr G (lnsgd.theory.sam.usam_weight at s = 1) to label noise's λ tr G."""
    if correction not in CORRECTIONS:
        raise ValueError(f"correction = {correction!r} is not one of {CORRECTIONS}")
    if config.algorithm == "sam" and config.batch_size != 1:
        raise ValueError(
            f"algorithm = 'sam' with batch_size = {config.batch_size}: the declared-model flow covers label-noise "
            "SGD/GD, USAM and 1-SAM (sam with batch_size = 1)"
        )
    reg = de.REG_ONE_SAM if config.algorithm == "sam" else de.REG_LABEL_NOISE
    lam = config.eta * config.delta**2 / (4 * config.batch_size)
    xi_abs = np.sqrt(2 / np.pi) if config.noise == "gaussian" else 1.0
    flag = 1.0 if correction == "lambda-eff" else 0.0
    usam = (
        gen.usam_weight(1.0, config.rho, config.delta, float(config.batch_size)) if config.algorithm == "usam" else 0.0
    )
    return np.array([reg, lam, config.eta, config.rho, config.delta, xi_abs, flag, float(config.batch_size), usam])


def flow_rhs_of(model: str):
    """The compiled flow right-hand side of a model (compiled once per process)."""
    if model not in _RHS_CACHE:
        _RHS_CACHE[model] = de.flow_rhs(de.model_kernels(model))
    return _RHS_CACHE[model]


def predict_flow(
    config: ModelConfig,
    steps: np.ndarray,
    start: ModelStart | None = None,
    *,
    correction: str = "lambda-eff",
    rtol: float = 1e-8,
) -> xr.Dataset:
    """The flow's observables at `steps` (variables as the simulation's, no noisy loss)."""
    start = model_start(config) if start is None else start
    kernels = de.model_kernels(config.model)
    p = start.problem
    args = (start.sizes, start.s, p.X, de.trace_rows(p.X), p.Sigma_hat, p.Xty, flow_weights(config, correction))
    times = config.eta * np.asarray(steps, dtype=np.float64)
    sol = solve_ode(
        flow_rhs_of(config.model), start.theta0, (0.0, max(times[-1], 1e-12)), args,
        t_eval=times, rtol=rtol, atol=1e-10,
    )  # fmt: skip
    done = len(sol.t)
    neurons = MODELS[config.model].neurons
    rows = [observe(sol.y[j], start, kernels, neurons) for j in range(done)]
    ds = records_dataset(config, list(np.asarray(steps)[:done]), rows, start)
    ds.attrs.update(status=Status(sol.status).value, message=sol.message, correction=correction)
    return ds
