"""The emulator's Sign in with Slack, as Slack documents it: the authorize page, the code for a
token at ``openid.connect.token`` (client credentials, one use, same redirect), and the person
at ``openid.connect.userInfo``."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.devtools.emulator import SlackEmulator
from bot.devtools.emulator.sign_in import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SignInClient,
    register_client,
)
from bot.devtools.emulator.visitor import Visitor, hidden_fields

REDIRECT = "http://127.0.0.1:9/auth/callback"


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        yield emulator


def authorize(
    slack: SlackEmulator, user: str | None = "U0ALICE", **params: str
) -> dict[str, list[str]]:
    query = {
        "response_type": "code",
        "scope": "openid profile email",
        "client_id": DEFAULT_CLIENT_ID,
        "state": "s1",
        "nonce": "n1",
        "redirect_uri": REDIRECT,
        **params,
    }
    visitor = Visitor(slack.url)
    url = f"{slack.url}/openid/connect/authorize?{urlencode(query)}"
    page = visitor.get(url)
    if page.status == 302:  # refused before asking anyone: back to the app with an error
        return {"location": [page.location], **parse_qs(urlsplit(page.location).query)}
    if page.status != 200:
        return {"status": [str(page.status)], "location": [page.location], "body": [page.body]}
    back = visitor.post(url.split("?")[0], {**hidden_fields(page.body), "user": user or ""})
    return {"location": [back.location], **parse_qs(urlsplit(back.location).query)}


def exchange(
    slack: SlackEmulator,
    code: str,
    secret: str = DEFAULT_CLIENT_SECRET,
    redirect_uri: str = REDIRECT,
) -> dict[str, object]:
    answer = WebClient(base_url=slack.api_url).openid_connect_token(
        client_id=DEFAULT_CLIENT_ID, client_secret=secret, code=code, redirect_uri=redirect_uri
    )
    return dict(answer.data)  # type: ignore[arg-type]


def test_a_person_signs_in_and_the_app_learns_who_they_are(slack: SlackEmulator) -> None:
    back = authorize(slack, team="T0RELEASE")
    assert back["location"][0].startswith(REDIRECT + "?code=") and back["state"] == ["s1"]
    token = exchange(slack, back["code"][0])
    assert token["ok"] is True and token["token_type"] == "Bearer"
    assert str(token["access_token"]).startswith("xoxp-") and str(token["id_token"]).count(".") == 2
    me = WebClient(
        token=str(token["access_token"]), base_url=slack.api_url
    ).openid_connect_userInfo()
    assert me["sub"] == "U0ALICE" and me["https://slack.com/team_id"] == "T0RELEASE"
    assert me["name"] == "Alice Moreau" and me["email"] == "alice@acme-ml.example.com"


def test_a_code_is_good_once_for_its_client_and_redirect(slack: SlackEmulator) -> None:
    code = authorize(slack)["code"][0]
    for secret, redirect, error in (
        (DEFAULT_CLIENT_SECRET, "http://elsewhere/cb", "bad_redirect_uri"),
        ("wrong", REDIRECT, "bad_client_secret"),
    ):
        with pytest.raises(SlackApiError) as refused:
            exchange(slack, code, secret=secret, redirect_uri=redirect)
        assert refused.value.response["error"] == error
    assert exchange(slack, code)["ok"] is True
    with pytest.raises(SlackApiError) as again:
        exchange(slack, code)
    assert again.value.response["error"] == "invalid_code"


def test_user_info_is_for_sign_in_tokens_only(slack: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as refused:
        slack.client().openid_connect_userInfo()
    assert refused.value.response["error"] == "not_allowed_token_type"


def test_the_authorize_page_refuses_what_slack_refuses(slack: SlackEmulator) -> None:
    assert authorize(slack, client_id="nobody")["status"] == ["400"]
    assert authorize(slack, redirect_uri="javascript:alert(1)")["status"] == ["400"]
    assert authorize(slack, scope="profile")["error"] == ["invalid_scope"]
    assert authorize(slack, team="T0OTHER")["error"] == ["access_denied"]
    register_client(
        slack.state,
        SignInClient(
            DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ("https://releasebot.example.com/",)
        ),
    )
    assert authorize(slack)["status"] == ["400"]  # not a registered redirect URL
    found = authorize(slack, redirect_uri="https://releasebot.example.com/auth/callback")
    assert found["code"]
