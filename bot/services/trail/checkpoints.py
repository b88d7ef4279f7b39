"""Publishing the trail's checkpoints outside the database: a Slack channel, a file, or both.

``publish_checkpoint`` makes one (``bot.store.trail_checkpoints``: the events since the last
one verified, the head signed), records it and queues its Slack message in one transaction
(a position is published once, however many replicas try), then appends its line to the
file. In ``serve`` a recurring timer calls it once per slot across replicas
(``bot.scheduler.upkeep``); ``releasebot trail checkpoint`` calls it once (from cron, say).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from bot.core.trail_checkpoints import Checkpoint, checkpoint_message
from bot.services.outbox.jobs import PostMessage
from bot.store import unit_of_work
from bot.store.trail_checkpoints import make_checkpoint, record_checkpoint
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
