"""The trail key: one secret, kept outside the database, and the keys derived from it.

``RELEASEBOT_TRAIL_KEY`` (or the file ``RELEASEBOT_TRAIL_KEY_FILE`` names) is a secret of at
least 32 characters (``openssl rand -hex 32``). Two keys are derived from it with HKDF-SHA256:

- the MAC key, which seals each trail event and the head (``bot.core.trail.event_mac``):
  whoever verifies MACs can also make them, so it stays with the bot and its operators;
- an Ed25519 key pair that signs checkpoints (``bot.core.trail_checkpoints``): its public
  half (``releasebot trail public-key``) can be handed to auditors, who can then check the
  checkpoints, and the trail against them, without being able to forge either.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.trail_checkpoints import Checkpoint

if TYPE_CHECKING:  # imported when a key is used: about 8 MB that a bot without one saves
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

MIN_SECRET_CHARS = 32
_MAC_INFO = b"releasebot trail event mac v1"
_SIGNING_INFO = b"releasebot trail checkpoint signing v1"


class TrailKeyError(ValueError):
    """The trail key cannot be used; the message says why."""


def _derive(secret: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


@dataclass(frozen=True)
class CheckpointVerifier:
    """Checks checkpoint signatures with the public key alone."""

    public_key: Ed25519PublicKey

    @classmethod
    def from_hex(cls, text: str) -> CheckpointVerifier:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            raw = bytes.fromhex(text.strip())
            return cls(Ed25519PublicKey.from_public_bytes(raw))
        except ValueError:
            raise TrailKeyError("a trail public key is 64 hex digits") from None

    def hex(self) -> str:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    @property
    def key_id(self) -> str:
        return hashlib.sha256(bytes.fromhex(self.hex())).hexdigest()[:16]

    def valid(self, checkpoint: Checkpoint) -> bool:
        from cryptography.exceptions import InvalidSignature

        if checkpoint.key_id != self.key_id:
            return False
        try:
            self.public_key.verify(bytes.fromhex(checkpoint.signature), checkpoint.signed_bytes())
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class TrailKey:
    mac_key: bytes
    signing_key: Ed25519PrivateKey

    @classmethod
    def from_secret(cls, secret: str) -> TrailKey:
        text = secret.strip()
        if len(text) < MIN_SECRET_CHARS:
            raise TrailKeyError(
                f"the trail key must be at least {MIN_SECRET_CHARS} characters "
                "(for example: openssl rand -hex 32)"
            )
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        raw = text.encode()
        seed = _derive(raw, _SIGNING_INFO)
        return cls(_derive(raw, _MAC_INFO), Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def verifier(self) -> CheckpointVerifier:
        return CheckpointVerifier(self.signing_key.public_key())

    def sign(self, checkpoint: Checkpoint) -> Checkpoint:
        unsigned = Checkpoint(
            checkpoint.seq, checkpoint.hash, checkpoint.at, checkpoint.keyed_since,
            self.verifier.key_id,
        )  # fmt: skip
        return unsigned.signed(self.signing_key.sign(unsigned.signed_bytes()).hex())


def load_trail_key(secret: str | None) -> TrailKey | None:
    """The key from the secret (``RELEASEBOT_TRAIL_KEY``, or the file
    ``RELEASEBOT_TRAIL_KEY_FILE`` names: ``bot.config``); None when it is not set."""
    return None if secret is None else TrailKey.from_secret(secret)
