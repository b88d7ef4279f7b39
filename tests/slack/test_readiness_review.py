"""Readiness reviews in a Slack channel, end to end: only signed HTTP to /slack/events and the
emulator's Web API; assertions on what the channel shows and what the trail holds."""

from __future__ import annotations

import pytest

from bot.devtools.emulator import SlackEmulator, default_seed
from bot.devtools.sandbox import Sandbox
from bot.store import verify_trail
from tests.slack.support import FRAUD, RANKING, Bot, answer_text


def test_a_whole_review_from_start_to_an_approved_go(bot: Bot) -> None:
    answer = bot.start_ranking_review()
    assert "Starting the readiness review of `ranking-model` v2.4.0" in answer_text(answer)
    root = bot.slack.messages(RANKING, replies=False)[0]
    assert "Readiness: Search ranking model v2.4.0" in bot.transcript()
    assert bot.driver.find_button(RANKING, "Waive", match="bias-audit").message.ts == root.ts

    bot.pass_all_ranking_gates()
    assert bot.driver.click("U0BRUNO", RANKING, "Approve").status == 200
    bot.sandbox.settle()
    assert bot.driver.click("U0CHIARA", RANKING, "Approve").status == 200
    bot.sandbox.settle()

    channel = bot.transcript()
    assert "Progress: ✅ 4 passed · ❌ 0 failed · ➖ 0 waived · ⏳ 0 open, of 4" in channel
    assert "Go/no-go for ranking-model v2.4.0: APPROVED" in channel
    assert "✅ @bruno (release_champion) approved" in channel
    assert "✅ @chiara (ml_lead) approved" in channel
    # the request message no longer offers buttons
    request = [m for m in bot.slack.thread(RANKING, root.ts) if m.edits]
    assert request and all(block.get("type") != "actions" for m in request for block in m.blocks)
    kinds = bot.trail_kinds()
    assert kinds[0] == "release.started"
    assert kinds.count("gate.passed") == 4
    assert kinds.index("go_no_go.requested") < kinds.index("approval.approve")
    assert "go_no_go.approved" in kinds
    posted = [e for e in bot.trail() if e.kind == "slack.message_posted"]
    assert all(e.permalink and e.permalink.startswith("https://") for e in posted)
    assert verify_trail(bot.sandbox.runtime.engine).intact


def test_an_outsider_pressing_pass_is_refused_and_the_refusal_is_recorded(bot: Bot) -> None:
    bot.start_ranking_review()
    assert bot.driver.click("U0BRUNO", RANKING, "Pass", match="eval-metrics").status == 200
    bot.sandbox.settle()
    assert any("Only members of *ml_lead* can mark" in t for t in bot.ephemerals("U0BRUNO"))
    refused = [e for e in bot.trail() if e.kind == "gate.refused"]
    assert len(refused) == 1
    assert refused[0].actor == "U0BRUNO"
    assert refused[0].payload["why"] == "not_owner"
    assert "gate.passed" not in bot.trail_kinds()
    # the gate is still open for its owner
    bot.driver.find_button(RANKING, "Pass", match="eval-metrics")


def test_a_double_click_counts_once(bot: Bot) -> None:
    bot.start_ranking_review()
    first = bot.driver.find_button(RANKING, "Pass", match="eval-metrics")
    for _ in range(2):
        assert (
            bot.driver.click(
                "U0CHIARA", RANKING, "Pass", first.message.ts, match="eval-metrics"
            ).status
            == 200
        )
    bot.sandbox.settle()
    assert bot.trail_kinds().count("gate.passed") == 1
    updates = [m for m in bot.slack.messages(RANKING) if m.is_reply and "passed by" in m.text]
    assert len(updates) == 1
    assert any("already marked passed" in t for t in bot.ephemerals("U0CHIARA"))


def test_a_double_click_on_approve_counts_one_vote(bot: Bot) -> None:
    bot.start_ranking_review()
    bot.pass_all_ranking_gates()
    button = bot.driver.find_button(RANKING, "Approve")
    for _ in range(2):
        bot.driver.click("U0BRUNO", RANKING, "Approve", button.message.ts)
    bot.sandbox.settle()
    assert bot.trail_kinds().count("approval.approve") == 1
    assert "1 of 2 approvals still needed" in bot.transcript()
    assert any("already counted" in t for t in bot.ephemerals("U0BRUNO"))


def test_a_redelivered_announcement_starts_one_review(bot: Bot) -> None:
    first = bot.driver.message("U0DEPLOYBOT", RANKING, "ranking-model v2.4.0 to canary")
    again = bot.driver.redeliver(first)
    assert (first.status, again.status) == (200, 200)
    bot.sandbox.settle()
    checklists = [m for m in bot.slack.messages(RANKING, replies=False) if "Readiness" in m.text]
    assert len(checklists) == 1
    assert bot.trail_kinds().count("release.started") == 1
    assert bot.trail()[0].payload["source"] == "channel_message"


def test_thread_replies_are_kept_in_the_trail_once(bot: Bot) -> None:
    bot.start_ranking_review()
    root = bot.slack.messages(RANKING, replies=False)[0]
    reply = bot.driver.message(
        "U0CHIARA", RANKING, "eval report: <https://evil|click> <!here>", thread_ts=root.ts
    )
    bot.driver.redeliver(reply)
    bot.driver.message("U0BRUNO", RANKING, "unrelated chatter")  # not in a release thread
    replies = [e for e in bot.trail() if e.kind == "conversation.reply"]
    assert len(replies) == 1
    assert replies[0].actor == "U0CHIARA"
    assert replies[0].payload["text"] == "eval report: <https://evil|click> <!here>"
    assert replies[0].thread_ts == root.ts


def test_status_in_a_thread_answers_in_that_thread(bot: Bot) -> None:
    bot.start_ranking_review()
    root = bot.slack.messages(RANKING, replies=False)[0]
    bot.driver.app_mention("U0ALICE", RANKING, "<@U0RELEASEBOT> status", thread_ts=root.ts)
    bot.sandbox.settle()
    answers = [m for m in bot.slack.thread(RANKING, root.ts) if "Active releases" in m.text]
    assert len(answers) == 1
    assert "ranking-model` v2.4.0" in answers[0].text
    assert "⏳ 4" in answers[0].text


def test_the_requester_cannot_approve_their_own_go(bot: Bot) -> None:
    bot.start_ranking_review()
    bot.pass_all_ranking_gates()
    bot.driver.click("U0ALICE", RANKING, "Approve")
    bot.sandbox.settle()
    assert any("separation of duties" in t for t in bot.ephemerals("U0ALICE"))
    refused = [e for e in bot.trail() if e.kind == "approval.refused"]
    assert [e.payload["why"] for e in refused] == ["self_approval"]
    assert "approval.approve" not in bot.trail_kinds()
    # and the request is still open for others
    bot.driver.find_button(RANKING, "Approve")


def test_waive_and_fail_ask_for_a_reason_and_a_failed_gate_blocks_the_go(bot: Bot) -> None:
    bot.start_ranking_review()
    bot.driver.click("U0CHIARA", RANKING, "Waive", match="bias-audit")
    bot.sandbox.settle()  # the modal opens right after the click is answered
    modal = bot.slack.views("U0CHIARA")[-1]
    assert modal.view["callback_id"] == "reason_modal"
    bot.driver.submit_view("U0CHIARA", values={"reason": "audit is scheduled for Monday"})
    bot.driver.click("U0DMITRI", RANKING, "Fail", match="canary-latency")
    bot.driver.submit_view("U0DMITRI", values={"reason": "p99 at 340 ms <!channel>"})
    for gate, user in [("eval-metrics", "U0CHIARA"), ("canary-errors", "U0ELENA")]:
        bot.driver.click(user, RANKING, "Pass", match=gate)
    bot.sandbox.settle()
    channel = bot.transcript()
    assert "audit is scheduled for Monday" in channel
    assert "p99 at 340 ms" in channel
    assert "blocked" in channel and "canary-latency" in channel
    assert "Go / no-go" not in channel
    kinds = bot.trail_kinds()
    assert "gate.waived" in kinds and "gate.failed" in kinds and "release.blocked" in kinds
    failed = next(e for e in bot.trail() if e.kind == "gate.failed")
    assert failed.payload["reason"] == "p99 at 340 ms <!channel>"
    # the person's text never reaches Slack as a live broadcast
    assert all(
        "<!channel>" not in call.args.get("text", "") + str(call.args.get("blocks", ""))
        for call in bot.slack.calls("chat.postMessage") + bot.slack.calls("chat.update")
    )


def test_an_outsider_cannot_even_open_the_reason_form(bot: Bot) -> None:
    bot.start_ranking_review()
    bot.driver.click("U0ELENA", RANKING, "Fail", match="eval-metrics")
    bot.sandbox.settle()
    assert bot.slack.views("U0ELENA") == []
    assert any("Only members of *ml_lead*" in t for t in bot.ephemerals("U0ELENA"))
    assert bot.trail_kinds().count("gate.refused") == 1


def test_unresolvable_group_membership_fails_closed(database_url: str) -> None:
    # Slack refuses user-group look-ups from the start, so the groups the bot keeps fresh
    # are unknown when Julia clicks.
    slack = SlackEmulator(default_seed()).start()
    slack.slack_error("usergroups.users.list", error="fatal_error", times=1000)
    with Sandbox.start(database_url=database_url, slack=slack) as sandbox:
        _fails_closed_then_counts(Bot(sandbox))


def _fails_closed_then_counts(bot: Bot) -> None:
    answer = bot.driver.slash_command("U0FARAH", FRAUD, "/release", "start fraud-model 7.1")
    assert answer.status == 200
    bot.sandbox.settle()
    bot.driver.click("U0JULIA", FRAUD, "Pass", match="compliance-signoff")  # via S0COMPLIANCE
    bot.sandbox.settle()
    assert any("could not check" in t for t in bot.ephemerals("U0JULIA"))
    refused = [e for e in bot.trail("release:fraud-model:7.1") if e.kind == "gate.refused"]
    assert refused[0].payload["why"] == "membership_unavailable"
    # once Slack answers again, the same click counts
    bot.slack.clear_faults()
    bot.driver.click("U0JULIA", FRAUD, "Pass", match="compliance-signoff")
    bot.sandbox.settle()
    assert "gate.passed" in bot.trail_kinds("release:fraud-model:7.1")


def test_a_rate_limited_update_is_retried_until_the_checklist_shows_it(bot: Bot) -> None:
    bot.start_ranking_review()
    bot.slack.rate_limit("chat.update", times=1, retry_after=0)
    bot.driver.click("U0CHIARA", RANKING, "Pass", match="eval-metrics")
    bot.sandbox.settle()
    updates = bot.slack.calls("chat.update")
    assert [call.status for call in updates][:2] == [429, 200]
    root = bot.slack.messages(RANKING, replies=False)[0]
    assert "Passed by @chiara" in "\n".join(bot.transcript().splitlines()[:20])
    assert root.edits


def test_forged_and_stale_requests_are_refused_with_401(bot: Bot) -> None:
    forged = bot.driver.slash_command("U0ALICE", RANKING, "/release", "help", secret="wrong")
    stale = bot.driver.slash_command("U0ALICE", RANKING, "/release", "help", age=600)
    assert (forged.status, stale.status) == (401, 401)
    assert bot.slack.calls("chat.postMessage") == []


def test_slash_command_mistakes_get_an_explanation(bot: Bot) -> None:
    def ask(text: str, channel: str = RANKING) -> str:
        return answer_text(bot.driver.slash_command("U0ALICE", channel, "/release", text))

    assert "/release start RUNBOOK VERSION" in ask("help")
    assert "/release start RUNBOOK VERSION" in ask("")
    assert "Usage: `/release start RUNBOOK VERSION`" in ask("start ranking-model")
    assert "Unknown runbook `&lt;!channel&gt;`" in ask("start <!channel> v1")
    assert "does not watch this channel" in ask("start ranking-model v1", channel=FRAUD)
    assert "I don't know `/release deploy`" in ask("deploy now")
    assert "No releases of all runbooks yet" in ask("status")
    bot.start_ranking_review()
    assert "already under review" in answer_text(
        bot.driver.slash_command("U0BRUNO", RANKING, "/release", "start ranking-model v2.4.0")
    )
    assert "`ranking-model` v2.4.0: ⏳ in review" in ask("status ranking-model")


def test_the_last_two_gates_marked_at_once_ask_for_one_go(bot: Bot) -> None:
    """Two owners press Pass on the last two gates at the same moment (two threads): each
    must not see the other's gate still open, so exactly one go/no-go is requested."""
    import threading

    bot.start_ranking_review()
    for gate, user in [("eval-metrics", "U0CHIARA"), ("bias-audit", "U0CHIARA")]:
        bot.driver.click(user, RANKING, "Pass", match=gate)
    gates = bot.sandbox.runtime.services.gates
    barrier = threading.Barrier(2)

    def press(gate: str, user: str) -> None:
        barrier.wait()
        gates.mark_gate(
            review_id=1, gate_id=gate, outcome="passed", user_id=user, now=bot.sandbox.now()
        )

    threads = [
        threading.Thread(target=press, args=args)
        for args in [("canary-latency", "U0DMITRI"), ("canary-errors", "U0ELENA")]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bot.sandbox.settle()
    assert bot.trail_kinds().count("gate.passed") == 4
    assert bot.trail_kinds().count("go_no_go.requested") == 1
    assert len([m for m in bot.slack.messages(RANKING) if "Go/no-go requested" in m.text]) == 1


def test_a_click_that_cannot_be_recorded_is_answered_500_not_acknowledged(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ack is the answer to the click and goes out once the vote is recorded: when the
    recording fails, Slack gets a 500 (and shows the person the click failed), and nothing of
    the click is in the trail; the same click afterwards counts."""
    bot.start_ranking_review()
    bot.pass_all_ranking_gates()
    approvals = bot.sandbox.runtime.services.approvals

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patch:
        patch.setattr(approvals, "ballot", broken)
        assert bot.driver.click("U0BRUNO", RANKING, "Approve").status == 500
    assert "approval.approve" not in bot.trail_kinds()
    assert bot.driver.click("U0BRUNO", RANKING, "Approve").status == 200
    assert bot.trail_kinds().count("approval.approve") == 1


def test_a_form_slack_will_not_open_any_more_is_reported_to_the_person(bot: Bot) -> None:
    """The reason modal is opened after the click is answered; when Slack refuses the trigger
    (it honours one for 3 seconds), the person is told to press the button again."""
    bot.start_ranking_review()
    bot.slack.slack_error("views.open", error="expired_trigger_id")
    assert bot.driver.click("U0CHIARA", RANKING, "Waive", match="bias-audit").status == 200
    bot.sandbox.settle()
    assert bot.slack.views("U0CHIARA") == []
    assert any("could not open the form in time" in t for t in bot.ephemerals("U0CHIARA"))
    assert "gate.waived" not in bot.trail_kinds()
