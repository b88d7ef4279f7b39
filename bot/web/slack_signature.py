"""Slack's request signature, checked on the raw body before anything parses it.

Slack signs each HTTP request with ``X-Slack-Signature: v0=HEX(HMAC-SHA256(signing secret,
"v0:" + X-Slack-Request-Timestamp + ":" + body))``. Bolt checks the same signature, but only
after the body has been parsed into a ``BoltRequest``: a body nobody signed could reach the
parser (a ``payload=`` that is not JSON, a JSON list, JSON nested 100,000 deep) and a
non-numeric timestamp reached ``int()``; each answered 500 with a traceback in the log. Here
the bytes as received are checked first and every failure is a value: the status and a
reason, never an exception. The comparison is in constant time; a timestamp more than five
minutes from now is refused (replays), as Slack asks.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

TIMESTAMP_HEADER = "x-slack-request-timestamp"
SIGNATURE_HEADER = "x-slack-signature"
MAX_AGE_S = 5 * 60
_VERSION = "v0="
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Rejected:
    """Why a request is refused: the HTTP status and a reason for the caller."""

    status: int
    reason: str


class SignatureCheck:
    """Checks the signature and freshness of Slack's requests (``check``)."""

    def __init__(self, signing_secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self._secret = signing_secret.encode()
        self._clock = clock

    def check(self, body: bytes, headers: Mapping[str, str]) -> Rejected | None:
        """None when ``body`` carries Slack's valid, fresh signature; why not otherwise.

        ``headers`` are lower-case names. A missing or malformed header is a 400 (the request
        is not one Slack would send); a wrong or stale signature is a 401.
        """
        timestamp = headers.get(TIMESTAMP_HEADER)
        signature = headers.get(SIGNATURE_HEADER)
        if timestamp is None or signature is None:
            missing = TIMESTAMP_HEADER if timestamp is None else SIGNATURE_HEADER
            return Rejected(401, f"unsigned request: no {_title(missing)} header")
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            return Rejected(400, f"{_title(TIMESTAMP_HEADER)} must be a number of seconds")
        if abs(self._clock() - int(timestamp)) > MAX_AGE_S:
            return Rejected(401, "stale request: its timestamp is more than 5 minutes off")
        if not _well_formed(signature):
            return Rejected(400, f"{_title(SIGNATURE_HEADER)} must be v0= and 64 hex digits")
        expected = hmac.new(
            self._secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature[len(_VERSION) :]):
            return Rejected(401, "invalid signature")
        return None


def _well_formed(signature: str) -> bool:
    digest = signature[len(_VERSION) :]
    return signature.startswith(_VERSION) and len(digest) == 64 and set(digest) <= _HEX


def _title(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))
