"""The webhook executor: POST the path's payload as signed JSON, retrying what may be transient.

Retried (up to ``executor.retries`` times, exponential backoff or ``Retry-After``): connection
errors, timeouts, 429 and 5xx. Not retried: other 4xx, 3xx (redirects are never followed for
a POST; the ``Location`` is reported), TLS certificate failures. Every retry carries the same
``Idempotency-Key`` and body, freshly timestamped and signed (see ``signing``). Proxies from
the environment are not used: the executor talks to the URL in the runbook, nothing else.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from string import Template
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.clock import Clock
from bot.core.runbook import WebhookExecutor
from bot.executors.models import (
    ExecutionOutcome,
    ExecutionRequest,
    Outcome,
    finished,
    format_seconds,
)
from bot.executors.signing import sign

USER_AGENT = "releasebot"
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
RETRY_AFTER_CAP_SECONDS = 60.0
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class _Answer:
    """One attempt: either a response (``status``) or an error that prevented one."""

    status: int | None = None
    reason: str = ""
    body: str | None = None
    location: str | None = None
    retry_after: str | None = None
    error: str | None = None
    timed_out: bool = False
    retryable: bool = False


def substitute(value: Any, placeholders: Mapping[str, str]) -> Any:
    """``value`` with ``$name`` placeholders filled in every string, recursively; never eval."""
    if isinstance(value, str):
        return Template(value).safe_substitute(placeholders)
    if isinstance(value, dict):
        return {key: substitute(item, placeholders) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, placeholders) for item in value]
    return value


def request_body(executor: WebhookExecutor, request: ExecutionRequest) -> bytes:
    """The JSON body: the runbook's payload with placeholders substituted."""
    payload = substitute(executor.payload, request.placeholders)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def display_url(url: str) -> str:
    """The URL without any ``user:password@`` part, for messages and the trail."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def run_webhook(
    executor: WebhookExecutor,
    *,
    request: ExecutionRequest,
    secrets: Mapping[str, str],
    clock: Clock,
    sleep: Callable[[float], None],
) -> ExecutionOutcome:
    """POST the payload, retrying transient failures; never raises for a failed call."""
    started_at = clock()
    target = display_url(executor.url)
    secret: str | None = None
    if executor.secret_env is not None:
        secret = secrets.get(executor.secret_env) or None
        if secret is None:
            return finished(
                "failed",
                attempts=0,
                started_at=started_at,
                finished_at=clock(),
                target=target,
                detail=f"The signing secret {executor.secret_env} is not set, "
                "so the webhook was not called.",
            )
    body = request_body(executor, request)
    timeout = executor.timeout.total_seconds()
    allowed = executor.retries + 1
    attempt, answer = 0, _Answer()
    while attempt < allowed:
        attempt += 1
        timestamp = int(clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": request.idempotency_key,
            "X-Releasebot-Timestamp": str(timestamp),
        }
        if secret is not None:
            headers["X-Releasebot-Signature"] = sign(secret, timestamp, body)
        answer = _post(executor.url, body=body, headers=headers, timeout=timeout)
        if not answer.retryable or attempt == allowed:
            break
        sleep(_delay(attempt, answer.retry_after, now=clock()))
    outcome, detail = _describe(answer, attempt=attempt, allowed=allowed, timeout=timeout)
    return finished(
        outcome,
        attempts=attempt,
        started_at=started_at,
        finished_at=clock(),
        detail=detail,
        target=target,
        output=answer.body,
    )


def _post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> _Answer:
    connection: http.client.HTTPConnection
    try:
        parts = urlsplit(url)
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                parts.hostname or "",
                parts.port,
                timeout=timeout,
                context=ssl.create_default_context(),
            )
        else:
            connection = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=timeout
            )
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            charset = response.headers.get_content_charset() or "utf-8"
            text = response.read(MAX_RESPONSE_BYTES).decode(charset, errors="replace")
        finally:
            connection.close()
    except TimeoutError:
        return _Answer(
            error=f"no answer within {format_seconds(timeout)}", timed_out=True, retryable=True
        )
    except ssl.SSLCertVerificationError as error:
        return _Answer(error=f"TLS certificate verification failed ({error.verify_message})")
    except (OSError, http.client.HTTPException) as error:
        return _Answer(
            error=f"could not reach the server ({error or type(error).__name__})", retryable=True
        )
    except (ValueError, LookupError) as error:  # a malformed URL or an unknown charset
        return _Answer(error=f"could not send the request ({error})")
    status = response.status
    return _Answer(
        status=status,
        reason=response.reason,
        body=text,
        location=response.getheader("Location"),
        retry_after=response.getheader("Retry-After"),
        retryable=status == 429 or status >= 500,
    )


def _delay(attempt: int, retry_after: str | None, *, now: datetime) -> float:
    """Seconds to wait before the next attempt: ``Retry-After`` if given (capped), else backoff."""
    wanted = _retry_after_seconds(retry_after, now=now)
    if wanted is not None:
        return min(wanted, RETRY_AFTER_CAP_SECONDS)
    return min(BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1), BACKOFF_CAP_SECONDS)


def _retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP date; None if invalid."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _describe(
    answer: _Answer, *, attempt: int, allowed: int, timeout: float
) -> tuple[Outcome, str]:
    """The outcome and a one-sentence account of the last attempt."""
    gave_up = f"gave up after {attempt} attempt{'s' if attempt != 1 else ''}"
    if answer.status is None:
        if answer.timed_out:
            wait = format_seconds(timeout)
            return "timed_out", f"The webhook gave no answer within {wait}; {gave_up}."
        suffix = f"; {gave_up}" if answer.retryable else ""
        return "failed", f"The webhook call failed: {answer.error}{suffix}."
    answered = f"The webhook answered {answer.status} {answer.reason}".rstrip()
    if 200 <= answer.status < 300:
        return "succeeded", f"{answered} (attempt {attempt} of {allowed})."
    if 300 <= answer.status < 400:
        where = f" to {answer.location}" if answer.location else ""
        return "failed", f"{answered}, redirecting{where}; redirects are not followed for POST."
    if answer.retryable:
        return "failed", f"{answered}; {gave_up}."
    if 400 <= answer.status < 500:
        return "failed", f"{answered}; client errors are not retried."
    return "failed", f"{answered}, which is not a success."
