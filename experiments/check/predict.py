"""The theories `lnsgd check` measures, each on the simulation's own data and initialisation.

- "flow": the reduced regularized flow + shared propagator with first-order λ = ηδ²/(4B), plus
  SAM's or USAM's regularizer (theory/sam.py) for those algorithms;
- "flow_eff": the same with the finite-η correction λ_eff = λ/(1 − η G_B(t)/2);
- "flow_lyap": the exact-in-η stationary fluctuation drift (docs/theory.md §8);
- "flow_conj": "flow_eff" with the w-block of the regularizer conjugated by the fast displacement of the
  network, Ω += λ_eff² s²(K⁻¹Σ̂ + Σ̂K⁻¹ − 2τK⁻¹), for 1-SAM/1-USAM of their closure's fluctuation part
  (docs/theory.md §11; the judged theory);
- "flow_eff_jensen": "flow_eff" with its neuron means taken over the fast fluctuation of the network
  (Cov δw_k = 2λ_eff a_k² K⁻¹, docs/theory.md §10) instead of at the mean network;
- "flow_conj_jensen": "flow_conj" with its neuron means taken over the same fast displacement, the one
  the conjugation moved into the slow frame (docs/theory.md §11);
- "sde": the label-noise SDE ensemble (label + minibatch sampling noise, Euler–Maruyama; SGD only);
- "full": the full m(d+1)-dimensional regularized flow (equal to "flow_eff" to 1e-8 by test).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from lnsgd.experiments.config import SimulationConfig
from lnsgd.experiments.runner import initial_state
from lnsgd.solvers import effective as eff

FLOWS = {"flow": "first-order", "flow_eff": "lambda-eff", "flow_lyap": "lyapunov", "flow_conj": "conjugated"}
JENSENS = {"flow_eff_jensen": "lambda-eff", "flow_conj_jensen": "conjugated"}  # method -> the flow it evaluates
METHODS = (*FLOWS, *JENSENS, "sde", "full")
DEFAULT_METHODS = ("flow", "flow_eff", "flow_conj")
JUDGED = "flow_conj"
CURVES = ("w_norm_mean", "cos_abs_mean", "a_abs_mean")


@dataclasses.dataclass(frozen=True)
class SdeOptions:
    """The "sde" method's ensemble: `paths` Euler–Maruyama paths of step dt = `dt_factor`·η, with the
    label plus minibatch sampling noise (`noise` = "full") or, as ablations, the label noise alone
    ("label") or the sampling noise's trace part ("trace"; `effective.label_noise_diffusion`)."""

    paths: int = 4
    dt_factor: float = 1.0
    noise: str = "full"

    def __post_init__(self) -> None:
        if not (isinstance(self.paths, int) and self.paths >= 1):
            raise ValueError(f"sde paths = {self.paths!r}; valid: an integer >= 1")
        if not (np.isfinite(self.dt_factor) and 0 < self.dt_factor <= 1):
            raise ValueError(f"sde dt_factor = {self.dt_factor!r}; valid: 0 < dt_factor <= 1 (dt = dt_factor * eta)")
        if self.noise not in eff.SDE_NOISES:
            raise ValueError(f"sde noise = {self.noise!r}; valid: {eff.SDE_NOISES}")


SDE_DEFAULTS = SdeOptions()


def effective_setup(config: SimulationConfig, problem, s: float, correction: str) -> eff.EffectiveSetup:
    """The regularized flow of a configuration: label noise's λ tr G plus SAM's or USAM's term."""
    return eff.EffectiveSetup.from_problem(
        problem,
        s,
        config.eta,
        config.delta,
        config.batch_size,
        correction,
        algorithm=config.algorithm,
        rho=config.rho,
        noise=config.noise,
        replacement=config.replacement,
    )


def predict(
    config: SimulationConfig,
    steps: np.ndarray,
    methods=DEFAULT_METHODS,
    *,
    sde: SdeOptions = SDE_DEFAULTS,
) -> dict[str, dict]:
    """method -> {'w_norm_mean', 'cos_abs_mean', 'a_abs_mean', 'message', 'seconds'} on t = η·steps."""
    start_state = initial_state(config)
    problem, s, W0, a0 = start_state.problem, start_state.s, start_state.W0, start_state.a0
    t = config.eta * np.asarray(steps, dtype=np.float64)
    out: dict[str, dict] = {}
    solves: dict[str, tuple] = {}  # correction -> (setup, solve): a flow and its Jensen evaluation share it
    for method in methods:
        start = time.perf_counter()
        if len(t) < 2:  # the simulation stopped before its second record: only the common start to compare
            curves = eff.propagated_observables(np.eye(W0.shape[1] + 1)[None], W0, a0, problem.beta_star)
            msg = "not solved: the simulation has no record after the initial one"
        elif method in FLOWS or method in JENSENS:
            correction = FLOWS.get(method) or JENSENS[method]
            if correction not in solves:
                setup = effective_setup(config, problem, s, correction)
                solves[correction] = (setup, eff.solve_reduced(setup, W0, a0, t))
            setup, sol = solves[correction]
            observed = (
                eff.jensen_observables(sol, setup, W0, a0)
                if method in JENSENS
                else eff.reduced_observables(sol, W0, a0, problem.beta_star)
            )
            curves = _pad(observed, len(t))
            msg = sol.ode.message
        elif method == "full":
            sol = eff.solve_full_flow(
                effective_setup(config, problem, s, "lambda-eff"), W0, a0, t, rtol=1e-7, atol=1e-9
            )
            curves = _pad(eff.full_observables(sol, config.m, problem.beta_star), len(t))
            msg = sol.message
        elif method == "sde":
            if config.algorithm != "sgd":
                raise ValueError(f"method 'sde' models label-noise SGD only; algorithm = {config.algorithm!r}")
            ens = eff.solve_sde_ensemble(
                problem,
                s,
                config.eta,
                config.delta,
                config.batch_size,
                W0,
                a0,
                t,
                dt=sde.dt_factor * config.eta,
                n_paths=sde.paths,
                seed=config.seed,
                noise=sde.noise,
            )
            curves, msg = dict(ens.curves), ens.message
        else:
            raise ValueError(f"method = {method!r}; valid: {METHODS}")
        curves["message"] = msg
        curves["seconds"] = time.perf_counter() - start
        out[method] = curves
    return out


def _pad(curves: dict, nt: int) -> dict:
    """Curves of a solve truncated at a failure, NaN-padded to the step axis (the message says why)."""
    return {k: np.concatenate([v, np.full(nt - len(v), np.nan)]) if len(v) < nt else v for k, v in curves.items()}
