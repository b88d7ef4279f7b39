"""Who sees the pages: nobody before signing in with Slack (302 to sign-in, 401 for JSON),
people of the bot's workspace after, until the session ends or they sign out; automation with
the web token, for JSON only."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from slack_sdk import WebClient

from bot.devtools.emulator import SlackEmulator, WorkspaceSeed, default_seed
from bot.devtools.emulator.sign_in import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from bot.devtools.emulator.visitor import Visitor, hidden_fields
from bot.devtools.sandbox import SESSION_SECRET, SIGNING_SECRET, WEB_TOKEN, Sandbox
from bot.web.sign_in import SignInError, SlackSignIn
from bot.web.site import WebPages
from tests.web.conftest import Clock

PAGES = [
    "/trail",
    "/trail/rollback:1",
    "/runbooks",
    "/runbooks/ranking-model",
    "/journal",
    "/report",
    "/trail?kind=rollback",
    "/trail/drill:1",
    "/trail?kind=drill",
]


def test_nothing_is_shown_before_signing_in(visitor: Visitor) -> None:
    for path in PAGES:
        page = visitor.get(path)
        assert page.status == 302, path
        assert page.location == "/auth/sign-in?" + urlencode({"next": path})
        assert "releasebot" not in page.body
        as_json = visitor.get(path, headers={"Accept": "application/json"})
        assert as_json.status == 401 and as_json.headers["WWW-Authenticate"].startswith("Bearer")
    assert visitor.get("/trail?format=json").status == 401


def test_a_person_of_the_workspace_signs_in_with_slack_and_sees_the_pages(
    site: Sandbox, visitor: Visitor
) -> None:
    page = visitor.sign_in("U0ALICE", start="/runbooks")
    assert page.status == 200 and urlsplit(page.url).path == "/runbooks"
    assert "Alice Moreau" in page.body and "Sign out" in page.body
    cookie = next(c for c in visitor.cookies if c.name == "releasebot_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.expires is not None
    assert not cookie.secure  # served over plain HTTP here; Secure with an https public URL
    oidc = [c for c in site.slack.calls() if c.method.startswith("openid.")]
    assert [c.method for c in oidc] == ["openid.connect.token", "openid.connect.userInfo"]
    for path in PAGES[:-1]:
        shown = visitor.get(path)
        assert shown.status in (200, 404), path  # rollback:1 is not in this trail: 404
        assert shown.headers["Content-Security-Policy"].startswith("default-src 'none'")
        for secret in (
            SESSION_SECRET,
            WEB_TOKEN,
            DEFAULT_CLIENT_SECRET,
            SIGNING_SECRET,
            site.slack.bot_token,
        ):
            assert secret not in shown.body


def test_a_session_ends_the_configured_hours_after_signing_in(
    visitor: Visitor, clock: Clock
) -> None:
    visitor.sign_in("U0BRUNO")
    headers = visitor.get("/trail")
    assert headers.status == 200
    clock.advance(hours=11, minutes=59)
    assert visitor.get("/trail").status == 200
    clock.advance(minutes=2)  # 12 h after signing in, however active
    assert visitor.get("/trail").status == 302


def test_signing_in_sets_a_strict_cookie(site: Sandbox) -> None:
    visitor = Visitor(site.server.url)
    start = visitor.follow(visitor.get("/trail"))
    to_slack = visitor.get("/auth/slack?next=/trail")
    assert "releasebot_session=" in to_slack.headers["Set-Cookie"]
    assert "HttpOnly" in to_slack.headers["Set-Cookie"]
    assert "SameSite=Lax" in to_slack.headers["Set-Cookie"]
    query = parse_qs(urlsplit(to_slack.location).query)
    assert query["client_id"] == [DEFAULT_CLIENT_ID] and query["team"] == ["T0RELEASE"]
    assert query["scope"] == ["openid profile email"] and start.status == 200


def test_sign_in_refuses_a_forged_or_cancelled_return(site: Sandbox, visitor: Visitor) -> None:
    forged = visitor.get("/auth/callback?code=123&state=not-ours")
    assert forged.status == 400 and "stale or was not started here" in forged.body
    to_slack = visitor.get("/auth/slack?next=/trail")
    chooser = visitor.get(to_slack.location)
    fields = hidden_fields(chooser.body)
    cancelled = visitor.post(to_slack.location.split("?")[0], {**fields, "choice": "cancel"})
    back = visitor.get(cancelled.location)
    assert back.status == 403 and "Sign-in was cancelled" in back.body
    assert visitor.get("/trail").status == 302


def test_sign_in_follows_only_paths_of_this_site(visitor: Visitor) -> None:
    page = visitor.sign_in("U0ALICE", start="/trail")
    assert page.status == 200
    to_slack = visitor.get("/auth/slack?next=//evil.example/x")
    chooser = visitor.get(to_slack.location)
    back = visitor.post(
        to_slack.location.split("?")[0], {**hidden_fields(chooser.body), "user": "U0ALICE"}
    )
    assert visitor.get(back.location).location == "/trail"


def test_sign_out_needs_the_form_token(visitor: Visitor) -> None:
    page = visitor.sign_in("U0CHIARA")
    refused = visitor.post("/auth/sign-out", {"csrf_token": "forged"})
    assert refused.status == 400 and "Not signed out" in refused.body
    assert visitor.get("/trail").status == 200
    done = visitor.post("/auth/sign-out", {"csrf_token": visitor.csrf_token(page.body)})
    assert done.status == 303 and done.location == "/auth/sign-in?signed_out=1"
    assert visitor.get("/trail").status == 302


def test_automation_reads_json_with_the_web_token(visitor: Visitor) -> None:
    bearer = {"Authorization": f"Bearer {WEB_TOKEN}"}
    listed = visitor.get("/trail?format=json", headers=bearer)
    assert listed.status == 200 and listed.headers["Content-Type"] == "application/json"
    wrong = visitor.get("/trail?format=json", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    assert visitor.get("/trail", headers=bearer).status == 403  # the token is for JSON


def test_a_person_of_another_workspace_is_refused() -> None:
    ours = SlackEmulator(default_seed()).start()
    theirs = SlackEmulator(
        WorkspaceSeed().workspace("T0OTHER", "other").user("U0EVE", "eve")
    ).start()
    try:
        signing = SlackSignIn(
            bot_client=WebClient(token=ours.bot_token, base_url=ours.api_url),
            api_url=theirs.api_url,
            client_id=DEFAULT_CLIENT_ID,
            client_secret=DEFAULT_CLIENT_SECRET,
        )
        visitor = Visitor(theirs.url)
        url = signing.authorize_url(redirect_uri="http://127.0.0.1:9/cb", state="s", nonce="n")
        assert "team=T0RELEASE" in url
        chooser = visitor.get(url.replace("team=T0RELEASE", "team=T0OTHER"))
        back = visitor.post(url.split("?")[0], {**hidden_fields(chooser.body), "user": "U0EVE"})
        code = parse_qs(urlsplit(back.location).query)["code"][0]
        with pytest.raises(SignInError, match="another Slack workspace"):
            signing.identify(code=code, redirect_uri="http://127.0.0.1:9/cb")
    finally:
        ours.stop()
        theirs.stop()


def test_pages_say_when_sign_in_is_not_configured(database_url: str) -> None:
    with Sandbox.start(database_url=database_url) as sandbox:
        settings = sandbox.settings.model_copy(update={"slack_client_id": None})
        pages = WebPages(
            settings=settings,
            engine=sandbox.runtime.engine,
            registry=sandbox.runtime.registry,
            bot_client=sandbox.runtime.client,
            clock=sandbox.now,
        )
        app = Flask("unconfigured")
        pages.register(app)
        answer = app.test_client().get("/trail")
        assert answer.status_code == 503
        assert "SLACK_CLIENT_ID" in answer.get_data(as_text=True)
