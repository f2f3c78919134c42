"""Numbers quoted by the paper, as ``\\newcommand`` macros computed from stored results.

:func:`write_numbers` writes ``paper/build/numbers.tex``. Each :class:`Number` is a macro name, the
source it reads, a function of that source and a format; :data:`ALL_NUMBERS` is the only
list. A source is a preset's stored result (:func:`~lnsgd.figures.results.load_result`) or one of
:data:`SOURCES`: ``seeds`` (the multi-seed aggregates of :func:`lnsgd.figures.seeds.load_seeds`,
a dict preset → Dataset), ``sweep:lazy-rich`` (:func:`lnsgd.figures.laziness_m.load_lazy_rich`) and
``check:<preset>`` (a declared preset's check file, :func:`lnsgd.figures.declared.load_check`).
A missing source does not stop the file: its macros are left out with a comment naming the
command that makes it, and ``paper/main.tex``'s ``\\val{Name}`` prints a visible "missing" mark;
so is a number whose value needs a part of the source that is absent (e.g. SAM seeds).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from lnsgd.experiments.store import write_text

from . import declared, laziness_m, seeds
from .results import CHECK_PREFIX, MissingResultError, load_result, phase_time, tau


def _first(var: str) -> Callable[[xr.Dataset], float]:
    return lambda ds: float(ds[var].values[0])


def _final(var: str) -> Callable[[xr.Dataset], float]:
    return lambda ds: float(ds[var].values[-1])


def _phase(var: str) -> Callable[[xr.Dataset], float]:
    return lambda ds: phase_time(ds, var)


def balance_final(ds: xr.Dataset) -> float:
    """√τ · mean|a_k| at the last record: the plateau of mean‖w_k‖ predicted by balance."""
    return math.sqrt(tau(ds)) * float(ds["a_abs_mean"].values[-1])


def shrink_while_on(ds: xr.Dataset) -> float:
    """Fraction of the total decrease of mean‖w_k‖ that happens in record intervals whose start
    has δ(t) > 0 (noise on). 1 means: norms shrink only while the noise is on."""
    dw = -np.diff(ds["w_norm_mean"].values)
    on = ds["delta"].values[:-1] > 0
    total = dw.sum()
    return float(dw[on].sum() / total) if total > 0 else math.nan


def _delta_max(ds: xr.Dataset) -> float:
    return float(ds["delta"].max())


@dataclass(frozen=True)
class Number:
    """One macro ``\\<macro>`` = ``fmt`` of ``value(load_result(results_dir, preset))``."""

    macro: str
    preset: str
    value: Callable[[xr.Dataset], float]
    fmt: str = "3f"  # "3f", "2f", "step", "pct", "sci", "g"

    def __post_init__(self):
        if not self.macro.isalpha():
            raise ValueError(f"Number: macro={self.macro!r} must be letters only (a TeX macro name)")
        if self.fmt not in ("3f", "2f", "step", "pct", "sci", "g"):
            raise ValueError(f"Number {self.macro}: fmt={self.fmt!r}, valid: 3f 2f step pct sci g")


def format_value(x: float, fmt: str) -> str:
    """LaTeX text of a number: steps with thousands separators, percent without the sign,
    ``g`` with three significant digits (1010, not 1.01e+03),
    scientific as \\ensuremath{m\\times10^{k}} (text or math); negative numbers with a true minus (``\\ensuremath{-}``);
    NaN as 'not reached'."""
    if not math.isfinite(x):
        return r"not reached"
    if x < 0:  # a true minus sign in text and in math: \ensuremath{-}
        return r"\ensuremath{-}" + format_value(-x, fmt)
    if fmt == "step":
        return f"{x:,.0f}".replace(",", "{,}")
    if fmt == "pct":
        return f"{100 * x:.2g}" if abs(100 * x) < 1 else f"{100 * x:.1f}"
    if fmt == "sci":
        if x == 0:
            return "0"
        k = math.floor(math.log10(abs(x)))
        return f"\\ensuremath{{{x / 10**k:.1f}\\times10^{{{k}}}}}"
    if fmt == "g":
        text = f"{x:.3g}"
        if "e" not in text:
            return text
        return f"{float(text):,.0f}".replace(",", "{,}") if 1 <= abs(x) < 1e6 else format_value(x, "sci")
    return f"{x:.{fmt[0]}f}"


#: Every number the paper quotes.
NUMBERS: tuple[Number, ...] = (
    Number("TwoPhaseSteps", "two-phase", lambda ds: float(ds["step"].values[-1]), "step"),
    Number("TwoPhaseDelta", "two-phase", _delta_max, "g"),
    Number("TwoPhaseWnormInit", "two-phase", _first("w_norm_mean")),
    Number("TwoPhaseWnormFinal", "two-phase", _final("w_norm_mean")),
    Number("TwoPhaseCosInit", "two-phase", _first("cos_abs_mean")),
    Number("TwoPhaseCosFinal", "two-phase", _final("cos_abs_mean")),
    Number("TwoPhaseBalanceFinal", "two-phase", balance_final),
    Number("TwoPhaseWRelFinal", "two-phase", _final("w_rel_change"), "2f"),
    Number("TwoPhaseTI", "two-phase", _phase("T_I"), "step"),
    Number("TwoPhaseTII", "two-phase", _phase("T_II"), "step"),
    Number("TwoPhaseTraceGInit", "two-phase", _first("trace_G"), "g"),
    Number("TwoPhaseTraceGFinal", "two-phase", _final("trace_G"), "g"),
    Number("LazySteps", "lazy", lambda ds: float(ds["step"].values[-1]), "step"),
    Number("LazyWnormInit", "lazy", _first("w_norm_mean")),
    Number("LazyWnormFinal", "lazy", _final("w_norm_mean")),
    Number("LazyCosInit", "lazy", _first("cos_abs_mean")),
    Number("LazyCosFinal", "lazy", _final("cos_abs_mean")),
    Number("LazyWRelFinalPct", "lazy", _final("w_rel_change"), "pct"),
    Number("LazyNtkRelFinalPct", "lazy", _final("ntk_rel_change"), "pct"),
    Number("LazyTrainLossFinal", "lazy", _final("train_loss"), "sci"),
    Number("LazyTraceGFinal", "lazy", _final("trace_G"), "g"),
    Number("TwoPhaseNtkRelFinalPct", "two-phase", _final("ntk_rel_change"), "pct"),
    Number("PeriodicShrinkOnPct", "periodic", shrink_while_on, "pct"),
    Number("PeriodicWnormInit", "periodic", _first("w_norm_mean")),
    Number("PeriodicWnormFinal", "periodic", _final("w_norm_mean")),
    Number("OscillationWnormInit", "oscillation", _first("w_norm_mean")),
    Number("OscillationWnormFinal", "oscillation", _final("w_norm_mean")),
    Number("SamWnormFinal", "sam", _final("w_norm_mean")),
    Number("SamCosFinal", "sam", _final("cos_abs_mean")),
    Number("SamTI", "sam", _phase("T_I"), "step"),
    Number("SamTII", "sam", _phase("T_II"), "step"),
    Number("SamTraceGFinal", "sam", _final("trace_G"), "g"),
)


# --- real data (dims noise × step) ----------------------------------------------------------------


def _real(var: str, noisy: bool, how: str = "final") -> Callable[[xr.Dataset], float]:
    """``var`` of the flipped (largest p) or clean (p = 0) run: ``final`` value, ``init`` value or
    relative change ``rel`` (final/initial − 1)."""

    def value(ds: xr.Dataset) -> float:
        p = float(ds["noise"].max()) if noisy else 0.0
        v = ds[var].sel(noise=p).values
        if how == "rel":
            return float(v[-1] / v[0] - 1)
        return float(v[-1] if how == "final" else v[0])

    return value


# --- multi-seed aggregates ------------------------------------------------------------------------


def _seed(preset: str, var: str, stat: str = "final") -> Callable[[dict], float]:
    """Of preset's seed aggregate: ``final`` mean, ``final_sd``, ``max_sd`` (largest sd over
    steps), ``n`` (seed count), or for T_I/T_II ``mean``/``sd`` over seeds."""

    def value(agg: dict) -> float:
        ds = agg[preset]
        if stat == "n":
            return float(ds.attrs["n_seeds"])
        if stat in ("mean", "sd"):
            t = ds[f"{var}_seeds"].values
            return float(np.mean(t) if stat == "mean" else np.std(t, ddof=1))
        if stat == "max_sd":
            return float(ds[f"{var}_sd"].max())
        return float(ds[var].values[-1] if stat == "final" else ds[f"{var}_sd"].values[-1])

    return value


# --- laziness against m ---------------------------------------------------------------------------


def _lazy_m(var: str, what: str, delta: float = 0.0) -> Callable[[xr.Dataset], float]:
    """Of the lazy-rich sweep: ``slope`` (fitted log–log slope at δ), ``theory_slope`` (of the
    estimate over the same m), ``exponent`` (the estimate's m → ∞ exponent), ``largest`` (value at
    the largest m), ``ratio`` (simulation / estimate at the largest m)."""

    def value(ds: xr.Dataset) -> float:
        m = ds["m"].values
        y = ds[var].sel(delta=delta).values
        if what == "slope":
            return laziness_m.log_slope(m, y)
        if what == "theory_slope":
            return laziness_m.log_slope(m, laziness_m.theory_curve(ds, var, m))
        if what == "exponent":
            return float(laziness_m.estimate(var, ds.attrs["parametrization"])[1])
        if what == "largest":
            return float(y[-1])
        return float(y[-1] / laziness_m.theory_curve(ds, var, m)[-1])

    return value


# --- declared models (mean over noise paths; the flow from a check file) ----------------------------


def _declared(var: str, how: str = "final") -> Callable[[xr.Dataset], float]:
    """Of a declared-model result (mean over paths) or check file (``pred_<var>``, when stored):
    ``init``, ``final`` or ``tail`` (mean over the last tenth of the records) value of ``var``, or
    the phase time ``T_I``/``T_II`` of the drawn curve (``how = "phase"``)."""

    def value(ds: xr.Dataset) -> float:
        data = declared.flow_result(ds) if any(v.startswith("pred_") for v in ds.data_vars) else declared.path_mean(ds)
        if how == "phase":
            return float(declared.with_phase_times(data)[var])
        v = data[var].values
        return float(v[0] if how == "init" else v[-1] if how == "final" else v[-max(len(v) // 10, 1) :].mean())

    return value


def _beta_star_l1(ds: xr.Dataset) -> float:
    return float(np.abs(ds["beta_star"].values).sum())


def averaged_beta_error(ds: xr.Dataset) -> float:
    """‖β̄ − β*‖ of β averaged over the noise paths and the last half of the records: what is left
    of the recovery error once the stationary fluctuation is averaged out."""
    beta = ds["beta"].isel(step=slice(ds.sizes["step"] // 2, None))
    mean = beta.mean([d for d in beta.dims if d != "input"]).values
    return float(np.linalg.norm(mean - ds["beta_star"].values))


DECLARED_NUMBERS: tuple[Number, ...] = tuple(
    Number(macro, source, value, fmt)
    for macro, source, value, fmt in (
        ("DiagSteps", "diagonal-sparse", lambda ds: float(ds["step"].values[-1]), "step"),
        ("DiagPaths", "diagonal-sparse", lambda ds: float(ds.sizes.get("path", 1)), "g"),
        ("DiagStarLOne", "diagonal-sparse", _beta_star_l1, "g"),
        ("DiagSgdErrTail", "diagonal-sparse", _declared("beta_error", "tail"), "2f"),
        ("DiagSgdLOneTail", "diagonal-sparse", _declared("beta_l1", "tail"), "2f"),
        ("DiagSgdAvgErr", "diagonal-sparse", averaged_beta_error, "g"),
        ("DiagGdErrFinal", "diagonal-gd", _declared("beta_error"), "2f"),
        ("DiagGdLOneFinal", "diagonal-gd", _declared("beta_l1"), "2f"),
        ("DiagFlowErrFinal", "check:diagonal-sparse", _declared("beta_error"), "g"),
        ("DiagFlowLOneFinal", "check:diagonal-sparse", _declared("beta_l1"), "2f"),
        ("DeepSteps", "deep-linear", lambda ds: float(ds["step"].values[-1]), "step"),
        ("DeepPaths", "deep-linear", lambda ds: float(ds.sizes.get("path", 1)), "g"),
        ("DeepWnormInit", "deep-linear", _declared("w_norm_mean", "init"), "2f"),
        ("DeepWnormFinal", "deep-linear", _declared("w_norm_mean"), "2f"),
        ("DeepCosInit", "deep-linear", _declared("cos_abs_mean", "init"), "2f"),
        ("DeepCosFinal", "deep-linear", _declared("cos_abs_mean"), "2f"),
        ("DeepTI", "deep-linear", _declared("T_I", "phase"), "step"),
        ("DeepTII", "deep-linear", _declared("T_II", "phase"), "step"),
        ("DeepFlowWnormFinal", "check:deep-linear", _declared("w_norm_mean"), "2f"),
        ("DeepFlowCosFinal", "check:deep-linear", _declared("cos_abs_mean"), "2f"),
        ("DeepFlowTI", "check:deep-linear", _declared("T_I", "phase"), "step"),
        ("DeepFlowTII", "check:deep-linear", _declared("T_II", "phase"), "step"),
        ("DeepLazyWnormFinal", "deep-linear-lazy", _declared("w_norm_mean"), "2f"),
        ("DeepLazyCosFinal", "deep-linear-lazy", _declared("cos_abs_mean"), "2f"),
    )
)


#: Sources other than a preset's stored result: name → loader(results_dir).
SOURCES: dict[str, Callable[[Path], object]] = {
    "seeds": seeds.load_seeds,
    "sweep:lazy-rich": laziness_m.load_lazy_rich,
    **{
        f"{CHECK_PREFIX}{preset}": lambda results_dir, preset=preset: declared.load_check(results_dir, preset)
        for preset in ("diagonal-sparse", "deep-linear")
    },
}

REAL_NUMBERS: tuple[Number, ...] = tuple(
    Number(f"Real{name}", "real-digits", value, fmt)
    for name, value, fmt in (
        ("Steps", lambda ds: float(ds["step"].values[-1]), "step"),
        ("Flip", lambda ds: float(ds["noise"].max()), "g"),
        ("WnormInit", _real("w_norm_mean", True, "init"), "g"),
        ("WnormRelNoisyPct", _real("w_norm_mean", True, "rel"), "pct"),
        ("WnormRelCleanPct", _real("w_norm_mean", False, "rel"), "pct"),
        ("WstdInit", _real("w_norm_std", True, "init"), "g"),
        ("WstdNoisy", _real("w_norm_std", True), "g"),
        ("WstdClean", _real("w_norm_std", False), "g"),
        ("DistNoisy", _real("dist_test", True), "g"),
        ("DistClean", _real("dist_test", False), "g"),
        ("NtkNoisy", _real("ntk_rel_change", True), "g"),
        ("NtkClean", _real("ntk_rel_change", False), "g"),
        ("AccNoisy", _real("test_acc", True), "g"),
        ("AccClean", _real("test_acc", False), "g"),
        ("LinAccNoisy", _real("lin_test_acc", True), "g"),
        ("LinAccClean", _real("lin_test_acc", False), "g"),
    )
)

SEED_NUMBERS: tuple[Number, ...] = tuple(
    Number(f"Seeds{name}", "seeds", value, fmt)
    for name, value, fmt in (
        ("N", _seed("two-phase", "", "n"), "g"),
        ("LazyN", _seed("lazy", "", "n"), "g"),
        ("SamN", _seed("sam", "", "n"), "g"),
        ("WnormFinal", _seed("two-phase", "w_norm_mean"), "3f"),
        ("WnormFinalSd", _seed("two-phase", "w_norm_mean", "final_sd"), "3f"),
        ("WnormMaxSd", _seed("two-phase", "w_norm_mean", "max_sd"), "3f"),
        ("CosFinal", _seed("two-phase", "cos_abs_mean"), "3f"),
        ("CosFinalSd", _seed("two-phase", "cos_abs_mean", "final_sd"), "3f"),
        ("CosMaxSd", _seed("two-phase", "cos_abs_mean", "max_sd"), "3f"),
        ("TI", _seed("two-phase", "T_I", "mean"), "step"),
        ("TISd", _seed("two-phase", "T_I", "sd"), "step"),
        ("TII", _seed("two-phase", "T_II", "mean"), "step"),
        ("TIISd", _seed("two-phase", "T_II", "sd"), "step"),
        ("LazyCosFinal", _seed("lazy", "cos_abs_mean"), "3f"),
        ("LazyWRelFinalPct", _seed("lazy", "w_rel_change"), "pct"),
        ("SamCosFinal", _seed("sam", "cos_abs_mean"), "3f"),
        ("SamTII", _seed("sam", "T_II", "mean"), "step"),
        ("SamTIISd", _seed("sam", "T_II", "sd"), "step"),
    )
)

LAZY_M_NUMBERS: tuple[Number, ...] = tuple(
    Number(f"LazyM{name}", "sweep:lazy-rich", value, fmt)
    for name, value, fmt in (
        ("MMin", lambda ds: float(ds["m"].min()), "g"),
        ("MMax", lambda ds: float(ds["m"].max()), "g"),
        ("D", lambda ds: float(ds.attrs["d"]), "g"),
        ("SlopeW", _lazy_m("w_rel_change", "slope"), "2f"),
        ("SlopeWTheory", _lazy_m("w_rel_change", "theory_slope"), "2f"),
        ("ExpW", _lazy_m("w_rel_change", "exponent"), "g"),
        ("RatioW", _lazy_m("w_rel_change", "ratio"), "2f"),
        ("WLargestPct", _lazy_m("w_rel_change", "largest"), "pct"),
        ("WLargestNoisy", _lazy_m("w_rel_change", "largest", 4.0), "2f"),
        ("SlopeK", _lazy_m("ntk_rel_change", "slope"), "2f"),
        ("SlopeKTheory", _lazy_m("ntk_rel_change", "theory_slope"), "2f"),
        ("ExpK", _lazy_m("ntk_rel_change", "exponent"), "g"),
        ("RatioK", _lazy_m("ntk_rel_change", "ratio"), "2f"),
        ("KLargestPct", _lazy_m("ntk_rel_change", "largest"), "pct"),
    )
)

#: Every number the paper quotes.
ALL_NUMBERS: tuple[Number, ...] = NUMBERS + REAL_NUMBERS + SEED_NUMBERS + LAZY_M_NUMBERS + DECLARED_NUMBERS


def _load(results_dir: str | Path, source: str):
    """The source of a number: a preset's stored result, or a :data:`SOURCES` loader's output."""
    return SOURCES[source](Path(results_dir)) if source in SOURCES else load_result(results_dir, source)


def _describe(source: str, data) -> str:
    """Provenance comment of a loaded source."""
    if isinstance(data, xr.Dataset) and "source" in data.encoding:
        return (
            f"% {source}: {Path(data.encoding['source']).name} (status "
            f"{data.attrs.get('status', '?')}, created {data.attrs.get('created', '?')})"
        )
    if isinstance(data, dict):
        return f"% {source}: " + ", ".join(f"{k} {v.attrs.get('n_seeds', '?')} seeds" for k, v in data.items())
    return f"% {source}: {data.attrs.get('source', '?') if isinstance(data, xr.Dataset) else '?'}"


def numbers_tex(results_dir: str | Path, numbers: tuple[Number, ...] = ALL_NUMBERS) -> str:
    """The text of numbers.tex: one ``\\newcommand`` per number whose source is stored."""
    lines = ["% Generated by lnsgd.figures.numbers.write_numbers; do not edit.", f"% Results directory: {results_dir}"]
    loaded: dict[str, object] = {}
    for number in numbers:
        if number.preset not in loaded:
            try:
                loaded[number.preset] = _load(results_dir, number.preset)
                lines.append(_describe(number.preset, loaded[number.preset]))
            except MissingResultError as err:
                loaded[number.preset] = err
                lines.append(f"% missing result '{number.preset}': make it with `{err.command}`")
        data = loaded[number.preset]
        if isinstance(data, MissingResultError):
            continue
        try:
            value = number.value(data)
        except KeyError as err:  # a part of the source is absent (e.g. no SAM seeds)
            lines.append(f"% {number.macro}: not in '{number.preset}' ({err})")
            continue
        lines.append(f"\\newcommand{{\\{number.macro}}}{{{format_value(value, number.fmt)}}}")
    missing = sorted(k for k, v in loaded.items() if isinstance(v, MissingResultError))
    if missing:  # paper/main.tex lists them in the abstract
        lines.append(f"\\newcommand{{\\MissingResults}}{{{', '.join(missing)}}}")
    return "\n".join(lines) + "\n"


def write_numbers(results_dir: str | Path, path: str | Path) -> Path:
    """Write :func:`numbers_tex` of ``results_dir`` to ``path`` (parents created); returns it."""
    return write_text(path, numbers_tex(results_dir))
