"""Slack's signature is checked on the raw bytes, before parsing; every failure is a value."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bot.web.slack_request import MalformedBody, parse_slack_body
from bot.web.slack_signature import Rejected, SignatureCheck

SECRET = "a-signing-secret"
NOW = 1_700_000_000


def headers(body: bytes, timestamp: str, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": "v0=" + digest.hexdigest()}


def check(body: bytes, given: dict[str, str]) -> Rejected | None:
    return SignatureCheck(SECRET, clock=lambda: NOW).check(body, given)


def test_a_fresh_valid_signature_passes_over_any_bytes() -> None:
    for body in (b"", b"payload=%7B%7D", b"\xff\xfe not utf-8"):
        assert check(body, headers(body, str(NOW))) is None


def test_five_minutes_either_way_is_fresh_and_a_second_more_is_stale() -> None:
    body = b"x"
    for offset in (-300, 300):
        assert check(body, headers(body, str(NOW + offset))) is None
    for offset in (-301, 301):
        assert check(body, headers(body, str(NOW + offset))) == Rejected(
            401, "stale request: its timestamp is more than 5 minutes off"
        )


@pytest.mark.parametrize(
    ("given", "status", "says"),
    [
        ({}, 401, "no X-Slack-Request-Timestamp"),
        ({"x-slack-request-timestamp": str(NOW)}, 401, "no X-Slack-Signature"),
        ({"x-slack-request-timestamp": "soon", "x-slack-signature": "v0=" + "0" * 64}, 400,
         "must be a number"),
        ({"x-slack-request-timestamp": "１２３", "x-slack-signature": "v0=" + "0" * 64}, 400,
         "must be a number"),
        ({"x-slack-request-timestamp": "9" * 40, "x-slack-signature": "v0=" + "0" * 64}, 400,
         "must be a number"),
        ({"x-slack-request-timestamp": str(NOW), "x-slack-signature": "v0=xyz"}, 400,
         "64 hex digits"),
        ({"x-slack-request-timestamp": str(NOW), "x-slack-signature": "v0=" + "0" * 64}, 401,
         "invalid signature"),
    ],
)  # fmt: skip
def test_missing_malformed_or_wrong_headers_are_refused_with_a_reason(
    given: dict[str, str], status: int, says: str
) -> None:
    rejected = check(b"payload=%7B%7D", given)
    assert rejected is not None and rejected.status == status and says in rejected.reason


def test_a_signature_made_with_another_secret_or_over_other_bytes_fails() -> None:
    assert check(b"a", headers(b"a", str(NOW), "another-secret")) == Rejected(
        401, "invalid signature"
    )
    assert check(b"b", headers(b"a", str(NOW))) == Rejected(401, "invalid signature")


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        ("payload=%7Bnope", "application/x-www-form-urlencoded", "not valid JSON"),
        ("payload=%5B1%5D", "application/x-www-form-urlencoded", "not an object"),
        ("payload=" + "%5B" * 100_000, "application/x-www-form-urlencoded", "nested too deeply"),
        ("[1]", "application/json", "not an object"),
        ("{", "application/json", "not valid JSON"),
        ("payload=%5B%5D&x=1", "application/x-www-form-urlencoded", "not an object"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_malformed(
    body: str, content_type: str, says: str
) -> None:
    with pytest.raises(MalformedBody, match=says):
        parse_slack_body(body, content_type)
