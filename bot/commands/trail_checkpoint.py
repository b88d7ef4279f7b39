"""``releasebot trail checkpoint``: sign the trail's head now and publish it outside the
database (``RELEASEBOT_TRAIL_CHECKPOINT_FILE``, ``RELEASEBOT_TRAIL_CHECKPOINT_CHANNEL``, or the
options); ``releasebot trail public-key``: the key auditors check checkpoints with.

A checkpoint is signed only over a trail that verifies (the events since the last one, with
the trail key): exit 1, naming the first bad event, otherwise. The Slack message is queued in
the outbox, so ``serve`` delivers it. Run it from cron where ``serve``'s own interval
(``RELEASEBOT_TRAIL_CHECKPOINT_EVERY``) is not enough.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from bot.services.trail.checkpoints import publish_checkpoint
from bot.store.migrate import DatabaseNotInitialisedError, open_initialised
from bot.store.trail_checkpoints import TrailBrokenError
from bot.store.trail_keys import TrailKey, TrailKeyError, load_trail_key


def _key(settings: Settings) -> TrailKey:
    secret = settings.trail_key.get_secret_value() if settings.trail_key is not None else None
    key = load_trail_key(secret)
    if key is None:
        raise TrailKeyError("set RELEASEBOT_TRAIL_KEY or RELEASEBOT_TRAIL_KEY_FILE first")
    return key


def run(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "trail_command", None) == "public-key":
        return public_key(settings)
    channel = getattr(args, "channel", None) or settings.trail_checkpoint_channel
    file = getattr(args, "file", None) or settings.trail_checkpoint_file
    try:
        key = _key(settings)
        if channel is None and file is None:
            raise TrailKeyError(
                "nowhere to publish: set RELEASEBOT_TRAIL_CHECKPOINT_FILE or "
                "RELEASEBOT_TRAIL_CHECKPOINT_CHANNEL (or --file, --channel)"
            )
        engine = open_initialised(settings.database_url)
    except TrailKeyError as error:
        print(f"releasebot: {error}", file=sys.stderr)
        return 2
    except (DatabaseNotInitialisedError, SQLAlchemyError) as error:
        print(f"releasebot: {error}", file=sys.stderr)
        return 2
    try:
        checkpoint = publish_checkpoint(
            engine, key=key, now=datetime.now(UTC), channel_id=channel, file=file
        )
    except TrailBrokenError as error:
        print(f"no checkpoint signed: {error}")
        return 1
    finally:
        engine.dispose()
    if checkpoint is None:
        print("no checkpoint: the trail has not moved since the last one")
        return 0
    print(checkpoint.line())
    return 0


def public_key(settings: Settings) -> int:
    try:
        key = _key(settings)
    except TrailKeyError as error:
        print(f"releasebot: {error}", file=sys.stderr)
        return 2
    print(key.verifier.hex())
    return 0
