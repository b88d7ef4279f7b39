"""Hostile and malformed requests to /slack/events and over Socket Mode: every one is answered
with a 4xx and a reason (never a 500, never a traceback in the log), nothing is recorded, and
the person behind a malformed click is told privately.

One table of cases, by class: unsigned bodies (the signature is checked on the raw bytes
before anything parses them), signed bodies that are not a JSON object, and signed requests
of the right kind with fields missing or of the wrong shape (a button value the bot never
rendered, a click without a user, channel or action, ...). The payload-level classes are
sent over Socket Mode too (no signature there: the WebSocket is Slack's own).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from prometheus_client import generate_latest

from bot.devtools.emulator import payloads
from bot.devtools.sandbox import SIGNING_SECRET, Sandbox
from tests.slack.support import RANKING, RELEASE

Json = dict[str, Any]
FORM = "application/x-www-form-urlencoded"
CLICKER = "U0CHIARA"  # owns the eval-metrics gate
DEEP = 100_000


@dataclass(frozen=True)
class Case:
    """One hostile request. ``make(click)`` builds it from a well-formed click payload."""

    name: str
    kind: str  # the class counted in the report
    make: Callable[[Json], Any]
    status: int
    tells: bool = False  # the clicking person is told privately
    signed: bool = True
    headers: Callable[[bytes], dict[str, str]] | None = None  # HTTP headers instead of signing
    content_type: str = FORM
    socket: bool = False  # also sent as a Socket Mode envelope (payload-level classes)


def sign(body: bytes, timestamp: str, secret: str = SIGNING_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + digest.hexdigest()}


def now_text() -> str:
    return str(int(time.time()))


def form(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def raw_payload(text: str) -> Callable[[Json], bytes]:
    return lambda click: ("payload=" + quote(text)).encode()


def edited(edit: Callable[[Json], None]) -> Callable[[Json], Json]:
    def make(click: Json) -> Json:
        changed = copy.deepcopy(click)
        edit(changed)
        return changed

    return make


def with_value(value: Any) -> Callable[[Json], Json]:
    def edit(click: Json) -> None:
        click["actions"][0]["value"] = value if isinstance(value, str) else json.dumps(value)

    return edited(edit)


def without(*path: str) -> Callable[[Json], Json]:
    def edit(click: Json) -> None:
        target = click
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return edited(edit)


def setting(value: Any, *path: str) -> Callable[[Json], Json]:
    def edit(click: Json) -> None:
        target = click
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edited(edit)


def the_form(metadata: Any, *, view: Any = None) -> Callable[[Json], Json]:
    def make(click: Json) -> Json:
        submitted = view if view is not None else {
            "callback_id": "reason_modal",
            "private_metadata": metadata if isinstance(metadata, str) else json.dumps(metadata),
            "state": {"values": {"reason": {"reason": {"type": "plain_text_input",
                                                       "value": "flaky eval"}}}},
        }  # fmt: skip
        return {"type": "view_submission", "user": click["user"], "team": click["team"],
                "trigger_id": "1.2.x", "view": submitted}  # fmt: skip

    return make


def event(body_event: Any) -> Callable[[Json], Json]:
    return lambda click: {"type": "event_callback", "team_id": "T0001", "event_id": "Ev1",
                          "event": body_event}  # fmt: skip


def command(**fields: str) -> Callable[[Json], Json]:
    return lambda click: dict(fields)


GATE = {"review_id": "1", "gate_id": "eval-metrics"}
CASES = [
    # --- unsigned, or signed wrongly: refused before the body is parsed ---------------------
    Case("payload not JSON", "unsigned", raw_payload("{not json"), 401, signed=False),
    Case("payload a JSON list", "unsigned", raw_payload("[1, 2]"), 401, signed=False),
    Case("payload nested 100,000 deep", "unsigned", raw_payload("[" * DEEP), 401, signed=False),
    Case("JSON body a list", "unsigned", lambda c: b"[]", 401, signed=False,
         content_type="application/json"),  # fmt: skip
    Case("body not UTF-8", "unsigned", lambda c: b"payload=\xff\xfe", 401, signed=False),
    Case("a valid click, unsigned", "unsigned", form, 401, signed=False),
    Case("forged signature", "unsigned", form, 401,
         headers=lambda body: sign(body, now_text(), "not-the-secret")),  # fmt: skip
    Case("stale timestamp", "unsigned", form, 401,
         headers=lambda body: sign(body, str(int(time.time()) - 600))),  # fmt: skip
    Case("timestamp not a number", "bad headers", raw_payload("{not json"), 400,
         headers=lambda body: {"X-Slack-Request-Timestamp": "soon",
                               "X-Slack-Signature": "v0=" + "0" * 64}),  # fmt: skip
    Case("timestamp a float", "bad headers", form, 400,
         headers=lambda body: sign(body, now_text() + ".5")),  # fmt: skip
    Case("signature header malformed", "bad headers", form, 400,
         headers=lambda body: {"X-Slack-Request-Timestamp": now_text(),
                               "X-Slack-Signature": "sha1=abc"}),  # fmt: skip
    # --- signed, but not a JSON object ------------------------------------------------------
    Case("signed payload not JSON", "signed, not an object", raw_payload("{not json"), 400),
    Case("signed payload a list", "signed, not an object", raw_payload("[1, 2]"), 400),
    Case("signed payload a string", "signed, not an object", raw_payload('"hi"'), 400),
    Case("signed payload nested 100,000 deep", "signed, not an object",
         raw_payload("[" * DEEP + "]" * DEEP), 400),  # fmt: skip
    Case("signed JSON body a list", "signed, not an object", lambda c: b"[1]", 400,
         content_type="application/json"),  # fmt: skip
    Case("signed JSON body not JSON", "signed, not an object", lambda c: b"{oops", 400,
         content_type="application/json"),  # fmt: skip
    Case("signed body not UTF-8", "signed, not an object", lambda c: b"payload=\xff\xfe", 400),
    Case("signed payload and other fields", "signed, not an object",
         lambda c: b"payload=%5B%5D&team=T1", 400),  # fmt: skip
    # --- signed clicks that are not the bot's -----------------------------------------------
    Case("button value not JSON", "signed click", with_value("{nope"), 400, tells=True),
    Case("button value a list", "signed click", with_value([1]), 400, tells=True),
    Case("button value with another key", "signed click",
         with_value({**GATE, "admin": True}), 400, tells=True),  # fmt: skip
    Case("button value's review_id not a number", "signed click",
         with_value({**GATE, "review_id": "one"}), 400, tells=True),  # fmt: skip
    Case("button value's review_id past int64", "signed click",
         with_value({**GATE, "review_id": "9" * 30}), 400, tells=True),  # fmt: skip
    Case("button value's review_id zero", "signed click",
         with_value({**GATE, "review_id": 0}), 400, tells=True),  # fmt: skip
    Case("button value's gate_id a number", "signed click",
         with_value({**GATE, "gate_id": 7}), 400, tells=True),  # fmt: skip
    Case("button value without gate_id", "signed click",
         with_value({"review_id": "1"}), 400, tells=True),  # fmt: skip
    Case("no user", "signed click", without("user"), 400),
    Case("user a number", "signed click", setting(5, "user"), 400),
    Case("user's id a number", "signed click", setting(5, "user", "id"), 400),
    Case("no channel", "signed click",
         edited(lambda c: (c.pop("channel"), c["container"].pop("channel_id"))), 400),  # fmt: skip
    Case("no actions", "signed click", without("actions"), 400, tells=True),
    Case("actions empty", "signed click", setting([], "actions"), 400, tells=True),
    Case("action a string", "signed click", setting(["gate_pass"], "actions"), 400, tells=True),
    Case("action_id a number", "signed click", setting(1, "actions", 0, "action_id"), 400,
         tells=True),  # fmt: skip
    Case("no trigger_id", "signed click", without("trigger_id"), 400, tells=True),
    Case("team a list", "signed click", setting([], "team"), 400, tells=True),
    Case("message a string", "signed click", setting("hi", "message"), 400, tells=True),
    Case("approval value's request_id text", "signed click",
         edited(lambda c: c["actions"][0].update(action_id="approval_approve",
                                                 value='{"request_id":"x"}')),
         400, tells=True),  # fmt: skip
    Case("a button that is not the bot's", "signed click",
         setting("someone_elses", "actions", 0, "action_id"), 404),  # fmt: skip
    # --- signed forms, events and commands of the wrong shape -------------------------------
    Case("form metadata not JSON", "signed form", the_form("{x"), 400),
    Case("form metadata with review_id text", "signed form",
         the_form({"kind": "gate", "action": "fail", "review_id": "x", "gate_id": "g",
                   "channel_id": RANKING}), 400),  # fmt: skip
    Case("form without view", "signed form", the_form({}, view="nope"), 400),
    Case("event not an object", "signed event", event([1]), 400),
    Case("message event's channel a number", "signed event",
         event({"type": "message", "channel": 5, "ts": "1.2", "text": "hi"}), 400),  # fmt: skip
    Case("app_mention without channel", "signed event",
         event({"type": "app_mention", "ts": "1.2", "text": "<@U0BOT> status"}), 400),  # fmt: skip
    Case("slash command without user_id", "signed command",
         command(command="/release", text="help", channel_id=RANKING), 400),  # fmt: skip
    Case("form body without command or type", "signed command", command(text="hi"), 400),
]


def body_of(case: Case, click: Json) -> bytes:
    made = case.make(click)
    if isinstance(made, bytes):
        return made
    if case.content_type == "application/json" or made.get("type") == "event_callback":
        return json.dumps(made).encode()
    if made.get("type") is None:
        return urlencode(made).encode()
    return form(made)


def content_type_of(case: Case, click: Json) -> str:
    made = case.make(click)
    if isinstance(made, dict) and made.get("type") == "event_callback":
        return "application/json"
    return case.content_type


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@dataclass
class Target:
    sandbox: Sandbox
    click: Json  # a well-formed click on the eval-metrics gate's Pass, never sent as is

    def ephemerals(self) -> int:
        return len(self.sandbox.slack.ephemerals(user=CLICKER))

    def metrics(self) -> str:
        return generate_latest(self.sandbox.runtime.metrics.registry).decode()


def started(sandbox: Sandbox) -> Target:
    start = "start ranking-model v2.4.0"
    answer = sandbox.driver.slash_command("U0ALICE", RANKING, "/release", start)
    assert answer.status == 200
    sandbox.settle()
    button = sandbox.driver.find_button(RANKING, "Pass", match="eval-metrics")
    click = payloads.block_actions(
        sandbox.slack.state, user=CLICKER, message=button.message, block=button.block,
        element=button.element, trigger_id="1.2.trigger", response_url="http://127.0.0.1:9/r",
    )  # fmt: skip
    return Target(sandbox, click)


@pytest.fixture(scope="module")
def http_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    path: Path = tmp_path_factory.mktemp("hostile") / "releasebot.db"
    with Sandbox.start(database_url=f"sqlite:///{path}") as sandbox:
        yield started(sandbox)


@pytest.fixture(scope="module")
def socket_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    path: Path = tmp_path_factory.mktemp("hostile-socket") / "releasebot.db"
    with Sandbox.start(database_url=f"sqlite:///{path}", socket_mode=True) as sandbox:
        yield started(sandbox)


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


ANSWERS: Counter[tuple[str, str, int]] = Counter()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_hostile_request_over_http_is_refused_with_a_reason(
    http_bot: Target, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    body = body_of(case, http_bot.click)
    headers = {"Content-Type": content_type_of(case, http_bot.click)}
    if case.headers is not None:
        headers.update(case.headers(body))
    elif case.signed:
        headers.update(sign(body, now_text()))
    told_before = http_bot.ephemerals()
    with caplog.at_level(logging.INFO):
        status, text = post(http_bot.sandbox.server.url + "/slack/events", body, headers)
    assert status == case.status, text
    if status != 404:
        assert json.loads(text)["error"], "a refusal says why"
    http_bot.sandbox.settle()
    assert http_bot.ephemerals() == told_before + (1 if case.tells else 0)
    assert no_tracebacks(caplog) == []
    ANSWERS[("HTTP", case.kind, status)] += 1


SOCKET_CASES = [case for case in CASES if case.signed and case.headers is None
                and "not an object" not in case.kind]  # fmt: skip


@pytest.mark.parametrize("case", SOCKET_CASES, ids=[case.name for case in SOCKET_CASES])
def test_a_malformed_envelope_over_socket_mode_is_refused(
    socket_bot: Target, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    made = case.make(socket_bot.click)
    kind = "interactive"
    if made.get("type") == "event_callback":
        kind = "events_api"
    elif made.get("type") is None:
        kind = "slash_commands"
    label = {"interactive": "interaction", "events_api": "event", "slash_commands": "command"}
    counted = f'releasebot_slack_requests_total{{kind="{label[kind]}",status="{case.status}"}}'
    before = _count(socket_bot.metrics(), counted)
    told_before = socket_bot.ephemerals()
    server = _socket_server(socket_bot)
    with caplog.at_level(logging.INFO):
        record = server.deliver(kind, made, timeout=5.0)
    if case.status == 404:  # Bolt's own answer for a request no listener wants: not acked
        assert record.ack is None
    else:
        assert record.ack is not None, "a refused envelope is acknowledged: retrying cannot help"
    socket_bot.sandbox.slack.wait_for(lambda: _count(socket_bot.metrics(), counted) > before)
    socket_bot.sandbox.settle()
    assert socket_bot.ephemerals() == told_before + (1 if case.tells else 0)
    assert no_tracebacks(caplog) == []
    ANSWERS[("Socket Mode", case.kind, case.status)] += 1


@pytest.mark.parametrize("payload", [[1, 2], 7, None], ids=["list", "number", "null"])
def test_an_envelope_whose_payload_is_not_an_object_is_refused(
    socket_bot: Target, payload: Any, caplog: pytest.LogCaptureFixture
) -> None:
    counted = 'releasebot_slack_requests_total{kind="event",status="400"}'
    before = _count(socket_bot.metrics(), counted)
    with caplog.at_level(logging.INFO):
        record = _socket_server(socket_bot).deliver("events_api", payload, timeout=5.0)
    assert record.ack is not None
    assert _count(socket_bot.metrics(), counted) == before + 1
    assert no_tracebacks(caplog) == []
    ANSWERS[("Socket Mode", "not an object", 400)] += 1


def test_nothing_hostile_was_recorded_and_the_well_formed_click_still_counts(
    http_bot: Target, socket_bot: Target
) -> None:
    for target in (http_bot, socket_bot):
        assert 'status="500"' not in target.metrics()
        assert [e.kind for e in _trail(target) if e.kind.startswith("gate.")] == []
    answer = http_bot.sandbox.driver.send(form(http_bot.click).decode(), FORM)
    assert answer.status == 200
    assert "gate.passed" in [e.kind for e in _trail(http_bot)]
    if ANSWERS:  # the table of how each class was answered, for the report (pytest -s)
        for (transport, kind, status), count in sorted(ANSWERS.items()):
            print(f"hostile input: {transport:11} {kind:24} -> {status}: {count}")
        print(f"hostile input: {sum(ANSWERS.values())} requests, none answered 500")


def _trail(target: Target) -> list[Any]:
    from bot.store import read_connection, trail_for_subject

    with read_connection(target.sandbox.runtime.engine) as connection:
        return trail_for_subject(connection, subject=RELEASE)


def _socket_server(target: Target) -> Any:
    return target.sandbox.driver.transport.server


def _count(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
