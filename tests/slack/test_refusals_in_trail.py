"""Every refused attempt reaches the trail: who, the roles they held, what they tried, why.

A double click, a click after the decision or past the deadline, an outsider's, the
requester's own approval, a second mark of a gate: each is answered privately and recorded
once, as an audit must see every attempt. Driven through signed HTTP and the emulator, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.trail import TrailEvent
from bot.devtools.sandbox import Sandbox
from bot.store import verify_trail
from tests.slack.support import RANKING, Bot, click_button


def refusals(bot: Bot, kind: str = "approval.refused") -> list[TrailEvent]:
    return [event for event in bot.trail() if event.kind == kind]


def test_each_refused_vote_is_one_trail_event_with_the_roles_held(bot: Bot) -> None:
    bot.start_ranking_review()  # by Alice, a release champion
    bot.pass_all_ranking_gates()
    approve = bot.driver.find_button(RANKING, "Approve")

    for _ in range(3):  # Bruno's triple click: his first vote counts, the others are kept
        assert bot.driver.click("U0BRUNO", RANKING, "Approve", approve.message.ts).status == 200
    bot.driver.click("U0ELENA", RANKING, "Approve", approve.message.ts)  # an outsider
    bot.driver.click("U0ALICE", RANKING, "Approve", approve.message.ts)  # the requester
    bot.driver.click("U0BRUNO", RANKING, "Reject", approve.message.ts)  # Bruno changes his mind
    bot.sandbox.settle()
    assert bot.trail_kinds().count("approval.approve") == 1
    whys = [(e.actor, e.payload["why"], e.payload["decision"]) for e in refusals(bot)]
    assert whys == [
        ("U0BRUNO", "duplicate", "approve"),
        ("U0BRUNO", "duplicate", "approve"),
        ("U0ELENA", "not_eligible", "approve"),
        ("U0ALICE", "self_approval", "approve"),
        ("U0BRUNO", "duplicate", "reject"),
    ]
    duplicate = refusals(bot)[0]
    assert duplicate.actor_role == "release_champion"
    assert duplicate.payload["roles_held"] == ["release_champion"]
    assert duplicate.payload["first_decision"] == "approve"
    assert refusals(bot)[2].payload["roles_held"] == []
    assert refusals(bot)[2].actor_role is None
    assert sum("already counted" in text for text in bot.ephemerals("U0BRUNO")) == 3

    # the go is decided; a click from a Slack client still showing the buttons is kept too
    assert bot.driver.click("U0CHIARA", RANKING, "Approve", approve.message.ts).status == 200
    bot.sandbox.settle()
    assert "go_no_go.approved" in bot.trail_kinds()
    assert click_button(bot, "U0ALICE", approve).status == 200
    bot.sandbox.settle()
    late = refusals(bot)[-1]
    assert (late.actor, late.payload["why"], late.payload["state"]) == (
        "U0ALICE", "after_decision", "approved",
    )  # fmt: skip
    assert late.payload["roles_held"] == ["release_champion"]
    assert any("already approved" in text for text in bot.ephemerals("U0ALICE"))
    assert bot.trail_kinds().count("approval.approve") == 2
    assert verify_trail(bot.sandbox.runtime.engine).intact


def test_a_second_mark_of_a_gate_is_kept(bot: Bot) -> None:
    bot.start_ranking_review()
    pass_eval = bot.driver.find_button(RANKING, "Pass", match="eval-metrics")
    assert bot.driver.click("U0CHIARA", RANKING, "Pass", match="eval-metrics").status == 200
    assert click_button(bot, "U0CHIARA", pass_eval).status == 200  # her double click
    bot.sandbox.settle()
    refused = refusals(bot, "gate.refused")
    assert [(e.actor, e.payload["why"], e.actor_role) for e in refused] == [
        ("U0CHIARA", "already_marked", "ml_lead")
    ]
    assert refused[0].payload["marked_by"] == "U0CHIARA"
    assert any("already marked passed" in text for text in bot.ephemerals("U0CHIARA"))

    # a gate the runbook no longer has (or never had): refused, and kept all the same
    gone = json.dumps({**json.loads(pass_eval.element["value"]), "gate_id": "retired-gate"})
    assert click_button(bot, "U0CHIARA", pass_eval, value=gone).status == 200
    bot.sandbox.settle()
    late = refusals(bot, "gate.refused")[-1]
    assert (late.actor, late.payload["gate"], late.payload["why"]) == (
        "U0CHIARA", "retired-gate", "unknown_gate",
    )  # fmt: skip


@dataclass
class MovableClock:
    """The bot's clock: fixed until the test moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def test_a_vote_past_the_deadline_is_refused_kept_and_closes_the_request(
    database_url: str,
) -> None:
    clock = MovableClock(datetime.now(UTC))
    with Sandbox.start(database_url=database_url, clock=clock) as sandbox:
        bot = Bot(sandbox)
        bot.start_ranking_review()
        bot.pass_all_ranking_gates()
        approve = bot.driver.find_button(RANKING, "Approve")
        clock.now += timedelta(hours=4, minutes=1)  # the go/no-go's expires_after is 4h
        assert click_button(bot, "U0BRUNO", approve).status == 200
        sandbox.settle()
        late = refusals(bot)
        assert [(e.actor, e.payload["why"]) for e in late] == [("U0BRUNO", "after_expiry")]
        assert late[0].payload["roles_held"] == ["release_champion"]
        assert any("expired" in text for text in bot.ephemerals("U0BRUNO"))
        kinds = bot.trail_kinds()
        assert "approval.approve" not in kinds
        assert kinds.count("go_no_go.expired") == 1  # closed once, by the click or its timer
        assert verify_trail(sandbox.runtime.engine).intact



def test_the_same_click_delivered_again_adds_nothing(bot: Bot) -> None:
    bot.start_ranking_review()
    bot.pass_all_ranking_gates()
    first = bot.driver.click("U0BRUNO", RANKING, "Approve")
    again = bot.driver.redeliver(first)  # the same body: the same action_ts
    assert (first.status, again.status) == (200, 200)
    bot.sandbox.settle()
    assert bot.trail_kinds().count("approval.approve") == 1
    assert refusals(bot) == []
    assert any("already counted" in text for text in bot.ephemerals("U0BRUNO"))
