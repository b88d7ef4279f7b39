"""The values executors take and return: requests, excerpts, the signature scheme."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

import pytest

from bot.executors import EXCERPT_LIMIT, excerpt, sign, verify_signature
from tests.executors.support import make_request


@pytest.mark.parametrize("length", [0, 1, EXCERPT_LIMIT - 1, EXCERPT_LIMIT])
def test_short_output_is_kept_whole(length: int) -> None:
    text = "x" * length
    assert excerpt(text) == (text or None)


@pytest.mark.parametrize("length", [EXCERPT_LIMIT + 1, EXCERPT_LIMIT + 9, 10**6])
def test_long_output_is_cut_to_the_limit_with_a_marker(length: int) -> None:
    text = "".join(str(i % 10) for i in range(length))

    cut = excerpt(text)

    assert cut is not None
    assert len(cut) == EXCERPT_LIMIT
    head, marker, tail = cut.split("\n")
    assert text.startswith(head) and text.endswith(tail)
    assert marker == f"[... {length - len(head) - len(tail)} characters truncated ...]"


def test_blank_output_is_none() -> None:
    assert excerpt(None) is None
    assert excerpt("  \n") is None


def test_a_request_is_immutable_and_keeps_approvers_as_a_tuple() -> None:
    request = make_request(approved_by=["U0DMITRI", "U0ELENA"])

    assert request.approved_by == ("U0DMITRI", "U0ELENA")
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.drill = True  # type: ignore[misc]


@pytest.mark.parametrize("key", ["", "has space", "line\nbreak", "é", "k" * 256])
def test_an_idempotency_key_must_be_header_safe(key: str) -> None:
    with pytest.raises(ValueError, match="idempotency_key"):
        make_request(idempotency_key=key)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"enabled":false}'
    expected = hmac.new(b"secret", b"1741183200." + body, hashlib.sha256).hexdigest()

    assert sign("secret", 1741183200, body) == f"v1={expected}"
    assert verify_signature(
        "secret", timestamp="1741183200", body=body, signature=f"v1={expected}", now=1741183200
    )
    assert not verify_signature(
        "secret", timestamp="soon", body=body, signature=f"v1={expected}", now=1741183200
    )
