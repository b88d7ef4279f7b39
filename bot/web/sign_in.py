"""Sign in with Slack (OpenID Connect), the relying party's side.

1. ``authorize_url``: the browser goes to ``https://slack.com/openid/connect/authorize`` with
   our client id, ``state`` (bound to the browser's session: login CSRF), a ``nonce``, our
   ``redirect_uri`` and the bot's ``team``, so Slack offers the bot's workspace;
2. ``identify``: the code Slack sends back is exchanged at ``openid.connect.token`` (client id
   and secret, over TLS), and the person read with ``openid.connect.userInfo`` called with the
   user token obtained. Identity comes from that back-channel answer, so the ``id_token``'s
   signature need not be checked (OpenID Connect Core 3.1.3.7); it is not used.
3. The person counts only if ``https://slack.com/team_id`` is the bot's own workspace
   (``auth.test`` with the bot token, asked once and remembered).

Slack's base (``https://slack.com/``) is ``RELEASEBOT_SLACK_API_URL`` without ``api/``, so the
emulator's authorize page is used wherever its Web API is.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import urlencode

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

SCOPES = "openid profile email"
TEAM_CLAIM = "https://slack.com/team_id"
USER_CLAIM = "https://slack.com/user_id"


class SignInError(Exception):
    """Sign-in failed; the message is safe to show the person."""


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    team_id: str


@dataclass(frozen=True)
class Workspace:
    team_id: str
    url: str  # https://DOMAIN.slack.com/, for links to messages


class SlackSignIn:
    def __init__(
        self, *, bot_client: WebClient, api_url: str, client_id: str, client_secret: str
    ) -> None:
        self.bot_client = bot_client
        self.api_url = api_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._workspace: Workspace | None = None
        self._lock = threading.Lock()

    def workspace(self) -> Workspace:
        """The bot's workspace (``auth.test``), asked once; ``SignInError`` if Slack cannot say."""
        with self._lock:
            if self._workspace is None:
                try:
                    answer = self.bot_client.auth_test()
                except SlackClientError as error:
                    raise SignInError(f"Slack could not be asked who the bot is: {error}") from None
                self._workspace = Workspace(str(answer["team_id"]), str(answer.get("url") or ""))
            return self._workspace

    def authorize_url(self, *, redirect_uri: str, state: str, nonce: str) -> str:
        query = {
            "response_type": "code",
            "scope": SCOPES,
            "client_id": self.client_id,
            "state": state,
            "nonce": nonce,
            "redirect_uri": redirect_uri,
            "team": self.workspace().team_id,
        }
        return self.api_url.removesuffix("api/") + "openid/connect/authorize?" + urlencode(query)

    def identify(self, *, code: str, redirect_uri: str) -> Person:
        """The person who signed in, if they belong to the bot's workspace."""
        client = WebClient(base_url=self.api_url, timeout=10)
        try:
            token = client.openid_connect_token(
                client_id=self.client_id,
                client_secret=self._client_secret,
                code=code,
                redirect_uri=redirect_uri,
                grant_type="authorization_code",
            )
            info = WebClient(
                token=str(token["access_token"]), base_url=self.api_url, timeout=10
            ).openid_connect_userInfo()
        except SlackApiError as error:
            raise SignInError(
                f"Slack refused the sign-in ({error.response.get('error')})"
            ) from None
        except SlackClientError as error:
            raise SignInError(f"Slack could not be reached: {error}") from None
        team_id = str(info.get(TEAM_CLAIM) or "")
        if team_id != self.workspace().team_id:
            raise SignInError(
                "You signed in to another Slack workspace: these pages are for the members of "
                "the workspace where releasebot runs."
            )
        user_id = str(info.get(USER_CLAIM) or info.get("sub") or "")
        return Person(user_id=user_id, name=str(info.get("name") or user_id), team_id=team_id)
