"""Verifying the trail: the hash chain, the keyed MACs, the head and outside checkpoints.

Pure (standard library only). ``ChainVerifier`` streams ``TrailRecord``-shaped tuples in seq
order and names the first bad event: altered (its hash or MAC does not match), inserted, or
deleted (a gap, a truncated tail). What it can tell depends on what it is given:

- nothing: the chain's links and hashes (anyone can recompute them: accidents and editors
  who do not re-seal);
- ``head``: the position the store recorded at its last append (a truncated or extended
  tail, unless the head was moved too);
- ``key``: every MAC, and the head's (``head_mac``): appends, edits and moves by anyone
  without the key;
- ``checkpoints``: signed positions kept outside the database (``bot.core.trail_checkpoints``):
  a chain that ends before one, or differs at one, whoever changed it.

Once an event has a MAC every later one must, with or without the key (a stripped MAC is
found either way); a checkpoint's ``keyed_since`` extends that rule back to its seq.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.core.trail import GENESIS_HASH, TrailEvent, event_mac, head_mac, macs_equal, record_hash

Problem = Literal["altered", "inserted", "deleted"]
_NEVER = 2**63


@dataclass(frozen=True)
class Anchor:
    """A position of the chain known from outside the database (a checkpoint): event
    ``seq`` had hash ``hash``; events from ``keyed_since`` on carried MACs."""

    seq: int
    hash: str
    label: str  # says which checkpoint, in a report
    keyed_since: int | None = None


@dataclass(frozen=True)
class BadEvent:
    """The first event at which the chain is broken, and why."""

    seq: int
    kind: str | None
    subject: str | None
    problem: Problem
    detail: str

    def describe(self) -> str:
        where = f"seq {self.seq}"
        if self.kind is not None:
            where += f" (kind {self.kind}, subject {self.subject})"
        return f"{where}: {self.problem}: {self.detail}"


@dataclass(frozen=True)
class ChainVerification:
    intact: bool
    events: int  # events checked and found good, in order
    last_seq: int
    last_hash: str
    first_bad: BadEvent | None = None
    keyed_since: int | None = None  # the first event with a MAC
    unkeyed: int = 0  # events without a MAC (sealed before a key was set)
    macs_checked: bool = False  # with the key: every MAC (and the head's) recomputed
    anchors_checked: int = 0  # checkpoints the chain was found to pass through


class ChainVerifier:
    """Streaming verifier: ``feed`` records in seq order (in any number of batches), ``finish``.

    ``head`` is the (seq, hash) the store recorded at its last append and ``head_mac`` its
    MAC; ``key`` the trail key; ``anchors`` checkpoints (see the module's docstring). With
    ``start`` (a checkpoint already verified), the chain is checked from the event after it.
    """

    def __init__(
        self,
        *,
        head: tuple[int, str] | None = None,
        head_mac: str | None = None,
        key: bytes | None = None,
        anchors: Iterable[Anchor] = (),
        start: Anchor | None = None,
    ) -> None:
        self.head = head
        self.head_mac = head_mac
        self.key = key
        self.anchors = sorted(anchors, key=lambda anchor: anchor.seq)
        self.count = 0
        self.last_seq = 0
        self.last_hash = GENESIS_HASH
        self.first_bad: BadEvent | None = None
        self.keyed_since: int | None = None
        self.unkeyed = 0
        self.anchors_passed = 0
        required = [a.keyed_since for a in self.anchors if a.keyed_since is not None]
        self._keyed_from = min(required, default=_NEVER)  # events from here on need a MAC
        self._previous: Sequence[Any] | None = None
        self._before_previous_hash = GENESIS_HASH
        if start is not None:
            self.last_seq, self.last_hash = start.seq, start.hash
            self._before_previous_hash = start.hash
            if start.keyed_since is not None:
                self.keyed_since = start.keyed_since
                self._keyed_from = min(self._keyed_from, start.keyed_since)
            self.anchors = [anchor for anchor in self.anchors if anchor.seq > start.seq]

    def feed(self, records: Iterable[Sequence[Any]]) -> bool:
        """Check records; returns False once a bad event is found (feed no more)."""
        if self.first_bad is not None:
            return False
        head_seq = self.head[0] if self.head is not None else None
        expected, prev_hash, count = self.last_seq + 1, self.last_hash, self.count
        before_prev, previous = self._before_previous_hash, self._previous
        key, keyed_from, unkeyed = self.key, self._keyed_from, self.unkeyed
        keyed_since = self.keyed_since
        anchors, passed = self.anchors, self.anchors_passed
        anchor_seq = anchors[passed].seq if passed < len(anchors) else _NEVER
        for rec in records:
            seq = rec[0]
            problem: tuple[Sequence[Any], Problem, str] | None = None
            if head_seq is not None and seq > head_seq:
                problem = (rec, "inserted", f"beyond the trail head (seq {head_seq})")
            elif seq < expected:
                problem = (rec, "inserted", f"seq repeats or goes back (expected {expected})")
            elif seq > expected:
                gap = str(expected) if seq == expected + 1 else f"{expected}..{seq - 1}"
                problem = (rec, "deleted", f"seq {gap} missing before this event")
            elif rec[11] != prev_hash or record_hash(*rec[:12]) != rec[12]:
                problem = _diagnose(rec, previous, prev_hash, before_prev)
            elif (mac := rec[13] if len(rec) > 13 else None) is None:
                unkeyed += 1
                if seq >= keyed_from:
                    problem = (rec, "altered", _unkeyed(keyed_from))
            elif key is not None and not macs_equal(mac, event_mac(key, rec[12])):
                problem = (rec, "altered", "its MAC does not match: it was written or "
                           "re-sealed by someone without the trail key")  # fmt: skip
            elif keyed_since is None:
                keyed_since = seq
                keyed_from = min(keyed_from, seq)
            if seq == anchor_seq and problem is None:
                while seq == anchor_seq:
                    anchor = anchors[passed]
                    if rec[12] != anchor.hash:
                        problem = (rec, "altered", f"its hash differs from {anchor.label}")
                        break
                    passed += 1
                    anchor_seq = anchors[passed].seq if passed < len(anchors) else _NEVER
            if problem is not None:
                bad, kind, detail = problem
                if bad is previous:  # the last event accepted was the inserted one
                    count, expected, prev_hash = count - 1, expected - 1, before_prev
                self.first_bad = BadEvent(bad[0], bad[1], bad[4], kind, detail)
                break
            before_prev, prev_hash, previous = prev_hash, rec[12], rec
            expected += 1
            count += 1
        self.count, self.last_seq, self.last_hash = count, expected - 1, prev_hash
        self._before_previous_hash, self._previous = before_prev, previous
        self._keyed_from, self.unkeyed, self.anchors_passed = keyed_from, unkeyed, passed
        self.keyed_since = keyed_since
        return self.first_bad is None

    def finish(self) -> ChainVerification:
        if self.first_bad is None and self.head is not None:
            self._check_head(*self.head)
        if self.first_bad is None and self.anchors_passed < len(self.anchors):
            anchor = self.anchors[self.anchors_passed]
            self.first_bad = BadEvent(
                self.last_seq + 1, None, None, "deleted",
                f"the chain ends at seq {self.last_seq} but {anchor.label} records seq "
                f"{anchor.seq}: events were deleted from its end",
            )  # fmt: skip
        return ChainVerification(
            intact=self.first_bad is None,
            events=self.count,
            last_seq=self.last_seq,
            last_hash=self.last_hash,
            first_bad=self.first_bad,
            keyed_since=self.keyed_since,
            unkeyed=self.unkeyed,
            macs_checked=self.key is not None,
            anchors_checked=self.anchors_passed,
        )

    def _check_head(self, head_seq: int, head_hash: str) -> None:
        if self.last_seq < head_seq:
            self.first_bad = BadEvent(
                self.last_seq + 1, None, None, "deleted",
                f"the trail head records seq {head_seq} but the chain ends at seq {self.last_seq}",
            )  # fmt: skip
        elif self.last_hash != head_hash and self._previous is not None:
            last = self._previous
            self.count -= 1
            self.first_bad = BadEvent(
                last[0], last[1], last[4], "altered",
                "its hash differs from the one the trail head recorded",
            )  # fmt: skip
        elif self.key is not None and (self.keyed_since is not None or self.head_mac):
            if not macs_equal(self.head_mac, head_mac(self.key, head_seq, head_hash)):
                self.first_bad = BadEvent(
                    head_seq, None, None, "deleted",
                    "the trail head's MAC does not match its position: the head was moved "
                    "(events after it deleted?) by someone without the trail key",
                )  # fmt: skip
        elif self.keyed_since is not None and self.head_mac is None:
            self.first_bad = BadEvent(
                head_seq, None, None, "altered",
                "the trail head has no MAC though its events have: it was rewritten",
            )  # fmt: skip


def _unkeyed(keyed_from: int) -> str:
    return (
        f"it has no MAC, but every event from seq {keyed_from} on must have one: it was "
        "written, or its MAC stripped, by someone without the trail key"
    )


def _diagnose(
    rec: Sequence[Any], previous: Sequence[Any] | None, prev_hash: str, before_prev: str
) -> tuple[Sequence[Any], Problem, str]:
    """Why ``rec`` does not follow ``previous`` (slow path, only once per verification)."""
    seq, fields = rec[0], tuple(rec[1:12])
    if rec[11] == prev_hash:
        return rec, "altered", "hash does not match its contents"
    if previous is not None and rec[11] == before_prev and record_hash(seq - 1, *fields) == rec[12]:
        return (
            previous,
            "inserted",
            (
                f"put in between: seq {seq} was sealed as seq {seq - 1}, chained to the event "
                "before this one"
            ),
        )
    if record_hash(seq + 1, *fields) == rec[12]:
        return (
            rec,
            "deleted",
            (
                f"it was sealed as seq {seq + 1}: an event before it was deleted and the rest "
                "renumbered"
            ),
        )
    if record_hash(seq, *fields) == rec[12]:
        return (
            rec,
            "deleted",
            (
                f"prev_hash does not match seq {seq - 1}: the event it was chained to was deleted "
                "or rewritten"
            ),
        )
    return rec, "altered", "hash does not match its contents (nor does prev_hash link)"


def verify_records(
    records: Iterable[Sequence[Any]],
    *,
    head: tuple[int, str] | None = None,
    head_mac: str | None = None,
    key: bytes | None = None,
    anchors: Iterable[Anchor] = (),
) -> ChainVerification:
    """Verify ``TrailRecord``-shaped tuples in seq order."""
    verifier = ChainVerifier(head=head, head_mac=head_mac, key=key, anchors=anchors)
    verifier.feed(records)
    return verifier.finish()


def verify_chain(
    events: Iterable[TrailEvent],
    *,
    head: tuple[int, str] | None = None,
    head_mac: str | None = None,
    key: bytes | None = None,
    anchors: Iterable[Anchor] = (),
) -> ChainVerification:
    """Verify events in seq order; names the first altered, inserted or deleted one."""
    return verify_records(
        (event.record() for event in events), head=head, head_mac=head_mac, key=key,
        anchors=anchors,
    )  # fmt: skip
