"""The runbook's web page says which criteria are asked of Prometheus, and which gates check
themselves (over real HTTP, signed in with Slack through the emulator)."""

from __future__ import annotations

from pathlib import Path

from bot.devtools.emulator.visitor import Visitor
from bot.devtools.sandbox import Sandbox
from tests.slack.support import copy_runbooks

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "canary-model.yaml"


def test_the_policy_page_shows_queries_and_gate_checks(database_url: str, tmp_path: Path) -> None:
    folder = copy_runbooks(tmp_path, {})
    text = EXAMPLE.read_text().replace("http://prometheus.internal:9090", "http://127.0.0.1:9")
    (folder / "canary-model.yaml").write_text(text)
    with Sandbox.start(database_url=database_url, runbooks_dir=folder) as site:
        page = Visitor(site.server.url).sign_in("U0ALICE", start="/runbooks/canary-model")
    assert page.status == 200
    assert "asked of Prometheus every 30s: <code>sum(rate(reco_errors_total" in page.body
    assert "asked of Prometheus every 1m, percent difference from the baseline" in page.body
    assert "the bot checks <code>error_rate</code> and proposes" in page.body
