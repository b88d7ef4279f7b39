"""Slack messages link to the pages that concern them ("View in browser") when the bot knows
its public URL (``RELEASEBOT_PUBLIC_URL``), and say nothing of pages when it does not."""

from __future__ import annotations

import json
from pathlib import Path

from bot.render import make_renderer
from bot.runbooks.files import load_runbooks
from bot.services.previews.fixtures import RECOMMENDATION_ID
from bot.services.previews.messages import sample_context

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "https://releasebot.example.com"


def rendered(template: str, public_url: str | None) -> str:
    runbook = load_runbooks(ROOT / "runbooks").runbooks["ranking-model"]
    context = sample_context(template, runbook)
    renderer = make_renderer(ROOT / "templates", public_url=public_url)
    return json.dumps(renderer.render(template, context), ensure_ascii=False)


def test_a_rollback_s_approval_state_links_to_its_page() -> None:
    shown = rendered("approval_state", PUBLIC)
    assert f"<{PUBLIC}/trail/rollback:{RECOMMENDATION_ID}|View in browser>" in shown
    assert "View in browser" not in rendered("approval_state", None)


def test_a_readiness_checklist_links_to_the_release_page() -> None:
    shown = rendered("readiness_checklist", PUBLIC)
    assert f"<{PUBLIC}/trail/release:ranking-model:" in shown and "|View in browser>" in shown
    assert "View in browser" not in rendered("readiness_checklist", None)


def test_a_drill_s_announcement_and_report_link_to_its_page() -> None:
    for template in ("drill_start", "drill_report"):
        runbook = load_runbooks(ROOT / "runbooks").runbooks["ranking-model"]
        run_id = sample_context(template, runbook)["drill_run_id"]
        shown = rendered(template, PUBLIC)
        assert f"<{PUBLIC}/trail/drill:{run_id}|View in browser>" in shown, template
        assert "View in browser" not in rendered(template, None)


def test_the_app_home_links_to_the_journal_and_the_report() -> None:
    shown = rendered("app_home", PUBLIC)
    assert f"<{PUBLIC}/journal|View in browser>" in shown
    assert f"<{PUBLIC}/report|View in browser>" in shown
    plain = rendered("app_home", None)
    assert "View in browser" not in plain and "figures_page" not in plain
