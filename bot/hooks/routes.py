"""``POST /hooks/alertmanager`` and ``POST /hooks/metrics``: authenticate, bound, parse, hand over.

Every request goes through the same gate, in this order, each answered with a JSON reason:

- 503 while ``RELEASEBOT_HOOK_TOKEN`` is unset (the hooks are off, not open);
- 401 with ``WWW-Authenticate: Bearer`` for a missing or wrong bearer token (compared in
  constant time), before a byte of the body is read;
- 413 for a body over ``max_body_bytes`` (by Content-Length, and by what is actually read);
- 415 for a content type that is not JSON, 400 for a body that is not JSON (or that nests
  deeper than the parser goes, or holds a number too long to be a measurement);
- 400 for a time that cannot be a sample's (no zone, an epoch number, before 1970, more than
  5 minutes ahead of the bot's clock), 422 for JSON of the wrong shape, both with pydantic's
  errors as ``field: message`` lines.

What passes goes to the ``MetricIntake``. Names it does not know (a runbook, a metric) and
alerts without a usable value are logged and answered 202 with what was ignored: a sender
that gets a 4xx or 5xx retries, and retrying cannot teach it a runbook. A fault while storing
answers 500, so the sender retries; nothing of that runbook's batch was committed.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any

from flask import Flask, Response, jsonify, request
from pydantic import SecretStr

from bot.clock import Clock
from bot.hooks.intake import IngestResult, MetricIntake
from bot.hooks.metrics_body import parse_metrics_body
from bot.hooks.payloads import PayloadError, alertmanager_samples, parse_alertmanager_payload
from bot.web.metrics import BotMetrics

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1_048_576
MAX_NUMBER_CHARACTERS = 100  # a measurement never needs more; Python's int() gives up at 4,300


class HookRefusal(Exception):
    """A request answered with a 4xx or 5xx: ``status``, a reason, optional details."""

    def __init__(
        self,
        status: int,
        error: str,
        *,
        problems: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.problems = problems
        self.headers = headers or {}

    def response(self) -> Response:
        body: dict[str, Any] = {"error": self.error}
        if self.problems is not None:
            body["problems"] = self.problems
        answer = jsonify(body)
        answer.status_code = self.status
        answer.headers.update(self.headers)
        return answer


Handler = Callable[[bytes], dict[str, Any]]


def register_hooks(
    web: Flask,
    *,
    hook_token: SecretStr | None,
    intake: MetricIntake,
    clock: Clock,
    metrics: BotMetrics,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    on_unjudgeable: Callable[[str, str, str, datetime], None] | None = None,
) -> None:
    """Add both hooks to ``web``; ``clock`` gives the ``now`` every sample is received at.

    ``on_unjudgeable(runbook_id, metric, key, now)`` hears of firing alerts that name a
    runbook and metric but carry no usable value: insufficient data, to be said as such.
    """

    def serve(hook: str, handler: Handler) -> Response:
        status = 500
        try:
            _authenticate(hook_token)
            body = _read_json_body(max_body_bytes)
            answer = jsonify(handler(body))
            answer.status_code = status = 202
            return answer
        except HookRefusal as refusal:
            status = refusal.status
            log.info("%s hook refused (%d): %s", hook, status, refusal.error)
            return refusal.response()
        except Exception:  # noqa: BLE001 - a fault is answered (the sender retries), not raised
            log.exception("%s hook failed", hook)
            return HookRefusal(500, "could not store the samples; retry later").response()
        finally:
            metrics.hook_requests.labels(hook=hook, status=str(status)).inc()

    def alertmanager(body: bytes) -> dict[str, Any]:
        payload = parse_alertmanager_payload(_decode(body))
        now = clock()
        found = alertmanager_samples(payload, now)
        ignored = [skipped.describe() for skipped in found.skipped]
        if found.skipped:
            log.warning("alertmanager hook: %s", "; ".join(ignored))
        for skipped in found.skipped:
            if (
                on_unjudgeable is not None
                and skipped.firing
                and skipped.runbook_id
                and skipped.metric
            ):
                key = f"alert-without-value:{skipped.fingerprint}:{payload.group_key}"
                on_unjudgeable(skipped.runbook_id, skipped.metric, key, now)
        if found.truncated_alerts:
            log.warning(
                "alertmanager left %d alert(s) out of group %s (max_alerts)",
                found.truncated_alerts,
                payload.group_key,
            )
        stored, decisions = 0, []
        for runbook_id, accepted in found.by_runbook().items():
            result = intake.ingest(
                runbook_id=runbook_id,
                samples=[a.sample for a in accepted],
                source="alertmanager",
                now=now,
                alerts=[a.summary() for a in accepted],
                alert_keys=[a.alert_key for a in accepted],
            )
            stored += result.stored
            ignored += _ignored(runbook_id, result, count=len(accepted))
            decisions.append(f"{runbook_id}: {result.decision}")
        return {
            "stored": stored,
            "ignored": ignored,
            "decision": "; ".join(decisions) or "no alert carried a runbook sample",
            "truncated_alerts": found.truncated_alerts,
        }

    def generic(body: bytes) -> dict[str, Any]:
        now = clock()
        document = parse_metrics_body(_decode(body), now)
        result = intake.ingest(
            runbook_id=document.runbook_id, samples=document.samples, source="metrics", now=now
        )
        ignored = _ignored(document.runbook_id, result, count=len(document.samples))
        return {
            "stored": result.stored,
            "ignored": document.missing + ignored,
            "decision": result.decision,
        }

    def shaped(handler: Handler) -> Handler:
        def run(body: bytes) -> dict[str, Any]:
            try:
                return handler(body)
            except PayloadError as error:
                if error.timestamps:
                    raise HookRefusal(400, "invalid time", problems=error.problems) from None
                raise HookRefusal(422, "invalid payload", problems=error.problems) from None

        return run

    web.add_url_rule(
        "/hooks/alertmanager",
        endpoint="hook_alertmanager",
        view_func=lambda: serve("alertmanager", shaped(alertmanager)),
        methods=["POST"],
    )
    web.add_url_rule(
        "/hooks/metrics",
        endpoint="hook_metrics",
        view_func=lambda: serve("metrics", shaped(generic)),
        methods=["POST"],
    )


def _authenticate(hook_token: SecretStr | None) -> None:
    if hook_token is None:
        raise HookRefusal(503, "hooks are disabled: RELEASEBOT_HOOK_TOKEN is not set")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise HookRefusal(
            401,
            "missing bearer token (Authorization: Bearer $RELEASEBOT_HOOK_TOKEN)",
            headers={"WWW-Authenticate": 'Bearer realm="releasebot"'},
        )
    expected = hook_token.get_secret_value().encode()
    if not hmac.compare_digest(presented.strip().encode(), expected):
        raise HookRefusal(
            401,
            "invalid bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="releasebot", error="invalid_token"'},
        )


def _read_json_body(limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise HookRefusal(413, f"body is {request.content_length} bytes; the limit is {limit}")
    body = _read_at_most(request.stream, limit + 1)
    if len(body) > limit:
        raise HookRefusal(413, f"body is over the limit of {limit} bytes")
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise HookRefusal(415, f"content type must be application/json, not {mimetype!r}")
    return body


def _read_at_most(stream: IO[bytes], size: int) -> bytes:
    """Read up to ``size`` bytes (a stream may hand them over in several pieces)."""
    pieces, remaining = [], size
    while remaining > 0:
        piece = stream.read(remaining)
        if not piece:
            break
        pieces.append(piece)
        remaining -= len(piece)
    return b"".join(pieces)


class _NumberTooLong(ValueError):
    pass


def _number(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def bounded(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARACTERS:
            raise _NumberTooLong(f"a number of {len(text)} characters")
        return parse(text)

    return bounded


_INT, _FLOAT = _number(int), _number(float)


def _decode(body: bytes) -> Any:
    """The body as JSON; anything that cannot be read is the sender's fault (400)."""
    try:
        return json.loads(body, parse_int=_INT, parse_float=_FLOAT)
    except RecursionError:
        raise HookRefusal(400, "body is not valid JSON here: it nests too deeply") from None
    except _NumberTooLong as error:
        raise HookRefusal(
            400,
            f"body is not valid JSON here: {error}, more than {MAX_NUMBER_CHARACTERS}",
        ) from None
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise HookRefusal(400, f"body is not valid JSON: {error}") from None


def _ignored(runbook_id: str, result: IngestResult, *, count: int) -> list[str]:
    """What a runbook's batch left out, as sentences for the sender's log."""
    if not result.known_runbook:
        return [f"runbook {runbook_id!r} is unknown ({count} sample(s) ignored)"]
    ignored = [
        f"metric {metric!r} is not read by runbook {runbook_id!r}"
        for metric in result.unknown_metrics
    ]
    if result.too_old:
        ignored.append(
            f"{result.too_old} sample(s) older than the history kept for runbook "
            f"{runbook_id!r} (RELEASEBOT_SAMPLE_RETENTION): they can no longer count"
        )
    return ignored
