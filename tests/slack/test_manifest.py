"""``slack-manifest.yaml`` declares what the code in ``bot/slack`` needs: every slash command and
event a listener handles, interactivity for buttons and modals, the Home tab, and a bot scope
for every Web API method the bot calls (and no scope nothing needs)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "slack-manifest.yaml"
SLACK_CODE = ROOT / "bot" / "slack"
REQUEST_URL = "https://releasebot.example.com/slack/events"

# The bot scope each Web API method the bot calls needs (None: no scope needed).
METHOD_SCOPES: dict[str, str | None] = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_getPermalink": None,
    "views_open": None,
    "views_publish": None,
    "usergroups_users_list": "usergroups:read",
    "users_info": "users:read",
    # a retried post is looked for before it is posted again (exactly-once posts); in private
    # channels these need groups:history, which message.groups already asks for
    "conversations_history": "channels:history",
    "conversations_replies": "channels:history",
}
# The scope each subscribed event needs.
EVENT_SCOPES: dict[str, str | None] = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "app_mention": "app_mentions:read",
    "app_home_opened": None,
}
# Scopes kept although no code path calls for them yet (say why).
DECLARED_AHEAD = {"users:read"}  # names and profiles of approvers


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(MANIFEST.read_text(encoding="utf-8"))
    return loaded


def slack_sources() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in SLACK_CODE.rglob("*.py"))


def listened(kind: str) -> set[str]:
    """The names given to ``app.<kind>("...")`` in bot/slack (as a call or a decorator)."""
    return set(re.findall(rf'\bapp\.{kind}\(\s*"([^"]+)"', slack_sources()))


def called_methods() -> set[str]:
    return set(re.findall(r"client\.((?:chat|views|users|usergroups|conversations|reactions|"
                          r"files|pins|team|auth|apps)_\w+)\(", slack_sources()))  # fmt: skip


def test_every_slash_command_handled_is_declared(manifest: dict[str, Any]) -> None:
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}

    assert "/release" in listened("command")
    assert set(commands) == listened("command"), "declare exactly the commands handled"
    for command in commands.values():
        assert command["url"] == REQUEST_URL
        assert command["description"] and len(command["description"]) <= 100
        assert command["usage_hint"]


def test_every_event_handled_is_subscribed(manifest: dict[str, Any]) -> None:
    subscribed = set(manifest["settings"]["event_subscriptions"]["bot_events"])

    for event in listened("event"):
        if event == "message":  # Bolt's "message" is message.channels and message.groups
            assert {"message.channels", "message.groups"} <= subscribed
        else:
            assert event in subscribed, f"the bot listens to {event!r} but does not subscribe"
    assert subscribed == {"message.channels", "message.groups", "app_mention", "app_home_opened"}
    assert manifest["settings"]["event_subscriptions"]["request_url"] == REQUEST_URL


def test_buttons_and_modals_reach_the_bot(manifest: dict[str, Any]) -> None:
    assert "app.action(" in slack_sources()
    assert listened("view") == {"reason_modal", "postmortem_modal"}
    interactivity = manifest["settings"]["interactivity"]

    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"] == REQUEST_URL


def test_the_home_tab_is_on_and_http_mode_is_the_default(manifest: dict[str, Any]) -> None:
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["bot_user"]["display_name"] == "releasebot"
    assert manifest["display_information"]["name"] == "releasebot"
    assert manifest["settings"]["socket_mode_enabled"] is False


def test_the_scopes_are_exactly_what_the_code_needs(manifest: dict[str, Any]) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    methods = called_methods()
    unknown = methods - set(METHOD_SCOPES)
    assert not unknown, f"add the scopes of {sorted(unknown)} to the manifest and METHOD_SCOPES"
    subscribed = manifest["settings"]["event_subscriptions"]["bot_events"]

    needed = {METHOD_SCOPES[method] for method in methods}
    needed |= {EVENT_SCOPES[event] for event in subscribed}
    needed |= {"commands"} if manifest["features"]["slash_commands"] else set()
    needed.discard(None)

    assert needed <= scopes, f"missing scopes {sorted(needed - scopes)}"
    assert scopes - needed <= DECLARED_AHEAD, f"unused scopes {sorted(scopes - needed)}"
    assert "views_publish" in methods and "usergroups_users_list" in methods
