"""How a computation ended: one vocabulary for ODE and SDE solutions, path ensembles, the runner,
the real-data experiment and sweep points. The value is what results store (attrs['status'],
sweep failure records); each producer pairs it with a one-sentence `message`."""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    """The end of a run; compares equal to its stored string (``Status.COMPLETED == "completed"``)."""

    COMPLETED = "completed"  # reached the end (an ensemble: at least one path did)
    DIVERGED = "diverged"  # the state became non-finite or the loss passed its bound
    STEP_TOO_SMALL = "step-too-small"  # adaptive ODE step below round-off
    MAX_STEPS = "max-steps"  # ODE step budget spent before the end
    SINGULAR = "singular"  # Rosenbrock-W: I − hγJ singular at a fixed step
    INTERRUPTED = "interrupted"  # stopped by the user; records so far are kept
    INVALID = "invalid"  # sweep point: the values make no valid config
    ERROR = "error"  # sweep point: the simulation raised
    LOST = "lost"  # sweep point: the worker died, nothing stored

    def __str__(self) -> str:
        return self.value

    @property
    def stored(self) -> bool:
        """A sweep point with this status is finished (its result or failure record is on disk)."""
        return self not in (Status.INTERRUPTED, Status.LOST)
