"""`lnsgd check`: the effective-dynamics predictions against direct simulation, measured.

For each configuration of a grid: run the direct simulation (`runner.simulate`), draw the same data
and initialisation exactly as the runner does, and predict the same curves with
- "flow": the reduced regularized flow + shared propagator, first-order λ = ηδ²/(4B);
- "flow_eff": the same with the finite-η correction λ_eff = λ/(1 − η tr G(t)/(2B)) (THEORY.md §4.6);
- "sde": the label-noise SDE ensemble (label + minibatch sampling noise, Euler–Maruyama);
- "full": the full m(d+1)-dimensional regularized flow (optional; equal to "flow" to 1e-8 by test).
Per configuration and method: Phase I rate (fit of log(mean‖w_k‖ − plateau) against steps while the
excess is between 85 % and 15 % of its initial value — the approach to the plateau, not a plain
exponential), plateau of mean‖w_k‖ (median of the last 10 % of records, as experiments/phases.py), T_I,
T_II, and the largest |Δ mean‖w_k‖| and |Δ mean|cos(w_k, β*)|| over the recorded steps.

Horizon rule. Phase I and II run on the clock λt = ηδ²/(4B)·η·steps, so each configuration runs
    steps = HORIZON_BASE · B · (η_paper/η)² · (δ_paper/δ)²        (HORIZON_BASE = 10⁶ at the paper config)
which covers both phases at the paper config (T_II ≈ 750k) and the same span of λt everywhere;
`lnsgd check --max-steps N` skips (and lists) the configurations whose horizon exceeds N rather
than truncating them: a truncated run cannot measure a plateau or T_II. Cost: the horizon factor
B·(η_paper/η)²·(δ_paper/δ)² is 1, 4, 16 or 64 on the default grid (sum 125 per ξ and seed, ≈ 5·10⁸
SGD steps in all), so the full default grid takes about an hour on two cores; see docs/check.md.
"""
from __future__ import annotations

import csv
import dataclasses
import itertools
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from lnsgd.experiments.config import SimulationConfig
from lnsgd.experiments.phases import phase_one_time, phase_two_time, smooth
from lnsgd.experiments.runner import initial_state, simulate
from lnsgd.experiments.store import atomic_write, save, write_text
from lnsgd.experiments.sweep.backends import process_pool
from lnsgd.solvers import effective as eff

HORIZON_BASE = 1_000_000
PAPER = SimulationConfig()
METHODS = ("flow", "flow_eff", "sde", "full")
DEFAULT_METHODS = ("flow", "flow_eff", "sde")
JUDGED = "flow_eff"  # the default grid judges the corrected flow ...
QUICK_JUDGED = "sde"  # ... and --quick (width 200) the SDE ensemble: see docs/check.md
RECORDS = 400
RATE_WINDOW = (0.15, 0.85)  # fraction of the initial excess over the plateau used in the rate fit
SDE_DT_FACTOR = 10  # SDE step dt = SDE_DT_FACTOR · η (one SDE step per 10 SGD steps)
SDE_PATHS = 2


@dataclass(frozen=True)
class Targets:
    """Relative errors (rate, plateau, T_II) and absolute curve errors a prediction must meet."""

    rate: float = 0.05
    plateau: float = 0.10
    T_II: float = 0.10
    curve: float = 0.05


TARGETS = Targets()


def horizon_steps(eta: float, delta: float, batch_size: int, *, base: int = HORIZON_BASE,
                  max_steps: int | None = None) -> int:
    """steps = base·B·(η_paper/η)²·(δ_paper/δ)², rounded up to a multiple of RECORDS, capped."""
    raw = base * batch_size * (PAPER.eta / eta) ** 2 * (PAPER.delta / delta) ** 2
    if max_steps is not None:
        raw = min(raw, max_steps)
    return int(math.ceil(raw / RECORDS) * RECORDS)


def with_horizon(config: SimulationConfig, *, base: int = HORIZON_BASE, max_steps: int | None = None) -> SimulationConfig:
    steps = horizon_steps(config.eta, config.delta, config.batch_size, base=base, max_steps=max_steps)
    return dataclasses.replace(config, steps=steps, record_every=steps // RECORDS, snapshots=0)


def default_grid(seeds=(0, 1)) -> list[SimulationConfig]:
    """Paper config × δ ∈ {4, 2} × B ∈ {1, 4} × ξ ∈ {gaussian, rademacher} × η ∈ {1e-3, 5e-4} × seeds,
    each with its horizon (`horizon_steps`)."""
    return [with_horizon(dataclasses.replace(PAPER, delta=dl, batch_size=B, noise=xi, eta=eta, seed=seed))
            for dl, B, xi, eta, seed in itertools.product((4.0, 2.0), (1, 4), ("gaussian", "rademacher"),
                                                          (1e-3, 5e-4), seeds)]


def quick_grid() -> list[SimulationConfig]:
    """Small and fast: the paper config at width m = 200 (horizon 10⁶ steps, ≈ 2 s each), both ξ."""
    base = dataclasses.replace(PAPER, m=200)
    return [with_horizon(dataclasses.replace(base, noise=xi)) for xi in ("gaussian", "rademacher")]


def label(config: SimulationConfig) -> str:
    return (f"delta={config.delta:g} B={config.batch_size} xi={config.noise} eta={config.eta:g} "
            f"seed={config.seed}" + ("" if config.m == PAPER.m else f" m={config.m}"))


# ---------------------------------------------------------------- predictions
def same_start(config: SimulationConfig):
    """(problem, s, W0, a0) of the simulation (`runner.initial_state`)."""
    start = initial_state(config)
    return start.problem, start.s, start.W0, start.a0


def predict(config: SimulationConfig, steps: np.ndarray, methods=DEFAULT_METHODS, *,
            sde_paths: int = SDE_PATHS, sde_dt_factor: float = SDE_DT_FACTOR) -> dict[str, dict]:
    """method -> {'w_norm_mean', 'cos_abs_mean', 'a_abs_mean', 'message'} on t = η·steps."""
    problem, s, W0, a0 = same_start(config)
    t = config.eta * np.asarray(steps, dtype=np.float64)
    out: dict[str, dict] = {}
    for method in methods:
        start = time.perf_counter()
        if method in ("flow", "flow_eff"):
            corr = "first-order" if method == "flow" else "lambda-eff"
            setup = eff.EffectiveSetup.from_problem(problem, s, config.eta, config.delta, config.batch_size, corr)
            sol = eff.solve_reduced(setup, W0, a0, t)
            curves = _pad(eff.reduced_observables(sol, W0, a0, problem.beta_star), len(t))
            msg = sol.ode.message
        elif method == "full":
            setup = eff.EffectiveSetup.from_problem(problem, s, config.eta, config.delta, config.batch_size, "lambda-eff")
            sol = eff.solve_full_flow(setup, W0, a0, t, rtol=1e-7, atol=1e-9)
            curves = _pad(eff.full_observables(sol, config.m, problem.beta_star), len(t))
            msg = sol.message
        elif method == "sde":
            ens = eff.solve_sde_ensemble(problem, s, config.eta, config.delta, config.batch_size, W0, a0, t,
                                         dt=sde_dt_factor * config.eta, n_paths=sde_paths, seed=config.seed)
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


# ---------------------------------------------------------------- measures
def approach_rate(steps: np.ndarray, w: np.ndarray, window=RATE_WINDOW) -> tuple[float, float, str]:
    """(rate per step, plateau, reason) of the approach of mean‖w_k‖ to its plateau.

    plateau = median of the last 10 % of records; rate = −slope of log(w − plateau) against steps on
    the first stretch where the (smoothed) excess is between window[1] and window[0] of its initial value.
    """
    n_tail = max(3, int(np.ceil(0.1 * len(w))))
    plateau = float(np.median(w[-n_tail:]))
    h = smooth(w, 5) - plateau
    if not np.isfinite(h[0]) or h[0] <= 0:
        return np.nan, plateau, "no fall towards a plateau"
    frac = h / h[0]
    below = np.nonzero(frac < window[0])[0]
    if len(below) == 0:
        return np.nan, plateau, f"excess never fell below {window[0]:.0%} of its initial value"
    stop = below[0]
    sel = np.nonzero((frac[:stop] <= window[1]) & (frac[:stop] >= window[0]))[0]
    if len(sel) < 3:
        return np.nan, plateau, "fewer than 3 records in the fit window"
    slope = np.polyfit(steps[sel].astype(float), np.log(h[sel]), 1)[0]
    return float(-slope), plateau, ""


def measures(steps: np.ndarray, w: np.ndarray, cos: np.ndarray) -> dict:
    rate, plateau, why = approach_rate(steps, w)
    t1, t2 = phase_one_time(steps, w), phase_two_time(steps, cos)
    return {"rate": rate, "plateau": plateau, "T_I": t1.step, "T_II": t2.step,
            "why": "; ".join(x for x in (why, t1.reason, t2.reason) if x)}


def _rel(pred: float, ref: float) -> float:
    return abs(pred - ref) / abs(ref) if np.isfinite(pred) and np.isfinite(ref) and ref != 0 else np.nan


def compare(steps, sim_w, sim_cos, pred_w, pred_cos) -> dict:
    ms, mp = measures(steps, sim_w, sim_cos), measures(steps, pred_w, pred_cos)
    return {
        **{f"{k}_sim": ms[k] for k in ("rate", "plateau", "T_I", "T_II")},
        **{f"{k}_pred": mp[k] for k in ("rate", "plateau", "T_I", "T_II")},
        **{f"{k}_err": _rel(mp[k], ms[k]) for k in ("rate", "plateau", "T_I", "T_II")},
        "max_dw": float(np.max(np.abs(pred_w - sim_w))) if np.all(np.isfinite(pred_w)) else np.nan,
        "max_dcos": float(np.max(np.abs(pred_cos - sim_cos))) if np.all(np.isfinite(pred_cos)) else np.nan,
        "why_sim": ms["why"], "why_pred": mp["why"],
    }


def misses(row: dict, targets: Targets = TARGETS) -> list[str]:
    """The targets a comparison row misses, each as 'quantity: value vs target' (NaN counts as missed)."""
    out = []
    for key, limit, what in (("rate_err", targets.rate, "Phase I rate rel. error"),
                             ("plateau_err", targets.plateau, "plateau rel. error"),
                             ("T_II_err", targets.T_II, "T_II rel. error"),
                             ("max_dw", targets.curve, "max |d mean||w_k|||"),
                             ("max_dcos", targets.curve, "max |d mean|cos|||")):
        value = row[key]
        if not (np.isfinite(value) and value <= limit):
            out.append(f"{what} = {value:.3g} (target <= {limit:g})")
    return out


# ---------------------------------------------------------------- one configuration
def run_configuration(config: SimulationConfig, methods=DEFAULT_METHODS, out_dir: Path | None = None, *,
                      judged: str = JUDGED, sde_paths: int = SDE_PATHS,
                      sde_dt_factor: float = SDE_DT_FACTOR, threads: int | None = None) -> tuple[xr.Dataset, list[dict]]:
    """Simulate, predict, compare; store the Dataset (simulation + pred_* on the same step axis)."""
    if threads is not None:
        import numba
        numba.set_num_threads(threads)
    start = time.perf_counter()
    sim = simulate(config, progress=False)
    sim_seconds = time.perf_counter() - start
    steps = sim["step"].values
    preds = predict(config, steps, methods, sde_paths=sde_paths, sde_dt_factor=sde_dt_factor)
    keep = [v for v in ("w_norm_mean", "cos_abs_mean", "a_abs_mean", "test_loss", "train_loss", "trace_G") if v in sim]
    ds = sim[keep].copy()
    for method, curves in preds.items():
        for v in ("w_norm_mean", "cos_abs_mean", "a_abs_mean"):
            if v in curves:
                ds[f"pred_{v}_{method}"] = ("step", np.asarray(curves[v]), {"method": method, "message": curves["message"]})
    if judged in preds:
        for v in ("w_norm_mean", "cos_abs_mean"):
            ds[f"pred_{v}"] = ("step", np.asarray(preds[judged][v]), {"method": judged})
    ds.attrs.update(sim.attrs)
    ds.attrs.update(check_label=label(config), judged_method=judged, sim_seconds=sim_seconds,
                    methods=",".join(methods), sde_paths=sde_paths, sde_dt_factor=sde_dt_factor,
                    horizon_rule="steps = 1e6 * B * (1e-3/eta)^2 * (4/delta)^2")
    rows = []
    sim_w, sim_cos = sim["w_norm_mean"].values, sim["cos_abs_mean"].values
    for method, curves in preds.items():
        row = {"config": label(config), "method": method, "steps": int(steps[-1]),
               "seconds": curves["seconds"], "sim_seconds": sim_seconds, "message": curves["message"],
               **compare(steps, sim_w, sim_cos, curves["w_norm_mean"], curves["cos_abs_mean"])}
        row["misses"] = " | ".join(misses(row))
        rows.append(row)
    if out_dir is not None:
        path = save(ds, out_dir / f"check_{config.digest()[:12]}.nc")
        for row in rows:
            row["file"] = path.name
    return ds, rows


def _worker(args):
    config, methods, out_dir, judged, threads = args
    _, rows = run_configuration(config, methods, out_dir, judged=judged, threads=threads)
    return rows


def run_grid(configs, methods=DEFAULT_METHODS, out_dir: Path | None = None, *, workers: int | None = None,
             judged: str = JUDGED, log=print) -> list[dict]:
    """All configurations, in a process pool of ≤ `workers` (default: all cores); rows in grid order."""
    workers = min(workers or os.cpu_count() or 1, max(len(configs), 1))
    jobs = [(c, tuple(methods), out_dir, judged, 1 if workers > 1 else None) for c in configs]
    rows: list[dict] = []
    if workers <= 1:
        for job in jobs:
            rows += _worker(job)
            log(_progress(rows[-len(methods):], judged))
        return rows
    with process_pool(workers) as pool:
        for result in pool.map(_worker, jobs):
            rows += result
            log(_progress(result, judged))
    return rows


def _progress(rows: list[dict], judged: str) -> str:
    row = next((r for r in rows if r["method"] == judged), rows[0])
    return (f"{row['config']}: {row['steps']} steps, sim {row['sim_seconds']:.1f}s; {judged}: "
            f"rate {row['rate_err']:.3f} plateau {row['plateau_err']:.3f} T_II {row['T_II_err']:.3f} "
            f"dw {row['max_dw']:.3f} dcos {row['max_dcos']:.3f}" + (f"  MISSES {row['misses']}" if row["misses"] else ""))


# ---------------------------------------------------------------- tables
CSV_FIELDS = ("config", "method", "steps", "rate_sim", "rate_pred", "rate_err", "plateau_sim", "plateau_pred",
              "plateau_err", "T_I_sim", "T_I_pred", "T_I_err", "T_II_sim", "T_II_pred", "T_II_err", "max_dw",
              "max_dcos", "misses", "why_sim", "why_pred", "message", "seconds", "sim_seconds", "file")


def write_csv(rows: list[dict], path: Path) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return atomic_write(path, write)


def _fmt(x: float, digits: int = 3) -> str:
    return "--" if not np.isfinite(x) else f"{x:.{digits}f}"


def write_latex(rows: list[dict], path: Path, judged: str = JUDGED) -> Path:
    """One row per configuration: the judged method's errors, with first-order's in parentheses."""
    by_config: dict[str, dict] = {}
    for row in rows:
        by_config.setdefault(row["config"], {})[row["method"]] = row
    lines = [r"% generated by `lnsgd check` -- do not edit",
             r"\begin{tabular}{lrrrrrr}", r"\toprule",
             r"configuration & steps & rate err & plateau err & $T_{II}$ err & "
             r"$\max|\Delta\overline{\|w_k\|}|$ & $\max|\Delta\overline{|\cos|}|$ \\", r"\midrule"]
    for config, methods in by_config.items():
        j = methods.get(judged)
        f = methods.get("flow")
        if j is None:
            continue

        def pair(key):
            return _fmt(j[key]) + (f" ({_fmt(f[key])})" if f is not None and f is not j else "")
        name = config.replace("delta=", r"$\delta$=").replace("eta=", r"$\eta$=").replace("xi=", r"$\xi$=")
        lines.append(f"{name} & {j['steps']} & {pair('rate_err')} & {pair('plateau_err')} & {pair('T_II_err')} & "
                     f"{pair('max_dw')} & {pair('max_dcos')} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}",
              f"% {judged} (first-order flow in parentheses); targets: rate {TARGETS.rate}, plateau "
              f"{TARGETS.plateau}, T_II {TARGETS.T_II} (relative), curves {TARGETS.curve} (absolute)"]
    return write_text(path, "\n".join(lines) + "\n")
