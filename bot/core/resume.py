"""Keeping a criterion's stored replay up to date as samples arrive, in order or late.

A stream (one runbook's metric, live or one drill's) has a *head*: the replay's state after
every stored sample (``bot.core.replay``), the criterion's policy it was computed with, and
optionally a *base* key (samples at or before it were pruned, or judged by an earlier policy,
and no longer change the state). Every ``every`` samples the state is also kept as a
*checkpoint*, so that a late sample is replayed from the checkpoint just before it, never
from the beginning.

``advance`` is the whole algorithm, pure: it reads stored samples and checkpoints through a
``History`` and returns what to write (``Progress``). Samples in order cost one ``step``
each whatever the history; a late one (or a stored one that changed, e.g. an alert's
``seen_until``) costs a replay from the checkpoint before it to the newest sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.core.replay import (
    OrderKey,
    ReplayState,
    Sample,
    carry_over,
    initial_state,
    key_after,
    policy_of,
    step,
)
from bot.core.runbook import Criterion

CHECKPOINT_EVERY = 100  # samples between checkpoints: a late sample replays at most this many


@dataclass(frozen=True)
class Checkpoint:
    """The replay's state after the samples up to and including ``key``."""

    key: OrderKey
    state: ReplayState


@dataclass(frozen=True)
class Head:
    policy: str
    state: ReplayState
    base: OrderKey | None = None  # samples at or before it no longer change the state


class History(Protocol):
    """A stream's stored samples and checkpoints (the store implements it)."""

    def checkpoint_before(self, key: OrderKey) -> Checkpoint | None:
        """The newest checkpoint whose key is before ``key``."""
        ...

    def samples_after(
        self, key: OrderKey | None, until: OrderKey | None = None
    ) -> Iterable[Sample]:
        """Stored samples with keys after ``key`` (all when None) up to ``until``, in order."""
        ...


@dataclass
class Progress:
    """What ``advance`` decided: the new head, and the checkpoints to drop and to add."""

    head: Head
    drop_checkpoints: bool = False
    drop_after: OrderKey | None = None  # with drop_checkpoints: those after it (None: all)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    ignored: list[Sample] = field(default_factory=list)  # at or before the base: too old
    replayed: int = 0  # steps taken (what it cost)


def advance(
    criterion: Criterion,
    head: Head | None,
    changed: Sequence[Sample],
    history: History,
    *,
    every: int = CHECKPOINT_EVERY,
) -> Progress:
    """The head after ``changed`` samples (new, or stored ones whose fields changed).

    ``changed`` must already be in ``history``: a late sample is replayed from there with the
    stored samples after it.
    """
    policy = policy_of(criterion)
    progress = Progress(head=head or Head(policy, initial_state()))
    if head is not None and head.policy != policy:
        # A new version of the rule judges from here on; the decided state is carried over.
        state = carry_over(head.state)
        base = state.key or head.base
        progress.head = Head(policy, state, base)
        progress.drop_checkpoints, progress.drop_after = True, None
        if base is not None:
            progress.checkpoints.append(Checkpoint(base, state))
    base = progress.head.base
    ordered = sorted({s.key: s for s in changed}.values(), key=lambda s: s.key)
    progress.ignored = [s for s in ordered if base is not None and s.key <= base]
    ordered = ordered[len(progress.ignored) :]
    if not ordered:
        return progress
    state = progress.head.state
    if state.key is not None and ordered[0].key <= state.key:
        # Late: replay from the checkpoint before it (there is one at the base, if any).
        checkpoint = history.checkpoint_before(ordered[0].key)
        start = checkpoint.key if checkpoint is not None else base
        state = checkpoint.state if checkpoint is not None else initial_state()
        progress.drop_checkpoints, progress.drop_after = True, start
        ordered = list(history.samples_after(start))
    for sample in ordered:
        state = step(criterion, state, sample)
        if state.count % every == 0:
            progress.checkpoints.append(Checkpoint(sample.key, state))
    progress.replayed = len(ordered)
    progress.head = Head(policy, state, base)
    return progress


def state_at(
    criterion: Criterion, head: Head | None, now: datetime, history: History
) -> ReplayState:
    """The replay's state counting only the samples at or before ``now``.

    Normally the head's own state; when samples from after ``now`` are stored (a sender's
    clock ahead of ours), the replay from the checkpoint before ``now``.
    """
    if head is None:
        return initial_state()
    if head.policy != policy_of(criterion):
        return carry_over(head.state)
    latest = head.state.latest
    if latest is None or latest.at <= now:
        return head.state
    until = key_after(now)
    checkpoint = history.checkpoint_before(until)
    state = checkpoint.state if checkpoint is not None else initial_state()
    for sample in history.samples_after(checkpoint.key if checkpoint else None, until):
        state = step(criterion, state, sample)
    return state
