"""Who holds which role of a runbook, at the moment they act.

A role's members are user ids or user-group ids; groups are expanded through a
``GroupDirectory`` (Slack's usergroups.users.list at the edge). When a group cannot be
resolved the answer is "unknown", and callers refuse the action: authority fails closed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Protocol, TypeVar

from bot.core.runbook import Runbook

T = TypeVar("T")


class MembershipUnavailable(Exception):
    """A user group's members could not be looked up; the message says which and why."""


class GroupDirectory(Protocol):
    def members(self, group_id: str) -> frozenset[str]:
        """The user ids in ``group_id``; raises MembershipUnavailable when unknown."""
        ...


class CachingDirectory(GroupDirectory, Protocol):
    """A directory that looks groups up over the network and keeps the answers a while."""

    def cached_members(self, group_id: str) -> frozenset[str] | None:
        """The members if a fresh answer is at hand, else None (never any I/O)."""
        ...


class LookupNeeded(Exception):
    """A unit of work needs a user group that is not cached; look it up outside the unit."""

    def __init__(self, group_id: str) -> None:
        super().__init__(f"user group {group_id} must be looked up first")
        self.group_id = group_id


class KnownGroups:
    """A directory for units of work, which must not wait on the network: it answers from
    what is cached or was looked up just before, and raises ``LookupNeeded`` otherwise.

    A directory without ``cached_members`` (``StaticDirectory``) does no I/O and is asked
    directly.
    """

    def __init__(
        self,
        directory: GroupDirectory,
        known: dict[str, frozenset[str] | MembershipUnavailable] | None = None,
    ) -> None:
        self._directory = directory
        self._known = known if known is not None else {}

    def members(self, group_id: str) -> frozenset[str]:
        known = self._known.get(group_id)
        if isinstance(known, MembershipUnavailable):
            raise known
        if known is not None:
            return known
        peek = getattr(self._directory, "cached_members", None)
        if peek is None:
            return self._directory.members(group_id)
        cached: frozenset[str] | None = peek(group_id)
        if cached is None:
            raise LookupNeeded(group_id)
        return cached


def resolving_groups(
    directory: GroupDirectory, attempt: Callable[[GroupDirectory], T], *, max_lookups: int = 16
) -> T:
    """Run ``attempt`` with a ``KnownGroups`` view of ``directory``; each time it needs a group
    that is not cached, look the group up here (failures included, so the unit can refuse and
    say why) and try again."""
    known: dict[str, frozenset[str] | MembershipUnavailable] = {}
    for _ in range(max_lookups):
        try:
            return attempt(KnownGroups(directory, known))
        except LookupNeeded as needed:
            try:
                known[needed.group_id] = directory.members(needed.group_id)
            except MembershipUnavailable as error:
                known[needed.group_id] = error
    raise MembershipUnavailable(f"more than {max_lookups} user groups to look up")


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


def mentions(runbook: Runbook, roles: Iterable[str]) -> str:
    """Every member of ``roles``, as Slack mentions (users, or user groups as ``subteam``)."""
    return " ".join(
        f"<!subteam^{member}>" if is_group(member) else f"<@{member}>"
        for role in roles
        for member in runbook.roles.get(role, [])
    )
