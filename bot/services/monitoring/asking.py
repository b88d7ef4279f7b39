"""Asking Prometheus what a query-backed criterion needs: one reading, or a series.

Network only, no database: the poller (``bot.services.monitoring.queries``) asks here, then
records what came back in a transaction of its own. Every failure is a ``QueryReading``
without a value and with its reason (never an exception, never a healthy-looking value).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import SecretStr

from bot.core.query_evidence import QueryReading, relative_value
from bot.core.replay import Sample
from bot.core.runbook import Criterion, Runbook
from bot.monitoring.prometheus import DEFAULT_TIMEOUT_S, PrometheusClient
from bot.monitoring.readings import InsufficientData, Reading

NOT_CONFIGURED = "not_configured"


@dataclass(frozen=True)
class PrometheusServers:
    """Which Prometheus each runbook asks: its own ``prometheus`` or the default one."""

    default_url: str | None = None
    default_token_env: str | None = None
    tokens: dict[str, str] = field(default_factory=dict)  # environment variable -> token
    timeout: float = DEFAULT_TIMEOUT_S

    def client_for(self, runbook: Runbook) -> PrometheusClient | None:
        own = runbook.prometheus
        url = own.url if own is not None else self.default_url
        token_env = own.token_env if own is not None else self.default_token_env
        if url is None:
            return None
        token = self.tokens.get(token_env) if token_env else None
        return PrometheusClient(
            url, bearer_token=SecretStr(token) if token else None, timeout=self.timeout
        )


def _unusable(query: str, at: datetime, reason: str, detail: str) -> QueryReading:
    return QueryReading(query=query, at=at, value=None, reason=reason, detail=detail)


def no_server(query: str, at: datetime) -> QueryReading:
    detail = "no Prometheus server: set RELEASEBOT_PROMETHEUS_URL or the runbook's prometheus.url"
    return _unusable(query, at, NOT_CONFIGURED, detail)


def read_criterion(
    client: PrometheusClient | None, criterion: Criterion, at: datetime
) -> QueryReading:
    """The value ``criterion``'s query (relative: compared with its baseline) has at ``at``."""
    assert criterion.query is not None, "only query-backed criteria are asked"
    query = criterion.query
    if client is None:
        return no_server(query, at)
    canary = client.value(query, at=at)
    if isinstance(canary, InsufficientData):
        return _unusable(query, at, canary.reason.value, canary.detail)
    if criterion.baseline_query is None or criterion.compare is None:
        return QueryReading(query=query, at=at, value=canary.value, raw=canary.raw)
    baseline = client.value(criterion.baseline_query, at=at)
    shown = f"{query}` vs baseline `{criterion.baseline_query}"
    if isinstance(baseline, InsufficientData):
        detail = f"the baseline query: {baseline.detail}"
        return _unusable(shown, at, baseline.reason.value, detail)
    return _relative(criterion, shown, at, canary, baseline)


def _relative(
    criterion: Criterion, shown: str, at: datetime, canary: Reading, baseline: Reading
) -> QueryReading:
    assert criterion.compare is not None
    compared = relative_value(criterion.compare, canary.value, baseline.value)
    raw = f"{canary.raw} vs {baseline.raw}"
    if isinstance(compared, str):
        return QueryReading(
            query=shown, at=at, value=None, raw=raw, reason="undefined", detail=compared
        )
    value, arithmetic = compared
    return QueryReading(query=shown, at=at, value=value, raw=raw, arithmetic=arithmetic)


def read_history(
    client: PrometheusClient | None, criterion: Criterion, *, start: datetime, end: datetime
) -> tuple[list[Sample], QueryReading]:
    """``criterion``'s values from ``start`` to ``end`` every ``interval`` (a range query; two
    for a relative criterion, compared point by point), and the reading at ``end``."""
    assert criterion.query is not None
    latest = read_criterion(client, criterion, end)
    if client is None:
        return [], latest
    step = max(criterion.interval, timedelta(seconds=1))
    canary = client.series(criterion.query, start=start, end=end, step=step)
    if isinstance(canary, InsufficientData):
        return [], latest
    points = {point.at: point.value for point in canary.points}
    if criterion.baseline_query is not None and criterion.compare is not None:
        baseline = client.series(criterion.baseline_query, start=start, end=end, step=step)
        if isinstance(baseline, InsufficientData):
            return [], latest
        compared = {}
        for point in baseline.points:
            if point.at in points:
                value = relative_value(criterion.compare, points[point.at], point.value)
                if not isinstance(value, str):
                    compared[point.at] = value[0]
        points = compared
    return [Sample(criterion.metric, value, at) for at, value in sorted(points.items())], latest
