"""The webhook executor against a real local receiver: body, headers, signature, retries."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

from bot.core.runbook import WebhookExecutor
from bot.executors import EXCERPT_LIMIT, run_executor, verify_signature
from tests.executors.support import (
    FIXED_NOW,
    Received,
    Receiver,
    Reply,
    Sleeps,
    make_request,
)

SECRET_ENV = "RELEASEBOT_FLAGS_SECRET"
SECRETS = {SECRET_ENV: "s3cr3t-flags"}


def webhook(url: str, **changes: Any) -> WebhookExecutor:
    values: dict[str, Any] = {
        "type": "webhook",
        "url": url,
        "payload": {"enabled": False},
        "secret_env": SECRET_ENV,
        "timeout": 2,
        "retries": 3,
    }
    values.update(changes)
    return WebhookExecutor.model_validate(values)


def run(executor: WebhookExecutor, sleeps: Sleeps, secrets: dict[str, str] = SECRETS) -> Any:
    return run_executor(
        executor, request=make_request(), secrets=secrets, clock=lambda: FIXED_NOW, sleep=sleeps
    )


def signed_by(
    secret: str, received: Received, *, body: bytes | None = None, now: float | None = None
) -> bool:
    """Whether the receiver would accept ``received`` as signed with ``secret``."""
    return verify_signature(
        secret,
        timestamp=received.headers["x-releasebot-timestamp"],
        body=received.body if body is None else body,
        signature=received.headers["x-releasebot-signature"],
        now=FIXED_NOW.timestamp() if now is None else now,
    )


def test_posts_the_substituted_payload_signed_with_the_secret(
    receiver: Receiver, sleeps: Sleeps
) -> None:
    payload = {
        "flag": "ranking-reranker",
        "enabled": False,
        "reason": "$runbook v$runbook_version: $path for rollback $rollback_id ($severity)",
        "meta": {"key": "$idempotency_key", "drill": "$drill", "tags": ["$path", 7, None]},
        "left_alone": "$unknown costs $$5",
    }
    receiver.script(Reply(200, body='{"status": "disabled"}'))

    outcome = run(webhook(receiver.url, payload=payload), sleeps)

    assert outcome.outcome == "succeeded"
    assert outcome.attempts == 1
    assert outcome.output_excerpt == '{"status": "disabled"}'
    assert outcome.target == receiver.url
    assert "200" in outcome.detail
    [received] = receiver.requests
    assert received.method == "POST"
    assert received.path == "/hooks/rollback"
    assert json.loads(received.body) == {
        "flag": "ranking-reranker",
        "enabled": False,
        "reason": "ranking-model v3: disable-reranker for rollback rb-42 (medium)",
        "meta": {
            "key": "rollback:rb-42:disable-reranker",
            "drill": "false",
            "tags": ["disable-reranker", 7, None],
        },
        "left_alone": "$unknown costs $5",
    }
    headers = received.headers
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "releasebot"
    assert headers["idempotency-key"] == "rollback:rb-42:disable-reranker"
    assert headers["x-releasebot-timestamp"] == str(int(FIXED_NOW.timestamp()))
    assert headers["x-releasebot-signature"].startswith("v1=")
    assert signed_by("s3cr3t-flags", received)
    assert not signed_by("another-secret", received)
    assert not signed_by("s3cr3t-flags", received, body=received.body + b" ")
    assert not signed_by("s3cr3t-flags", received, now=FIXED_NOW.timestamp() + 3600)
    assert sleeps == []


def test_without_secret_env_no_signature_is_sent(receiver: Receiver, sleeps: Sleeps) -> None:
    outcome = run(webhook(receiver.url, secret_env=None), sleeps, secrets={})

    assert outcome.outcome == "succeeded"
    assert "x-releasebot-signature" not in receiver.requests[0].headers


def test_a_missing_secret_fails_cleanly_without_calling(receiver: Receiver, sleeps: Sleeps) -> None:
    for secrets in ({}, {SECRET_ENV: ""}):
        outcome = run(webhook(receiver.url), sleeps, secrets=secrets)

        assert outcome.outcome == "failed"
        assert outcome.attempts == 0
        assert SECRET_ENV in outcome.detail
        assert "not set" in outcome.detail
    assert receiver.requests == []


def test_a_5xx_is_retried_with_the_same_key_and_body(receiver: Receiver, sleeps: Sleeps) -> None:
    receiver.script(Reply(500, body="boom"), Reply(502), Reply(200, body="done"))

    outcome = run(webhook(receiver.url), sleeps)

    assert outcome.outcome == "succeeded"
    assert outcome.attempts == 3
    assert outcome.output_excerpt == "done"
    assert "attempt 3 of 4" in outcome.detail
    assert len(receiver.requests) == 3
    assert {r.headers["idempotency-key"] for r in receiver.requests} == {
        "rollback:rb-42:disable-reranker"
    }
    assert len({r.body for r in receiver.requests}) == 1
    assert all(signed_by("s3cr3t-flags", received) for received in receiver.requests)
    assert sleeps == [1.0, 2.0]  # exponential backoff


def test_persistent_5xx_gives_up_after_the_retries(receiver: Receiver, sleeps: Sleeps) -> None:
    receiver.script(*[Reply(503, body="down")] * 4)

    outcome = run(webhook(receiver.url, retries=3), sleeps)

    assert outcome.outcome == "failed"
    assert outcome.attempts == 4
    assert len(receiver.requests) == 4
    assert "503" in outcome.detail and "gave up after 4 attempts" in outcome.detail
    assert outcome.output_excerpt == "down"
    assert sleeps == [1.0, 2.0, 4.0]


def test_429_honours_retry_after_up_to_a_cap(receiver: Receiver, sleeps: Sleeps) -> None:
    at = format_datetime(FIXED_NOW + timedelta(seconds=20), usegmt=True)
    receiver.script(
        Reply(429, headers={"Retry-After": "7"}),
        Reply(429, headers={"Retry-After": "3600"}),
        Reply(503, headers={"Retry-After": at}),
        Reply(200),
    )

    outcome = run(webhook(receiver.url, retries=3), sleeps)

    assert outcome.outcome == "succeeded"
    assert outcome.attempts == 4
    assert sleeps == [7.0, 60.0, 20.0]


def test_a_4xx_is_not_retried(receiver: Receiver, sleeps: Sleeps) -> None:
    receiver.script(Reply(404, body="no such flag"))

    outcome = run(webhook(receiver.url), sleeps)

    assert outcome.outcome == "failed"
    assert outcome.attempts == 1
    assert len(receiver.requests) == 1
    assert "404" in outcome.detail and "not retried" in outcome.detail
    assert outcome.output_excerpt == "no such flag"
    assert sleeps == []


def test_a_redirect_is_not_followed(receiver: Receiver, sleeps: Sleeps) -> None:
    receiver.script(Reply(302, headers={"Location": "http://127.0.0.1:1/elsewhere"}))

    outcome = run(webhook(receiver.url), sleeps)

    assert outcome.outcome == "failed"
    assert outcome.attempts == 1
    assert len(receiver.requests) == 1
    assert "http://127.0.0.1:1/elsewhere" in outcome.detail
    assert "not followed" in outcome.detail


def test_a_slow_receiver_times_out_and_is_retried(receiver: Receiver, sleeps: Sleeps) -> None:
    receiver.script(Reply(delay=30), Reply(200, body="late but fine"))

    outcome = run(webhook(receiver.url, timeout=0.5, retries=1), sleeps)

    assert outcome.outcome == "succeeded"
    assert outcome.attempts == 2
    assert sleeps == [1.0]
    assert (
        receiver.requests[0].headers["idempotency-key"]
        == (receiver.requests[1].headers["idempotency-key"])
    )


def test_a_receiver_slow_on_every_attempt_is_timed_out(receiver: Receiver, sleeps: Sleeps) -> None:
    receiver.script(Reply(delay=30), Reply(delay=30))

    outcome = run(webhook(receiver.url, timeout=0.5, retries=1), sleeps)

    assert outcome.outcome == "timed_out"
    assert outcome.attempts == 2
    assert len(receiver.requests) == 2
    assert "0.5s" in outcome.detail
    assert outcome.output_excerpt is None


def test_connection_errors_are_retried(sleeps: Sleeps) -> None:
    with socket.socket() as placeholder:  # a port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    outcome = run(webhook(f"http://127.0.0.1:{port}/hook", retries=2), sleeps)

    assert outcome.outcome == "failed"
    assert outcome.attempts == 3
    assert "could not reach" in outcome.detail
    assert sleeps == [1.0, 2.0]


def test_a_long_response_body_is_excerpted(receiver: Receiver, sleeps: Sleeps) -> None:
    receiver.script(Reply(200, body="A" * 1500 + "B" * 3000 + "Z" * 500))

    outcome = run(webhook(receiver.url), sleeps)

    assert outcome.output_excerpt is not None
    assert len(outcome.output_excerpt) <= EXCERPT_LIMIT
    assert "characters truncated" in outcome.output_excerpt
    assert outcome.output_excerpt.startswith("A" * 900)
    assert outcome.output_excerpt.endswith("Z" * 500)


def test_credentials_in_the_url_stay_out_of_the_target(receiver: Receiver, sleeps: Sleeps) -> None:
    url = receiver.url.replace("http://", "http://user:pw@")

    outcome = run(webhook(url), sleeps)

    assert outcome.outcome == "succeeded"
    assert outcome.target == receiver.url
    assert "pw" not in outcome.detail


def test_a_malformed_url_is_a_failed_outcome_not_an_exception(sleeps: Sleeps) -> None:
    outcome = run(webhook("http://[not-an-ip/hook"), sleeps)

    assert outcome.outcome == "failed"
    assert outcome.attempts == 1
    assert sleeps == []
