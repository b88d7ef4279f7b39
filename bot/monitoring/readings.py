"""What a Prometheus query yields for a criterion: one value, one series, or a reason why not.

A criterion asks for *one* number (an instant query) or *one* series (a range query). Anything
else is :class:`InsufficientData` with a distinct :class:`Reason`, never a healthy value: an
empty result, NaN, an infinity, more than one series, the wrong kind of result, an HTTP error,
a timeout, an unreachable server or an answer that is not Prometheus's. The reductions here
(:func:`one_value`, :func:`one_series`) are pure; :mod:`bot.monitoring.prometheus` fetches.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

SHOWN_SERIES = 3  # how many label sets a MANY_SERIES explanation names


class Reason(StrEnum):
    """Why a query gave no usable value; each is insufficient data, never healthy."""

    EMPTY = "empty_result"  # the query matched no series (or no points)
    NOT_A_NUMBER = "not_a_number"  # NaN, e.g. 0/0 when nothing was counted
    INFINITE = "infinite"  # +Inf or -Inf, e.g. x/0
    MANY_SERIES = "more_than_one_series"  # one was expected: aggregate the query
    WRONG_TYPE = "wrong_result_type"  # e.g. a range vector from an instant query
    HTTP_ERROR = "http_error"  # Prometheus (or a proxy) refused: bad query, auth, 5xx
    TIMEOUT = "timeout"  # no answer in time, or Prometheus's own query timeout
    UNREACHABLE = "unreachable"  # connection refused, unknown host, TLS failure
    BAD_RESPONSE = "bad_response"  # not Prometheus's JSON, or larger than allowed


@dataclass(frozen=True)
class InsufficientData:
    """No usable value, with why (``reason``) and a sentence for people (``detail``)."""

    query: str
    reason: Reason
    detail: str
    http_status: int | None = None


@dataclass(frozen=True)
class Sample:
    """One value of one series: its labels, time and value, and the raw string Prometheus
    sent (``"0.041"``, ``"NaN"``), which messages show as it came."""

    labels: Mapping[str, str]
    at: datetime
    value: float
    raw: str


@dataclass(frozen=True)
class Series:
    """One series of a range query, its points oldest first."""

    labels: Mapping[str, str]
    points: tuple[Sample, ...]


_Labelled = TypeVar("_Labelled", Sample, Series)


@dataclass(frozen=True)
class InstantResult:
    """An instant query's answer: ``vector`` or ``scalar`` samples (``matrix`` and ``string``
    answers are refused as the wrong type), with Prometheus's warnings."""

    query: str
    samples: tuple[Sample, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RangeResult:
    """A range query's answer: its series, with Prometheus's warnings."""

    query: str
    series: tuple[Series, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reading:
    """The one value a query gave: what a criterion compares with its threshold."""

    query: str
    value: float
    raw: str
    at: datetime
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SeriesReading:
    """The one series a range query gave, its finite points only; ``skipped`` counts the
    NaN and infinite points left out (they are missing data, not values)."""

    query: str
    labels: Mapping[str, str]
    points: tuple[Sample, ...]
    skipped: int = 0


def one_value(result: InstantResult | InsufficientData) -> Reading | InsufficientData:
    """The single finite value of an instant query, or why there is none."""
    if isinstance(result, InsufficientData):
        return result
    sample = _the_only(result.query, result.samples)
    if isinstance(sample, InsufficientData):
        return sample
    unusable = _not_finite(result.query, sample.value, sample.raw)
    if unusable is not None:
        return unusable
    return Reading(result.query, sample.value, sample.raw, sample.at, sample.labels)


def one_series(result: RangeResult | InsufficientData) -> SeriesReading | InsufficientData:
    """The single series of a range query with its finite points, or why there is none."""
    if isinstance(result, InsufficientData):
        return result
    query, series = result.query, _the_only(result.query, result.series)
    if isinstance(series, InsufficientData):
        return series
    finite = tuple(point for point in series.points if math.isfinite(point.value))
    if finite:
        return SeriesReading(query, series.labels, finite, len(series.points) - len(finite))
    if not series.points:
        return InsufficientData(query, Reason.EMPTY, "the series has no points")
    last = series.points[-1]
    unusable = _not_finite(query, last.value, last.raw)
    assert unusable is not None
    detail = f"every one of its {len(series.points)} points is {last.raw}"
    return InsufficientData(query, unusable.reason, detail)


def _the_only(query: str, found: Sequence[_Labelled]) -> _Labelled | InsufficientData:
    """The one sample or series a query was expected to give."""
    if not found:
        return InsufficientData(query, Reason.EMPTY, "the query returned no series")
    if len(found) > 1:
        named = sorted(format_labels(one.labels) for one in found)
        shown = ", ".join(named[:SHOWN_SERIES])
        more = f" and {len(named) - SHOWN_SERIES} more" if len(named) > SHOWN_SERIES else ""
        detail = f"the query returned {len(named)} series where one was expected: {shown}{more}"
        return InsufficientData(query, Reason.MANY_SERIES, detail)
    return found[0]


def _not_finite(query: str, value: float, raw: str) -> InsufficientData | None:
    if math.isnan(value):
        return InsufficientData(query, Reason.NOT_A_NUMBER, f"the query returned {raw}")
    if math.isinf(value):
        return InsufficientData(query, Reason.INFINITE, f"the query returned {raw}")
    return None


def format_labels(labels: Mapping[str, str]) -> str:
    """``error_rate{job="api"}`` as PromQL writes a series (``{}`` without labels)."""
    name = labels.get("__name__", "")
    pairs = ", ".join(
        f'{key}="{value}"' for key, value in sorted(labels.items()) if key != "__name__"
    )
    return f"{name}{{{pairs}}}"
