"""Plays Slack's side towards the bot, in either of Slack's two ways of reaching an app.

- :class:`SignedHttp`: real signed HTTP requests to the bot's request URL (HTTP mode);
- :class:`SocketModeLink`: envelopes over the WebSocket the bot opened (Socket Mode).

Every send returns a :class:`Delivery` (what the bot answered, and what was sent), and takes
the options of :class:`SendOptions`: ``retry_num``/``retry_reason`` (a redelivery), and over
HTTP only ``timestamp`` or ``age`` (a stale request) and ``secret`` (a forged signature).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, Unpack
from urllib.parse import parse_qs, urlencode

from slack_sdk.signature import SignatureVerifier

from bot.devtools.emulator import payloads
from bot.devtools.emulator.state import Json, Message

# How long submit_view waits for a modal to open (the bot opens it after answering the click).
VIEW_WAIT_S = 5.0
# Slack gives an app 3 seconds to acknowledge; the driver waits longer on a busy test machine.
ACK_WAIT_S = 10.0
# The status of a Socket Mode delivery that was not acknowledged within the wait.
NOT_ACKNOWLEDGED = 504

if TYPE_CHECKING:
    from bot.devtools.emulator.emulator import SlackEmulator
    from bot.devtools.emulator.socket_mode import SocketModeServer


class SendOptions(TypedDict, total=False):
    retry_num: int
    retry_reason: str
    timestamp: int
    age: int
    secret: str


@dataclass(frozen=True)
class Delivery:
    """One request to the bot and its answer.

    Over HTTP, ``status``, ``headers`` and ``body`` are the HTTP answer's. Over Socket Mode,
    ``status`` is 200 when the envelope was acknowledged (``body``: the acknowledgement's
    payload as JSON, if any) and ``NOT_ACKNOWLEDGED`` (504) when it was not, in time;
    ``envelope`` is what was sent. ``sent_body`` is the request as HTTP mode would carry it.
    """

    status: int
    headers: dict[str, str]
    body: str
    sent_body: str
    sent_headers: dict[str, str]
    payload: Json = field(default_factory=dict)
    message: Message | None = None
    envelope: Json | None = None

    @property
    def json(self) -> Any:
        """The answer's body parsed as JSON, or None if it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass(frozen=True)
class Button:
    """A button found in a message: where it is, and the element itself."""

    message: Message
    block: Json
    element: Json

    @property
    def label(self) -> str:
        return str(self.element.get("text", {}).get("text", ""))


def sign(secret: str, timestamp: int, body: str) -> str:
    """``v0=HMAC_SHA256(secret, "v0:TS:BODY")``, as Slack signs requests."""
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert signature is not None
    return signature


class Transport(Protocol):
    """How a request reaches the bot."""

    def deliver(self, body: str, content_type: str, options: SendOptions) -> Delivery: ...


@dataclass(frozen=True)
class SignedHttp:
    """Slack's HTTP mode: a POST to the request URL, signed with the signing secret."""

    request_url: str
    signing_secret: str
    timeout: float = 10.0

    def deliver(self, body: str, content_type: str, options: SendOptions) -> Delivery:
        """POST ``body`` signed (or forged/stale, per ``options``) and return the answer."""
        timestamp = options.get("timestamp") or int(time.time()) - options.get("age", 0)
        secret = options.get("secret", self.signing_secret)
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(timestamp)}
        headers["X-Slack-Signature"] = sign(secret, timestamp, body)
        if options.get("retry_num") is not None:
            headers["X-Slack-Retry-Num"] = str(options["retry_num"])
            headers["X-Slack-Retry-Reason"] = options.get("retry_reason", "http_timeout")
        request = urllib.request.Request(
            self.request_url, data=body.encode("utf-8"), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, answer = response.status, response
                text = answer.read().decode("utf-8", "replace")
                answer_headers = dict(answer.headers.items())
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode("utf-8", "replace")
            answer_headers = dict(error.headers.items())
        return Delivery(status, answer_headers, text, body, headers)


@dataclass(frozen=True)
class SocketModeLink:
    """Slack's Socket Mode: the request as an envelope over the bot's WebSocket connection."""

    server: SocketModeServer
    ack_timeout: float = ACK_WAIT_S

    def deliver(self, body: str, content_type: str, options: SendOptions) -> Delivery:
        unsigned = sorted(set(options) & {"timestamp", "age", "secret"})
        if unsigned:
            raise ValueError(f"Socket Mode requests are not signed: {unsigned} do not apply")
        kind, payload = socket_envelope_of(body, content_type)
        record = self.server.deliver(
            kind, payload, retry_attempt=options.get("retry_num") or 0,
            retry_reason=options.get("retry_reason", ""), timeout=self.ack_timeout,
        )  # fmt: skip
        sent_headers = {"Content-Type": content_type}
        if record.ack is None:
            return Delivery(NOT_ACKNOWLEDGED, {}, "", body, sent_headers, envelope=record.envelope)
        text = json.dumps(record.ack) if record.ack else ""
        headers = {"Content-Type": "application/json"} if text else {}
        return Delivery(200, headers, text, body, sent_headers, envelope=record.envelope)


def socket_envelope_of(body: str, content_type: str) -> tuple[str, Json]:
    """The Socket Mode envelope type and payload of a request HTTP mode would POST."""
    if content_type.startswith("application/json"):
        payload = json.loads(body)
        if payload.get("type") != "event_callback":
            raise ValueError(f"Socket Mode carries no {payload.get('type')!r} requests")
        return "events_api", payload
    form = {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}
    if "payload" in form:
        return "interactive", json.loads(form["payload"])
    if "command" in form:
        return "slash_commands", form
    raise ValueError("neither an interaction nor a slash command")


class SlackDriver:
    """Sends Slack's requests (commands, clicks, view submissions, events) to the bot."""

    def __init__(self, emulator: SlackEmulator, transport: Transport) -> None:
        self.emulator, self.state, self.transport = emulator, emulator.state, transport

    # ---- transport ----------------------------------------------------------------------
    def send(self, body: str, content_type: str, **options: Unpack[SendOptions]) -> Delivery:
        """Send ``body`` (as HTTP mode would POST it) by this driver's transport."""
        return self.transport.deliver(body, content_type, options)

    def _send_json(self, payload: Json, options: SendOptions, **extra: Any) -> Delivery:
        delivery = self.send(json.dumps(payload), "application/json", **options)
        return replace(delivery, payload=payload, **extra)

    def _send_form(self, form: Json, payload: Json, options: SendOptions) -> Delivery:
        body = urlencode(form)
        delivery = self.send(body, "application/x-www-form-urlencoded", **options)
        return replace(delivery, payload=payload)

    def _send_interaction(self, payload: Json, options: SendOptions) -> Delivery:
        return self._send_form({"payload": json.dumps(payload)}, payload, options)

    def redeliver(self, delivery: Delivery, **options: Unpack[SendOptions]) -> Delivery:
        """Send the same body again, freshly signed, as Slack's retry (``retry_num`` 1 and
        ``retry_reason`` ``http_timeout`` unless given)."""
        options.setdefault("retry_num", 1)
        options.setdefault("retry_reason", "http_timeout")
        content_type = delivery.sent_headers["Content-Type"]
        again = self.send(delivery.sent_body, content_type, **options)
        return replace(again, payload=delivery.payload)

    # ---- slash commands and interactivity -----------------------------------------------
    def slash_command(
        self, user: str, channel: str, command: str, text: str = "",
        **options: Unpack[SendOptions],
    ) -> Delivery:  # fmt: skip
        """``/command text`` typed by ``user`` in ``channel`` (a form body, like Slack's)."""
        state, channel_info = self.state, self.state.channels.get(channel)
        form = {
            "token": payloads.VERIFICATION_TOKEN, "team_id": state.team_id,
            "team_domain": state.domain, "channel_id": channel,
            "channel_name": channel_info.name if channel_info else channel,
            "user_id": user, "user_name": state.display_name(user), "command": command,
            "text": text, "api_app_id": state.bot.app_id, "is_enterprise_install": "false",
            "response_url": self._response_url(channel=channel, user=user, kind="command"),
            "trigger_id": state.issue_trigger(user),
        }  # fmt: skip
        return self._send_form(form, dict(form), options)

    def find_button(
        self, channel: str, label: str, message_ts: str | None = None, match: str | None = None
    ) -> Button:
        """The newest button labelled ``label`` (thread replies included), or in ``message_ts``.

        ``match`` narrows to buttons whose block_id, action_id or value contains it.
        """
        with self.state.lock:
            messages = [m for m in self.state.messages.get(channel, []) if not m.deleted]
            if message_ts is not None:
                messages = [m for m in messages if m.ts == message_ts]
            seen = []
            for message in sorted(messages, key=lambda m: float(m.ts), reverse=True):
                for block, element in _buttons(message.blocks):
                    button = Button(message, block, element)
                    seen.append(f"{button.label!r} ({block.get('block_id')})")
                    where = f"{block.get('block_id')} {element.get('action_id')}"
                    where += f" {element.get('value', '')}"
                    if button.label.strip() == label and (match is None or match in where):
                        return button
        raise LookupError(f"no button {label!r} (match={match!r}) in {channel}; saw {seen}")

    def click(
        self, user: str, channel: str, label: str, message_ts: str | None = None, *,
        match: str | None = None, **options: Unpack[SendOptions],
    ) -> Delivery:  # fmt: skip
        """``user`` presses the button labelled ``label`` (see :meth:`find_button`)."""
        button = self.find_button(channel, label, message_ts, match)
        message = button.message
        response_url = self._response_url(
            channel=channel, user=user, kind="block_actions", message_ts=message.ts,
            thread_ts=message.thread_ts if message.is_reply else None,
        )  # fmt: skip
        payload = payloads.block_actions(
            self.state, user=user, message=message, block=button.block, element=button.element,
            trigger_id=self.state.issue_trigger(user), response_url=response_url,
        )  # fmt: skip
        return self._send_interaction(payload, options)

    def click_home(
        self, user: str, label: str, *, match: str | None = None,
        **options: Unpack[SendOptions],
    ) -> Delivery:  # fmt: skip
        """``user`` presses the button labelled ``label`` in their App Home (the newest view
        published for them); ``match`` narrows as in :meth:`find_button`."""
        with self.state.lock:
            view = self.state.home_views.get(user)
            found = [] if view is None else [
                (block, element) for block, element in _buttons(view.view.get("blocks", []))
                if str((element.get("text") or {}).get("text", "")).strip() == label
                and (match is None or match in f"{block.get('block_id')} {element.get('value')}")
            ]  # fmt: skip
            if view is None or not found:
                raise LookupError(f"no button {label!r} (match={match!r}) in {user}'s Home")
            block, element = found[0]
            payload = payloads.view_block_actions(
                self.state, user=user, view=view, block=block, element=element,
                trigger_id=self.state.issue_trigger(user),
            )  # fmt: skip
        return self._send_interaction(payload, options)

    def submit_view(
        self, user: str, values: Json | None = None, view_id: str | None = None,
        **options: Unpack[SendOptions],
    ) -> Delivery:  # fmt: skip
        """``user`` submits a modal (default: the latest one opened for them), waiting up to
        ``VIEW_WAIT_S`` for it to open, as a person waits for a form after a click."""
        deadline = time.monotonic() + VIEW_WAIT_S
        while True:
            with self.state.lock:
                views = [v for v in self.state.views.values() if v.user == user and not v.closed]
                if view_id is not None:
                    views = [v for v in self.state.views.values() if v.id == view_id]
                if views:
                    view = views[-1]
                    payload = payloads.view_submission(
                        self.state, user=user, view=view, values=values or {}
                    )
                    break
            if time.monotonic() > deadline:
                raise LookupError(f"no open view for {user} (view_id={view_id!r})")
            time.sleep(0.01)
        delivery = self._send_interaction(payload, options)
        self._apply_view_answer(view.id, delivery)
        return delivery

    def _apply_view_answer(self, view_id: str, delivery: Delivery) -> None:
        """Close, update or keep (errors) the view, as Slack does with the bot's answer."""
        if delivery.status != 200:
            return
        answer = delivery.json if isinstance(delivery.json, dict) else {}
        action = answer.get("response_action")
        with self.state.lock:
            view = self.state.views[view_id]
            if action == "update" and isinstance(answer.get("view"), dict):
                view.history.append(view.view)
                view.view = {**view.view, **answer["view"], "id": view.id}
            elif action == "clear" or action is None:
                view.closed = True
            self.state.changed.notify_all()

    # ---- events -------------------------------------------------------------------------
    def message(
        self, user: str, channel: str, text: str, thread_ts: str | None = None,
        **options: Unpack[SendOptions],
    ) -> Delivery:  # fmt: skip
        """``user`` writes in ``channel`` (or in a thread): stored, then a ``message`` event."""
        return self._message_event("message", user, channel, text, thread_ts, options)

    def app_mention(
        self, user: str, channel: str, text: str, thread_ts: str | None = None,
        **options: Unpack[SendOptions],
    ) -> Delivery:  # fmt: skip
        """``user`` mentions the bot; ``<@BOT>`` is put in front of ``text`` if missing."""
        mention = f"<@{self.state.bot.user_id}>"
        text = text if mention in text else f"{mention} {text}"
        return self._message_event("app_mention", user, channel, text, thread_ts, options)

    def _message_event(
        self, kind: str, user: str, channel: str, text: str, thread_ts: str | None,
        options: SendOptions,
    ) -> Delivery:  # fmt: skip
        message = self.state.add_message(channel, user, text, thread_ts=thread_ts)
        event = payloads.message_event(self.state, message, kind, str(uuid.uuid4()))
        return self._send_json(self._envelope(event), options, message=message)

    def app_home_opened(self, user: str, **options: Unpack[SendOptions]) -> Delivery:
        """``user`` opens the bot's App Home tab (with the published view, if any)."""
        event: Json = {"type": "app_home_opened", "user": user, "channel": "D" + user[1:]}
        event.update(tab="home", event_ts=self.state.next_ts())
        home = self.state.home_views.get(user)
        if home is not None:
            event["view"] = home.view
        return self._send_json(self._envelope(event), options)

    def url_verification(
        self, challenge: str | None = None, **options: Unpack[SendOptions]
    ) -> Delivery:
        """Slack's check of the request URL; the bot must echo ``challenge``."""
        payload = {"token": payloads.VERIFICATION_TOKEN, "type": "url_verification"}
        payload["challenge"] = challenge or uuid.uuid4().hex
        return self._send_json(payload, options)

    def event(self, event: Json, **options: Unpack[SendOptions]) -> Delivery:
        """Any other event, wrapped in an ``event_callback`` envelope with a fresh id."""
        return self._send_json(self._envelope(event), options)

    # ---- helpers ------------------------------------------------------------------------
    def _envelope(self, event: Json) -> Json:
        return payloads.event_callback(self.state, event, self.state.next_id("Ev"))

    def _response_url(self, **context: Any) -> str:
        return self.state.issue_response_url(self.emulator.url, **context)


def _buttons(blocks: list[Json]) -> list[tuple[Json, Json]]:
    found = []
    for block in blocks:
        elements = list(block.get("elements", [])) if block.get("type") == "actions" else []
        if block.get("type") == "section" and block.get("accessory"):
            elements.append(block["accessory"])
        found += [(block, e) for e in elements if isinstance(e, dict) and e.get("type") == "button"]
    return found
