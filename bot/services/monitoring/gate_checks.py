"""Checking the self-checking gates of an open readiness review, and proposing Pass or Fail.

A ``gate.check`` timer repeats for each review with such gates, from the review's start until
no open gate is left to check. Each run reads the values of every open checked gate (a range
query to Prometheus, or a criterion's stored samples) outside any transaction, judges them
(``bot.core.gate_checks``), then in one unit stores the proposals and, when one changed,
records it in the trail (``gate.check_proposed``, with its evidence) and refreshes the
checklist. Marking the gate stays with its owner role (``GateService``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from bot.core.gate_checks import CheckResult, bound_of, judge_hold
from bot.core.releases import GateStatus, ReviewState
from bot.core.runbook import GateCheck, Runbook
from bot.core.subjects import release_subject
from bot.core.trail import ACTOR_BOT
from bot.monitoring.readings import InsufficientData
from bot.runbooks.registry import RunbookRegistry
from bot.services.monitoring.asking import PrometheusServers, read_history
from bot.services.outbox.jobs import UpdateChecklist
from bot.services.releases.review_rows import load_review
from bot.store import UnitOfWork, session_scope
from bot.store.gate_checks import save_check
from bot.store.locks import lock_row
from bot.store.samples import recent_samples
from bot.store.tables import ReadinessReview
from bot.store.units import DirectUnits, UnitRunner


def checked_gates(runbook: Runbook) -> list[tuple[str, GateCheck]]:
    """The gates of ``runbook`` that check themselves, with their checks."""
    stages = runbook.readiness.stages if runbook.readiness is not None else []
    return [(g.id, g.check) for s in stages for g in s.gates if g.check is not None]


class GateCheckService:
    def __init__(
        self,
        *,
        engine: Engine,
        runbooks: RunbookRegistry,
        servers: PrometheusServers,
        units: UnitRunner | None = None,
        after: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks
        self.servers = servers
        self.units = units if units is not None else DirectUnits(engine)
        self.after = after

    def check_review(self, *, review_id: int, now: datetime) -> bool:
        """Check the open checked gates of ``review_id``; False once none is left to check."""
        with session_scope(self.engine) as session:
            rows = load_review(session, review_id=review_id, runbooks=self.runbooks)
            if rows is None or rows.review.state != ReviewState.PENDING:
                return False
            open_gates = {s.gate_id for s in rows.gates if s.state == GateStatus.PENDING}
        runbook = rows.runbook
        due = [(gate, check) for gate, check in checked_gates(runbook) if gate in open_gates]
        if not due:
            return False
        results = {gate_id: self.judge(runbook, check, now) for gate_id, check in due}

        def record(uow: UnitOfWork) -> None:
            lock_row(uow.session, model=ReadinessReview, row_id=review_id)
            release = rows.release
            changed = False
            for gate_id, result in results.items():
                if not save_check(
                    uow.session, review_id=review_id, gate_id=gate_id, result=result, now=now
                ):
                    continue
                changed = True
                uow.trail(
                    kind="gate.check_proposed",
                    actor=ACTOR_BOT,
                    subject=release_subject(runbook.id, release.version),
                    at=now,
                    channel_id=rows.review.channel_id,
                    thread_ts=release.thread_ts,
                    payload={
                        "gate": gate_id,
                        "proposal": result.proposal,
                        "evidence": result.evidence,
                    },
                )
            if changed:
                uow.enqueue(UpdateChecklist(review_id=review_id), now=now)

        self.units.run(record)
        self.after()
        return True

    def judge(self, runbook: Runbook, check: GateCheck, now: datetime) -> CheckResult:
        """Read the check's values of the last ``for`` and judge them (network or a read)."""
        bound = bound_of(runbook, check)
        start = now - check.held_for
        criterion = runbook.criterion(check.criterion) if check.criterion else None
        if criterion is not None and criterion.query is None:  # pushed samples
            with session_scope(self.engine) as session:
                samples = recent_samples(
                    session, runbook_id=runbook.id, since=start, metrics=[criterion.metric]
                )
            points = [(s.at, s.value) for s in samples]
            return judge_hold(bound, points, end=now, held_for=check.held_for, step=check.step)
        client = self.servers.client_for(runbook)
        if criterion is not None:
            history, latest = read_history(client, criterion, start=start, end=now)
            if not history and not latest.usable:
                return CheckResult(None, f"cannot tell: {latest.reason}: {latest.detail}")
            points = [(s.at, s.value) for s in history]
            step = max(check.step, criterion.interval)
            return judge_hold(bound, points, end=now, held_for=check.held_for, step=step)
        assert check.query is not None
        if client is None:
            return CheckResult(None, "cannot tell: no Prometheus server is configured")
        series = client.series(check.query, start=start, end=now, step=check.step)
        if isinstance(series, InsufficientData):
            return CheckResult(None, f"cannot tell: {series.reason.value}: {series.detail}")
        points = [(p.at, p.value) for p in series.points]
        return judge_hold(bound, points, end=now, held_for=check.held_for, step=check.step)
