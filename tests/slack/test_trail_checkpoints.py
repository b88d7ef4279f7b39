"""`serve` keys the trail and posts signed checkpoints to a Slack channel on an interval; an
auditor holding only the public key checks the trail against that channel."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

import pytest

from bot.commands import trail_verify
from bot.config import Settings
from bot.core.trail_checkpoints import find_checkpoints
from bot.devtools.sandbox import Sandbox
from bot.store import verify_trail
from bot.store.trail_keys import TrailKey
from tests.slack.support import RANKING, Bot

SECRET = "a-trail-key-of-at-least-32-characters-for-tests"
CHANNEL = RANKING  # any channel the bot is in


@pytest.fixture
def keyed_bot(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bot]:
    monkeypatch.setenv("RELEASEBOT_TRAIL_KEY", SECRET)
    monkeypatch.setenv("RELEASEBOT_TRAIL_CHECKPOINT_CHANNEL", CHANNEL)
    monkeypatch.setenv("RELEASEBOT_TRAIL_CHECKPOINT_EVERY", "0.2")
    with Sandbox.start(database_url=database_url) as sandbox:
        yield Bot(sandbox)


def posted_checkpoints(bot: Bot) -> list[str]:
    text = bot.slack.transcript(CHANNEL)
    return [checkpoint.line() for checkpoint in find_checkpoints(text, source=CHANNEL)[0]]


def test_checkpoints_posted_in_slack_let_an_auditor_check_the_trail(keyed_bot: Bot) -> None:
    keyed_bot.start_ranking_review()
    keyed_bot.pass_all_ranking_gates()
    engine = keyed_bot.sandbox.runtime.engine
    head = verify_trail(engine, key=TrailKey.from_secret(SECRET).mac_key)
    assert head.intact and head.keyed_since == 1 and head.unkeyed == 0

    # Settled outside the emulator's wait_for, whose condition runs under the emulator's
    # lock: a delivery in flight would wait for that lock while settle waits for it.
    deadline = time.monotonic() + 10
    while not any(f'"seq":{head.last_seq},' in line for line in posted_checkpoints(keyed_bot)):
        assert time.monotonic() < deadline, "the head's checkpoint was never posted"
        keyed_bot.sandbox.settle()
        time.sleep(0.05)
    auditor = Settings(
        database_url=keyed_bot.sandbox.settings.database_url,
        slack_bot_token=keyed_bot.slack.bot_token,
        slack_api_url=keyed_bot.slack.api_url,
    )
    args = argparse.Namespace(
        quiet=True,
        checkpoints=[f"slack:{CHANNEL}"],
        public_key=TrailKey.from_secret(SECRET).verifier.hex(),
    )
    assert trail_verify.run(args, auditor) == 0
