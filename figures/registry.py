"""Registry of the figures: name → ``fig_<name>(results_dir, out_dir) -> list[Path]``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from . import simulation, sweeps

FigureFunction = Callable[[Path, Path], list[Path]]

#: Every figure the CLI knows, in the order ``lnsgd figures`` makes them.
FIGURES: dict[str, FigureFunction] = {
    "two-phase": simulation.fig_two_phase,
    "neurons": simulation.fig_neurons,
    "periodic": simulation.fig_periodic,
    "oscillation": simulation.fig_oscillation,
    "sam": simulation.fig_sam,
    "laziness": simulation.fig_laziness,
    **sweeps.SWEEP_FIGURES,
}


def make_figures(names: Iterable[str] | None, results_dir: str | Path,
                 out_dir: str | Path) -> list[Path]:
    """Make the named figures (all of :data:`FIGURES` when ``names`` is empty or None).

    Unknown names raise ``KeyError`` listing the valid ones before anything is drawn; a missing
    result raises :class:`~lnsgd.figures.results.MissingResultError` naming the command to run.
    """
    names = list(names or FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise KeyError(f"unknown figure(s) {unknown}; valid: {', '.join(FIGURES)}")
    paths: list[Path] = []
    for name in names:
        paths += FIGURES[name](Path(results_dir), Path(out_dir))
    return paths
