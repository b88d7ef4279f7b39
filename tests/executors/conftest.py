"""Fixtures: a running scripted HTTP receiver, a sample request, a recording ``sleep``."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.executors.support import Receiver, Sleeps


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
