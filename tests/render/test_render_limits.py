"""Slack's limits: overlong text is cut with a visible marker, never inside an escape."""

from __future__ import annotations

import json
from typing import Any

from bot.core.runbook import Runbook
from bot.render import Renderer
from bot.render.limits import MARKER, fit_blocks, fit_message, strip_trailing_commas, truncate
from bot.services.previews.messages import sample_context


def test_short_text_is_left_alone() -> None:
    assert truncate("hello", 10) == "hello"


def test_long_text_is_cut_with_the_marker() -> None:
    cut = truncate("x" * 5000, 3000)
    assert len(cut) <= 3000 and cut.endswith(MARKER)


def test_cuts_never_split_an_entity_or_a_slack_token() -> None:
    for prefix in range(2980, 3000):
        text = "a" * prefix + "&amp;&lt;<@U0ALICE><!date^1712754000^{time}|13:00 UTC>" + "b" * 200
        cut = truncate(text, 3000)
        body = cut.removesuffix(MARKER)
        assert len(cut) <= 3000
        assert body.count("<") == body.count(">")
        last_amp = body.rfind("&")
        assert last_amp == -1 or ";" in body[last_amp:]


def test_tiny_limits_use_a_short_marker() -> None:
    assert truncate("Reason for a very long action", 24).endswith("…")
    assert len(truncate("Reason for a very long action", 24)) <= 24


def test_trailing_commas_are_dropped_outside_strings_only() -> None:
    source = '{"a": [1, 2, ], "b": "x, ]", "c": {"d": "\\", }",}, }'
    expected = {"a": [1, 2], "b": "x, ]", "c": {"d": '", }'}}
    assert json.loads(strip_trailing_commas(source)) == expected


def test_more_than_fifty_blocks_end_in_a_note() -> None:
    blocks = [{"type": "divider"} for _ in range(70)]
    fitted = fit_blocks(blocks)
    assert len(fitted) == 50
    assert fitted[-1]["elements"][0]["text"] == "… 21 more blocks not shown"


def test_too_many_fields_and_context_elements_are_capped() -> None:
    field = {"type": "mrkdwn", "text": "f"}
    message: dict[str, Any] = {
        "text": "t" * 5000,
        "blocks": [
            {"type": "section", "fields": [dict(field) for _ in range(14)]},
            {"type": "context", "elements": [dict(field) for _ in range(12)]},
        ],
    }
    fitted = fit_message(message)
    assert len(fitted["text"]) <= 4000 and fitted["text"].endswith(MARKER)
    assert len(fitted["blocks"][0]["fields"]) == 10
    assert fitted["blocks"][0]["fields"][-1]["text"] == "… 5 more fields not shown"
    assert len(fitted["blocks"][1]["elements"]) == 10


def many_gates(runbook: Runbook, stages: int, gates: int) -> dict[str, Any]:
    context = sample_context("readiness_checklist", runbook)
    template = context["stages"][0]["gates"][0]
    context["stages"] = [
        {
            "id": f"stage-{s}",
            "title": f"Stage {s}",
            "gates": [
                {**template, "id": f"gate-{s}-{g}", "title": f"Gate {s}.{g}", "status": "open"}
                for g in range(gates)
            ],
        }
        for s in range(stages)
    ]
    return context


def test_a_checklist_with_many_gates_stays_within_fifty_blocks(
    renderer: Renderer, shipped_runbooks: dict[str, Runbook]
) -> None:
    context = many_gates(shipped_runbooks["ranking-model"], stages=8, gates=6)

    rendered = renderer.render("readiness_checklist", context)

    assert len(rendered["blocks"]) <= 50
    shown = sum(1 for block in rendered["blocks"] if block["block_id"].startswith("gate:"))
    note = next(block for block in rendered["blocks"] if block["block_id"] == "more_gates")
    assert note["elements"][0]["text"].startswith(f"… {48 - shown} more gates not shown")
    assert rendered["text"].endswith("0 of 48 gates passed, 48 open")


def test_a_checklist_with_many_stages_of_one_gate_stays_within_fifty_blocks(
    renderer: Renderer, shipped_runbooks: dict[str, Runbook]
) -> None:
    context = many_gates(shipped_runbooks["fraud-model"], stages=40, gates=1)

    rendered = renderer.render("readiness_checklist", context)

    assert len(rendered["blocks"]) <= 50
    assert any(block["block_id"] == "more_gates" for block in rendered["blocks"])


def test_a_long_reason_is_cut_in_the_checklist(
    renderer: Renderer, shipped_runbooks: dict[str, Runbook]
) -> None:
    context = sample_context("readiness_checklist", shipped_runbooks["ranking-model"])
    context["stages"][0]["gates"][0]["reason"] = "because & " * 2000

    rendered = renderer.render("readiness_checklist", context)

    gate = next(b for b in rendered["blocks"] if b["block_id"].startswith("gate:1.1:"))
    assert len(gate["text"]["text"]) <= 3000
    assert gate["text"]["text"].endswith(MARKER)
