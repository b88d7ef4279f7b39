"""The bot's web pages over real HTTP, with Sign in with Slack through the emulator, on SQLite
and (when configured) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.devtools.emulator.visitor import Visitor
from bot.devtools.sandbox import Sandbox


class Clock:
    """A clock the test moves: the bot's sessions expire by it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def site(database_url: str, clock: Clock) -> Iterator[Sandbox]:
    with Sandbox.start(database_url=database_url, clock=clock) as sandbox:
        yield sandbox


@pytest.fixture
def visitor(site: Sandbox) -> Visitor:
    return Visitor(site.server.url)
