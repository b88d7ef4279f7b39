"""Publishing the trail's checkpoints outside the database: a Slack channel, a file, or both.

``publish_checkpoint`` makes one (``bot.store.trail_checkpoints``: the events since the last
one verified, the head signed), records it and queues its Slack message in one transaction
(a position is published once, however many replicas try), then appends its line to the
file. ``CheckpointTimer`` calls it every ``every`` seconds in ``serve``; ``releasebot trail
checkpoint`` calls it once (from cron, say).

Scheduling belongs with the rest of the time-driven work: once per due time across
replicas. Until then the timer runs in every replica, and the unique seq of
``trail_checkpoints`` keeps them from publishing a position twice.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from bot.core.trail_checkpoints import Checkpoint, checkpoint_message
from bot.services.outbox.jobs import PostMessage
from bot.store import unit_of_work
from bot.store.trail_checkpoints import TrailBrokenError, make_checkpoint, record_checkpoint
from bot.store.trail_keys import TrailKey

log = logging.getLogger(__name__)


def publish_checkpoint(
    engine: Engine,
    *,
    key: TrailKey,
    now: datetime,
    channel_id: str | None = None,
    file: Path | None = None,
) -> Checkpoint | None:
    """Make, record and publish a checkpoint of the head; None when there is nothing new
    (or another replica published this position). ``TrailBrokenError`` if the trail fails
    verification: nothing is signed or published then."""
    checkpoint = make_checkpoint(engine, key=key, now=now)
    if checkpoint is None:
        return None
    with unit_of_work(engine) as uow:
        if not record_checkpoint(uow.session, checkpoint, now=now):
            return None
        if channel_id is not None:
            uow.enqueue(
                PostMessage(channel_id=channel_id, text=checkpoint_message(checkpoint)), now=now
            )
    if file is not None:
        append_line(file, checkpoint.line())
    return checkpoint


def append_line(path: Path, line: str) -> None:
    """Append ``line`` and make it durable before returning."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


class CheckpointTimer:
    """Publishes a checkpoint every ``every`` seconds while started (a daemon thread)."""

    def __init__(
        self,
        publish: Callable[[], Checkpoint | None],
        *,
        every: float,
        after: Callable[[], None] | None = None,
    ) -> None:
        self.publish, self.every = publish, every
        self.after = after or (lambda: None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="trail-checkpoints", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                checkpoint = self.publish()
            except TrailBrokenError as error:
                log.error("no trail checkpoint signed: %s", error)
                continue
            except Exception:  # noqa: BLE001 - the next interval tries again
                log.warning("trail checkpoint failed; trying again later", exc_info=True)
                continue
            if checkpoint is not None:
                log.info("trail checkpoint published: seq %d", checkpoint.seq)
                self.after()
