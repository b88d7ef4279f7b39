"""Checkpoints: the trail's head, signed, published outside the database.

A checkpoint says "event ``seq`` of the trail had hash ``hash`` at ``at``; events from
``keyed_since`` on carried MACs", signed with the bot's checkpoint key (Ed25519, derived from
the trail key: ``bot.store.trail_keys``). It is published where the database's owner cannot take it
back (a Slack channel, an append-only file) as one line of canonical JSON. Anyone holding the
public key can check the signature, and then check that the trail still passes through it
(``Anchor``): truncating the trail behind a checkpoint, or editing and re-sealing anything
before one, is found even by someone who holds no secret.

Pure: standard library only; signing and checking signatures is the edge's business.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from bot.core.trail import canonical_json
from bot.core.trail_verification import Anchor

CHECKPOINT_VERSION = 1
SIGNED_PREFIX = b"releasebot-trail-checkpoint:"
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_KEY_ID = re.compile(r"[0-9a-f]{16}\Z")
_SIGNATURE = re.compile(r"[0-9a-f]{128}\Z")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")
_LINE = re.compile(r'\{"at":"[^"]*","checkpoint":[^\n]*\}')


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str  # canonical UTC time text (bot.core.trail.format_time)
    keyed_since: int | None
    key_id: str  # which checkpoint key signed it (the first 16 hex digits of its hash)
    signature: str = ""  # Ed25519, hex, over ``signed_bytes``

    def document(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "checkpoint": CHECKPOINT_VERSION,
            "hash": self.hash,
            "key_id": self.key_id,
            "keyed_since": self.keyed_since,
            "seq": self.seq,
        }

    def signed_bytes(self) -> bytes:
        return SIGNED_PREFIX + canonical_json(self.document()).encode()

    def signed(self, signature: str) -> Checkpoint:
        return replace(self, signature=signature)

    def line(self) -> str:
        """The published form: one line of canonical JSON (it starts ``{"at":``)."""
        return canonical_json({**self.document(), "signature": self.signature})

    def anchor(self) -> Anchor:
        label = f"the checkpoint of {self.at} (seq {self.seq})"
        return Anchor(self.seq, self.hash, label, self.keyed_since)


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def parse_checkpoint(text: str) -> Checkpoint:
    """A checkpoint from its published line; ``ValueError`` says what is wrong with it."""
    try:
        document = json.loads(text)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    if document.get("checkpoint") != CHECKPOINT_VERSION:
        raise ValueError(f"not a version {CHECKPOINT_VERSION} checkpoint")
    seq, keyed_since = document.get("seq"), document.get("keyed_since")
    fields = {
        "seq": _positive(seq),
        "hash": isinstance(document.get("hash"), str) and _HEX64.match(document["hash"]),
        "at": isinstance(document.get("at"), str) and _TIME.match(document["at"]),
        "keyed_since": keyed_since is None or _positive(keyed_since),
        "key_id": isinstance(document.get("key_id"), str) and _KEY_ID.match(document["key_id"]),
        "signature": isinstance(document.get("signature"), str)
        and _SIGNATURE.match(document["signature"]),
    }
    bad = [name for name, ok in fields.items() if not ok]
    if bad or set(document) != {*fields, "checkpoint"}:
        raise ValueError("malformed field(s): " + ", ".join(bad or ["unknown keys"]))
    return Checkpoint(
        seq=document["seq"],
        hash=document["hash"],
        at=document["at"],
        keyed_since=keyed_since,
        key_id=document["key_id"],
        signature=document["signature"],
    )


def find_checkpoints(text: str, *, source: str) -> tuple[list[Checkpoint], list[str]]:
    """Every checkpoint line in ``text`` (a file, or the messages of a channel), and a
    ``source:line: problem`` for each line that looks like one but is malformed."""
    found: list[Checkpoint] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in _LINE.finditer(line):
            try:
                found.append(parse_checkpoint(match.group(0)))
            except ValueError as error:
                problems.append(f"{source}:{number}: checkpoint: {error}")
    return found, problems


def checkpoint_message(checkpoint: Checkpoint) -> str:
    """The Slack message that publishes ``checkpoint`` (its line in a code block)."""
    return (
        f"Decision trail checkpoint: event {checkpoint.seq:,}, at {checkpoint.at}. "
        "`releasebot trail verify --checkpoints` checks the trail against it.\n"
        f"```{checkpoint.line()}```"
    )
