"""What the emulated workspace holds at start: team, bot, users, user groups and channels.

Build one with :class:`WorkspaceSeed` (a small fluent builder) or take :func:`default_seed`,
which matches the example runbooks in ``runbooks/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_BOT_TOKEN = "xoxb-releasebot-emulator"
# An app-level token: only for apps.connections.open (Socket Mode), as in Slack.
DEFAULT_APP_TOKEN = "xapp-1-A0RELEASEBOT-releasebot-emulator"


@dataclass(frozen=True)
class SeedUser:
    """A person (or another app's bot user) in the workspace."""

    id: str
    name: str
    real_name: str
    is_bot: bool = False
    bot_id: str | None = None


@dataclass(frozen=True)
class SeedGroup:
    """A user group: ``<!subteam^ID>`` in messages, ``@handle`` for people."""

    id: str
    handle: str
    members: tuple[str, ...]
    name: str = ""


@dataclass(frozen=True)
class SeedChannel:
    """A public channel."""

    id: str
    name: str


@dataclass(frozen=True)
class SeedBot:
    """The app under test: its bot user, bot id, app id, bot token and app-level token."""

    user_id: str = "U0RELEASEBOT"
    name: str = "releasebot"
    bot_id: str = "B0RELEASEBOT"
    app_id: str = "A0RELEASEBOT"
    token: str = DEFAULT_BOT_TOKEN
    app_token: str = DEFAULT_APP_TOKEN


@dataclass
class WorkspaceSeed:
    """A workspace definition; every builder method returns ``self`` so calls chain."""

    team_id: str = "T0RELEASE"
    domain: str = "acme-ml"
    team_name: str = "Acme ML"
    bot: SeedBot = field(default_factory=SeedBot)
    users: dict[str, SeedUser] = field(default_factory=dict)
    groups: dict[str, SeedGroup] = field(default_factory=dict)
    channels: dict[str, SeedChannel] = field(default_factory=dict)
    user_tokens: dict[str, str] = field(default_factory=dict)

    def workspace(self, team_id: str, domain: str, name: str | None = None) -> WorkspaceSeed:
        """Set the team id and the domain used in permalinks (``https://DOMAIN.slack.com``)."""
        self.team_id, self.domain = team_id, domain
        self.team_name = name or domain
        return self

    def with_bot(self, **fields: str) -> WorkspaceSeed:
        """Override the bot's ``user_id``, ``name``, ``bot_id``, ``app_id``, ``token`` or
        ``app_token``."""
        self.bot = SeedBot(**{**self.bot.__dict__, **fields})
        return self

    def user(
        self,
        user_id: str,
        name: str,
        real_name: str | None = None,
        *,
        is_bot: bool = False,
        bot_id: str | None = None,
        token: str | None = None,
    ) -> WorkspaceSeed:
        """Add a user; ``token`` (optional) lets a test call the Web API as that user."""
        real = real_name or name.title()
        if is_bot and bot_id is None:
            bot_id = "B" + user_id[1:]
        self.users[user_id] = SeedUser(user_id, name, real, is_bot, bot_id)
        if token:
            self.user_tokens[token] = user_id
        return self

    def group(
        self, group_id: str, handle: str, members: list[str], name: str = ""
    ) -> WorkspaceSeed:
        """Add a user group with its members (user ids)."""
        self.groups[group_id] = SeedGroup(group_id, handle, tuple(members), name or handle)
        return self

    def channel(self, channel_id: str, name: str) -> WorkspaceSeed:
        """Add a public channel."""
        self.channels[channel_id] = SeedChannel(channel_id, name)
        return self


def default_seed() -> WorkspaceSeed:
    """The workspace of the example runbooks (``ranking-model`` and ``fraud-model``).

    - ``S0ONCALL`` (@oncall): bruno, dmitri. ``S0PAYONCALL`` (@payments-oncall): ivan, gustav.
      ``S0COMPLIANCE`` (@compliance): julia, kemal.
    - Runbook roles by user id: alice and bruno are release champions, chiara the ML lead,
      dmitri and elena search SREs; farah and gustav risk officers, hanna the model owner.
    - ``U0DEPLOYBOT`` is another app (a deploy bot) whose announcements start reviews.
    """
    return (
        WorkspaceSeed()
        .user("U0ALICE", "alice", "Alice Moreau")
        .user("U0BRUNO", "bruno", "Bruno Costa")
        .user("U0CHIARA", "chiara", "Chiara Rossi")
        .user("U0DMITRI", "dmitri", "Dmitri Volkov")
        .user("U0ELENA", "elena", "Elena García")
        .user("U0FARAH", "farah", "Farah Haddad")
        .user("U0GUSTAV", "gustav", "Gustav Lindqvist")
        .user("U0HANNA", "hanna", "Hanna Schmidt")
        .user("U0IVAN", "ivan", "Ivan Petrov")
        .user("U0JULIA", "julia", "Julia Nowak")
        .user("U0KEMAL", "kemal", "Kemal Demir")
        .user("U0DEPLOYBOT", "deploybot", "Deploy Bot", is_bot=True)
        .group("S0ONCALL", "oncall", ["U0BRUNO", "U0DMITRI"], "Search on-call")
        .group("S0PAYONCALL", "payments-oncall", ["U0IVAN", "U0GUSTAV"], "Payments on-call")
        .group("S0COMPLIANCE", "compliance", ["U0JULIA", "U0KEMAL"], "Compliance")
        .channel("C0RANKREL", "ranking-releases")
        .channel("C0FRAUDREL", "fraud-releases")
        .channel("C0PAYMENTS", "payments")
    )
