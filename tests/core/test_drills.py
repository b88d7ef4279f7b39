"""Drill runs, pure: the lifecycle, who may start a drill, and the score's arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.core.drills import DRILL, DrillFacts, DrillState, score, starter_roles, trend
from bot.core.runbook import Runbook
from bot.runbooks.files import load_runbooks
from tests.slack.support import RUNBOOKS

T0 = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def facts(**changes: object) -> DrillFacts:
    base = {
        "timeout": timedelta(minutes=30),
        "interval": timedelta(minutes=1),
        "sustain_samples": 3,
        "sustain_duration": None,
        "first_beyond_at": T0,
        "detected_at": T0 + timedelta(minutes=2),
        "recommended_path": "previous-model",
        "expected_path": "previous-model",
        "first_click_at": T0 + timedelta(minutes=5),
        "decided_at": T0 + timedelta(minutes=8),
        "outcome": "approved",
        "approved_path": "previous-model",
        "refusals": 1,
        "dry_run_validated": True,
    }
    return DrillFacts(**(base | changes))  # type: ignore[arg-type]


def ranking() -> Runbook:
    return load_runbooks(RUNBOOKS).runbooks["ranking-model"]


def test_the_lifecycle_ends_once_and_is_reported_once() -> None:
    assert DRILL.initial is DrillState.SCHEDULED
    for end in (DrillState.DECIDED, DrillState.TIMED_OUT, DrillState.ABORTED):
        assert DRILL.allows(DrillState.RUNNING, end)
        assert DRILL.sources(DrillState.REPORTED) == (
            DrillState.DECIDED, DrillState.TIMED_OUT, DrillState.ABORTED,
        )  # fmt: skip
    assert DRILL.is_terminal(DrillState.REPORTED)
    assert not DRILL.allows(DrillState.DECIDED, DrillState.ABORTED)


def test_a_good_run_scores_with_its_arithmetic_shown() -> None:
    result = score(facts())
    # detection 15, path 15, first click 3 min of 30: 18, quorum 6 min: 20, 1 refusal: 5, dry 15
    assert [p.points for p in result.parts] == [15, 15, 18, 20, 5, 15]
    assert result.total == 88
    assert result.arithmetic.endswith("= 88")
    assert "20 × (1 − 3.0 min / 30.0 min) = 18" in result.parts[2].arithmetic


def test_nobody_answering_scores_only_what_the_bot_did() -> None:
    result = score(
        facts(first_click_at=None, decided_at=None, outcome="timed_out", approved_path=None,
              refusals=0, dry_run_validated=False)
    )  # fmt: skip
    assert result.total == 15 + 15 + 0 + 0 + 10 + 0
    assert "timed out: 0" in result.arithmetic or result.parts[3].arithmetic == "timed out: 0"


def test_late_detection_and_another_path_cost_points() -> None:
    late = score(facts(detected_at=T0 + timedelta(minutes=9), approved_path="disable-reranker",
                       recommended_path="disable-reranker"))  # fmt: skip
    assert late.parts[0].points == 5 and late.parts[1].points == 0
    assert "not the expected path" in late.parts[3].arithmetic


@given(
    click=st.integers(min_value=0, max_value=7200),
    decide=st.integers(min_value=0, max_value=7200),
    refusals=st.integers(min_value=0, max_value=9),
    outcome=st.sampled_from(["approved", "rejected", "timed_out", "aborted"]),
    validated=st.booleans(),
    detected=st.booleans(),
)
def test_the_score_is_always_0_to_100_and_its_parts_add_up(
    click: int, decide: int, refusals: int, outcome: str, validated: bool, detected: bool
) -> None:
    result = score(
        facts(
            first_click_at=T0 + timedelta(seconds=click),
            decided_at=T0 + timedelta(seconds=decide),
            refusals=refusals,
            outcome=outcome,
            dry_run_validated=validated,
            detected_at=T0 + timedelta(minutes=2) if detected else None,
        )
    )
    assert 0 <= result.total <= 100
    assert sum(p.out_of for p in result.parts) == 100
    assert all(0 <= p.points <= p.out_of for p in result.parts)
    assert result.arithmetic.endswith(f"= {result.total}")


def test_starters_default_to_the_release_champions() -> None:
    runbook = ranking()
    drill = runbook.drills[0]
    assert starter_roles(runbook, drill) == ["release_champion"]
    chosen = drill.model_copy(update={"starters": ["oncall"]})
    assert starter_roles(runbook, chosen) == ["oncall"]


def test_trend_compares_recent_drills_with_earlier_ones() -> None:
    assert trend([40]) == "too few drills"
    assert trend([40, 50, 70, 80]) == "improving"
    assert trend([80, 60]) == "worsening"
    assert trend([70, 72]) == "steady"
