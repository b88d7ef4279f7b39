"""The bot as monitoring reaches it: ``bootstrap.build`` with a hook token, on SQLite and
(when configured) PostgreSQL, driven through its WSGI app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hooks.support import TOKEN, HookBot, MovableClock, build_runtime

# Bolt never calls Slack in these tests (no token verification, no listeners run)
UNREACHABLE_SLACK = "http://127.0.0.1:9/api/"


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def bot(database_url: str, clock: MovableClock) -> Iterator[HookBot]:
    runtime = build_runtime(
        database_url, hook_token=TOKEN, clock=clock, slack_api_url=UNREACHABLE_SLACK
    )
    yield HookBot(runtime, clock)
    runtime.stop()


@pytest.fixture
def bot_without_token(database_url: str, clock: MovableClock) -> Iterator[HookBot]:
    runtime = build_runtime(
        database_url, hook_token=None, clock=clock, slack_api_url=UNREACHABLE_SLACK
    )
    yield HookBot(runtime, clock)
    runtime.stop()
