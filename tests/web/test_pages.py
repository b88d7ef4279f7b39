"""What a signed-in person sees: the trail list paged and filtered, a subject's timeline with
hostile text shown as text, downloads equal to ``trail export``, a broken chain shown loudly,
a runbook as policy, and bad input answered with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bot.devtools.emulator.visitor import Page, Visitor, form_link
from bot.devtools.sandbox import Sandbox
from bot.store import append_only, append_trail_event, export_subject, session_scope
from tests.slack.support import RANKING, Bot

HOSTILE_VERSION = "v1<script>alert('x')</script>"
HOSTILE_REASON = '<img src=x onerror="alert(1)"> <!channel> @here'


def test_text_typed_in_slack_shows_as_text(site: Sandbox, visitor: Visitor) -> None:
    bot = Bot(site)
    bot.start_ranking_review(version=HOSTILE_VERSION)
    assert bot.driver.click("U0CHIARA", RANKING, "Waive", match="bias-audit").status == 200
    assert bot.driver.submit_view("U0CHIARA", values={"reason": HOSTILE_REASON}).status == 200
    site.settle()
    listed = visitor.sign_in("U0ALICE")
    assert "<script>" not in listed.body and "&lt;script&gt;" in listed.body
    subject = f"release:ranking-model:{HOSTILE_VERSION}"
    page = visitor.get(form_link(listed.body, subject))
    assert page.status == 200
    assert "<script>" not in page.body and "<img" not in page.body
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &lt;!channel&gt; @here" in page.body
    assert "gate.waived" in page.body and "by <strong>U0CHIARA</strong>" in page.body
    assert "as ml_lead" in page.body  # the role the actor held
    assert "https://acme-ml.slack.com/archives/C0RANKREL/p" in page.body  # back to Slack


def test_the_list_pages_and_filters(site: Sandbox, visitor: Visitor) -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with session_scope(site.runtime.engine) as session:
        for index in range(120):
            kind, subject = (
                ("release.started", f"release:ranking-model:v0.{index}.0")
                if index % 2
                else ("rollback.recommended", f"rollback:{index}")
            )
            append_trail_event(
                session,
                kind=kind,
                actor="releasebot",
                subject=subject,
                at=start + timedelta(hours=index),
                payload={"runbook": "fraud-model"},
            )
    first = visitor.sign_in("U0ALICE")
    assert first.body.count('<a href="/trail/') == 50
    assert links(first)[0] == "/trail/release:ranking-model:v0.119.0"
    assert links(first)[-1] == "/trail/rollback:70"
    older = visitor.get(form_link(first.body, "Older →"))
    assert (
        older.body.count('<a href="/trail/') == 50 and "release:ranking-model:v0.69.0" in older.body
    )
    last = visitor.get(form_link(older.body, "Older →"))
    assert len(links(last)) == 20 and "Older →" not in last.body
    back = visitor.get(form_link(last.body, "← Newer"))
    assert links(back) == links(older)
    rollbacks = visitor.get("/trail?kind=rollback&runbook=fraud-model&q=11")
    assert links(rollbacks) == [f"/trail/rollback:{n}" for n in (118, 116, 114, 112, 110)]
    dated = visitor.get("/trail?from=2026-03-03&to=2026-03-03")
    assert len(links(dated)) == 24
    as_json = json.loads(visitor.get("/trail?kind=release&format=json").body)
    assert len(as_json["subjects"]) == 50 and as_json["older"].startswith("/trail?kind=release")
    for bad, reason in (
        ("kind=deploy", "kind must be one of"),
        ("from=03/03", "from must be a date"),
        ("before=-1", "before must be a positive whole number"),
    ):
        answer = visitor.get(f"/trail?{bad}")
        assert answer.status == 400 and reason in answer.body


def links(page: Page) -> list[str]:
    """The subjects a list page links to, in order."""
    return [href for href in page.body.split('"') if href.startswith("/trail/")]


def test_downloads_are_the_trail_export(site: Sandbox, visitor: Visitor) -> None:
    Bot(site).start_ranking_review()
    visitor.sign_in("U0BRUNO")
    subject = "release:ranking-model:v2.4.0"
    for fmt in ("md", "json"):
        download = visitor.get(f"/trail/{subject}?format={fmt}")
        assert download.status == 200 and "attachment" in download.headers["Content-Disposition"]
        assert download.body == export_subject(site.runtime.engine, subject=subject, fmt=fmt)
    assert visitor.get(f"/trail/{subject}?format=pdf").status == 400


def test_an_unknown_subject_suggests_the_one_meant(site: Sandbox, visitor: Visitor) -> None:
    Bot(site).start_ranking_review()
    visitor.sign_in("U0BRUNO")
    missing = visitor.get("/trail/release:ranking-model:2.4.0")
    assert missing.status == 404 and "release:ranking-model:v2.4.0" in missing.body
    malformed = visitor.get("/trail/deploy:7")
    assert malformed.status == 400 and "kind must be release, rollback or drill" in malformed.body


def test_a_broken_chain_is_shown_loudly_naming_the_first_bad_event(
    site: Sandbox, visitor: Visitor
) -> None:
    bot = Bot(site)
    bot.start_ranking_review()
    bot.pass_all_ranking_gates()
    subject = "release:ranking-model:v2.4.0"
    intact = visitor.sign_in("U0ALICE", start=f"/trail/{subject}")
    assert "Hash chain verified" in intact.body and "BROKEN" not in intact.body
    with site.runtime.engine.begin() as connection:  # someone with database access edits it
        append_only.uninstall(connection)
        connection.execute(
            text("UPDATE trail_events SET actor = 'U0MALLORY' WHERE seq = 3 AND subject = :s"),
            {"s": subject},
        )
        append_only.install(connection)
    page = visitor.get(f"/trail/{subject}")
    assert 'class="banner bad" role="alert"' in page.body
    assert "event #3" in page.body and "it was altered" in page.body
    assert page.body.count("BROKEN") == 1  # the altered event itself; the banner names it
    fresh = Sandbox.restart(site)  # a new process verifies the whole chain again
    try:
        again = Visitor(fresh.server.url)
        shown = again.sign_in("U0ALICE", start=f"/trail/{subject}")
        assert "hash chain is BROKEN at seq 3" in shown.body
        assert "altered: hash does not match its contents" in shown.body
    finally:
        fresh.stop()


def test_a_runbook_page_shows_its_policy_and_what_the_bot_saw(
    site: Sandbox, visitor: Visitor
) -> None:
    now = site.now()
    samples = [
        {"metric": "error_rate", "value": v, "at": (now - timedelta(minutes=5 - i)).isoformat()}
        for i, v in enumerate([0.012, 0.019, 0.031, 0.036, 0.041])
    ]
    from tests.slack.test_rollback import post

    assert post(site, "metrics", {"runbook": "ranking-model", "samples": samples})[0] == 202
    page = visitor.sign_in("U0ALICE", start="/runbooks/ranking-model")
    assert "revenue 2×0.5 + customer 2×0.3 + regulatory 0×0.2 = 1.60" in page.body
    assert "above 0.02 + margin 0.005: breach beyond 0.025, clears back under 0.015" in page.body
    assert '<svg class="chart"' in page.body and page.body.count('fill="#c01343"><title>') == 3
    assert "5 samples in the window" in page.body
    assert "release_champion" in page.body and "U0ALICE" in page.body
    assert visitor.get("/runbooks/nope").status == 404
    journal, report = visitor.get("/journal"), visitor.get("/report")
    assert journal.status == 200 and "No approved rollbacks in the trail" in journal.body
    assert report.status == 200  # the breach above was recommended: counted this period
    assert "<td>rollbacks recommended</td><td>1</td><td>0</td>" in report.body
