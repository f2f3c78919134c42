"""`lnsgd check PRESET` for a declared model: the regularized flow against the mean of noise paths.

The simulation side is the mean over `paths` noise paths from one data draw and initialisation;
the prediction is the regularized flow from the same θ₀ (experiments/declared/predict.py), on the
same records. Errors, each the median over the records after the start (a path of a declared model
fluctuates around its mean by an amount that grows with λ = ηδ²/(4B); a maximum over records would
measure that noise, not the flow), with the path standard error of each:

- `beta_err` = ‖β_flow(t) − E β(t)‖ / ‖β*‖ (the predictor itself; s.e. √(tr Cov β / paths)/‖β*‖);
- `l1_err` = |‖β_flow(t)‖₁ − ‖E β(t)‖₁| / ‖β*‖₁ (ℓ1 of the mean: E‖β‖₁ is inflated by the fluctuation);
- `trace_G_err` = tr G_flow(t)/E tr G(t) − 1, signed (the regularizer λ tr G itself);
- for models with neurons, the two-layer network's measures of mean‖w_k‖ and mean|cos(w_k, β*)|
  (Phase I rate, plateau, T_II, max curve deviations; experiments/check/measure.py) and targets.

Recovery errors ‖E β − β*‖ at the end are reported, not judged: a single path fluctuates around the
mean; ‖β − β*‖ of one path is larger by that fluctuation (docs/declaring-models.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from lnsgd.experiments.check.measure import TARGETS, compare, misses
from lnsgd.experiments.declared.config import ModelConfig
from lnsgd.experiments.declared.predict import predict_flow
from lnsgd.experiments.declared.runner import model_start, simulate_model
from lnsgd.experiments.store import save

PATHS = 8  # default noise paths of a declared-model check


@dataclass(frozen=True)
class DeclaredTargets:
    """Largest relative errors of the flow against the path mean (module docstring)."""

    beta: float = 0.05
    l1: float = 0.05
    trace_G: float = 0.05


DECLARED_TARGETS = DeclaredTargets()
CSV_FIELDS = (
    "config",
    "model",
    "steps",
    "paths",
    "beta_err",
    "beta_se",
    "l1_err",
    "l1_se",
    "trace_G_err",
    "trace_G_se",
    "recovery_sim",
    "recovery_pred",
    "T_II_sim",
    "T_II_pred",
    "T_II_err",
    "rate_err",
    "plateau_err",
    "max_dw",
    "max_dcos",
    "misses",
    "file",
)


def label(config: ModelConfig) -> str:
    """Short name of a declared-model configuration for tables."""
    return f"{config.model} {config.algorithm} delta={config.delta:g} eta={config.eta:g} B={config.batch_size}"


def _paths(values: xr.DataArray) -> np.ndarray:
    return values.values if "path" in values.dims else values.values[None]


def judge(sim: xr.Dataset, pred: xr.Dataset, targets: DeclaredTargets = DECLARED_TARGETS) -> dict:
    """The errors and standard errors of the module docstring, and the missed targets."""
    beta = _paths(sim["beta"])  # (paths, step, input)
    n = beta.shape[0]
    k = min(beta.shape[1], pred.sizes["step"])
    bstar = sim["beta_star"].values
    scale_b, scale_l1 = np.linalg.norm(bstar), np.abs(bstar).sum()
    mean_beta = beta[:, :k].mean(axis=0)
    spread = np.sqrt(beta[:, :k].var(axis=0, ddof=1).sum(axis=-1) / n) if n > 1 else np.full(k, np.nan)
    l1_mean = np.abs(mean_beta).sum(axis=-1)
    trG = _paths(sim["trace_G"])[:, :k]
    se = (lambda x: x.std(axis=0, ddof=1) / np.sqrt(n)) if n > 1 else (lambda x: np.full(x.shape[1], np.nan))
    later = slice(1, k)  # every record after the common start
    row = {
        "paths": n,
        "beta_err": float(np.median(np.linalg.norm(pred["beta"].values[later] - mean_beta[later], axis=-1)) / scale_b),
        "beta_se": float(np.median(spread[later]) / scale_b),
        "l1_err": float(np.median(np.abs(pred["beta_l1"].values[later] - l1_mean[later])) / scale_l1),
        "l1_se": float(np.median(np.abs(_paths(sim["beta"])[:, later]).sum(-1).std(axis=0)) / np.sqrt(n) / scale_l1)
        if n > 1
        else np.nan,
        "trace_G_err": float(np.median(pred["trace_G"].values[later] / trG[:, later].mean(axis=0) - 1.0)),
        "trace_G_se": float(np.median(se(trG)[later] / trG[:, later].mean(axis=0))),
        "recovery_sim": float(np.linalg.norm(mean_beta[-1] - bstar)),
        "recovery_pred": float(np.linalg.norm(pred["beta"].values[k - 1] - bstar)),
    }
    out = [
        f"{what} = {row[key]:.3g} (target <= {limit:g})"
        for key, limit, what in (
            ("beta_err", targets.beta, "median ||beta_flow - E beta||/||beta*||"),
            ("l1_err", targets.l1, "median |||beta_flow||_1 - ||E beta||_1|/||beta*||_1"),
            ("trace_G_err", targets.trace_G, "median (tr G_flow/E tr G - 1)"),
        )
        if not (np.isfinite(row[key]) and abs(row[key]) <= limit)
    ]
    if "w_norm_mean" in sim:
        steps = sim["step"].values[:k]
        neuron = compare(
            steps,
            _paths(sim["w_norm_mean"])[:, :k],
            _paths(sim["cos_abs_mean"])[:, :k],
            pred["w_norm_mean"].values[:k],
            pred["cos_abs_mean"].values[:k],
        )
        row.update(neuron)
        out += misses(neuron, TARGETS)
    row["misses"] = "; ".join(out)
    return row


def check_model(
    config: ModelConfig, out: Path, *, preset: str = "", correction: str = "lambda-eff", progress: bool = True
) -> dict:
    """Simulate `config.paths` noise paths, predict with the flow, judge, and store the Dataset
    (simulation variables plus `pred_<var>`) as `out/check_<digest>.nc`; returns the table row."""
    start = model_start(config)
    sim = simulate_model(config, progress=progress)
    pred = predict_flow(config, sim["step"].values, start, correction=correction)
    row = {"config": label(config), "model": config.model, "steps": config.steps, **judge(sim, pred)}
    ds = sim.copy()
    for var in pred.data_vars:
        if var not in ("beta_star", "T_I", "T_II"):
            ds[f"pred_{var}"] = pred[var].reindex(step=sim["step"])
    for var in ("T_I", "T_II"):
        if var in pred:
            ds[f"pred_{var}"] = pred[var]
    ds.attrs.update(
        preset=preset,
        prediction=f"regularized flow ({correction}): {pred.attrs['status']}",
        check_misses=row["misses"],
        check_targets=str(dataclasses.asdict(DECLARED_TARGETS)),
    )
    path = save(ds, out / f"check_{config.digest()}.nc")
    row["file"] = str(path)
    return row


def merge_rows(path: Path, row: dict) -> list[dict]:
    """The rows of the CSV at `path` with `row` added (replacing the row of the same file)."""
    import csv

    rows = []
    if path.is_file():
        with path.open() as fh:
            rows = [r for r in csv.DictReader(fh) if r.get("file") != row["file"]]
    return [*rows, row]


def write_tables(rows: list[dict], csv_path: Path, tex_path: Path) -> None:
    """The rows as CSV and as a booktabs LaTeX table (errors in %, misses in bold)."""
    from lnsgd.experiments.check.table import write_csv
    from lnsgd.experiments.store import write_text

    write_csv(rows, csv_path, CSV_FIELDS)

    def pct(r, key):
        try:
            value = float(r.get(key, "nan"))
        except ValueError:
            return "--"
        return "--" if not np.isfinite(value) else f"{100 * value:+.1f}" if key == "T_II_err" else f"{100 * value:.1f}"

    lines = [
        r"\begin{tabular}{lrrrrrl}",
        r"\toprule",
        r"configuration & paths & $\beta$ (\%) & $\|\beta\|_1$ (\%) & $\operatorname{tr}G$ (\%) & "
        r"$T_{II}$ (\%) & verdict \\",
        r"\midrule",
    ]
    for r in rows:
        verdict = r"\textbf{miss}" if r.get("misses") else "pass"
        lines.append(
            f"{r['config'].replace('_', '-')} & {r['paths']} & {pct(r, 'beta_err')} & {pct(r, 'l1_err')} & "
            f"{pct(r, 'trace_G_err')} & {pct(r, 'T_II_err')} & {verdict} \\\\"
        )
    lines += [r"\bottomrule", r"\end{tabular}", "% generated by lnsgd check PRESET (declared models)", ""]
    write_text(tex_path, "\n".join(lines))
