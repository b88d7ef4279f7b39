"""User-group membership from Slack (usergroups.users.list), cached briefly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.services.roles import MembershipUnavailable

CACHE_SECONDS = 60.0


class SlackGroupDirectory:
    """Members of Slack user groups; a failed look-up raises MembershipUnavailable.

    Answers are cached for ``ttl`` seconds so that a burst of clicks costs one API call;
    failures are not cached, so the next click tries again.
    """

    def __init__(
        self,
        client: WebClient,
        *,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def cached_members(self, group_id: str) -> frozenset[str] | None:
        with self._lock:
            cached = self._cache.get(group_id)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        return None

    def members(self, group_id: str) -> frozenset[str]:
        cached = self.cached_members(group_id)
        if cached is not None:
            return cached
        now = self._clock()
        try:
            response = self._client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as error:
            raise MembershipUnavailable(
                f"Slack refused the look-up of user group {group_id}: "
                f"{error.response.get('error', 'unknown error')}"
            ) from None
        except (SlackClientError, OSError) as error:
            raise MembershipUnavailable(
                f"Slack could not be reached to look up user group {group_id}: {error}"
            ) from None
        users = frozenset(str(user) for user in response.get("users") or [])
        with self._lock:
            self._cache[group_id] = (now, users)
        return users
