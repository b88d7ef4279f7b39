"""A gate check that names a criterion: judged from the criterion's pushed samples (stored,
both databases) or from its query (a real Prometheus), as the gate.check timer does."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from bot.core.gate_checks import CheckResult
from bot.core.replay import Sample
from bot.core.runbook import GateCheck, Runbook
from bot.runbooks.registry import RunbookRegistry
from bot.services.monitoring.asking import PrometheusServers
from bot.services.monitoring.gate_checks import GateCheckService
from bot.store import session_scope
from bot.store.samples import add_samples
from tests.monitoring.conftest import T0
from tests.monitoring.test_query_poller import runbook
from tests.prometheus_server import PrometheusServer

HALF_HOUR = GateCheck.model_validate({"criterion": "error_rate", "for": "30m", "step": "5m"})


def service(engine: Engine, book: Runbook, url: str | None = None) -> GateCheckService:
    return GateCheckService(
        engine=engine,
        runbooks=RunbookRegistry({book.id: book}),
        servers=PrometheusServers(default_url=url),
    )


def test_a_criterion_check_reads_the_pushed_samples(engine: Engine) -> None:
    book = runbook("unused").model_copy(
        update={"criteria": [runbook("unused").criteria[0].model_copy(update={"query": None})]}
    )
    values = [0.01, 0.012, 0.011, 0.013, 0.012, 0.011, 0.01]  # every 5 minutes, 30 min
    with session_scope(engine) as session:
        add_samples(
            session, runbook_id=book.id, source="metrics", now=T0 + timedelta(minutes=30),
            samples=[
                Sample("error_rate", v, T0 + timedelta(minutes=5 * i)) for i, v in enumerate(values)
            ],
        )  # fmt: skip
    checks = service(engine, book)
    held = checks.judge(book, HALF_HOUR, T0 + timedelta(minutes=30))
    assert held == CheckResult(
        "pass",
        "`error_rate` stayed under 0.02 for 30m: 7 values from 00:00 to 00:30, highest 0.013 "
        "at 00:15",
    )
    later = checks.judge(book, HALF_HOUR, T0 + timedelta(minutes=50))  # 20 minutes silent
    assert later.proposal is None and "gap of 20m" in later.evidence


def test_a_criterion_check_asks_the_criterion_query(
    engine: Engine, prometheus: PrometheusServer
) -> None:
    book = runbook('error_rate{job="ranking"}')  # 1 % rising 0.1 point a minute
    checks = service(engine, book, prometheus.url)
    early = checks.judge(book, HALF_HOUR, T0 + timedelta(minutes=9))
    assert early.proposal is None and "gap" in early.evidence  # data from 00:00 only
    late = checks.judge(book, HALF_HOUR, T0 + timedelta(minutes=30))
    assert late.proposal == "fail"
    assert late.evidence.startswith("`error_rate` was 0.04 at 00:30")
    unreachable = service(engine, book, "http://127.0.0.1:9").judge(
        book, HALF_HOUR, T0 + timedelta(minutes=30)
    )
    assert unreachable.proposal is None
    assert unreachable.evidence.startswith("cannot tell: unreachable")
