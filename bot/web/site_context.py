"""What every page handler needs: the store, the chain watch, who is asking, and how to answer.

``guard`` runs before each page: a person signed in with Slack passes; automation passes with
``Authorization: Bearer RELEASEBOT_WEB_TOKEN`` for JSON only; anyone else is sent to sign in
(302), or gets 401 when asking for JSON. Nothing of a page is served before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Response, g, jsonify, redirect, request
from sqlalchemy import Engine

from bot.web.auth import Sessions, bearer_ok
from bot.web.chain import ChainWatch
from bot.web.html import HtmlPages
from bot.web.sign_in import SignInError, SlackSignIn

AUTOMATION = "automation"


@dataclass
class SiteContext:
    engine: Engine
    chain: ChainWatch
    html: HtmlPages
    sessions: Sessions
    signing: SlackSignIn | None  # None: Sign in with Slack is not configured
    web_token: str | None
    clock: Callable[[], datetime]

    def wants_json(self) -> bool:
        if request.args.get("format") == "json":
            return True
        accept = request.accept_mimetypes
        return accept["application/json"] > accept["text/html"]

    def workspace_url(self) -> str | None:
        if self.signing is None:
            return None
        try:
            return self.signing.workspace().url or None
        except SignInError:
            return None

    def guard(self) -> Response | None:
        g.person = None
        bearer = bearer_ok(self.web_token)
        if bearer is not None:
            if not bearer:
                return self._unauthorised("the bearer token is not RELEASEBOT_WEB_TOKEN")
            if not self.wants_json():
                return self._json_error(403, "the web token is for JSON: add ?format=json")
            g.person = AUTOMATION
            return None
        if self.signing is None:
            if self.wants_json():
                return self._unauthorised("send Authorization: Bearer RELEASEBOT_WEB_TOKEN")
            return self.answer(503, title="Sign-in is not configured", tone="bad",
                               message="These pages need Sign in with Slack: set "
                               "SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and "
                               "RELEASEBOT_SESSION_SECRET (see the README).")  # fmt: skip
        try:
            g.person = self.sessions.person(lambda: self.signing.workspace().team_id)  # type: ignore[union-attr]
        except SignInError as error:
            return self.answer(503, title="Slack is unreachable", message=str(error), tone="bad")
        if g.person is not None:
            return None
        if self.wants_json():
            return self._unauthorised("sign in with Slack, or send a bearer token")
        target = request.full_path if request.query_string else request.path
        return redirect("/auth/sign-in?" + urlencode({"next": target}), 302)  # type: ignore[return-value]

    def answer(self, status: int, *, template: str = "message.html", **context: Any) -> Response:
        """A page (``message.html`` by default: ``title``, ``message``, ``tone``...)."""
        person = getattr(g, "person", None)
        shown = None if person == AUTOMATION else person
        context = {"tone": "info", "suggestions": [], "link": None, "link_is_button": False,
                   **context}  # fmt: skip
        body = self.html.render(
            template,
            person=shown,
            csrf=self.sessions.csrf_token() if shown is not None else "",
            **context,
        )
        return Response(body, status=status, mimetype="text/html")

    def _unauthorised(self, reason: str) -> Response:
        response = self._json_error(401, reason)
        response.headers["WWW-Authenticate"] = 'Bearer realm="releasebot"'
        return response

    @staticmethod
    def _json_error(status: int, reason: str) -> Response:
        response = jsonify(error=reason)
        response.status_code = status
        return response
