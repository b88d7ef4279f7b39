"""The bot under test, driven as Slack drives it: signed HTTP to /slack/events, Web API calls
to the local emulator. Every test here runs on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.devtools.sandbox import Sandbox
from tests.slack.rollback_support import Receiver
from tests.slack.support import Bot


@pytest.fixture
def bot(database_url: str) -> Iterator[Bot]:
    with Sandbox.start(database_url=database_url) as sandbox:
        yield Bot(sandbox)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An executor's webhook receiver that records the calls it gets (``rollback_support``)."""
    started = Receiver()
    yield started
    started.close()
