"""Sign in with Slack (OpenID Connect) in the emulator, as Slack documents it.

- ``GET /openid/connect/authorize?response_type=code&scope=openid profile email&client_id=...
  &state=...&nonce=...&redirect_uri=...[&team=...]``: Slack's sign-in and consent page. Here it
  lists the workspace's people; choosing one (a form POST to the same URL) redirects to
  ``redirect_uri?code=...&state=...``, and Cancel to ``redirect_uri?error=access_denied&state=``.
  An unknown client or a bad ``redirect_uri`` gets an error page, never a redirect.
- ``openid.connect.token``: the code (one use, ten minutes) for a user token (``xoxp-``) and
  an ``id_token``, authenticated by the app's client id and secret (HTTP Basic, as slack_sdk
  sends them, or form fields); ``redirect_uri`` must match the one authorized.
- ``openid.connect.userInfo``: the signed-in person, called with that user token.

Unlike Slack, the emulator signs its ``id_token`` with HS256 and the client secret (Slack uses
RS256 and publishes its keys); releasebot reads the identity from ``userInfo``, not the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit
from weakref import WeakKeyDictionary

from bot.devtools.emulator.calls import SlackError
from bot.devtools.emulator.methods import method
from bot.devtools.emulator.state import EmulatorState, Json

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

AUTHORIZE_PATH = "/openid/connect/authorize"
ISSUER = "https://slack.com"
DEFAULT_CLIENT_ID = "7710042.901775504471"
DEFAULT_CLIENT_SECRET = "emulator-sign-in-client-secret-5f0c9b1e"
CODE_LIFETIME_S = 600
CLIENT_CREDENTIAL_METHODS = frozenset({"openid.connect.token"})


@dataclass(frozen=True)
class SignInClient:
    """An app's OAuth credentials; ``redirect_uris`` empty: any http(s) URL is accepted."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()

    def allows(self, redirect_uri: str) -> bool:
        if urlsplit(redirect_uri).scheme not in ("http", "https"):
            return False
        return not self.redirect_uris or any(redirect_uri.startswith(u) for u in self.redirect_uris)


@dataclass
class Grant:
    """An authorization code issued to a person for a client."""

    client_id: str
    user_id: str
    redirect_uri: str
    nonce: str | None
    expires_at: float
    used: bool = False


@dataclass
class SignInState:
    clients: dict[str, SignInClient] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    signed_in: set[str] = field(default_factory=set)  # users holding a sign-in token


_STATES: WeakKeyDictionary[EmulatorState, SignInState] = WeakKeyDictionary()


def sign_in_state(state: EmulatorState) -> SignInState:
    """The emulator's sign-in state, with the default client registered."""
    with state.lock:
        found = _STATES.get(state)
        if found is None:
            found = SignInState()
            found.clients[DEFAULT_CLIENT_ID] = SignInClient(
                DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
            )
            _STATES[state] = found
        return found


def register_client(state: EmulatorState, client: SignInClient) -> SignInClient:
    """Add (or replace) an app's credentials, e.g. to restrict its redirect URLs."""
    with state.lock:
        sign_in_state(state).clients[client.client_id] = client
    return client


# --- the authorize page -----------------------------------------------------------------------


def serve_authorize(handler: BaseHTTPRequestHandler, state: EmulatorState) -> None:
    """Answer ``GET`` (the page) or ``POST`` (a choice) of ``/openid/connect/authorize``."""
    params = {k: v[-1] for k, v in parse_qs(urlsplit(handler.path).query).items()}
    if handler.command == "POST":
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode("utf-8") if length else ""
        params.update({k: v[-1] for k, v in parse_qs(body).items()})
    client = sign_in_state(state).clients.get(params.get("client_id", ""))
    redirect_uri = params.get("redirect_uri", "")
    if client is None:
        _page(handler, 400, "Something went wrong", "<p>Invalid client_id parameter.</p>")
        return
    if not client.allows(redirect_uri):
        _page(handler, 400, "Something went wrong", "<p>redirect_uri did not match.</p>")
        return
    back = {"state": params["state"]} if "state" in params else {}
    problem = _problem(params, state)
    if problem is not None:
        _redirect(handler, redirect_uri, {"error": problem, **back})
    elif handler.command == "POST" and params.get("choice") == "cancel":
        _redirect(handler, redirect_uri, {"error": "access_denied", **back})
    elif handler.command == "POST" and params.get("user") in _people(state):
        code = _grant(state, client, params["user"], redirect_uri, params.get("nonce"))
        _redirect(handler, redirect_uri, {"code": code, **back})
    else:
        _page(handler, 200, f"Sign in to {state.seed.team_name}", _chooser(state, params))


def _problem(params: dict[str, str], state: EmulatorState) -> str | None:
    if params.get("response_type") != "code":
        return "unsupported_response_type"
    if "openid" not in params.get("scope", "").replace(",", " ").split():
        return "invalid_scope"
    if params.get("team") not in (None, "", state.team_id):
        return "access_denied"
    return None


def _people(state: EmulatorState) -> dict[str, str]:
    return {u.id: u.real_name for u in state.users.values() if not u.is_bot}


def _grant(
    state: EmulatorState, client: SignInClient, user_id: str, redirect_uri: str, nonce: str | None
) -> str:
    code = f"{secrets.randbelow(10**10)}.{secrets.token_hex(24)}"
    with state.lock:
        sign_in_state(state).grants[code] = Grant(
            client.client_id, user_id, redirect_uri, nonce, state.now() + CODE_LIFETIME_S
        )
    return code


def _chooser(state: EmulatorState, params: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k not in ("user", "choice")
    )
    people = "".join(
        f'<button type="submit" name="user" value="{html.escape(uid)}">'
        f"Continue as {html.escape(name)}</button>"
        for uid, name in _people(state).items()
    )
    return (
        f"<p>releasebot is asking to confirm your identity on {html.escape(state.domain)}"
        f".slack.com (emulated).</p><form method=post>{hidden}{people}"
        '<button type="submit" name="choice" value="cancel">Cancel</button></form>'
    )


def _page(handler: BaseHTTPRequestHandler, status: int, title: str, body: str) -> None:
    data = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}"
        f"</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "text/html; charset=utf-8")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _redirect(handler: BaseHTTPRequestHandler, url: str, params: dict[str, str]) -> None:
    handler.send_response(302)
    handler.send_header("Location", url + ("&" if "?" in url else "?") + urlencode(params))
    handler.send_header("Content-Length", "0")
    handler.end_headers()


# --- the Web API methods ----------------------------------------------------------------------


def client_caller(state: EmulatorState, authorization: str | None, args: Json) -> str:
    """The client id of a call authenticated by client credentials (HTTP Basic or fields)."""
    client_id, client_secret = (
        str(args.get("client_id") or ""),
        str(args.get("client_secret") or ""),
    )
    if authorization and authorization.startswith("Basic "):
        try:
            decoded = base64.b64decode(authorization[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as error:
            raise SlackError("invalid_auth") from error
        client_id, _, client_secret = decoded.partition(":")
    client = sign_in_state(state).clients.get(client_id)
    if client is None:
        raise SlackError("invalid_client_id")
    if not hmac.compare_digest(client.client_secret, client_secret):
        raise SlackError("bad_client_secret")
    return client_id


@method("openid.connect.token")
def openid_connect_token(state: EmulatorState, args: Json, caller: str) -> Json:
    if str(args.get("grant_type") or "authorization_code") != "authorization_code":
        raise SlackError("invalid_grant_type")
    sign_in = sign_in_state(state)
    grant = sign_in.grants.get(str(args.get("code") or ""))
    if grant is None or grant.used or grant.expires_at < state.now() or grant.client_id != caller:
        raise SlackError("invalid_code")
    if args.get("redirect_uri") != grant.redirect_uri:
        raise SlackError("bad_redirect_uri")
    grant.used = True
    token = f"xoxp-{secrets.randbelow(10**10)}-{secrets.token_hex(20)}"
    state.tokens[token] = grant.user_id
    sign_in.signed_in.add(grant.user_id)
    now = int(state.now())
    claims: Json = {
        "iss": ISSUER,
        "sub": grant.user_id,
        "aud": caller,
        "exp": now + 3600,
        "iat": now,
        "auth_time": now,
        **({"nonce": grant.nonce} if grant.nonce else {}),
        **_identity(state, grant.user_id),
    }
    client_secret = sign_in.clients[caller].client_secret
    return {
        "access_token": token,
        "token_type": "Bearer",
        "id_token": _jwt(claims, client_secret),
    }


@method("openid.connect.userInfo")
def openid_connect_user_info(state: EmulatorState, args: Json, caller: str) -> Json:
    if caller not in sign_in_state(state).signed_in:
        raise SlackError("not_allowed_token_type")  # a bot token, or a user who never signed in
    return {"sub": caller, **_identity(state, caller)}


def _identity(state: EmulatorState, user_id: str) -> Json:
    user = state.users[user_id]
    given, _, family = user.real_name.partition(" ")
    return {
        "https://slack.com/user_id": user_id,
        "https://slack.com/team_id": state.team_id,
        "https://slack.com/team_name": state.seed.team_name,
        "https://slack.com/team_domain": state.domain,
        "email": f"{user.name}@{state.domain}.example.com",
        "email_verified": True,
        "name": user.real_name,
        "given_name": given,
        "family_name": family,
        "locale": "en-US",
    }


def _jwt(claims: Json, key: str) -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = part(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{part(signature)}"
