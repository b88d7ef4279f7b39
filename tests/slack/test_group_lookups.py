"""User-group look-ups stay out of units of work: a unit that needs an uncached group says so,
the group is looked up outside, and the unit runs again with the answer (or the failure)."""

from __future__ import annotations

import time

import pytest

from bot.services.roles import (
    GroupDirectory,
    KnownGroups,
    LookupNeeded,
    MembershipUnavailable,
    StaticDirectory,
    resolving_groups,
)
from tests.slack.support import FRAUD, Bot


class CountingDirectory:
    """A caching directory whose look-ups are counted; ``fail`` groups cannot be resolved."""

    def __init__(self, groups: dict[str, frozenset[str]], fail: frozenset[str] = frozenset()):
        self.groups = groups
        self.fail = fail
        self.cache: dict[str, frozenset[str]] = {}
        self.lookups: list[str] = []

    def cached_members(self, group_id: str) -> frozenset[str] | None:
        return self.cache.get(group_id)

    def members(self, group_id: str) -> frozenset[str]:
        self.lookups.append(group_id)
        if group_id in self.fail:
            raise MembershipUnavailable(f"Slack could not be reached to look up {group_id}")
        self.cache[group_id] = self.groups[group_id]
        return self.groups[group_id]


def test_a_unit_never_looks_up_a_group_itself() -> None:
    directory = CountingDirectory({"S1": frozenset({"U1"})})
    with pytest.raises(LookupNeeded) as raised:
        KnownGroups(directory).members("S1")
    assert raised.value.group_id == "S1"
    assert directory.lookups == []


def test_groups_are_looked_up_between_attempts_then_answered_from_the_cache() -> None:
    directory = CountingDirectory({"S1": frozenset({"U1"}), "S2": frozenset({"U2"})})
    attempts: list[int] = []

    def attempt(groups: GroupDirectory) -> tuple[bool, bool]:
        attempts.append(1)
        return "U1" in groups.members("S1"), "U1" in groups.members("S2")

    assert resolving_groups(directory, attempt) == (True, False)
    assert directory.lookups == ["S1", "S2"]
    assert len(attempts) == 3
    # a second click finds both groups cached: one attempt, no look-up
    assert resolving_groups(directory, attempt) == (True, False)
    assert directory.lookups == ["S1", "S2"]


def test_a_failed_look_up_reaches_the_unit_so_it_can_refuse_and_say_why() -> None:
    directory = CountingDirectory({}, fail=frozenset({"S9"}))

    def attempt(groups: GroupDirectory) -> str:
        try:
            groups.members("S9")
        except MembershipUnavailable as error:
            return f"refused: {error}"
        return "allowed"

    assert resolving_groups(directory, attempt) == (
        "refused: Slack could not be reached to look up S9"
    )
    assert directory.lookups == ["S9"]


def test_a_directory_without_a_cache_is_asked_directly() -> None:
    groups = KnownGroups(StaticDirectory({"S1": ["U1"]}))
    assert groups.members("S1") == frozenset({"U1"})
    with pytest.raises(MembershipUnavailable):
        groups.members("S2")


def test_the_bot_keeps_its_groups_fresh_so_a_click_never_waits_for_slack(bot: Bot) -> None:
    """Every user group named in a runbook is looked up when the bot starts (and again every
    half minute); a click by a member through a group then needs no look-up before its
    answer."""
    wanted = bot.sandbox.runtime.registry.user_groups()
    assert {"S0COMPLIANCE", "S0PAYONCALL"} <= wanted
    deadline = time.monotonic() + 10
    while not wanted <= _looked_up(bot) and time.monotonic() < deadline:
        time.sleep(0.01)  # the refresh runs in a thread of its own
    assert wanted <= _looked_up(bot)
    before = len(bot.slack.calls("usergroups.users.list"))
    answer = bot.driver.slash_command("U0FARAH", FRAUD, "/release", "start fraud-model 7.2")
    assert answer.status == 200
    bot.sandbox.settle()
    click = bot.driver.click("U0JULIA", FRAUD, "Pass", match="compliance-signoff")
    assert click.status == 200
    bot.sandbox.settle()
    assert "gate.passed" in bot.trail_kinds("release:fraud-model:7.2")
    assert len(bot.slack.calls("usergroups.users.list")) == before


def _looked_up(bot: Bot) -> set[str]:
    calls = bot.slack.calls("usergroups.users.list")
    return {str(call.args.get("usergroup")) for call in calls if call.status == 200}
