"""The App Home, end to end: a person opens the bot's Home tab (a signed ``app_home_opened``
event) and sees, as published with ``views.publish`` to the emulator, the gates and go/no-go
votes waiting for them, the releases in review and the recent decisions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.devtools.emulator import SlackEmulator, default_seed, render_blocks
from bot.devtools.sandbox import Sandbox
from tests.slack.support import RANKING, Bot, copy_runbooks

PERMALINK = "https://acme-ml.slack.com/archives/C0RANKREL/p"
ML_LEAD_GATES = ("NDCG@10 within 1% of the current model", "Exposure-fairness audit signed off")
CANARY_GATES = ("p99 latency under 300 ms for one hour", "Error rate under 2% for one hour")


def open_home(bot: Bot, user: str) -> str:
    """``user`` opens the Home tab; the page they see, as text (code spans shown plain)."""
    assert bot.driver.app_home_opened(user).status == 200
    bot.sandbox.settle()
    home = bot.slack.home_view(user)
    assert home is not None, f"no Home published for {user}"
    assert home.view["type"] == "home"
    return "\n".join(render_blocks(home.view["blocks"], bot.slack.state)).replace("`", "")


def section(page: str, heading: str) -> str:
    """The part of the page under ``heading``, up to the next divider."""
    start = page.index(heading)
    end = page.find("────", start)
    return page[start : end if end != -1 else None]


def test_before_anything_happens_the_home_says_so(bot: Bot) -> None:
    page = open_home(bot, "U0CHIARA")

    assert "For @chiara" in page
    assert "Gates waiting for you (0)" in page
    assert "No gates are waiting for you." in page
    assert "No release is in review." in page
    assert "Nothing decided yet." in page


def test_the_ml_lead_sees_her_two_gates_with_a_link_to_the_checklist(bot: Bot) -> None:
    bot.start_ranking_review()

    page = open_home(bot, "U0CHIARA")

    gates = section(page, "Gates waiting for you")
    assert "Gates waiting for you (2)" in gates
    for title in ML_LEAD_GATES:
        assert title in gates
    for title in CANARY_GATES:
        assert title not in gates
    assert "you mark it as ml_lead" in gates
    assert f"Open the checklist ({PERMALINK}" in gates
    active = section(page, "Releases in review")
    assert "Releases in review (1)" in active
    assert "ranking-model v2.4.0 · Search ranking model" in active
    assert "✅ 0 · ❌ 0 · ➖ 0 · ⏳ 4 open" in active
    assert "Started by @alice" in active


def test_an_sre_in_the_oncall_group_sees_the_canary_gates(bot: Bot) -> None:
    bot.start_ranking_review()

    gates = section(open_home(bot, "U0DMITRI"), "Gates waiting for you")

    assert "Gates waiting for you (2)" in gates
    for title in CANARY_GATES:
        assert title in gates
    for title in ML_LEAD_GATES:
        assert title not in gates


def test_a_marked_gate_leaves_the_owners_home(bot: Bot) -> None:
    bot.start_ranking_review()
    assert bot.driver.click("U0CHIARA", RANKING, "Pass", match="eval-metrics").status == 200
    bot.sandbox.settle()

    page = open_home(bot, "U0CHIARA")

    gates = section(page, "Gates waiting for you")
    assert "Gates waiting for you (1)" in gates
    assert ML_LEAD_GATES[0] not in gates and ML_LEAD_GATES[1] in gates
    assert "✅ 1 · ❌ 0 · ➖ 0 · ⏳ 3 open" in page


def test_the_go_no_go_waits_for_bruno_but_not_for_alice_who_asked(bot: Bot) -> None:
    bot.start_ranking_review()
    bot.pass_all_ranking_gates()

    bruno = section(open_home(bot, "U0BRUNO"), "Go/no-go decisions waiting")
    alice = section(open_home(bot, "U0ALICE"), "Go/no-go decisions waiting")

    assert "waiting for your vote (1)" in bruno
    assert "Go/no-go for ranking-model v2.4.0" in bruno
    assert "you vote as release_champion" in bruno
    assert "2 of 2 approvals still needed" in bruno
    assert "Requested by @alice" in bruno
    assert f"Open the request ({PERMALINK}" in bruno and "thread_ts=" in bruno
    assert "waiting for your vote (0)" in alice
    assert "No go/no-go decisions are waiting for your vote." in alice
    assert "Go/no-go for ranking-model" not in alice


def test_after_voting_the_request_leaves_the_voters_home(bot: Bot) -> None:
    bot.start_ranking_review()
    bot.pass_all_ranking_gates()
    assert bot.driver.click("U0BRUNO", RANKING, "Approve").status == 200
    bot.sandbox.settle()

    bruno = section(open_home(bot, "U0BRUNO"), "Go/no-go decisions waiting")
    chiara = section(open_home(bot, "U0CHIARA"), "Go/no-go decisions waiting")

    assert "waiting for your vote (0)" in bruno
    assert "waiting for your vote (1)" in chiara
    assert "you vote as ml_lead" in chiara
    assert "1 of 2 approvals still needed" in chiara


def test_after_the_go_the_decision_is_in_everyones_recent_decisions(bot: Bot) -> None:
    bot.start_ranking_review()
    bot.pass_all_ranking_gates()
    for approver in ("U0BRUNO", "U0CHIARA"):
        assert bot.driver.click(approver, RANKING, "Approve").status == 200
        bot.sandbox.settle()

    page = open_home(bot, "U0ELENA")

    recent = section(page, "Recent decisions")
    assert "✅ GO · ranking-model v2.4.0" in recent
    assert f"Open the thread ({PERMALINK}" in recent
    assert "UTC" in recent  # the time of the decision
    assert "Releases in review (0)" in page
    assert "Gates waiting for you (0)" in page


def test_opening_the_home_again_republishes_it_and_a_redelivery_counts_once(bot: Bot) -> None:
    first = bot.driver.app_home_opened("U0ALICE")
    bot.driver.redeliver(first)
    bot.sandbox.settle()
    assert len(bot.slack.calls("views.publish")) == 1

    bot.start_ranking_review()
    page = open_home(bot, "U0ALICE")

    assert len(bot.slack.calls("views.publish")) == 2
    assert "Releases in review (1)" in page


def test_the_messages_tab_publishes_nothing(bot: Bot) -> None:
    event = {"type": "app_home_opened", "user": "U0ALICE", "channel": "D0ALICE", "tab": "messages"}
    assert bot.driver.event(event).status == 200
    bot.sandbox.settle()

    assert bot.slack.calls("views.publish") == []


def test_a_hostile_version_is_shown_as_text_and_pings_nobody(bot: Bot) -> None:
    bot.start_ranking_review(version="v9<!here>&<@U0BRUNO>")

    page = open_home(bot, "U0CHIARA")

    home = bot.slack.home_view("U0CHIARA")
    raw = json.dumps(home.view)
    assert "<!here>" not in raw and "<@U0BRUNO>" not in raw
    assert "ranking-model v9<!here>&<@U0BRUNO>" in page  # what the reader sees, literally


def _oncall_owns_a_gate(tmp_path: Path) -> Path:
    """ranking-model with the canary error gate owned by the on-call user group."""
    return copy_runbooks(
        tmp_path,
        {
            "ranking-model.yaml": (
                "title: Error rate under 2% for one hour\n          owner: search_sre",
                "title: Error rate under 2% for one hour\n          owner: oncall",
            )
        },
    )


@pytest.fixture
def oncall_owns_a_gate(database_url: str, tmp_path: Path) -> Iterator[Bot]:
    runbooks = _oncall_owns_a_gate(tmp_path)
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks) as sandbox:
        yield Bot(sandbox)


@pytest.fixture
def oncall_owns_a_gate_and_groups_are_unreachable(
    database_url: str, tmp_path: Path
) -> Iterator[Bot]:
    """The same, with Slack refusing every user-group look-up from the start: the bot keeps
    its groups fresh from the moment it starts, so a fault injected later would meet a
    cached answer."""
    slack = SlackEmulator(default_seed()).start()
    slack.slack_error("usergroups.users.list", "missing_scope", times=1000)
    runbooks = _oncall_owns_a_gate(tmp_path)
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks, slack=slack) as sandbox:
        yield Bot(sandbox)


def test_a_gate_owned_through_a_user_group_is_shown_to_its_members(
    oncall_owns_a_gate: Bot,
) -> None:
    bot = oncall_owns_a_gate
    bot.start_ranking_review()

    bruno = section(open_home(bot, "U0BRUNO"), "Gates waiting for you")

    assert "Gates waiting for you (1)" in bruno
    assert "Error rate under 2% for one hour" in bruno
    assert "you mark it as oncall" in bruno


def test_when_a_user_group_cannot_be_looked_up_the_home_says_it_may_be_incomplete(
    oncall_owns_a_gate_and_groups_are_unreachable: Bot,
) -> None:
    bot = oncall_owns_a_gate_and_groups_are_unreachable
    bot.start_ranking_review()

    page = open_home(bot, "U0ELENA")

    assert "This list may be incomplete." in page
    assert "could not look up @oncall" in page
    gates = section(page, "Gates waiting for you")
    assert "p99 latency under 300 ms for one hour" in gates  # search_sre, held directly
    assert "Error rate under 2% for one hour" not in gates
