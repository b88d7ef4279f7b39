"""Durations as people write them in runbooks: ``30s``, ``5m``, ``1h30m``, ``2d``."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(d|h|m|s)")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[dhms])+")


def parse_duration(value: object) -> timedelta:
    """A timedelta from ``"5m"``, ``"1h30m"``, a number of seconds, or a timedelta.

    Raises ValueError with a message meant for the runbook's author.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError("expected a duration such as '30s', '5m' or '1h', not a boolean")
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip().lower()):
        seconds = sum(
            float(number) * _UNITS[unit] for number, unit in _PART.findall(value.strip().lower())
        )
    else:
        raise ValueError(f"expected a duration such as '30s', '5m' or '1h', got {value!r}")
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """The shortest runbook spelling of ``duration``: ``timedelta(minutes=90)`` -> ``1h30m``."""
    total = round(duration.total_seconds())
    if total == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
