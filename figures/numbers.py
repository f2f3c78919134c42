"""Numbers quoted by the paper, as ``\\newcommand`` macros computed from stored results.

:func:`write_numbers` writes ``paper/build/numbers.tex``. Each :class:`Number` is a macro name, the
preset it reads, a function of that result and a format; the table :data:`NUMBERS` is the only list.
A missing result does not stop the file: its macros are left out with a comment naming the
command that makes it, and ``paper/main.tex``'s ``\\val{Name}`` prints a visible "missing" mark.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from .results import MissingResultError, load_result, phase_time, tau


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
    ``g`` with three significant digits,
    scientific as $m\\times10^{k}$; NaN as 'not reached'."""
    if not math.isfinite(x):
        return r"not reached"
    if fmt == "step":
        return f"{x:,.0f}".replace(",", "{,}")
    if fmt == "pct":
        return f"{100 * x:.2g}" if abs(100 * x) < 1 else f"{100 * x:.1f}"
    if fmt == "sci":
        if x == 0:
            return "0"
        k = math.floor(math.log10(abs(x)))
        return f"${x / 10**k:.1f}\\times10^{{{k}}}$"
    if fmt == "g":
        return f"{x:.3g}"
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


def numbers_tex(results_dir: str | Path, numbers: tuple[Number, ...] = NUMBERS) -> str:
    """The text of numbers.tex: one ``\\newcommand`` per number whose result is stored."""
    lines = ["% Generated by lnsgd.figures.numbers.write_numbers; do not edit.",
             f"% Results directory: {results_dir}"]
    loaded: dict[str, xr.Dataset | MissingResultError] = {}
    for number in numbers:
        if number.preset not in loaded:
            try:
                ds = loaded[number.preset] = load_result(results_dir, number.preset)
                lines.append(f"% {number.preset}: {Path(ds.encoding['source']).name} "
                             f"(status {ds.attrs.get('status', '?')}, created {ds.attrs.get('created', '?')})")
            except MissingResultError as err:
                loaded[number.preset] = err
                lines.append(f"% missing result '{number.preset}': make it with `{err.command}`")
        ds = loaded[number.preset]
        if isinstance(ds, MissingResultError):
            continue
        lines.append(f"\\newcommand{{\\{number.macro}}}{{{format_value(number.value(ds), number.fmt)}}}")
    missing = sorted(k for k, v in loaded.items() if isinstance(v, MissingResultError))
    if missing:  # paper/main.tex lists them in the abstract
        lines.append(f"\\newcommand{{\\MissingResults}}{{{', '.join(missing)}}}")
    return "\n".join(lines) + "\n"


def write_numbers(results_dir: str | Path, path: str | Path) -> Path:
    """Write :func:`numbers_tex` of ``results_dir`` to ``path`` (parents created); returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(numbers_tex(results_dir))
    return path
