"""Monitoring's part of the composition root: the Prometheus poller and the self-checking
gates, their timers registered on the worker, and validation windows that read the query
first (kept out of ``bot.bootstrap`` so that file stays a readable map)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from bot.config import Settings, prometheus_tokens
from bot.runbooks.registry import RunbookRegistry
from bot.scheduler.queries import register_gate_checks, register_queries
from bot.scheduler.worker import TimerWorker
from bot.services.monitoring.asking import PrometheusServers
from bot.services.monitoring.gate_checks import GateCheckService
from bot.services.monitoring.queries import QueryPoller
from bot.services.rollbacks.executions import ExecutionService
from bot.services.rollbacks.recommendations import RollbackService


def wire_monitoring(
    *,
    settings: Settings,
    engine: Engine,
    registry: RunbookRegistry,
    worker: TimerWorker,
    rollbacks: RollbackService,
    executions: ExecutionService,
    after: Callable[[], None],
) -> QueryPoller:
    """Build the poller and the gate checks and register their timers; returns the poller."""
    poller = QueryPoller(
        engine=engine,
        runbooks=registry,
        servers=PrometheusServers(
            default_url=settings.prometheus_url,
            default_token_env=settings.prometheus_token_env,
            tokens=prometheus_tokens(settings, registry),
            timeout=settings.prometheus_timeout,
        ),
        rollbacks=rollbacks,
        after=after,
    )
    register_queries(worker, poller, registry)
    executions.poll_first = lambda runbook_id, metric, now: poller.poll(
        runbook_id=runbook_id, metric=metric, at=now, now=now
    )
    gate_checks = GateCheckService(
        engine=engine, runbooks=registry, servers=poller.servers, after=after
    )
    register_gate_checks(worker, gate_checks)
    return poller
