"""Recurring upkeep on timers, once per slot across replicas: pruning old samples, and
publishing the trail's signed checkpoints (which ran as a thread in every replica until
now; the unique position of ``trail_checkpoints`` kept them from publishing one twice).

Both are idempotent per slot: pruning deletes only what nothing needs (two runs delete what
neither needs), and a checkpoint position is recorded once (``record_checkpoint``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from bot.scheduler.handlers import SYSTEM
from bot.scheduler.slots import Every, Recurring
from bot.scheduler.worker import TimerWorker
from bot.services.trail.checkpoints import publish_checkpoint
from bot.store.pruning import prune_samples
from bot.store.timers import Timer
from bot.store.trail_checkpoints import TrailBrokenError
from bot.store.trail_keys import TrailKey

log = logging.getLogger(__name__)

SAMPLES_PRUNE = "samples.prune"
TRAIL_CHECKPOINT = "trail.checkpoint"
PRUNE_SAMPLES_EVERY = timedelta(hours=1)


@dataclass
class SamplePruning:
    engine: Engine
    retention: timedelta
    every: timedelta = PRUNE_SAMPLES_EVERY

    def register(self, worker: TimerWorker) -> None:
        worker.register(SAMPLES_PRUNE, self.prune)
        worker.recurring(Recurring(SAMPLES_PRUNE, SYSTEM, Every(self.every)))

    def prune(self, timer: Timer, now: datetime) -> None:
        report = prune_samples(self.engine, now=now, retention=self.retention)
        if report.deleted:
            log.info("pruned %d samples of %d streams in %d transactions",
                     report.deleted, report.streams, report.batches)  # fmt: skip


@dataclass
class TrailCheckpoints:
    engine: Engine
    key: TrailKey
    every: timedelta
    channel_id: str | None
    file: Path | None
    after: Callable[[], None]  # wakes the delivery of the checkpoint's Slack message

    def register(self, worker: TimerWorker) -> None:
        worker.register(TRAIL_CHECKPOINT, self.publish)
        worker.recurring(Recurring(TRAIL_CHECKPOINT, SYSTEM, Every(self.every)))

    def publish(self, timer: Timer, now: datetime) -> None:
        try:
            checkpoint = publish_checkpoint(
                self.engine, key=self.key, now=now, channel_id=self.channel_id, file=self.file
            )
        except TrailBrokenError as error:  # said loudly; the next slot tries again
            log.error("no trail checkpoint signed: %s", error)
            return
        if checkpoint is not None:
            log.info("trail checkpoint published: seq %d", checkpoint.seq)
            self.after()
