"""The commands configure logging for the whole process, as they should in production; in
the test process each test gets the logging it started with back."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.logs import CHATTY


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    chatty = {name: logging.getLogger(name).level for name in CHATTY}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, chatty_level in chatty.items():
        logging.getLogger(name).setLevel(chatty_level)
