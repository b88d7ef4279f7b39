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
  samples themselves must span the duration (so at least two), no value is assumed to hold on.
* The samples are replayed in time order through a state machine starting at ``prior_state``
  (breach, or else clear): clear -> breach when a run of beyond samples is sustained, breach ->
  clear when a run of inside samples is. Noise within threshold +- margin, or a gap in the data,
  therefore never declares a breach and never clears one.
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
from enum import StrEnum

from bot.core.durations import format_duration
from bot.core.runbook import SEVERITY_ORDER, Criterion, Runbook, Severity


class CriterionState(StrEnum):
    BREACH = "breach"
    CLEAR = "clear"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class Sample:
    """One observation of a metric; ``at`` must be time-zone aware and is stored in UTC."""

    metric: str
    value: float
    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(f"sample time {self.at.isoformat()} has no time zone")
        object.__setattr__(self, "at", self.at.astimezone(UTC))
        object.__setattr__(self, "value", float(self.value))


@dataclass(frozen=True)
class CriterionEvaluation:
    metric: str
    state: CriterionState
    explanation: str
    samples: tuple[Sample, ...]  # the samples that decided the state
    latest_value: float | None
    latest_at: datetime | None
    breach_point: float
    clear_point: float
    severity: Severity | None  # the criterion's severity when in breach, else None
    machine_state: CriterionState  # breach or clear; pass back as ``prior_state``
    changed_at: datetime | None = None  # when the replay last switched breach <-> clear


@dataclass(frozen=True)
class _Replay:
    state: CriterionState
    beyond: tuple[Sample, ...]  # the newest run of beyond samples (empty if the last isn't)
    inside: tuple[Sample, ...]
    trigger: tuple[Sample, ...]  # the run that caused the last switch
    changed_at: datetime | None


def _sustained(run: Sequence[Sample], sustain: int | timedelta) -> bool:
    if not run:
        return False
    if isinstance(sustain, int):
        return len(run) >= sustain
    return run[0].at <= run[-1].at - sustain


def _deciding(run: Sequence[Sample], sustain: int | timedelta) -> tuple[Sample, ...]:
    """The shortest tail of ``run`` that sustains it (or all of it, if it does not)."""
    if isinstance(sustain, int):
        return tuple(run[-sustain:])
    start = max((i for i, s in enumerate(run) if s.at <= run[-1].at - sustain), default=0)
    return tuple(run[start:])


def _replay(criterion: Criterion, ordered: Sequence[Sample], prior: CriterionState) -> _Replay:
    state = CriterionState.BREACH if prior is CriterionState.BREACH else CriterionState.CLEAR
    beyond: list[Sample] = []
    inside: list[Sample] = []
    trigger: tuple[Sample, ...] = ()
    changed_at: datetime | None = None
    for i, sample in enumerate(ordered):
        if i and sample.at - ordered[i - 1].at > criterion.stale_after:
            beyond, inside = [], []  # a gap in the data ends every run
        side = _side_of(criterion, sample.value)
        if side > 0:
            beyond.append(sample)
            inside = []
        elif side < 0:
            inside.append(sample)
            beyond = []
        else:
            beyond, inside = [], []
        run = beyond if state is CriterionState.CLEAR else inside
        if _sustained(run, criterion.sustain):
            state = CriterionState.BREACH if run is beyond else CriterionState.CLEAR
            trigger, changed_at = _deciding(run, criterion.sustain), sample.at
    return _Replay(state, tuple(beyond), tuple(inside), trigger, changed_at)


def _side_of(criterion: Criterion, value: float) -> int:
    """1 when beyond the breach point, -1 when inside the clear point, 0 in the band."""
    sign = 1 if criterion.direction == "above" else -1
    if sign * value > sign * criterion.breach_point:
        return 1
    return -1 if sign * value < sign * criterion.clear_point else 0


def _newest_run(ordered: Sequence[Sample], stale_after: timedelta) -> list[Sample]:
    """The newest samples whose neighbours are at most ``stale_after`` apart."""
    start = len(ordered) - 1
    while start > 0 and ordered[start].at - ordered[start - 1].at <= stale_after:
        start -= 1
    return list(ordered[start:])


def evaluate_criterion(
    criterion: Criterion,
    samples: Sequence[Sample],
    now: datetime,
    *,
    prior_state: CriterionState | None = None,
) -> CriterionEvaluation:
    """The state of ``criterion`` at ``now``, with the reason; see the module docstring."""
    mine = [s for s in samples if s.metric == criterion.metric and s.at <= now]
    note = _nan_note(sum(1 for s in mine if math.isnan(s.value)))
    ordered = sorted({s for s in mine if not math.isnan(s.value)}, key=lambda s: (s.at, s.value))
    sustain, stale_after = criterion.sustain, criterion.stale_after
    replay = _replay(criterion, ordered, prior_state or CriterionState.CLEAR)
    latest = ordered[-1] if ordered else None

    def result(state: CriterionState, text: str, deciding: Sequence[Sample]) -> CriterionEvaluation:
        if state is CriterionState.INSUFFICIENT_DATA:
            text += "; missing data is never taken as healthy"
        return CriterionEvaluation(
            metric=criterion.metric,
            state=state,
            samples=tuple(deciding),
            explanation=f"{criterion.metric} {state.replace('_', ' ')}: {text}{note}",
            latest_value=latest.value if latest else None,
            latest_at=latest.at if latest else None,
            breach_point=criterion.breach_point,
            clear_point=criterion.clear_point,
            machine_state=replay.state,
            severity=criterion.severity if state is CriterionState.BREACH else None,
            changed_at=replay.changed_at,
        )

    if latest is None:
        return result(CriterionState.INSUFFICIENT_DATA, f"no samples at or before {_time(now)}", ())
    if now - latest.at > stale_after:
        held = " (last decided state: breach)" if replay.state is CriterionState.BREACH else ""
        return result(
            CriterionState.INSUFFICIENT_DATA,
            f"the newest sample ({_sample(latest)}) is {format_duration(now - latest.at)} old, "
            f"older than stale_after {format_duration(stale_after)}{held}",
            (latest,),
        )
    beyond = f"{_side(criterion, beyond=True)} ({_points(criterion)})"
    inside = _side(criterion, beyond=False)
    clears = f"clears only after {_rule(sustain)} {inside}"
    if replay.state is CriterionState.BREACH:
        if _sustained(replay.beyond, sustain):
            run = _deciding(replay.beyond, sustain)
            verb = "is" if len(run) == 1 else "are"
            text = f"{_listing(run)} {verb} {beyond}, sustained {_span(sustain)}; {clears}"
            return result(CriterionState.BREACH, text, run)
        when = "declared before these samples"
        if replay.changed_at is not None:
            when = (
                f"declared at {_time(replay.changed_at)} when {_values(replay.trigger)} "
                f"were {beyond}"
            )
        progress = (
            f"only {_count(len(replay.inside))} {inside} so far"
            if replay.inside
            else f"the latest, {_sample(latest)}, is not {inside}"
        )
        text = f"{when}; not cleared: {progress}; {clears}"
        return result(CriterionState.BREACH, text, replay.trigger or (latest,))
    recent = _newest_run(ordered, stale_after)
    if not _sustained(recent, sustain):
        need = (
            _rule(sustain)
            if isinstance(sustain, int)
            else f"samples spanning {format_duration(sustain)}"
        )
        text = (
            f"only {_values(recent)}; judging needs {need} "
            f"with no gap over {format_duration(stale_after)}"
        )
        return result(CriterionState.INSUFFICIENT_DATA, text, recent)
    run = _deciding(recent, sustain)
    if replay.changed_at is not None:
        text = (
            f"the breach cleared at {_time(replay.changed_at)} after "
            f"{_values(replay.trigger)} {inside}; latest {_sample(latest)}"
        )
    else:
        verb = "shows" if len(run) == 1 else "show"
        text = f"{_listing(run)} {verb} no breach; a breach needs {_rule(sustain)} {beyond}"
        if replay.beyond:
            n = len(replay.beyond)
            lead = "the latest sample is" if n == 1 else f"the last {n} samples are"
            text += f"; {lead} {_side(criterion, beyond=True)} so far"
    return result(CriterionState.CLEAR, text, run)


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
    return f"{sample.value:g} at {_time(sample.at)}"


def _values(run: Sequence[Sample]) -> str:
    """``3 samples (0.031 at 10:01, ...)``, shortened in the middle when long."""
    shown = (
        [_sample(s) for s in run]
        if len(run) <= 5
        else [_sample(run[0]), "...", *(_sample(s) for s in run[-3:])]
    )
    return f"{_count(len(run))} ({', '.join(shown)})"


def _listing(run: Sequence[Sample]) -> str:
    """``the last 3 samples (0.031 at 10:01, ...)``."""
    return f"the latest sample ({_sample(run[0])})" if len(run) == 1 else f"the last {_values(run)}"
