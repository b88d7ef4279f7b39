"""Polling query-backed criteria: ask Prometheus, store the answer, evaluate.

Each query-backed criterion is a recurring timer (``prometheus.query``, one slot every
``interval``, claimed by one replica). A poll asks Prometheus about the slot's own time
(``due_at``) outside any transaction, then in one unit stores the reading and, when it has a
value, the sample (source ``prometheus``, stream ``live``), which advances the criterion's
state as a pushed sample would. The rollback service then evaluates the runbook and
recommends on a breach, exactly as after a push. A slot already read (a retry, a takeover)
is not asked again, and its sample's key is unique anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from bot.core.replay import Sample
from bot.runbooks.registry import RunbookRegistry
from bot.services.monitoring.asking import PrometheusServers, read_criterion
from bot.services.rollbacks.recommendations import RollbackService
from bot.store import UnitOfWork, session_scope
from bot.store.criterion_states import record_samples
from bot.store.query_readings import latest_readings, save_reading
from bot.store.samples import Observation
from bot.store.units import DirectUnits, UnitRunner

log = logging.getLogger(__name__)
SOURCE = "prometheus"


class QueryPoller:
    def __init__(
        self,
        *,
        engine: Engine,
        runbooks: RunbookRegistry,
        servers: PrometheusServers,
        rollbacks: RollbackService,
        units: UnitRunner | None = None,
        after: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks
        self.servers = servers
        self.rollbacks = rollbacks
        self.units = units if units is not None else DirectUnits(engine)
        self.after = after

    def poll(self, *, runbook_id: str, metric: str, at: datetime, now: datetime) -> str:
        """Read ``metric``'s query of ``runbook_id`` at ``at`` and evaluate; what happened."""
        runbook = self.runbooks.get(runbook_id)
        criterion = runbook.criterion(metric) if runbook is not None else None
        if runbook is None or criterion is None or criterion.query is None:
            return "no such query-backed criterion any more"
        with session_scope(self.engine) as session:
            stored = latest_readings(session, runbook_id=runbook.id).get(metric)
        if stored is not None and stored.at >= at:
            return "already read"
        reading = read_criterion(self.servers.client_for(runbook), criterion, at)
        if not reading.usable:  # said once per reason, not at every interval
            same = stored is not None and stored.reason == reading.reason
            (log.debug if same else log.warning)(
                "query of %s/%s at %s: insufficient data: %s: %s",
                runbook.id, metric, at.isoformat(), reading.reason, reading.detail,
            )  # fmt: skip

        def record(uow: UnitOfWork) -> None:
            save_reading(
                uow.session, runbook_id=runbook.id, metric=metric, reading=reading, now=now
            )
            if reading.value is not None:
                sample = Sample(metric, reading.value, at)
                record_samples(
                    uow.session, runbook=runbook, observations=[Observation(sample, None)],
                    source=SOURCE, now=now,
                )  # fmt: skip

        self.units.run(record)
        decided = self.rollbacks.on_samples(runbook.id, now)
        self.after()
        return decided
