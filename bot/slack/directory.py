"""User-group membership from Slack (usergroups.users.list), cached briefly."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.services.roles import MembershipUnavailable

log = logging.getLogger(__name__)
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
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

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
        return self._fetch(group_id)

    def keep_fresh(self, group_ids: Collection[str]) -> None:
        """Look ``group_ids`` up now and again every half ``ttl``, in a thread of its own, so
        that a click finds its groups cached and never waits for Slack before its answer.
        A failed refresh is logged; the click path looks the group up itself (and refuses
        when it cannot) only once the cached answer has expired."""
        groups = sorted(set(group_ids))
        if not groups or self._refresher is not None:
            return
        self._stop.clear()

        def refresh() -> None:
            while True:
                for group_id in groups:
                    try:
                        self._fetch(group_id)
                    except MembershipUnavailable as error:
                        log.warning("refreshing a user group failed: %s", error)
                if self._stop.wait(self._ttl / 2):
                    return

        self._refresher = threading.Thread(target=refresh, name="user-groups", daemon=True)
        self._refresher.start()

    def stop(self) -> None:
        self._stop.set()
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.join(5)

    def _fetch(self, group_id: str) -> frozenset[str]:
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
