"""Lifecycles: which state of a thing may follow which, as data the store and tests can ask.

A ``Lifecycle`` is a small state machine over a ``StrEnum`` of states. The services never
compare state strings to decide whether a change is allowed; they ask the lifecycle, and the
store turns ``sources(target)`` into the condition of its conditional UPDATE (``bot.store.
transitions.advance``), so that a change happens once and only from a state that allows it.
States with no way out are terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Generic, TypeVar

S = TypeVar("S", bound=StrEnum)


class IllegalTransition(ValueError):
    """A state change that the lifecycle does not allow."""


@dataclass(frozen=True)
class Lifecycle(Generic[S]):
    """``name`` for messages, the ``initial`` state, and each state's allowed successors."""

    name: str
    initial: S
    successors: Mapping[S, frozenset[S]]

    @classmethod
    def of(cls, name: str, initial: S, successors: Mapping[S, Iterable[S]]) -> Lifecycle[S]:
        """Build one; every state of the enum appears, terminal ones with no successors."""
        states = type(initial)
        table = {state: frozenset(successors.get(state, ())) for state in states}
        for targets in table.values():
            for target in targets:
                if not isinstance(target, states):
                    raise TypeError(f"{name}: {target!r} is not a {states.__name__}")
        return cls(name, initial, table)

    @property
    def states(self) -> tuple[S, ...]:
        return tuple(self.successors)

    def allows(self, source: S, target: S) -> bool:
        return target in self.successors.get(source, frozenset())

    def check(self, source: S, target: S) -> None:
        """Raise ``IllegalTransition`` unless ``target`` may follow ``source``."""
        if not self.allows(source, target):
            raise IllegalTransition(f"a {self.name} cannot go from {source} to {target}")

    def sources(self, target: S) -> tuple[S, ...]:
        """Every state that ``target`` may follow, in the enum's order."""
        return tuple(state for state in self.states if target in self.successors[state])

    def is_terminal(self, state: S) -> bool:
        return not self.successors[state]

    @cached_property
    def open_states(self) -> tuple[S, ...]:
        """The states something can still happen from, in the enum's order."""
        return tuple(state for state in self.states if self.successors[state])

    def parse(self, text: str) -> S:
        """The state stored as ``text``; ``ValueError`` names the lifecycle when unknown."""
        try:
            return type(self.initial)(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a state of a {self.name}") from None
