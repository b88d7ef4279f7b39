"""The bot under test, driven as Slack drives it: signed HTTP to /slack/events, Web API calls
to the local emulator. Every test here runs on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.devtools.sandbox import Sandbox
from tests.slack.rollback_support import Receiver
from tests.slack.support import Bot
from tests.transaction_guard import transaction_guard


@pytest.fixture(autouse=True)
def no_slack_call_inside_a_transaction(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every end-to-end test fails if the bot calls Slack while a transaction is open
    (``tests/transaction_guard.py``)."""
    with transaction_guard(monkeypatch) as guard:
        yield
    assert not guard.violations, "\n\n".join(guard.violations[:3])


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
