"""Monitoring as a source releasebot pulls from: a Prometheus client whose every failure is a
named reason for insufficient data (:mod:`bot.monitoring.readings`)."""

from bot.monitoring.prometheus import PrometheusClient
from bot.monitoring.readings import (
    InstantResult,
    InsufficientData,
    RangeResult,
    Reading,
    Reason,
    Sample,
    Series,
    SeriesReading,
)

__all__ = [
    "InstantResult",
    "InsufficientData",
    "PrometheusClient",
    "RangeResult",
    "Reading",
    "Reason",
    "Sample",
    "Series",
    "SeriesReading",
]
