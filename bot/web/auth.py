"""Who may see the pages: people signed in with Slack (a session cookie), or automation holding
``RELEASEBOT_WEB_TOKEN`` (JSON only).

The session is Flask's: a cookie signed with ``RELEASEBOT_SESSION_SECRET`` (itsdangerous),
HttpOnly, SameSite=Lax (Slack's redirect back is a top-level GET, which Lax lets through),
Secure when the public URL is HTTPS, and ending ``RELEASEBOT_SESSION_HOURS`` after sign-in
whatever the activity. It holds the person (id, name, team), the expiry and the token of the
sign-out form (CSRF); before sign-in, the OpenID ``state`` and ``nonce`` and where to go next.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request, session

from bot.web.sign_in import Person, SignInError, SlackSignIn

SignInPage = Callable[..., Response]


def safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//host`` or a full URL) is followed after sign-in."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/trail"
    return target


class Sessions:
    """The signed-in person, read from and written to Flask's session cookie."""

    def __init__(self, *, hours: float, clock: Callable[[], datetime]) -> None:
        self.hours = hours
        self.clock = clock

    def person(self, team_id: Callable[[], str]) -> Person | None:
        """The person signed in, if the session is theirs, unexpired and of the bot's team."""
        found = session.get("person")
        expires = session.get("expires")
        if not isinstance(found, dict) or not isinstance(expires, int | float):
            return None
        if self.clock().timestamp() >= expires:
            session.clear()
            return None
        person = Person(str(found["id"]), str(found["name"]), str(found["team"]))
        return person if person.team_id == team_id() else None

    def start(self, person: Person) -> None:
        session.clear()
        session.permanent = True
        session["person"] = {"id": person.user_id, "name": person.name, "team": person.team_id}
        session["expires"] = self.clock().timestamp() + self.hours * 3600
        session["csrf"] = secrets.token_urlsafe(32)

    @staticmethod
    def csrf_token() -> str:
        token = session.get("csrf")
        if not isinstance(token, str):
            token = session["csrf"] = secrets.token_urlsafe(32)
        return token

    @staticmethod
    def csrf_ok(sent: str | None) -> bool:
        expected = session.get("csrf")
        return (
            isinstance(expected, str)
            and isinstance(sent, str)
            and (hmac.compare_digest(expected.encode(), sent.encode()))
        )


def auth_blueprint(
    *,
    signing: SlackSignIn,
    sessions: Sessions,
    public_url: str | None,
    page: SignInPage,
) -> Blueprint:
    """``/auth/sign-in``, ``/auth/slack`` (to Slack), ``/auth/callback``, ``/auth/sign-out``.

    ``page(status, title=..., message=..., ...)`` renders a message page."""
    auth = Blueprint("auth", __name__, url_prefix="/auth")

    def redirect_uri() -> str:
        return (public_url or request.host_url.rstrip("/")) + "/auth/callback"

    @auth.get("/sign-in")
    def sign_in() -> Any:
        target = safe_next(request.args.get("next"))
        notice = "You are signed out." if request.args.get("signed_out") else None
        return page(200, template="sign_in.html", title="Sign in", notice=notice,
                    start_url="/auth/slack?" + urlencode({"next": target}))  # fmt: skip

    @auth.get("/slack")
    def to_slack() -> Any:
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        try:
            url = signing.authorize_url(redirect_uri=redirect_uri(), state=state, nonce=nonce)
        except SignInError as error:
            return page(503, title="Sign-in is unavailable", message=str(error), tone="bad")
        session["sign_in"] = {
            "state": state,
            "nonce": nonce,
            "next": safe_next(request.args.get("next")),
        }
        return redirect(url, 302)

    @auth.get("/callback")
    def callback() -> Any:
        pending = session.pop("sign_in", None)
        sent = request.args.get("state", "")
        if not isinstance(pending, dict) or not hmac.compare_digest(
            str(pending.get("state", "")).encode(), sent.encode()
        ):
            return _again(page, 400, "This sign-in link is stale or was not started here.")
        if request.args.get("error"):
            reason = request.args["error"]
            text = (
                "Sign-in was cancelled." if reason == "access_denied" else f"Slack said: {reason}."
            )
            return _again(page, 403, text)
        try:
            person = signing.identify(
                code=request.args.get("code", ""), redirect_uri=redirect_uri()
            )
        except SignInError as error:
            return _again(page, 403, str(error))
        sessions.start(person)
        return redirect(safe_next(pending.get("next")), 302)

    @auth.post("/sign-out")
    def sign_out() -> Any:
        if not sessions.csrf_ok(request.form.get("csrf_token")):
            return page(400, title="Not signed out", tone="bad",
                        message="The form was too old or did not come from this site: reload "
                        "the page and press Sign out again.")  # fmt: skip
        session.clear()
        return redirect("/auth/sign-in?signed_out=1", 303)

    return auth


def _again(page: SignInPage, status: int, message: str) -> Response:
    return page(status, title="Not signed in", message=message, tone="bad",
                link={"href": "/auth/sign-in", "label": "Sign in with Slack"})  # fmt: skip


def bearer_ok(expected: str | None) -> bool | None:
    """None without a bearer token; otherwise whether it is ``RELEASEBOT_WEB_TOKEN``."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    sent = header.removeprefix("Bearer ").strip()
    return expected is not None and hmac.compare_digest(sent.encode(), expected.encode())
