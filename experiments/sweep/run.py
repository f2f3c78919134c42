"""Running a sweep: plan the points not yet stored, run them on a backend, report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from lnsgd.experiments.store import write_json
from lnsgd.experiments.sweep.backends import PointOutcome, PointTask, execute, make_backend
from lnsgd.experiments.sweep.combine import MANIFEST, resolve
from lnsgd.experiments.sweep.spec import SweepSpec
from lnsgd.experiments.sweep.store import point_state, remove_point
from lnsgd.solvers.status import Status


@dataclass
class SweepReport:
    """What a sweep run did: points skipped (already stored), recomputed because corrupt, and the
    outcome of each point it ran."""

    out: Path
    total: int
    skipped: int
    corrupt: list[str] = field(default_factory=list)
    outcomes: list[PointOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def complete(self) -> bool:
        """Every point has a stored result or failure record (nothing lost or interrupted)."""
        return all(o.status.stored for o in self.outcomes)

    def summary(self) -> str:
        ran = len(self.outcomes)
        parts = [f"{self.total} points: {self.skipped} already stored, {ran} run"]
        for status in (
            Status.COMPLETED,
            Status.DIVERGED,
            Status.INVALID,
            Status.ERROR,
            Status.LOST,
            Status.INTERRUPTED,
        ):
            if self.count(status):
                parts.append(f"{self.count(status)} {status}")
        if self.corrupt:
            parts.append(f"{len(self.corrupt)} corrupt file(s) recomputed")
        return ", ".join(parts) + f" in {self.seconds:.1f} s ({self.out})"


def plan(spec: SweepSpec, out: str | Path, *, retry_failed: bool = False) -> tuple[list[PointTask], int, list[str]]:
    """(tasks to run, number already stored, hashes of corrupt files) for `spec` in `out`."""
    tasks, skipped, corrupt = [], 0, []
    for point in spec.unique_points():
        state = point_state(out, point.digest)
        if state.state == "done" or (state.state == "failed" and not retry_failed):
            skipped += 1
            continue
        if state.state == "corrupt":
            corrupt.append(point.digest)
        remove_point(out, point.digest)
        tasks.append(PointTask(point.digest, point.config_dict(), str(out)))
    return tasks, skipped, corrupt


def run_sweep(
    spec: SweepSpec | str | Path,
    out: str | Path | None = None,
    *,
    workers: int | None = None,
    dask: Any = None,
    retry_failed: bool = False,
    progress: bool = True,
    on_point: Callable[[PointOutcome], None] | None = None,
) -> SweepReport:
    """Run every point of `spec` not yet stored in `out` (default results/sweeps/<name>).

    Local process pool of `workers` processes (default: all cores) unless `dask` (a scheduler
    address or a distributed.Client) is given. Interrupting (Ctrl-C) keeps every finished point;
    running again resumes.
    """
    spec, out = resolve(spec, out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(spec.to_dict(), out / MANIFEST)
    start = time.perf_counter()
    tasks, skipped, corrupt = plan(spec, out, retry_failed=retry_failed)
    report = SweepReport(out, len(tasks) + skipped, skipped, corrupt)
    bar = tqdm(total=report.total, initial=skipped, unit="point", desc=spec.name, disable=not progress)

    def done(outcome: PointOutcome) -> None:
        bar.update(1)
        bar.set_postfix_str(f"{outcome.digest} {outcome.status} {outcome.seconds:.1f}s")
        if progress and outcome.status is not Status.COMPLETED:
            bar.write(f"{outcome.digest}: {outcome.status}: {outcome.message}")
        if on_point is not None:
            on_point(outcome)

    try:
        report.outcomes = execute(tasks, make_backend(workers, dask), done)
    finally:
        bar.close()
        report.seconds = time.perf_counter() - start
    return report
