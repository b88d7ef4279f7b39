"""``/report`` and ``/journal`` draw their durations over time as inline SVG on the server:
one dot per measurement at the time it ended, linked to its subject, each period's median,
no script; text from the trail (a hostile rollback id) shows as text."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.core.process_health import DESCRIPTIONS
from bot.devtools.emulator.visitor import Visitor
from bot.devtools.sandbox import Sandbox
from bot.store import append_trail_event, session_scope

HOSTILE = "rollback:<img_src=x_onerror=alert(1)>"


def seed_rollbacks(site: Sandbox) -> list[str]:
    """Six approved, executed and recovered rollbacks 50, 42, ... 10 days ago; the n-th
    waited n minutes for its approval."""
    now, subjects = site.now(), []
    with session_scope(site.runtime.engine) as session:
        for index in range(6):
            subject = HOSTILE if index == 4 else f"rollback:{100 + index}"
            subjects.append(subject)
            t0 = now - timedelta(days=50 - 8 * index)
            approved = t0 + timedelta(minutes=index + 1)
            story = [
                ("rollback.recommended", t0, "releasebot", {"path": "previous-model"}),
                ("approval.approve", approved, "U0BRUNO", {"request_id": index}),
                ("rollback.approved", approved, "releasebot", {"path": "previous-model"}),
                ("rollback.expected", approved, "releasebot",
                 {"path": "previous-model", "metric": "error_rate", "window_seconds": 600}),
                ("rollback.executed", approved + timedelta(minutes=1), "releasebot",
                 {"path": "previous-model", "outcome": "succeeded"}),
                ("rollback.validated", approved + timedelta(minutes=10), "releasebot",
                 {"outcome": "recovered", "recovered": True}),
            ]  # fmt: skip
            for kind, at, actor, payload in story:
                append_trail_event(session, kind=kind, actor=actor, subject=subject, at=at,
                                   payload={"runbook": "ranking-model", **payload})  # fmt: skip
    return subjects


def charts(body: str) -> list[str]:
    return re.findall(r'<svg class="chart".*?</svg>', body, re.S)


def figure(body: str, caption: str) -> str:
    """The SVG of the chart captioned ``caption``."""
    pattern = "<figcaption>" + re.escape(caption) + r" <.*?(<svg class=\"chart\".*?</svg>)"
    found = re.search(pattern, body, re.S)
    assert found, caption
    return found.group(1)


def test_report_and_journal_draw_durations_over_time(site: Sandbox, visitor: Visitor) -> None:
    subjects = seed_rollbacks(site)
    report = visitor.sign_in("U0ALICE", start="/report")
    assert report.status == 200 and "<script" not in report.body
    assert "<img" not in report.body and "&lt;img_src=x_onerror=alert(1)&gt;" in report.body
    drawn = charts(report.body)
    assert len(drawn) == 4  # first vote, quorum, execution, recovery: the figures measured
    quorum = figure(report.body, DESCRIPTIONS["quorum"])
    assert quorum.count("<circle") == 6
    # the 30 days before: 1, 2 and 3 minutes; the last 30 days: 4, 5 and 6 minutes
    assert "<title>median 2m of 3</title>" in quorum and "<title>median 5m of 3</title>" in quorum
    linked = re.findall(r'<a href="([^"]+)"><circle', quorum)
    assert linked[0] == "/trail/rollback:100"
    assert linked[4] == "/trail/rollback:%3Cimg_src%3Dx_onerror%3Dalert%281%29%3E"
    assert "rollback:100 (ranking-model): 1m, " in quorum
    recovery = figure(report.body, DESCRIPTIONS["recovery"])
    assert recovery.count("<circle") == 6 and "<title>median 12m of 3</title>" in recovery

    journal = visitor.get("/journal")
    assert journal.status == 200 and "<script" not in journal.body and "<img" not in journal.body
    waited = figure(journal.body, "breach detected (recommendation) → approved")
    assert waited.count("<circle") == 6 and "<title>median 3m30s of 6</title>" in waited
    recovered = figure(journal.body, "breach detected (recommendation) → validated recovery")
    assert recovered.count("<circle") == 6
    assert len(charts(journal.body)) == 2
    assert all(s in journal.body for s in subjects[:4])


def test_without_measurements_there_is_no_empty_chart(site: Sandbox, visitor: Visitor) -> None:
    report = visitor.sign_in("U0ALICE", start="/report")
    journal = visitor.get("/journal")
    assert report.status == journal.status == 200
    assert charts(report.body) == charts(journal.body) == []
    assert "No approved rollbacks in the trail" in journal.body
