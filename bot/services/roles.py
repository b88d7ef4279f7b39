"""Who holds which role of a runbook, at the moment they act.

A role's members are user ids or user-group ids; groups are expanded through a
``GroupDirectory`` (Slack's usergroups.users.list at the edge). When a group cannot be
resolved the answer is "unknown", and callers refuse the action: authority fails closed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from bot.core.runbook import Runbook


class MembershipUnavailable(Exception):
    """A user group's members could not be looked up; the message says which and why."""


class GroupDirectory(Protocol):
    def members(self, group_id: str) -> frozenset[str]:
        """The user ids in ``group_id``; raises MembershipUnavailable when unknown."""
        ...


def is_group(member_id: str) -> bool:
    return member_id.startswith("S")


def roles_of(
    runbook: Runbook,
    user_id: str,
    directory: GroupDirectory,
    *,
    among: Collection[str] | None = None,
) -> frozenset[str]:
    """The roles of ``runbook`` (only those in ``among``, if given) that ``user_id`` holds.

    Direct membership is checked first, so a look-up failure matters only for roles the user
    might hold through a group; then MembershipUnavailable propagates.
    """
    held: set[str] = set()
    for role, members in runbook.roles.items():
        if among is not None and role not in among:
            continue
        if user_id in members:
            held.add(role)
            continue
        for member in members:
            if is_group(member) and user_id in directory.members(member):
                held.add(role)
                break
    return frozenset(held)


def members_of_role(runbook: Runbook, role: str, directory: GroupDirectory) -> frozenset[str]:
    """Every user id holding ``role`` (groups expanded)."""
    users: set[str] = set()
    for member in runbook.roles.get(role, []):
        users.update(directory.members(member) if is_group(member) else {member})
    return frozenset(users)


class StaticDirectory:
    """A directory from a fixed mapping: for the console, tests and dry runs."""

    def __init__(self, groups: dict[str, Collection[str]] | None = None) -> None:
        self._groups = {group: frozenset(users) for group, users in (groups or {}).items()}

    def members(self, group_id: str) -> frozenset[str]:
        if group_id not in self._groups:
            raise MembershipUnavailable(f"user group {group_id} is unknown")
        return self._groups[group_id]
