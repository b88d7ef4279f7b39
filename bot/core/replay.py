"""A criterion's replay, one sample at a time, as a small state that can be stored and resumed.

The state of a criterion after its samples in time order is a fold of ``step`` over them
(``replay``). It holds the replay's *position*, never the samples themselves: the breach/clear
machine, the current run of beyond or inside samples, the newest run of samples of any kind,
the newest few samples (for explanations), and an excerpt of the run that last switched the
machine. Its size is bounded, so a new sample costs the same after a year of samples as on
day one; ``bot.core.resume`` keeps it up to date as samples arrive, in order or late.

Samples are ordered by ``(at, value)`` (their *key*: two values at one instant are ordered by
value). A sample may say more than its time:

- ``since``: the source vouches that the value's side held since then (an Alertmanager alert's
  ``startsAt``). A run that *starts* with such a sample starts there (never before the data
  that came before it), which is what a duration ``sustain`` measures.
- ``seen_until``: the latest time the source confirmed the same observation (an alert re-sent
  unchanged). It keeps the data fresh and extends a duration run, but it is the same sample:
  a count ``sustain`` counts it once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.core.runbook import Criterion

OrderKey = tuple[datetime, float]
TAIL = 12  # newest samples kept in the state: a run's last values, the message's "recent"


class CriterionState(StrEnum):
    BREACH = "breach"
    CLEAR = "clear"
    INSUFFICIENT_DATA = "insufficient_data"


def _utc(moment: datetime | None, what: str) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"sample {what} {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Sample:
    """One observation of a metric; times must be time-zone aware and are kept in UTC."""

    metric: str
    value: float
    at: datetime
    since: datetime | None = None  # the source vouches the value's side held since then
    seen_until: datetime | None = None  # the latest confirmation of this same observation

    def __post_init__(self) -> None:
        at = _utc(self.at, "time")
        assert at is not None
        since = _utc(self.since, "since")
        seen = _utc(self.seen_until, "seen_until")
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "since", None if since is None else min(since, at))
        object.__setattr__(self, "seen_until", seen if seen is not None and seen > at else None)

    @property
    def key(self) -> OrderKey:
        return (self.at, self.value)

    @property
    def end(self) -> datetime:
        """The latest time this sample speaks for."""
        return self.seen_until or self.at


@dataclass(frozen=True)
class Run:
    """Consecutive samples of one kind: how many, the time they span, and the first one."""

    count: int
    start: datetime
    end: datetime
    first: Sample


@dataclass(frozen=True)
class Excerpt:
    """Some samples of a run, for explanations: ``count`` of them, the first when known, and
    the newest (all of them when ``complete``)."""

    count: int
    first: Sample | None
    newest: tuple[Sample, ...]

    @property
    def complete(self) -> bool:
        return len(self.newest) == self.count

    @property
    def samples(self) -> tuple[Sample, ...]:
        if self.complete or self.first is None:
            return self.newest
        return (self.first, *self.newest)


@dataclass(frozen=True)
class ReplayState:
    """Where the replay of a criterion's samples stands (see the module docstring)."""

    machine: CriterionState = CriterionState.CLEAR  # breach or clear
    side: int = 0  # the newest sample's side: 1 beyond, -1 inside, 0 band (or none yet)
    run: Run | None = None  # the current run of beyond (side 1) or inside (side -1) samples
    recent: Run | None = None  # the newest run of samples of any kind
    tail: tuple[Sample, ...] = ()  # the newest samples, oldest first, at most TAIL
    covered_until: datetime | None = None  # the latest time any sample speaks for
    changed_at: datetime | None = None  # when the machine last switched
    trigger: Excerpt | None = None  # the run that switched it
    count: int = 0  # samples replayed, for spacing checkpoints

    @property
    def latest(self) -> Sample | None:
        return self.tail[-1] if self.tail else None

    @property
    def key(self) -> OrderKey | None:
        """The key of the newest sample replayed."""
        return self.tail[-1].key if self.tail else None


def initial_state(prior: CriterionState | None = None) -> ReplayState:
    """Before any sample: clear, or breach when ``prior`` says so."""
    machine = CriterionState.BREACH if prior is CriterionState.BREACH else CriterionState.CLEAR
    return ReplayState(machine=machine)


def side_of(criterion: Criterion, value: float) -> int:
    """1 when beyond the breach point, -1 when inside the clear point, 0 in the band."""
    sign = 1 if criterion.direction == "above" else -1
    if sign * value > sign * criterion.breach_point:
        return 1
    return -1 if sign * value < sign * criterion.clear_point else 0


def sustained(run: Run | None, sustain: int | timedelta) -> bool:
    if run is None:
        return False
    if isinstance(sustain, int):
        return run.count >= sustain
    return run.start <= run.end - sustain


def _start(sample: Sample, before: datetime | None) -> datetime:
    """Where a run that begins with ``sample`` begins: its ``since``, but never before the
    data that came before it."""
    if sample.since is None:
        return sample.at
    return sample.since if before is None else min(max(sample.since, before), sample.at)


def _extend(run: Run, sample: Sample) -> Run:
    return Run(run.count + 1, run.start, max(run.end, sample.end), run.first)


def step(criterion: Criterion, state: ReplayState, sample: Sample) -> ReplayState:
    """The state after ``sample``, which must come after every sample already replayed."""
    before = state.covered_until
    gap = before is not None and sample.at - before > criterion.stale_after
    fresh = Run(1, _start(sample, before), sample.end, sample)
    recent = fresh if state.recent is None or gap else _extend(state.recent, sample)
    side = side_of(criterion, sample.value)
    run: Run | None = None
    if side != 0:
        joins = state.run is not None and state.side == side and not gap
        run = _extend(state.run, sample) if joins and state.run is not None else fresh
    tail = (*state.tail, sample)[-TAIL:]
    machine, changed_at, trigger = state.machine, state.changed_at, state.trigger
    wanted = 1 if machine is CriterionState.CLEAR else -1
    if side == wanted and sustained(run, criterion.sustain):
        assert run is not None
        machine = CriterionState.BREACH if side > 0 else CriterionState.CLEAR
        changed_at, trigger = sample.end, deciding(run, tail, criterion.sustain)
    return ReplayState(
        machine=machine,
        side=side,
        run=run,
        recent=recent,
        tail=tail,
        covered_until=sample.end if before is None else max(before, sample.end),
        changed_at=changed_at,
        trigger=trigger,
        count=state.count + 1,
    )


def replay(criterion: Criterion, ordered: list[Sample], state: ReplayState) -> ReplayState:
    """``step`` over ``ordered`` (in key order, after ``state``'s samples)."""
    for sample in ordered:
        state = step(criterion, state, sample)
    return state


def deciding(run: Run, tail: tuple[Sample, ...], sustain: int | timedelta) -> Excerpt:
    """The shortest newest part of ``run`` that sustains it (all of it, if it does not).

    ``tail`` holds the stream's newest samples, of which ``run`` is the newest part."""
    known = tail[-min(run.count, len(tail)) :]
    whole = len(known) == run.count
    if isinstance(sustain, int):
        n = min(run.count, sustain)
        if n <= len(known):
            return Excerpt(n, known[-n], known[-n:])
        return Excerpt(n, None, known)
    limit = run.end - sustain
    for i in range(len(known) - 1, -1, -1):
        begins = run.start if whole and i == 0 else known[i].at
        if begins <= limit:
            return Excerpt(len(known) - i, known[i], known[i:])
    return Excerpt(run.count, run.first, known)


def carry_over(state: ReplayState) -> ReplayState:
    """The state a changed criterion starts from: the decided breach or clear (and why) is
    kept, runs start again, so only samples judged by the new rule count towards it."""
    return replace(state, side=0, run=None, recent=None)


def policy_of(criterion: Criterion) -> str:
    """What the replay depends on: a stored state is valid while this stays the same."""
    sustain = (
        f"n{criterion.sustain}"
        if isinstance(criterion.sustain, int)
        else f"s{criterion.sustain.total_seconds()!r}"
    )
    stale = criterion.stale_after.total_seconds()
    return f"{criterion.direction}|{criterion.threshold!r}|{criterion.margin!r}|{sustain}|{stale!r}"


# --- the state as JSON (stored by bot.store.criterion_states) ---------------------------------


def _time_out(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _time_in(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _sample_out(sample: Sample | None) -> list[Any] | None:
    if sample is None:
        return None
    row: list[Any] = [sample.at.isoformat(), sample.value]
    if sample.since is not None or sample.seen_until is not None:
        row += [_time_out(sample.since), _time_out(sample.seen_until)]
    return row


def _sample_in(metric: str, row: list[Any] | None) -> Sample | None:
    if row is None:
        return None
    at, value, *more = row
    since, seen = (more + [None, None])[:2]
    return Sample(metric, float(value), _time_in(at), _time_in(since), _time_in(seen))  # type: ignore[arg-type]


def _run_out(run: Run | None) -> list[Any] | None:
    if run is None:
        return None
    return [run.count, run.start.isoformat(), run.end.isoformat(), _sample_out(run.first)]


def _run_in(metric: str, row: list[Any] | None) -> Run | None:
    if row is None:
        return None
    first = _sample_in(metric, row[3])
    assert first is not None
    return Run(int(row[0]), datetime.fromisoformat(row[1]), datetime.fromisoformat(row[2]), first)


def state_to_json(state: ReplayState) -> dict[str, Any]:
    trigger = state.trigger
    return {
        "machine": str(state.machine),
        "side": state.side,
        "run": _run_out(state.run),
        "recent": _run_out(state.recent),
        "tail": [_sample_out(s) for s in state.tail],
        "covered_until": _time_out(state.covered_until),
        "changed_at": _time_out(state.changed_at),
        "trigger": None
        if trigger is None
        else [trigger.count, _sample_out(trigger.first), [_sample_out(s) for s in trigger.newest]],
        "count": state.count,
    }


def state_from_json(metric: str, data: dict[str, Any]) -> ReplayState:
    def samples(rows: list[Any]) -> tuple[Sample, ...]:
        return tuple(s for s in (_sample_in(metric, row) for row in rows) if s is not None)

    trigger = data["trigger"]
    return ReplayState(
        machine=CriterionState(data["machine"]),
        side=int(data["side"]),
        run=_run_in(metric, data["run"]),
        recent=_run_in(metric, data["recent"]),
        tail=samples(data["tail"]),
        covered_until=_time_in(data["covered_until"]),
        changed_at=_time_in(data["changed_at"]),
        trigger=None
        if trigger is None
        else Excerpt(int(trigger[0]), _sample_in(metric, trigger[1]), samples(trigger[2])),
        count=int(data["count"]),
    )


def key_after(at: datetime) -> OrderKey:
    """A key after every sample at or before ``at``."""
    return (at, math.inf)
