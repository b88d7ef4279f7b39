"""Exactly-once posts, in process: an answer lost to the client's timeout does not post the
message twice; the retry finds it by its metadata and records it."""

from __future__ import annotations

from collections import Counter

from bot.devtools.emulator import Message
from bot.slack.client import make_delivery_client
from bot.slack.posts import EVENT_TYPE
from tests.slack.support import RANKING, Bot


def _short_timeout(bot: Bot) -> None:
    """The delivery's client gives up after 1 s (10 s in production: same path, shorter)."""
    bot.sandbox.runtime.delivery.client = make_delivery_client(bot.sandbox.settings, timeout=1)


def _job_ids(messages: list[Message]) -> Counter[int]:
    return Counter(
        int(m.metadata["event_payload"]["job_id"])
        for m in messages
        if m.metadata is not None and m.metadata["event_type"] == EVENT_TYPE
    )


def test_a_checklist_answered_after_the_timeout_is_posted_once(bot: Bot) -> None:
    _short_timeout(bot)
    late = bot.slack.answer_late("chat.postMessage", seconds=3)
    bot.start_ranking_review()
    assert late.applied.is_set()
    [checklist] = bot.slack.messages(RANKING)
    assert len(bot.slack.calls("chat.postMessage")) == 1  # posted once, never again
    assert bot.slack.calls("conversations.history")  # the retry looked for it
    [posted] = [e for e in bot.trail() if e.kind == "slack.message_posted"]
    assert posted.message_ts == checklist.ts and posted.thread_ts == checklist.ts
    assert posted.payload["found_after_retry"] is True
    # the thread works on the found message: a click updates it, replies go under it
    bot.pass_all_ranking_gates()
    assert bot.slack.messages(RANKING, replies=False) == [checklist]
    assert checklist.edits


def test_thread_replies_answered_after_the_timeout_are_posted_once(bot: Bot) -> None:
    bot.start_ranking_review()
    _short_timeout(bot)
    late = bot.slack.answer_late("chat.postMessage", seconds=3, times=2)
    bot.pass_all_ranking_gates()
    bot.sandbox.settle(timeout=30)
    assert late.remaining == 0
    messages = bot.slack.messages(RANKING)
    ids = _job_ids(messages)
    assert ids and max(ids.values()) == 1, ids  # every job's message once
    assert len(bot.slack.calls("chat.postMessage")) == len(messages)
    assert bot.slack.calls("conversations.replies")  # the retries looked in the thread
    found = [e for e in bot.trail() if e.payload.get("found_after_retry")]
    assert len(found) == 2
    by_ts = {m.ts: m for m in messages}
    assert all(by_ts[e.message_ts].is_reply for e in found if e.message_ts)


def test_every_post_names_its_job_in_its_metadata(bot: Bot) -> None:
    bot.start_ranking_review()
    bot.pass_all_ranking_gates()
    messages = bot.slack.messages(RANKING)
    assert len(messages) > 1
    assert sum(_job_ids(messages).values()) == len(messages)
