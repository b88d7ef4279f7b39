"""Breach detection: is a rollback criterion in breach, clear, or is there too little data?

* Only samples of the criterion's metric taken at or before ``now`` count; input order is free.
  NaN values are missing data (dropped as if never sent); identical samples (same time and
  value, e.g. a webhook delivered twice) count once.
* A sample is *beyond* when strictly beyond ``breach_point`` (``above``: value > threshold +
  margin; ``below``: value < threshold - margin) and *inside* when strictly inside
  ``clear_point``. Values in between are the hysteresis band: they neither start nor clear a
  breach, and they interrupt runs of both kinds.
* A *run* is consecutive samples of one kind with no two neighbours more than ``stale_after``
  apart (a longer gap ends every run). It *is sustained* when it holds ``sustain`` samples (an
  int) or, for a duration, when its first sample is at least ``sustain`` before its last: the
  samples themselves must span the duration (so at least two), no value is assumed to hold on
  (unless the source vouches for it: a sample's ``since`` and ``seen_until``, see
  ``bot.core.replay``).
* The samples are replayed in time order through a state machine starting at ``prior_state``
  (breach, or else clear): clear -> breach when a run of beyond samples is sustained, breach ->
  clear when a run of inside samples is. Noise within threshold +- margin, or a gap in the data,
  therefore never declares a breach and never clears one. The replay is ``bot.core.replay``;
  ``judge`` reports on its state, however it was reached (all at once here, or one sample at
  a time as they arrive, see ``bot.core.resume``).
* Reported state: ``insufficient_data`` when there is no sample, or the newest one is more than
  ``stale_after`` older than ``now``; else ``breach`` when the machine is in breach; else
  ``clear`` only when there is *enough to judge*: the newest run of samples of any kind (ending
  at the fresh newest sample, neighbours at most ``stale_after`` apart) is sustained by the same
  rule; otherwise ``insufficient_data``, since one good-looking sample is not proof of health.
* ``machine_state`` is what the machine holds (breach or clear) even when data is insufficient:
  callers pass it back as ``prior_state``, so that a stale spell never clears a breach.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.durations import format_duration
from bot.core.replay import (
    CriterionState,
    Excerpt,
    ReplayState,
    Run,
    Sample,
    deciding,
    initial_state,
    replay,
    sustained,
)
from bot.core.runbook import SEVERITY_ORDER, Criterion, Runbook, Severity

__all__ = [
    "CriterionEvaluation",
    "CriterionState",
    "Sample",
    "evaluate_all",
    "evaluate_criterion",
    "judge",
    "ordered_samples",
    "overall_severity",
]


@dataclass(frozen=True)
class CriterionEvaluation:
    metric: str
    state: CriterionState
    explanation: str
    samples: tuple[Sample, ...]  # the samples that decided the state (an excerpt when many)
    latest_value: float | None
    latest_at: datetime | None
    breach_point: float
    clear_point: float
    severity: Severity | None  # the criterion's severity when in breach, else None
    machine_state: CriterionState  # breach or clear; pass back as ``prior_state``
    changed_at: datetime | None = None  # when the replay last switched breach <-> clear


def ordered_samples(samples: Iterable[Sample]) -> list[Sample]:
    """``samples`` in replay order, one per key (time and value): a repeat counts once."""
    unique: dict[tuple[datetime, float], Sample] = {}
    for sample in sorted(samples, key=_tie_break):
        unique.setdefault(sample.key, sample)
    return list(unique.values())


def _tie_break(sample: Sample) -> tuple[datetime, float, datetime, datetime]:
    return (sample.at, sample.value, sample.since or sample.at, sample.end)


def evaluate_criterion(
    criterion: Criterion,
    samples: Sequence[Sample],
    now: datetime,
    *,
    prior_state: CriterionState | None = None,
) -> CriterionEvaluation:
    """The state of ``criterion`` at ``now``, with the reason; see the module docstring."""
    mine = [s for s in samples if s.metric == criterion.metric and s.at <= now]
    missing = sum(1 for s in mine if math.isnan(s.value))
    ordered = ordered_samples(s for s in mine if not math.isnan(s.value))
    state = replay(criterion, ordered, initial_state(prior_state))
    return judge(criterion, state, now, missing=missing)


def _whole(run: Run, tail: tuple[Sample, ...]) -> Excerpt:
    known = tail[-min(run.count, len(tail)) :]
    return Excerpt(run.count, run.first, known)


def judge(
    criterion: Criterion, state: ReplayState, now: datetime, *, missing: int = 0
) -> CriterionEvaluation:
    """Report on a replay's ``state`` at ``now`` (``missing``: NaN samples left out)."""
    note = _nan_note(missing)
    sustain, stale_after = criterion.sustain, criterion.stale_after
    latest = state.latest

    def result(
        state_now: CriterionState, text: str, deciding: Sequence[Sample]
    ) -> CriterionEvaluation:
        if state_now is CriterionState.INSUFFICIENT_DATA:
            text += "; missing data is never taken as healthy"
        return CriterionEvaluation(
            metric=criterion.metric,
            state=state_now,
            samples=tuple(deciding),
            explanation=f"{criterion.metric} {state_now.replace('_', ' ')}: {text}{note}",
            latest_value=latest.value if latest else None,
            latest_at=latest.at if latest else None,
            breach_point=criterion.breach_point,
            clear_point=criterion.clear_point,
            machine_state=state.machine,
            severity=criterion.severity if state_now is CriterionState.BREACH else None,
            changed_at=state.changed_at,
        )

    if latest is None or state.covered_until is None:
        return result(CriterionState.INSUFFICIENT_DATA, f"no samples at or before {_time(now)}", ())
    age = now - state.covered_until
    if age > stale_after:
        held = " (last decided state: breach)" if state.machine is CriterionState.BREACH else ""
        return result(
            CriterionState.INSUFFICIENT_DATA,
            f"the newest sample ({_sample(latest)}) is {format_duration(age)} old, "
            f"older than stale_after {format_duration(stale_after)}{held}",
            (latest,),
        )
    beyond = f"{_side(criterion, beyond=True)} ({_points(criterion)})"
    inside = _side(criterion, beyond=False)
    clears = f"clears only after {_rule(sustain)} {inside}"
    if state.machine is CriterionState.BREACH:
        if state.side == 1 and state.run is not None and sustained(state.run, sustain):
            run = deciding(state.run, state.tail, sustain)
            verb = "is" if run.count == 1 else "are"
            text = f"{_listing(run)} {verb} {beyond}, sustained {_span(sustain)}; {clears}"
            return result(CriterionState.BREACH, text, run.samples)
        when = "declared before these samples"
        if state.changed_at is not None and state.trigger is not None:
            when = (
                f"declared at {_time(state.changed_at)} when {_values(state.trigger)} were {beyond}"
            )
        inside_now = state.run.count if state.side == -1 and state.run is not None else 0
        progress = (
            f"only {_count(inside_now)} {inside} so far"
            if inside_now
            else f"the latest, {_sample(latest)}, is not {inside}"
        )
        text = f"{when}; not cleared: {progress}; {clears}"
        shown = state.trigger.samples if state.trigger is not None else (latest,)
        return result(CriterionState.BREACH, text, shown)
    need = (
        _rule(sustain)
        if isinstance(sustain, int)
        else f"samples spanning {format_duration(sustain)}"
    )
    if state.recent is None:
        text = (
            f"the criterion changed after the newest sample ({_sample(latest)}); judging needs "
            f"{need} under the new rule"
        )
        return result(CriterionState.INSUFFICIENT_DATA, text, (latest,))
    if not sustained(state.recent, sustain):
        recent = _whole(state.recent, state.tail)
        text = (
            f"only {_values(recent)}; judging needs {need} "
            f"with no gap over {format_duration(stale_after)}"
        )
        return result(CriterionState.INSUFFICIENT_DATA, text, recent.samples)
    run = deciding(state.recent, state.tail, sustain)
    if state.changed_at is not None and state.trigger is not None:
        text = (
            f"the breach cleared at {_time(state.changed_at)} after "
            f"{_values(state.trigger)} {inside}; latest {_sample(latest)}"
        )
    else:
        verb = "shows" if run.count == 1 else "show"
        text = f"{_listing(run)} {verb} no breach; a breach needs {_rule(sustain)} {beyond}"
        if state.side == 1 and state.run is not None:
            n = state.run.count
            lead = "the latest sample is" if n == 1 else f"the last {n} samples are"
            text += f"; {lead} {_side(criterion, beyond=True)} so far"
    return result(CriterionState.CLEAR, text, run.samples)


def evaluate_all(
    runbook: Runbook,
    samples: Sequence[Sample],
    now: datetime,
    prior_states: Mapping[str, CriterionState] | None = None,
) -> list[CriterionEvaluation]:
    """Every criterion of ``runbook`` in its order; ``prior_states`` is keyed by metric."""
    priors = prior_states or {}
    return [
        evaluate_criterion(c, samples, now, prior_state=priors.get(c.metric))
        for c in runbook.criteria
    ]


def overall_severity(evaluations: Iterable[CriterionEvaluation]) -> Severity | None:
    """The highest severity among the breaches, or None when nothing is in breach."""
    severities = [e.severity for e in evaluations if e.severity is not None]
    return max(severities, key=SEVERITY_ORDER.__getitem__, default=None)


def _side(criterion: Criterion, *, beyond: bool) -> str:
    word = (
        criterion.direction if beyond else {"above": "below", "below": "above"}[criterion.direction]
    )
    return f"{word} {criterion.breach_point if beyond else criterion.clear_point:g}"


def _points(criterion: Criterion) -> str:
    sign = "+" if criterion.direction == "above" else "-"
    return f"threshold {criterion.threshold:g} {sign} margin {criterion.margin:g}"


def _rule(sustain: int | timedelta) -> str:
    if isinstance(sustain, int):
        return "1 sample" if sustain == 1 else f"{sustain} consecutive samples"
    return f"{format_duration(sustain)} of samples"


def _span(sustain: int | timedelta) -> str:
    return _count(sustain) if isinstance(sustain, int) else format_duration(sustain)


def _count(n: int) -> str:
    return "1 sample" if n == 1 else f"{n} samples"


def _nan_note(n: int) -> str:
    return f" ({_count(n)} with NaN ignored as missing)" if n else ""


def _time(at: datetime) -> str:
    at = at.astimezone(UTC)
    return at.strftime("%H:%M" if at.second == 0 and at.microsecond == 0 else "%H:%M:%S")


def _sample(sample: Sample) -> str:
    confirmed = f", still so at {_time(sample.seen_until)}" if sample.seen_until else ""
    return f"{sample.value:g} at {_time(sample.at)}{confirmed}"


def _values(run: Excerpt) -> str:
    """``3 samples (0.031 at 10:01, ...)``, shortened in the middle when long."""
    newest = run.newest
    if run.complete and len(newest) <= 5:
        shown = [_sample(s) for s in newest]
    else:
        first = [_sample(run.first)] if run.first is not None else []
        shown = [*first, "...", *(_sample(s) for s in newest[-3:])]
    return f"{_count(run.count)} ({', '.join(shown)})"


def _listing(run: Excerpt) -> str:
    """``the last 3 samples (0.031 at 10:01, ...)``."""
    if run.count == 1 and run.newest:
        return f"the latest sample ({_sample(run.newest[-1])})"
    return f"the last {_values(run)}"
