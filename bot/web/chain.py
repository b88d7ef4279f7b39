"""How far the trail's hash chain is verified, for the pages: the one adapter between the pages
and the trail's verification code (``bot.core.trail``), so a change of hash scheme is made here.

Verifying the whole chain on every page view would cost the whole trail each time (5 s at a
million events). Instead, ``ChainWatch`` verifies it once per process with the trail's own
streaming verifier, then only the events appended since, each once; a page waits briefly for
it and otherwise says how far it got. The events a page shows are also checked one by one
(``check_events``: each hash against its contents and its link to the event before it), so
an event changed after the watch went past it is still caught where it is shown.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select

from bot.core.trail import GENESIS_HASH, TrailEvent
from bot.core.trail_verification import BadEvent, ChainVerifier
from bot.store import TrailEventRow, read_connection, read_trail_head
from bot.store.trail import _AT_SQL, _COLUMNS  # the verifier's row shape, as verify_trail
from bot.store.transitions import table_of

_EVENTS = table_of(TrailEventRow)
_BATCH = 20_000


@dataclass(frozen=True)
class ChainState:
    verified_seq: int  # the chain is intact from the first event through this one
    head_seq: int  # the last event recorded when it was last looked at (-1: not yet)
    first_bad: BadEvent | None

    @property
    def complete(self) -> bool:
        return self.first_bad is not None or 0 <= self.head_seq <= self.verified_seq


class ChainWatch:
    """The whole chain verified once, then each new event once (per process, thread-safe)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._verifier = ChainVerifier()
        self._state = ChainState(0, -1, None)
        self._verifying = threading.Lock()  # held for a whole pass
        self._lock = threading.Lock()  # held briefly: the state and the running thread
        self._running: threading.Thread | None = None

    def catch_up(self) -> ChainState:
        """Verify every event appended since the last call (all of them, the first time)."""
        with self._verifying:
            verifier = self._verifier
            with read_connection(self.engine) as connection:
                head = read_trail_head(connection) or (0, GENESIS_HASH)
                verifier.head = head
                # The trail's own verification query, from where this watch stopped.
                sql = (
                    f"SELECT {_COLUMNS.format(at=_AT_SQL[connection.dialect.name])} "
                    "FROM trail_events WHERE seq > {after} ORDER BY seq LIMIT {limit}"
                )
                cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    while verifier.first_bad is None and verifier.last_seq < head[0]:
                        cursor.execute(sql.format(after=int(verifier.last_seq), limit=_BATCH))
                        rows = cursor.fetchall()
                        if not rows:
                            break
                        verifier.feed(rows)
                        self._publish(ChainState(verifier.last_seq, head[0], verifier.first_bad))
                finally:
                    cursor.close()
            result = verifier.finish()
            state = ChainState(result.last_seq, head[0], result.first_bad)
            self._publish(state)
            return state

    def _publish(self, state: ChainState) -> None:
        with self._lock:
            self._state = state

    def state(self, *, wait: float = 2.0) -> ChainState:
        """Catch up in the background and wait up to ``wait`` seconds for it."""
        with self._lock:
            running = self._running
            if running is None or not running.is_alive():
                running = threading.Thread(target=self.catch_up, name="chain-watch", daemon=True)
                running.start()
                self._running = running
        running.join(wait)
        with self._lock:
            return self._state


@dataclass(frozen=True)
class EventCheck:
    seq: int
    contents_match: bool  # the stored hash is the hash of the event's contents
    linked: bool  # prev_hash is the stored hash of the event before it

    @property
    def good(self) -> bool:
        return self.contents_match and self.linked


def check_events(engine: Engine, events: Sequence[TrailEvent]) -> dict[int, EventCheck]:
    """Each shown event checked against its own hash and the event before it."""
    wanted = sorted({event.seq - 1 for event in events if event.seq > 1})
    before: dict[int, str] = {}
    with read_connection(engine) as connection:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = connection.execute(
                select(_EVENTS.c.seq, _EVENTS.c.hash).where(_EVENTS.c.seq.in_(chunk))
            )
            before.update({int(seq): str(digest) for seq, digest in rows})
    return {
        event.seq: EventCheck(
            seq=event.seq,
            contents_match=event.hash_matches(),
            linked=event.prev_hash
            == (before.get(event.seq - 1) if event.seq > 1 else GENESIS_HASH),
        )
        for event in events
    }
