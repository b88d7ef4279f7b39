"""The runbooks in force, by id and by the channels they watch."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from bot.core.runbook import Runbook
from bot.services.roles import is_group


@dataclass(frozen=True)
class PatternMatch:
    runbook: Runbook
    version: str


class RunbookRegistry:
    def __init__(self, runbooks: Mapping[str, Runbook]) -> None:
        self._runbooks = dict(runbooks)
        self._patterns = {
            runbook_id: [re.compile(p) for p in runbook.patterns]
            for runbook_id, runbook in self._runbooks.items()
        }

    def get(self, runbook_id: str) -> Runbook | None:
        return self._runbooks.get(runbook_id)

    def __iter__(self) -> Iterator[Runbook]:
        return iter(sorted(self._runbooks.values(), key=lambda r: r.id))

    def __len__(self) -> int:
        return len(self._runbooks)

    def ids(self) -> list[str]:
        return sorted(self._runbooks)

    def user_groups(self) -> set[str]:
        """Every Slack user group that holds a role in some runbook."""
        return {
            member
            for runbook in self
            for members in runbook.roles.values()
            for member in members
            if is_group(member)
        }

    def known_text(self) -> str:
        return "Known runbooks: " + (", ".join(f"`{i}`" for i in self.ids()) or "none") + "."

    def watching(self, channel_id: str) -> list[Runbook]:
        return [runbook for runbook in self if channel_id in runbook.channels]

    def match_message(self, channel_id: str, text: str) -> PatternMatch | None:
        """The first runbook watching ``channel_id`` whose pattern matches ``text``.

        The release version is the pattern's ``version`` group, else its first group, else
        the whole match.
        """
        for runbook in self.watching(channel_id):
            for pattern in self._patterns[runbook.id]:
                found = pattern.search(text)
                if found is None:
                    continue
                groups = found.groupdict()
                version = groups.get("version") or (found.group(1) if found.groups() else None)
                return PatternMatch(runbook, (version or found.group(0)).strip())
        return None
