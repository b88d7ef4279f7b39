"""Composite impact scores and the proportionate rollback recommendation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from bot.core.impact import (
    PathRecord,
    Recommendation,
    composite_score,
    recommend,
)
from bot.core.runbook import SEVERITY_ORDER, Impact, ImpactWeights, Runbook, Severity

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
SEVERITIES: list[Severity] = ["low", "medium", "high", "critical"]


def load(runbook_id: str) -> Runbook:
    return Runbook.model_validate(
        YAML(typ="safe").load((RUNBOOKS / f"{runbook_id}.yaml").read_text())
    )


def ranked_ids(recommendation: Recommendation) -> list[str]:
    return [recommendation.path.id, *(a.path.id for a in recommendation.alternatives)]


def reason_for(recommendation: Recommendation, path_id: str) -> str:
    return next(a.reason for a in recommendation.alternatives if a.path.id == path_id)


# --- composite score -------------------------------------------------------------------------


def test_score_shows_its_arithmetic() -> None:
    score = composite_score(
        Impact(revenue=1, customer=1, regulatory=0),
        ImpactWeights(revenue=0.5, customer=0.3, regulatory=0.2),
    )
    assert score.arithmetic == "revenue 1×0.5 + customer 1×0.3 + regulatory 0×0.2 = 0.80"
    assert score.value == 0.8
    assert score.display == "0.80"


def test_score_keeps_digits_beyond_two_decimals_rather_than_hide_a_difference() -> None:
    score = composite_score(
        Impact(revenue=1, customer=0, regulatory=0),
        ImpactWeights(revenue=0.125, customer=1, regulatory=1),
    )
    assert score.arithmetic.endswith("= 0.125")


def test_scores_equal_on_paper_are_equal_exactly() -> None:
    weights = ImpactWeights(revenue=0.1, customer=0.3, regulatory=1)
    three_tenths = composite_score(Impact(revenue=3, customer=0, regulatory=0), weights)
    one_times_three_tenths = composite_score(Impact(revenue=0, customer=1, regulatory=0), weights)
    assert three_tenths.exact == one_times_three_tenths.exact  # 3 × 0.1 is not 0.3 in floats


# --- recommendations with the shipped runbooks -----------------------------------------------


def test_nothing_breached_means_no_recommendation() -> None:
    assert recommend(load("ranking-model"), severity="high", breached_metrics=[]) is None


def test_latency_breach_gets_the_feature_flag_not_a_model_swap() -> None:
    rec = recommend(load("ranking-model"), severity="medium", breached_metrics=["p99_latency_ms"])
    assert rec is not None and rec.adequate
    assert rec.path.id == "disable-reranker"
    assert rec.score == 0.8
    assert rec.arithmetic == "revenue 1×0.5 + customer 1×0.3 + regulatory 0×0.2 = 0.80"
    assert rec.approval == rec.path.approval
    assert ranked_ids(rec) == ["disable-reranker", "previous-model", "shift-to-baseline"]
    assert reason_for(rec, "previous-model") == "more disruptive (1.60 > 0.80)"
    assert reason_for(rec, "shift-to-baseline") == "more disruptive (2.90 > 0.80)"
    assert "revenue 1×0.5 + customer 1×0.3 + regulatory 0×0.2 = 0.80" in rec.explanation
    assert "2. previous-model: 1.60, more disruptive (1.60 > 0.80)" in rec.explanation


def test_error_spike_at_high_severity_needs_the_previous_model() -> None:
    rec = recommend(
        load("ranking-model"), severity="high", breached_metrics=["error_rate", "p99_latency_ms"]
    )
    assert rec is not None and rec.path.id == "previous-model"
    assert ranked_ids(rec) == ["previous-model", "shift-to-baseline", "disable-reranker"]
    reranker = next(a for a in rec.alternatives if a.path.id == "disable-reranker")
    assert not reranker.adequate and reranker.score == 0.8
    assert "covers up to medium, severity is high" in reranker.reason
    assert "does not address error_rate" in reranker.reason
    assert rec.approval.roles == {"oncall": 1, "release_champion": 1}


def test_fraud_declines_get_the_rules_engine_switch() -> None:
    rec = recommend(load("fraud-model"), severity="high", breached_metrics=["decline_rate"])
    assert rec is not None and rec.path.id == "tighten-rules"
    assert rec.arithmetic == "revenue 2×0.3 + customer 3×0.3 + regulatory 1×0.4 = 1.90"
    assert reason_for(rec, "previous-model") == "more disruptive (2.00 > 1.90)"
    assert reason_for(rec, "restore-features") == "does not address decline_rate"


def test_critical_fraud_breach_skips_paths_that_cover_only_high() -> None:
    rec = recommend(
        load("fraud-model"), severity="critical", breached_metrics=["false_negative_rate"]
    )
    assert rec is not None and rec.path.id == "previous-model"
    assert ranked_ids(rec) == ["previous-model", "restore-features", "tighten-rules"]
    assert "covers up to high, severity is critical" in reason_for(rec, "tighten-rules")


# --- track records ---------------------------------------------------------------------------


def test_track_record_appears_in_the_explanation() -> None:
    records = {"previous-model": PathRecord(uses=5, recovered=4, median_minutes_to_recover=6)}
    rec = recommend(
        load("ranking-model"), severity="high", breached_metrics=["error_rate"], records=records
    )
    assert rec is not None and rec.record == records["previous-model"]
    assert "recovered in 4 of 5 past uses, median 6 min" in rec.explanation


def test_a_path_that_mostly_failed_ranks_after_paths_without_such_a_record() -> None:
    records = {"disable-reranker": PathRecord(uses=4, recovered=1)}
    rec = recommend(
        load("ranking-model"), severity="medium", breached_metrics=["ctr"], records=records
    )
    assert rec is not None and rec.path.id == "previous-model"
    assert ranked_ids(rec) == ["previous-model", "shift-to-baseline", "disable-reranker"]
    assert "poor track record (recovered in 1 of 4 past uses)" in reason_for(
        rec, "disable-reranker"
    )
    assert "fewer than half" in rec.explanation
    assert "without a poor track record" in rec.explanation


def test_two_failures_are_too_few_to_call_a_record_poor() -> None:
    records = {"disable-reranker": PathRecord(uses=2, recovered=0)}
    rec = recommend(
        load("ranking-model"), severity="medium", breached_metrics=["ctr"], records=records
    )
    assert rec is not None and rec.path.id == "disable-reranker"


def test_drills_are_shown_but_do_not_change_the_ranking() -> None:
    runbook = load("ranking-model")
    records = {"disable-reranker": PathRecord(drill_uses=6, drill_recovered=0)}
    plain = recommend(runbook, severity="medium", breached_metrics=["ctr"])
    drilled = recommend(runbook, severity="medium", breached_metrics=["ctr"], records=records)
    assert plain is not None and drilled is not None
    assert ranked_ids(drilled) == ranked_ids(plain)
    assert "drills: recovered in 0 of 6" in drilled.explanation


def test_impossible_records_are_refused() -> None:
    with pytest.raises(ValueError):
        PathRecord(uses=2, recovered=3)
    with pytest.raises(ValueError):
        PathRecord(drill_uses=-1)


# --- fallback --------------------------------------------------------------------------------


def test_without_an_adequate_path_the_fallback_is_announced_loudly() -> None:
    runbook = load("ranking-model")
    previous = runbook.paths[1].model_copy(update={"addresses": ["error_rate"]})
    narrowed = runbook.model_copy(update={"paths": [runbook.paths[0], previous]})
    rec = recommend(narrowed, severity="critical", breached_metrics=["ctr", "error_rate"])
    assert rec is not None and not rec.adequate
    assert rec.path.id == "previous-model"  # addresses as many (1), covers more
    assert rec.explanation.startswith("WARNING: NO ROLLBACK PATH COVERS")
    assert "does not address ctr" in rec.explanation
    assert "lower coverage (medium < critical)" in reason_for(rec, "disable-reranker")


# --- properties ------------------------------------------------------------------------------

METRICS = ["m1", "m2", "m3"]
WEIGHTS = st.sampled_from([0, 0.1, 0.2, 0.25, 0.3, 0.5, 1, 2])


@st.composite
def runbooks(draw: st.DrawFn) -> Runbook:
    def path(index: int) -> dict[str, Any]:
        addresses = draw(st.none() | st.lists(st.sampled_from(METRICS), min_size=1, unique=True))
        return {
            "id": f"p{index}",
            "title": f"path {index}",
            "kind": "other",
            "covers": draw(st.sampled_from(SEVERITIES)),
            "addresses": addresses,
            "impact": {
                name: draw(st.integers(0, 5)) for name in ("revenue", "customer", "regulatory")
            },
            "approval": {"roles": {"oncall": 1}},
            "executor": {"type": "dry-run"},
            "validation": {"metric": "m1", "window": "10m", "endorse_role": "oncall"},
        }

    weights = draw(st.tuples(WEIGHTS, WEIGHTS, WEIGHTS).filter(lambda w: sum(w) > 0))
    return Runbook.model_validate(
        {
            "id": "generated",
            "version": 1,
            "channels": ["C0GEN"],
            "roles": {"oncall": ["U0ONCALL"]},
            "criteria": [{"metric": m, "above": 1, "margin": 0.1} for m in METRICS],
            "impact_weights": dict(
                zip(("revenue", "customer", "regulatory"), weights, strict=True)
            ),
            "paths": [path(i) for i in range(draw(st.integers(1, 5)))],
        }
    )


def path_records(runbook: Runbook) -> st.SearchStrategy[dict[str, PathRecord]]:
    record = st.builds(
        lambda uses, ok, drills, drills_ok: PathRecord(
            uses=uses,
            recovered=min(ok, uses),
            drill_uses=drills,
            drill_recovered=min(drills_ok, drills),
        ),
        st.integers(0, 6),
        st.integers(0, 6),
        st.integers(0, 3),
        st.integers(0, 3),
    )
    return st.dictionaries(st.sampled_from([p.id for p in runbook.paths]), record)


breaches = st.lists(st.sampled_from(METRICS), min_size=1, max_size=3, unique=True)
cases = settings(max_examples=150, deadline=None)


def is_adequate(runbook: Runbook, path_id: str, severity: Severity, breached: list[str]) -> bool:
    path = runbook.path(path_id)
    assert path is not None
    covers = SEVERITY_ORDER[path.covers] >= SEVERITY_ORDER[severity]
    return covers and (path.addresses is None or set(breached) <= set(path.addresses))


def exact_score(runbook: Runbook, path_id: str) -> Any:
    path = runbook.path(path_id)
    assert path is not None
    return composite_score(path.impact, runbook.impact_weights).exact


@cases
@given(data=st.data(), runbook=runbooks(), severity=st.sampled_from(SEVERITIES), breached=breaches)
def test_recommendation_is_adequate_whenever_some_path_is(
    data: st.DataObject, runbook: Runbook, severity: Severity, breached: list[str]
) -> None:
    records = data.draw(path_records(runbook))
    rec = recommend(runbook, severity=severity, breached_metrics=breached, records=records)
    assert rec is not None
    any_adequate = any(is_adequate(runbook, p.id, severity, breached) for p in runbook.paths)
    assert rec.adequate == any_adequate == is_adequate(runbook, rec.path.id, severity, breached)


@cases
@given(runbook=runbooks(), severity=st.sampled_from(SEVERITIES), breached=breaches)
def test_no_adequate_path_is_less_disruptive_than_the_recommendation(
    runbook: Runbook, severity: Severity, breached: list[str]
) -> None:
    rec = recommend(runbook, severity=severity, breached_metrics=breached)
    assert rec is not None
    if rec.adequate:
        chosen = exact_score(runbook, rec.path.id)
        for alternative in rec.alternatives:
            if alternative.adequate:
                assert exact_score(runbook, alternative.path.id) >= chosen


@cases
@given(data=st.data(), runbook=runbooks(), severity=st.sampled_from(SEVERITIES), breached=breaches)
def test_with_records_no_clean_adequate_path_beats_a_clean_recommendation(
    data: st.DataObject, runbook: Runbook, severity: Severity, breached: list[str]
) -> None:
    records = data.draw(path_records(runbook))
    rec = recommend(runbook, severity=severity, breached_metrics=breached, records=records)
    assert rec is not None
    if rec.adequate and not (rec.record and rec.record.poor):
        chosen = exact_score(runbook, rec.path.id)
        for alternative in rec.alternatives:
            if alternative.adequate and not (alternative.record and alternative.record.poor):
                assert exact_score(runbook, alternative.path.id) >= chosen


@cases
@given(data=st.data(), runbook=runbooks(), severity=st.sampled_from(SEVERITIES), breached=breaches)
def test_the_order_of_breached_metrics_does_not_matter(
    data: st.DataObject, runbook: Runbook, severity: Severity, breached: list[str]
) -> None:
    records = data.draw(path_records(runbook))
    shuffled = data.draw(st.permutations(breached))
    first = recommend(runbook, severity=severity, breached_metrics=breached, records=records)
    second = recommend(runbook, severity=severity, breached_metrics=shuffled, records=records)
    assert first == second


@cases
@given(data=st.data(), runbook=runbooks(), breached=breaches)
def test_raising_severity_never_recommends_lower_coverage(
    data: st.DataObject, runbook: Runbook, breached: list[str]
) -> None:
    records = data.draw(path_records(runbook))
    coverage = []
    for severity in SEVERITIES:
        rec = recommend(runbook, severity=severity, breached_metrics=breached, records=records)
        assert rec is not None
        coverage.append(SEVERITY_ORDER[rec.path.covers])
    assert coverage == sorted(coverage)


@cases
@given(runbook=runbooks(), severity=st.sampled_from(SEVERITIES), breached=breaches)
def test_equal_scores_are_ranked_in_runbook_order(
    runbook: Runbook, severity: Severity, breached: list[str]
) -> None:
    rec = recommend(runbook, severity=severity, breached_metrics=breached)
    assert rec is not None
    order = [p.id for p in runbook.paths]
    adequate = [pid for pid in ranked_ids(rec) if is_adequate(runbook, pid, severity, breached)]
    keys = [(exact_score(runbook, pid), order.index(pid)) for pid in adequate]
    assert keys == sorted(keys)


@cases
@given(runbook=runbooks(), severity=st.sampled_from(SEVERITIES), breached=breaches)
def test_identical_paths_rank_side_by_side_in_runbook_order(
    runbook: Runbook, severity: Severity, breached: list[str]
) -> None:
    original = runbook.paths[0]
    copy = original.model_copy(update={"id": "zz-copy"})
    with_copy = runbook.model_copy(update={"paths": [copy, *runbook.paths]})
    rec = recommend(with_copy, severity=severity, breached_metrics=breached)
    assert rec is not None
    ranking = ranked_ids(rec)
    assert ranking.index("zz-copy") + 1 == ranking.index(original.id)


@cases
@given(data=st.data(), runbook=runbooks(), severity=st.sampled_from(SEVERITIES), breached=breaches)
def test_drill_outcomes_never_change_the_ranking(
    data: st.DataObject, runbook: Runbook, severity: Severity, breached: list[str]
) -> None:
    records = data.draw(path_records(runbook))
    real_only = {pid: PathRecord(uses=r.uses, recovered=r.recovered) for pid, r in records.items()}
    with_drills = recommend(runbook, severity=severity, breached_metrics=breached, records=records)
    without = recommend(runbook, severity=severity, breached_metrics=breached, records=real_only)
    assert with_drills is not None and without is not None
    assert ranked_ids(with_drills) == ranked_ids(without)
