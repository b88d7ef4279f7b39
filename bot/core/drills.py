"""Game-day drills, pure: a drill run's lifecycle, who may start one, and its score.

A run is ``scheduled`` (its row exists for a slot), ``running`` (announced, values playing),
then ends once: ``decided`` (the expected path's quorum, or a rejection), ``timed_out``
(``drills[].timeout`` passed with no decision) or ``aborted`` (a real breach or rollback of the
same runbook, or ``/drill stop``); the report makes it ``reported``.

The score (0 to 100) is a sum of parts, each shown with its arithmetic, so that a team can see
what it lost points for (the way the impact score shows its weights):

- detection (15): the bot declared the breach no later than the criterion's ``sustain``
  allows after the first sample beyond the margin (plus one scenario interval);
- expected path (15): the recommendation named the drill's ``expected_path``;
- first response (20): ``20 × (1 − t / timeout)``, t from the recommendation to the first click;
- decision (25): ``25 × (1 − t / timeout)`` to the quorum on the recommended path (half for
  an approved path other than the expected one; 0 for a rejection, a timeout or an abort);
- refusals (10): 10, less 5 per refused vote (outsiders, self-approval);
- dry run (15): the dry run recorded what would have run, and nothing was called.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.lifecycle import Lifecycle
from bot.core.runbook import Drill, Runbook


class DrillState(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    DECIDED = "decided"
    TIMED_OUT = "timed_out"
    ABORTED = "aborted"
    REPORTED = "reported"


DRILL = Lifecycle.of(
    "drill run",
    DrillState.SCHEDULED,
    {
        DrillState.SCHEDULED: [DrillState.RUNNING, DrillState.ABORTED],
        DrillState.RUNNING: [DrillState.DECIDED, DrillState.TIMED_OUT, DrillState.ABORTED],
        DrillState.DECIDED: [DrillState.REPORTED],
        DrillState.TIMED_OUT: [DrillState.REPORTED],
        DrillState.ABORTED: [DrillState.REPORTED],
    },
)
ENDED = (DrillState.DECIDED, DrillState.TIMED_OUT, DrillState.ABORTED)
DRILL_STREAM_PREFIX = "drill:"


def drill_stream(run_id: int) -> str:
    """The sample stream of one run: never mixed with ``live`` (see docs/evidence.md)."""
    return f"{DRILL_STREAM_PREFIX}{run_id}"


def starter_roles(runbook: Runbook, drill: Drill) -> list[str]:
    """The roles whose members may start or stop ``drill`` by hand: ``drills[].starters``, else
    the runbook's ``release_champion`` role if it has one (owners are allowed besides)."""
    if drill.starters:
        return list(drill.starters)
    return ["release_champion"] if "release_champion" in runbook.roles else []


@dataclass(frozen=True)
class DrillFacts:
    """What happened in one run, as the report and the score need it (times are UTC)."""

    timeout: timedelta
    interval: timedelta
    sustain_samples: int | None  # the criterion's sustain as a count, or None (a duration)
    sustain_duration: timedelta | None
    first_beyond_at: datetime | None  # the first played sample beyond the margin
    detected_at: datetime | None  # the recommendation
    recommended_path: str | None
    expected_path: str | None
    first_click_at: datetime | None
    decided_at: datetime | None
    outcome: str  # approved | rejected | timed_out | aborted | expired
    approved_path: str | None
    refusals: int
    dry_run_validated: bool


@dataclass(frozen=True)
class ScorePart:
    name: str
    points: int
    out_of: int
    arithmetic: str


@dataclass(frozen=True)
class DrillScore:
    parts: tuple[ScorePart, ...]

    @property
    def total(self) -> int:
        return sum(part.points for part in self.parts)

    @property
    def arithmetic(self) -> str:
        """``detection 15 + expected path 15 + ... = 87``"""
        return " + ".join(f"{p.name} {p.points}" for p in self.parts) + f" = {self.total}"


def allowed_detection_delay(facts: DrillFacts) -> timedelta:
    """How long after the first sample beyond the margin the breach may be declared: the
    sustain (a count of samples at the scenario's interval, or a duration) and one interval."""
    if facts.sustain_duration is not None:
        return facts.sustain_duration + facts.interval
    return facts.interval * max(1, facts.sustain_samples or 1)


def _fraction_left(elapsed: timedelta, budget: timedelta) -> float:
    if budget <= timedelta(0):
        return 0.0
    return max(0.0, 1.0 - max(elapsed, timedelta(0)) / budget)


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:.1f} min"


def score(facts: DrillFacts) -> DrillScore:
    """The score of a run, part by part (see the module's docstring)."""
    parts: list[ScorePart] = []
    if facts.detected_at is None or facts.first_beyond_at is None:
        parts.append(ScorePart("detection", 0, 15, "breach not detected: 0"))
    else:
        delay = facts.detected_at - facts.first_beyond_at
        allowed = allowed_detection_delay(facts)
        on_time = delay <= allowed
        parts.append(
            ScorePart(
                "detection", 15 if on_time else 5, 15,
                f"detected {_minutes(delay)} after the first value beyond the margin "
                f"({'within' if on_time else 'later than'} the {_minutes(allowed)} the sustain "
                f"allows): {15 if on_time else 5}",
            )
        )  # fmt: skip
    if facts.expected_path is None:
        parts.append(ScorePart("expected path", 15, 15, "no expected path set: 15"))
    else:
        hit = facts.recommended_path == facts.expected_path
        parts.append(
            ScorePart(
                "expected path", 15 if hit else 0, 15,
                f"recommended {facts.recommended_path or 'nothing'}, expected "
                f"{facts.expected_path}: {15 if hit else 0}",
            )
        )  # fmt: skip
    budget = facts.timeout
    if facts.first_click_at is None or facts.detected_at is None:
        parts.append(ScorePart("first response", 0, 20, "nobody answered: 0"))
    else:
        elapsed = facts.first_click_at - facts.detected_at
        points = round(20 * _fraction_left(elapsed, budget))
        parts.append(
            ScorePart(
                "first response", points, 20,
                f"20 × (1 − {_minutes(elapsed)} / {_minutes(budget)}) = {points}",
            )
        )  # fmt: skip
    parts.append(_decision_part(facts, budget))
    refused = max(0, 10 - 5 * facts.refusals)
    parts.append(
        ScorePart("refusals", refused, 10, f"10 − 5 × {facts.refusals} refused vote(s) = {refused}")
    )
    dry = 15 if facts.dry_run_validated else 0
    parts.append(
        ScorePart(
            "dry run", dry, 15,
            "dry run recorded what would have run, nothing called: 15"
            if facts.dry_run_validated else "no validated dry run: 0",
        )
    )  # fmt: skip
    return DrillScore(tuple(parts))


def _decision_part(facts: DrillFacts, budget: timedelta) -> ScorePart:
    if facts.outcome != "approved" or facts.decided_at is None or facts.detected_at is None:
        return ScorePart("decision", 0, 25, f"{facts.outcome.replace('_', ' ')}: 0")
    elapsed = facts.decided_at - facts.detected_at
    expected = facts.expected_path is None or facts.approved_path == facts.expected_path
    weight = 25 if expected else 12.5
    points = round(weight * _fraction_left(elapsed, budget))
    label = "25" if expected else "12.5 (not the expected path)"
    text = f"{label} × (1 − {_minutes(elapsed)} / {_minutes(budget)}) = {points}"
    return ScorePart("decision", points, 25, text)


def trend(scores: list[int]) -> str:
    """Oldest first: ``improving``, ``worsening``, ``steady`` or ``too few drills``."""
    if len(scores) < 2:
        return "too few drills"
    half = len(scores) // 2
    before, after = scores[:half], scores[half:]
    change = sum(after) / len(after) - sum(before) / len(before)
    if change >= 5:
        return "improving"
    if change <= -5:
        return "worsening"
    return "steady"


# The drills' timers (bot.store.timers): kind, and the key ``drill:ID`` (starts: see below).
DRILL_START = "drill.start"  # key "drill:RUNBOOK:DRILL", due at each cron slot
DRILL_STEP = "drill.step"  # one per scenario value, payload {"index": i}
DRILL_TIMEOUT = "drill.timeout"
DRILL_CONCLUDE = "drill.conclude"  # score and report once the run has ended


def schedule_key(runbook_id: str, drill_id: str) -> str:
    return f"drill:{runbook_id}:{drill_id}"
