"""Where samples from the hooks go: ``MetricIntake``, and ``StoringIntake`` which stores them.

The hooks only translate HTTP; the intake decides what a delivery means for a runbook. An
unknown runbook or metric is not an error of the sender's request (its monitoring may know
more runbooks than this deployment does): it is reported in the ``IngestResult`` and logged,
and the hook still answers 2xx, so that Alertmanager does not retry it forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine

from bot.core.criteria import Sample
from bot.core.runbook import Runbook
from bot.runbooks.registry import RunbookRegistry
from bot.store import session_scope
from bot.store.criterion_states import record_samples
from bot.store.samples import Observation

log = logging.getLogger(__name__)

# Called after the samples are committed, with the runbook id and ``now``; the rollback
# service evaluates the criteria there. A returned string becomes the result's ``decision``.
OnSamples = Callable[[str, datetime], object]


@dataclass(frozen=True)
class IngestResult:
    known_runbook: bool
    unknown_metrics: list[str] = field(default_factory=list)
    stored: int = 0  # new samples (exact repeats of stored ones are not counted)
    decision: str = ""  # short text for the sender and the log
    too_old: int = 0  # samples older than the history kept: they can no longer count


class MetricIntake(Protocol):
    def ingest(
        self,
        *,
        runbook_id: str,
        samples: list[Sample],
        source: str,
        now: datetime,
        alerts: list[dict[str, Any]] | None = None,
        alert_keys: Sequence[str | None] | None = None,
    ) -> IngestResult:
        """Take ``samples`` of ``runbook_id`` (``alerts``: the Alertmanager alerts they came
        from, as JSON-ready summaries; ``alert_keys``: each sample's alert identity, so that
        a re-sent alert is the same observation); never raises for unknown names, only for
        faults."""
        ...


def accepted_metrics(runbook: Runbook) -> set[str]:
    """The metrics a runbook reads: its criteria's, and those its paths validate with."""
    return {c.metric for c in runbook.criteria} | {p.validation.metric for p in runbook.paths}


class StoringIntake:
    """Validates names against the registry, stores known samples, then calls ``on_samples``."""

    def __init__(
        self,
        engine: Engine,
        registry: RunbookRegistry,
        on_samples: OnSamples | None = None,
    ) -> None:
        self._engine = engine
        self._registry = registry
        self._on_samples = on_samples

    def ingest(
        self,
        *,
        runbook_id: str,
        samples: list[Sample],
        source: str,
        now: datetime,
        alerts: list[dict[str, Any]] | None = None,
        alert_keys: Sequence[str | None] | None = None,
    ) -> IngestResult:
        runbook = self._registry.get(runbook_id)
        if runbook is None:
            log.warning(
                "ignoring %d sample(s) for unknown runbook %r from %s; %s",
                len(samples),
                runbook_id,
                source,
                self._registry.known_text(),
            )
            return IngestResult(known_runbook=False, decision="ignored: unknown runbook")
        readable = accepted_metrics(runbook)
        keys = list(alert_keys) if alert_keys is not None else [None] * len(samples)
        known = [
            Observation(sample, key)
            for sample, key in zip(samples, keys, strict=True)
            if sample.metric in readable
        ]
        unknown = sorted({s.metric for s in samples if s.metric not in readable})
        if unknown:
            log.warning(
                "ignoring samples of metrics %s: runbook %r has no criterion for them",
                ", ".join(unknown),
                runbook_id,
            )
        if not known:
            return IngestResult(
                known_runbook=True, unknown_metrics=unknown, decision="nothing to evaluate"
            )
        with session_scope(self._engine) as session:
            recorded = record_samples(
                session, runbook=runbook, observations=known, source=source, now=now
            )
        stored = recorded.stored
        log.info(
            "stored %d of %d sample(s) for %s from %s (%d alert(s) seen again, %d too old)",
            stored,
            len(known),
            runbook_id,
            source,
            recorded.refreshed,
            recorded.too_old,
        )
        return IngestResult(
            known_runbook=True,
            unknown_metrics=unknown,
            stored=stored,
            decision=self._evaluate(runbook_id, now, stored=stored),
            too_old=recorded.too_old,
        )

    def _evaluate(self, runbook_id: str, now: datetime, *, stored: int) -> str:
        """Hand over to the rollback service, even when every sample was a repeat.

        A repeat is how a sender retries after a failed answer; evaluating again is how a
        failed evaluation gets its retry. A failure here is logged and reported, never raised:
        the samples are committed, and a 5xx would only make a sender resend them.
        """
        if self._on_samples is None:
            return f"stored {stored}; no evaluator connected"
        try:
            outcome = self._on_samples(runbook_id, now)
        except Exception:  # noqa: BLE001 - reported in the answer and the log
            log.exception("evaluating %s after new samples failed", runbook_id)
            return f"stored {stored}; evaluation failed (logged)"
        return outcome if isinstance(outcome, str) and outcome else f"stored {stored}; evaluated"
