"""The web pages wired into ``serve``'s Flask app: sessions, Sign in with Slack, the pages, the
stylesheet and the headers every page carries. ``WebPages.register(app)`` is the one call."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib.resources import files

from flask import Blueprint, Flask, Response
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.config import Settings
from bot.runbooks.registry import RunbookRegistry
from bot.web.auth import Sessions, auth_blueprint
from bot.web.chain import ChainWatch
from bot.web.figures import FigureSources
from bot.web.html import HtmlPages
from bot.web.pages import pages_blueprint
from bot.web.sign_in import SlackSignIn
from bot.web.site_context import SiteContext

SESSION_COOKIE = "releasebot_session"
# No script at all; styles from our own stylesheet; forms post only here; never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def sign_in_configured(settings: Settings) -> bool:
    return bool(
        settings.slack_client_id and settings.slack_client_secret and settings.session_secret
    )


class WebPages:
    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        registry: RunbookRegistry,
        bot_client: WebClient,
        clock: Callable[[], datetime],
        figures: FigureSources | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.figures = figures or FigureSources()
        signing = None
        if sign_in_configured(settings):
            assert settings.slack_client_id and settings.slack_client_secret
            signing = SlackSignIn(
                bot_client=bot_client,
                api_url=settings.slack_api_url,
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret.get_secret_value(),
            )
        self.chain = ChainWatch(engine)
        self.site = SiteContext(
            engine=engine,
            chain=self.chain,
            html=HtmlPages(),
            sessions=Sessions(hours=settings.session_hours, clock=clock),
            signing=signing,
            web_token=settings.web_token.get_secret_value() if settings.web_token else None,
            clock=clock,
        )

    def register(self, app: Flask) -> None:
        settings = self.settings
        secret = settings.session_secret
        # Without a session secret nobody can sign in; a random key keeps Flask's session inert.
        app.secret_key = secret.get_secret_value() if secret else secrets.token_hex(32)
        app.config.update(
            SESSION_COOKIE_NAME=SESSION_COOKIE,
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Lax",
            SESSION_COOKIE_SECURE=bool(
                settings.public_url and settings.public_url.startswith("https:")
            ),
            PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
            SESSION_REFRESH_EACH_REQUEST=False,
        )
        blueprints = [pages_blueprint(self.site, registry=self.registry, figures=self.figures)]
        if self.site.signing is not None:
            blueprints.append(
                auth_blueprint(
                    signing=self.site.signing,
                    sessions=self.site.sessions,
                    public_url=settings.public_url,
                    page=self.site.answer,
                )
            )
        blueprints.append(_static())
        for blueprint in blueprints:
            blueprint.after_request(_secure)
            app.register_blueprint(blueprint)


def _static() -> Blueprint:
    static = Blueprint("web_static", __name__)
    stylesheet = files("bot.web").joinpath("static/style.css").read_bytes()

    @static.get("/web/static/style.css")
    def style() -> Response:
        response = Response(stylesheet, mimetype="text/css")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    return static


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
