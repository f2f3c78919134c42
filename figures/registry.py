"""Registry of the figures: name → ``fig_<name>(results_dir, out_dir) -> list[Path]``."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

from . import check, declared, laziness_m, real, seeds, simulation, sweeps
from .results import MissingResultError

FigureFunction = Callable[[Path, Path], list[Path]]

#: Every figure the CLI knows, in the order ``lnsgd figures`` makes them.
FIGURES: dict[str, FigureFunction] = {
    "two-phase": simulation.fig_two_phase,
    "neurons": simulation.fig_neurons,
    "periodic": simulation.fig_periodic,
    "oscillation": simulation.fig_oscillation,
    "sam": simulation.fig_sam,
    "laziness": simulation.fig_laziness,
    "seeds": seeds.fig_seeds,
    "laziness-m": laziness_m.fig_laziness_m,
    "real-digits": real.fig_real_digits,
    "real-cifar10": real.fig_real_cifar10,
    **declared.DECLARED_FIGURES,
    **sweeps.SWEEP_FIGURES,
    "check": check.fig_check,
}

#: Figures whose results a quick run does not make (CIFAR-10 needs the user's data; `lnsgd check`
#: takes minutes): when all figures are made, a missing result of these is skipped with a warning
#: naming the command instead of an error.
OPTIONAL: frozenset[str] = frozenset({"real-cifar10", "check"})


def make_figures(names: Iterable[str] | None, results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Make the named figures (all of :data:`FIGURES` when ``names`` is empty or None).

    Unknown names raise ``KeyError`` listing the valid ones before anything is drawn; a missing
    result raises :class:`~lnsgd.figures.results.MissingResultError` naming the command to run,
    except for an :data:`OPTIONAL` figure when no names are given: it is skipped with a
    ``UserWarning`` that names the command.
    """
    everything = not names
    names = list(names or FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise KeyError(f"unknown figure(s) {unknown}; valid: {', '.join(FIGURES)}")
    paths: list[Path] = []
    for name in names:
        try:
            paths += FIGURES[name](Path(results_dir), Path(out_dir))
        except MissingResultError as err:
            if not (everything and name in OPTIONAL):
                raise
            warnings.warn(f"skipped optional figure {name}: {err}", stacklevel=2)
    return paths
