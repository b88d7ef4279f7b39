"""Every template renders sample data of every shipped runbook into valid Block Kit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.core.runbook import Runbook
from bot.render import REQUIRED_TEMPLATES, Renderer, make_renderer
from bot.render.renderer import VIEW_TEMPLATES
from bot.services.previews.messages import sample_context

RUNBOOK_IDS = ["ranking-model", "fraud-model"]

BUTTONS = {
    "readiness_checklist": {"Pass": "gate_pass", "Fail": "gate_fail", "Waive": "gate_waive"},
    "go_no_go_request": {"Approve": "approval_approve", "Reject": "approval_reject"},
    "rollback_recommendation": {"Approve": "approval_approve", "Reject": "approval_reject"},
    "validation_result": {"Endorse": "rollback_endorse"},
}


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for block in message["blocks"]:
        for element in block.get("elements", []) + [block.get("accessory") or {}]:
            if element.get("type") == "button":
                found.append(element)
    return found


def test_every_required_template_is_shipped(renderer: Renderer) -> None:
    assert set(REQUIRED_TEMPLATES) <= set(renderer.available())


@pytest.mark.parametrize("runbook_id", RUNBOOK_IDS)
@pytest.mark.parametrize("name", REQUIRED_TEMPLATES)
def test_template_renders_valid_block_kit(
    renderer: Renderer, shipped_runbooks: dict[str, Runbook], name: str, runbook_id: str
) -> None:
    rendered = renderer.render(name, sample_context(name, shipped_runbooks[runbook_id]))

    if name in VIEW_TEMPLATES:
        assert View(**rendered).to_dict()["type"] == ("home" if name == "app_home" else "modal")
        return
    assert set(rendered) == {"text", "blocks"}
    assert rendered["text"].strip()
    assert 1 <= len(rendered["blocks"]) <= 50
    for block in rendered["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None and parsed.to_dict() == block  # nothing unknown or dropped
    block_ids = [block["block_id"] for block in rendered["blocks"] if "block_id" in block]
    assert len(block_ids) == len(set(block_ids))
    assert json.loads(json.dumps(rendered)) == rendered


@pytest.mark.parametrize("runbook_id", RUNBOOK_IDS)
@pytest.mark.parametrize("name", sorted(BUTTONS))
def test_buttons_carry_the_conventional_labels_ids_and_values(
    renderer: Renderer, shipped_runbooks: dict[str, Runbook], name: str, runbook_id: str
) -> None:
    rendered = renderer.render(name, sample_context(name, shipped_runbooks[runbook_id]))

    by_label = {button["text"]["text"]: button for button in buttons(rendered)}
    for label, action_id in BUTTONS[name].items():
        assert by_label[label]["action_id"] == action_id
        value = json.loads(by_label[label]["value"])
        assert value.get("request_id") or (value["review_id"] and value["gate_id"])


def test_open_gates_get_buttons_and_closed_gates_do_not(
    renderer: Renderer, shipped_runbooks: dict[str, Runbook]
) -> None:
    context = sample_context("readiness_checklist", shipped_runbooks["ranking-model"])
    rendered = renderer.render("readiness_checklist", context)

    gates = [gate for stage in context["stages"] for gate in stage["gates"]]
    open_ids = {gate["id"] for gate in gates if gate["status"] == "open"}
    with_buttons = {json.loads(b["value"])["gate_id"] for b in buttons(rendered)}
    assert with_buttons == open_ids
    text = json.dumps(rendered, ensure_ascii=False)
    for icon in ("⏳", "✅", "❌", "➖"):
        assert icon in text


def test_recommendation_shows_the_arithmetic_and_the_hold_button(
    renderer: Renderer, shipped_runbooks: dict[str, Runbook]
) -> None:
    context = sample_context("rollback_recommendation", shipped_runbooks["ranking-model"])
    rendered = renderer.render("rollback_recommendation", context)

    text = json.dumps(rendered, ensure_ascii=False)
    assert "revenue 1×0.5 + customer 1×0.3 + regulatory 0×0.2 = 0.80" in text
    assert "threshold 300 + margin 25 = *325*" in text
    assert "Hold" in {button["text"]["text"] for button in buttons(rendered)}
    assert "Not enough data" in text and "not healthy" in text


def test_high_risk_recommendation_has_no_hold_button(
    renderer: Renderer, shipped_runbooks: dict[str, Runbook]
) -> None:
    context = sample_context("rollback_recommendation", shipped_runbooks["fraud-model"])
    rendered = renderer.render("rollback_recommendation", context)

    assert context["auto_execute"] is None
    assert "Hold" not in {button["text"]["text"] for button in buttons(rendered)}
    who = next(block for block in rendered["blocks"] if block["block_id"] == "who_approves")
    assert "one Reject blocks" in who["text"]["text"]


def test_drills_are_marked_as_drills(
    renderer: Renderer, shipped_runbooks: dict[str, Runbook]
) -> None:
    for name in ("drill_start", "drill_report"):
        rendered = renderer.render(name, sample_context(name, shipped_runbooks["fraud-model"]))
        assert rendered["text"].startswith("[DRILL]")
        assert "DRILL" in rendered["blocks"][0]["text"]["text"]


def test_endorsed_validation_has_no_endorse_button(
    renderer: Renderer, shipped_runbooks: dict[str, Runbook]
) -> None:
    context = sample_context("validation_result", shipped_runbooks["ranking-model"])
    context["endorsed_by"] = "U0CHIARA"

    rendered = renderer.render("validation_result", context)

    assert buttons(rendered) == []
    assert "Endorsed by <@U0CHIARA>" in json.dumps(rendered)


def test_reason_modal_carries_the_ids_and_the_action(
    renderer: Renderer, shipped_runbooks: dict[str, Runbook]
) -> None:
    context = sample_context("reason_modal", shipped_runbooks["ranking-model"])
    view = renderer.render("reason_modal", context)

    assert view["callback_id"] == "reason_modal"
    assert json.loads(view["private_metadata"]) == {**context["metadata"], "action": "fail"}
    assert len(view["title"]["text"]) <= 24
    reason = next(block for block in view["blocks"] if block["type"] == "input")
    assert (reason["block_id"], reason["element"]["action_id"]) == ("reason", "reason")


def test_renderers_do_not_share_state(tmp_path: Path, renderer: Renderer) -> None:
    from bot.render import make_renderer

    other = make_renderer(tmp_path)
    assert other.environment is not renderer.environment
    assert other.available() == []


def test_warm_compiles_every_template_once_and_skips_broken_ones(
    tmp_path: Path, shipped_runbooks: dict[str, Runbook]
) -> None:
    shutil.copytree(Path(__file__).resolve().parents[2] / "templates", tmp_path, dirs_exist_ok=True)
    (tmp_path / "broken.json.j2").write_text('{"text": "{% if %}"}')
    renderer = make_renderer(tmp_path)
    shipped = len(list(tmp_path.glob("*.j2"))) - 1
    loads: list[str] = []
    original = renderer.environment.loader.get_source  # type: ignore[union-attr]

    def counting(environment: Any, name: str) -> Any:
        loads.append(name)
        return original(environment, name)

    renderer.environment.loader.get_source = counting  # type: ignore[union-attr,method-assign]
    assert renderer.warm() == shipped
    assert "broken.json.j2" in loads
    compiled = [name for name in loads if name != "broken.json.j2"]
    assert len(compiled) == shipped
    loads.clear()
    runbook = next(iter(shipped_runbooks.values()))
    assert renderer.render("reason_modal", sample_context("reason_modal", runbook))
    assert loads == [], "a warmed template is not loaded again"
