"""How releasebot signs webhook calls, and how a receiver verifies them.

Every webhook request carries::

    X-Releasebot-Timestamp: <unix seconds, an integer>
    X-Releasebot-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

where ``secret`` is the value of the runbook's ``secret_env`` variable (UTF-8) and ``body`` is
the raw request body, byte for byte as received (UTF-8 JSON). The signature is only sent when
the path's executor names a ``secret_env``. A receiver should:

1. reject requests whose timestamp is more than a few minutes from its own clock (replays);
2. recompute the HMAC over ``timestamp + "." + body`` and compare in constant time;
3. dedupe on the ``Idempotency-Key`` header, which is the same for every retry of one execution.

``verify_signature`` below does 1 and 2; it is what the tests use, and receivers written in
Python may copy it.
"""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Releasebot-Signature`` value for ``body`` sent at ``timestamp``."""
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def verify_signature(
    secret: str,
    *,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True if ``signature`` is ours for this body and ``timestamp`` is within tolerance of ``now``.

    ``timestamp`` and ``signature`` are the header values as received; ``now`` is the
    receiver's current Unix time.
    """
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature)
