"""``releasebot trail verify``: re-compute the hash chain of the whole trail, and with what
it is given, check the MACs (the trail key) and that it passes through checkpoints.

Read-only: it never migrates or creates the database; an uninitialised one is an error
(exit 2) that says to run ``releasebot db upgrade``. Exit 0 when intact, 1 at the first bad
event (or a checkpoint whose signature does not hold), 2 when it cannot check at all.

``--checkpoints SOURCE`` (repeatable): a file of checkpoint lines, or ``slack:CHANNEL``, the
channel the bot posts them to (read with ``SLACK_BOT_TOKEN``). Their signatures are checked
with the public key derived from the trail key, or with ``--public-key`` by someone who does
not hold the key: an auditor.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from bot.core.trail_checkpoints import Checkpoint, find_checkpoints
from bot.core.trail_verification import Anchor, ChainVerification
from bot.slack.client import make_web_client
from bot.store.migrate import DatabaseNotInitialisedError, open_initialised
from bot.store.trail import verify_trail
from bot.store.trail_keys import CheckpointVerifier, TrailKey, TrailKeyError, load_trail_key

SLACK_SOURCE = "slack:"


class CannotCheckError(Exception):
    """Verification cannot be done as asked; the message says why (exit 2)."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    quiet = bool(getattr(args, "quiet", False))
    try:
        key, signatures = _keys(args, settings)
        anchors, bad_signatures = _anchors(args, settings, signatures)
        engine = open_initialised(settings.database_url)
    except (CannotCheckError, TrailKeyError) as error:
        print(f"releasebot: {error}", file=sys.stderr)
        return 2
    except DatabaseNotInitialisedError as error:
        print(f"releasebot: {error}; run `releasebot db upgrade` first", file=sys.stderr)
        return 2
    except SQLAlchemyError as error:
        print(f"releasebot: cannot open the database: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()

    def progress(count: int) -> None:
        elapsed = time.perf_counter() - started
        print(f"  {count:,} events verified ({count / elapsed:,.0f}/s)", file=sys.stderr)

    try:
        result = verify_trail(
            engine,
            key=None if key is None else key.mac_key,
            anchors=anchors,
            progress=None if quiet else progress,
        )
    finally:
        engine.dispose()
    elapsed = time.perf_counter() - started
    for problem in bad_signatures:
        print(f"checkpoint REFUSED: {problem}")
    if result.first_bad is not None:
        print(f"trail BROKEN at {result.first_bad.describe()}")
        print(f"{result.events:,} events before it verified intact")
        return 1
    rate = result.events / elapsed if elapsed > 0 else 0.0
    print(
        f"trail intact: {result.events:,} events verified in {elapsed:.2f} s ({rate:,.0f} events/s)"
    )
    for line in _coverage(result, key is not None, len(anchors)):
        print(f"  {line}")
    return 1 if bad_signatures else 0


def _keys(
    args: argparse.Namespace, settings: Settings
) -> tuple[TrailKey | None, CheckpointVerifier | None]:
    secret = settings.trail_key.get_secret_value() if settings.trail_key is not None else None
    key = load_trail_key(secret)
    public = getattr(args, "public_key", None)
    if public:
        signatures = CheckpointVerifier.from_hex(public)
        if key is not None and key.verifier.hex() != signatures.hex():
            raise CannotCheckError("--public-key is not the trail key's public key")
        return key, signatures
    return key, None if key is None else key.verifier


def _anchors(
    args: argparse.Namespace, settings: Settings, signatures: CheckpointVerifier | None
) -> tuple[list[Anchor], list[str]]:
    sources: list[str] = list(getattr(args, "checkpoints", None) or [])
    if not sources:
        return [], []
    if signatures is None:
        raise CannotCheckError(
            "checking checkpoints needs the trail key (RELEASEBOT_TRAIL_KEY or "
            "RELEASEBOT_TRAIL_KEY_FILE) or its public key (--public-key)"
        )
    checkpoints: list[Checkpoint] = []
    problems: list[str] = []
    for source in sources:
        found, malformed = find_checkpoints(_read(source, settings), source=source)
        if not found and not malformed:
            raise CannotCheckError(f"{source}: no checkpoints found")
        problems += malformed
        for checkpoint in found:
            if signatures.valid(checkpoint):
                checkpoints.append(checkpoint)
            else:
                problems.append(
                    f"{source}: the checkpoint of {checkpoint.at} (seq {checkpoint.seq}) is not "
                    "signed by the trail's checkpoint key"
                )
    return [checkpoint.anchor() for checkpoint in checkpoints], problems


def _read(source: str, settings: Settings) -> str:
    if source.startswith(SLACK_SOURCE):
        return _channel_text(source[len(SLACK_SOURCE) :], settings)
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CannotCheckError(f"cannot read checkpoints from {source}: {error}") from None


def _channel_text(channel: str, settings: Settings) -> str:
    """Every message of ``channel``, one per line (what the bot posted its checkpoints as)."""
    if settings.slack_bot_token is None:
        raise CannotCheckError("reading checkpoints from Slack needs SLACK_BOT_TOKEN")
    client: WebClient = make_web_client(settings)
    texts: list[str] = []
    cursor: str | None = None
    try:
        while True:
            page = client.conversations_history(channel=channel, limit=200, cursor=cursor)
            messages: list[dict[str, object]] = page.get("messages") or []
            texts += [str(message.get("text") or "") for message in messages]
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or cursor is None:
                break
    except SlackApiError as error:
        raise CannotCheckError(f"cannot read {channel}: {error.response.get('error')}") from None
    return "\n".join(texts)


def _coverage(result: ChainVerification, keyed: bool, anchors: int) -> list[str]:
    """What this verification did and did not establish (README: "Who can check the
    trail")."""
    lines = []
    if result.keyed_since is None:
        lines.append(
            "no event carries a MAC: the chain shows accidental changes, not edits by "
            "someone with database access who re-seals after them (set RELEASEBOT_TRAIL_KEY)"
        )
    elif keyed:
        lines.append(
            f"MACs checked with the trail key from seq {result.keyed_since} on"
            + (f"; {result.unkeyed:,} earlier events have none" if result.unkeyed else "")
        )
    else:
        lines.append(
            f"events from seq {result.keyed_since} carry MACs, not checked: the trail key is "
            "not set"
        )
    if anchors:
        lines.append(f"passes through {result.anchors_checked} signed checkpoint(s)")
    return lines
