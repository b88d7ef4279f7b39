"""The emulator's HTTP server: Slack's Web API under ``/api/`` and ``response_url`` endpoints.

It is a real ``ThreadingHTTPServer`` on 127.0.0.1 in a background thread, so the bot's own
``slack_sdk.WebClient(base_url=emulator.api_url)`` talks to it exactly as it talks to Slack.
A call is authenticated, then meets any injected fault (for its method, and channel if it
names one), then the rate limits when they are switched on, then its method; a late answer
(``SlackEmulator.answer_late``) then holds back the answer of a call that took effect.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.devtools.emulator import conversations, methods, sign_in
from bot.devtools.emulator.calls import Method, SlackError, decode_json_fields
from bot.devtools.emulator.state import ApiCall, EmulatorState, Json, ResponseUrlPost

HTTP_REASONS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}
# A held answer (``SlackEmulator.answer_late``) is sent after this long at the latest.
LONGEST_HOLD_S = 120.0
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
METHODS: dict[str, Method] = {**methods.METHODS, **conversations.METHODS}


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows the state it serves."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: EmulatorState) -> None:
        super().__init__(address, SlackRequestHandler)
        self.state = state

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class SlackRequestHandler(BaseHTTPRequestHandler):
    """Routes ``/api/<method>`` and ``/response_url/<id>``; answers JSON."""

    server: EmulatorHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the call log is the record."""

    def do_GET(self) -> None:  # noqa: N802
        self._route()

    def do_POST(self) -> None:  # noqa: N802
        self._route()

    # ---- plumbing ---------------------------------------------------------------------
    def _route(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/api/"):
            self._api(path.removeprefix("/api/"))
        elif path.startswith("/response_url/"):
            self._response_url(path.removeprefix("/response_url/"))
        elif path == sign_in.AUTHORIZE_PATH:
            sign_in.serve_authorize(self, self.server.state)
        else:
            self._answer(404, {"ok": False, "error": "not_found"})

    def _arguments(self) -> Json:
        """Query string, then a form or JSON body; later values win."""
        args: Json = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        if not raw:
            return args
        if "json" in (self.headers.get("Content-Type") or ""):
            try:
                body = json.loads(raw)
            except ValueError as error:
                raise SlackError("invalid_json") from error
            if not isinstance(body, dict):
                raise SlackError("invalid_json")
            return {**args, **body}
        form = parse_qs(raw, keep_blank_values=True)
        return {**args, **{k: v[-1] for k, v in form.items()}}

    def _answer(self, status: int, body: Json, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    # ---- endpoints --------------------------------------------------------------------
    def _api(self, method_name: str) -> None:
        state = self.server.state
        status, headers, token = 200, {}, None
        args: Json = {}
        late = None
        try:
            args = decode_json_fields(self._arguments())
            by_client = method_name in sign_in.CLIENT_CREDENTIAL_METHODS  # no token: id+secret
            token = None if by_client else self._token(args)
            args.pop("token", None)
            channel = self._channel(args)
            fault = state.take_fault(method_name, channel)
            if fault is not None:
                status = fault.status
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                raise SlackError(fault.error or HTTP_REASONS.get(status, "internal_error"))
            handler = METHODS.get(method_name)
            if handler is None:
                raise SlackError("unknown_method")
            caller = (
                sign_in.client_caller(state, self.headers.get("Authorization"), args)
                if token is None
                else self._caller(method_name, token)
            )
            limiter = state.rate_limiter
            retry_after = limiter.admit(method_name, channel) if limiter is not None else None
            if retry_after is not None:
                status, headers["Retry-After"] = 429, str(retry_after)
                raise SlackError("ratelimited")
            with state.lock:
                body = {"ok": True, **handler(state, args, caller)}
            late = state.take_late_answer(method_name, channel)
        except SlackError as error:
            body = {"ok": False, "error": error.error}
        state.record(ApiCall(method_name, args, state.now(), status, body, token))
        if late is not None:  # done; the caller hears of it late, or never
            late.applied.set()
            late.hold(LONGEST_HOLD_S)
        try:
            self._answer(status, body, headers)
        except OSError:  # the caller gave up waiting (a timeout) or died: Slack moves on
            self.close_connection = True

    def _token(self, args: Json) -> str:
        authorization = self.headers.get("Authorization") or ""
        token = authorization.removeprefix("Bearer ").strip() or str(args.get("token") or "")
        if not token:
            raise SlackError("not_authed")
        state = self.server.state
        if token not in state.tokens and token not in state.app_tokens:
            raise SlackError("invalid_auth")
        return token

    def _channel(self, args: Json) -> str | None:
        """The channel id a call names, if any (an unknown channel as given)."""
        named = args.get("channel")
        if not isinstance(named, str) or not named:
            return None
        return self.server.state.resolve_channel(named) or named

    def _caller(self, method_name: str, token: str) -> str:
        """Who calls: a user (bot or user token) or, for ``apps.connections.open`` only, an
        app (app-level token); any other pairing is ``not_allowed_token_type``, as in Slack."""
        state = self.server.state
        wants_app_token = method_name in APP_TOKEN_METHODS
        if (token in state.app_tokens) != wants_app_token:
            raise SlackError("not_allowed_token_type")
        return state.app_tokens[token] if wants_app_token else state.tokens[token]

    def _response_url(self, url_id: str) -> None:
        state = self.server.state
        context = state.response_urls.get(url_id)
        try:
            body = self._arguments()
        except SlackError:
            body = {}
        if context is None:
            self._answer(404, {"ok": False, "error": "expired_url"})
            return
        fault = state.take_fault("response_url")
        if fault is not None:
            self._answer(fault.status, {"ok": False, "error": fault.error or "internal_error"})
            return
        body = decode_json_fields(body)
        state.record(ResponseUrlPost(url_id, context, body, state.now()))
        apply_response(state, context, body)
        self._answer(200, {"ok": True})


def apply_response(state: EmulatorState, context: Json, body: Json) -> None:
    """Do what Slack does with a ``response_url`` post: replace, delete, post or whisper."""
    channel, user = str(context.get("channel") or ""), context.get("user")
    message_ts = context.get("message_ts")
    original = state.find_message(channel, message_ts) if message_ts else None
    text, blocks = str(body.get("text") or ""), body.get("blocks")
    with state.lock:
        if _truthy(body.get("delete_original")) and original is not None:
            original.deleted = True
            state.changed.notify_all()
        elif _truthy(body.get("replace_original")) and original is not None:
            state.edit_message(original, text, blocks if blocks is not None else [])
        elif body.get("response_type") == "in_channel" and channel:
            thread_ts = body.get("thread_ts") or context.get("thread_ts")
            state.add_message(channel, state.bot.user_id, text, blocks=blocks or [],
                              thread_ts=thread_ts)  # fmt: skip
        elif channel and user:
            thread_ts = context.get("thread_ts")
            state.add_ephemeral(channel, user, text, blocks or [], thread_ts)


def _truthy(value: object) -> bool:
    return value is True or str(value).lower() == "true"


class EmulatorServer:
    """Start and stop the HTTP server in a background thread."""

    def __init__(self, state: EmulatorState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state, self.host, self.port = state, host, port
        self._httpd: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return self._httpd.base_url

    def start(self) -> None:
        if self._httpd is not None:
            return
        self._httpd = EmulatorHTTPServer((self.host, self.port), self.state)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name="slack-emulator", daemon=True,
        )  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd, self._thread = None, None
