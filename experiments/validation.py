"""Field checks shared by every config dataclass: one sentence naming field, value and valid range."""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any


class ConfigError(ValueError):
    """A config field has an invalid value; the message names the field and the valid range."""


def check_int(name: str, value: Any, lo: int | None = None, hi: int | None = None) -> None:
    """Raise ConfigError unless `value` is an integer in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ConfigError(f"{name} = {value!r} must be an integer")
    _check_range(name, value, lo, hi)


def check_real(
    name: str, value: Any, lo: float | None = None, hi: float | None = None, *, open_lo: bool = False
) -> None:
    """Raise ConfigError unless `value` is a finite real in [lo, hi] (or (lo, hi] with open_lo)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ConfigError(f"{name} = {value!r} must be a finite real number")
    if open_lo and lo is not None and value <= lo:
        hi_txt = f" and <= {hi}" if hi is not None else ""
        raise ConfigError(f"{name} = {value!r} is out of range: expected {name} > {lo}{hi_txt}")
    _check_range(name, value, lo, hi)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    """Raise ConfigError unless `value` is one of `choices`."""
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{name} = {value!r} is not valid: expected one of {', '.join(choices)}")


def _check_range(name: str, value: float, lo: float | None, hi: float | None) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        lo_txt = f"{lo} <= " if lo is not None else ""
        hi_txt = f" <= {hi}" if hi is not None else ""
        raise ConfigError(f"{name} = {value!r} is out of range: expected {lo_txt}{name}{hi_txt}")
