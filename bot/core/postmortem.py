"""Blameless post-mortems (issue 18): what the trail says happened, the form's fields, and the
action items still open. Pure.

Blameless by construction: the pre-filled timeline names roles and decisions (``oncall
approved``), never people; people appear only as the owners of action items, which is what
they volunteered for. A post-mortem is never edited: the first submission is
``postmortem.written``, each later one ``postmortem.added``, and an action item is closed by
``postmortem.item_done``; the current state is the fold of those events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.core.learning_events import LearningEvent

ACTION_ITEM_SLOTS = 3
MIN_TEXT = 3
MAX_TEXT = 3000
POSTMORTEM_KINDS = ("postmortem.written", "postmortem.added", "postmortem.item_done")
_LABELS = {
    "rollback.recommended": "rollback recommended",
    "approval.approve": "approved",
    "approval.reject": "rejected",
    "approval.refused": "a vote was refused",
    "rollback.approved": "approval quorum reached",
    "rollback.rejected": "rollback rejected",
    "rollback.expired": "request expired",
    "rollback.held": "auto-execution held",
    "rollback.executed": "rollback executed",
    "rollback.validated": "validation ended",
    "rollback.endorsed": "restored state endorsed",
    "approval.escalated": "request escalated",
    "drill.started": "drill started",
    "drill.detected": "breach detected",
    "drill.approved": "approval quorum reached",
    "drill.rejected": "rollback rejected",
    "drill.decided": "decided",
    "drill.ended": "drill ended",
    "drill.scored": "drill scored",
}
TIMELINE_KINDS = tuple(_LABELS)


@dataclass(frozen=True)
class ActionItem:
    id: str  # "<view id of the form that added it>.<slot>": unique, known when submitted
    text: str
    owner: str
    due: date | None


@dataclass(frozen=True)
class PostmortemInput:
    what_happened: str
    went_well: str
    to_change: str
    action_items: tuple[ActionItem, ...]

    def payload(self) -> dict[str, Any]:
        return {
            "what_happened": self.what_happened,
            "went_well": self.went_well,
            "what_to_change": self.to_change,
            "action_items": [
                {"slot": item.id, "text": item.text, "owner": item.owner,
                 "due": item.due.isoformat() if item.due else None}
                for item in self.action_items
            ],
        }  # fmt: skip


@dataclass
class TrailFacts:
    """What the trail says about one rollback, for the form: roles, not names."""

    timeline: list[str] = field(default_factory=list)
    arithmetic: str = ""
    votes: list[str] = field(default_factory=list)
    validation: str = ""


def trail_facts(events: Iterable[LearningEvent]) -> TrailFacts:
    facts = TrailFacts()
    start: datetime | None = None
    for event in events:
        label = _LABELS.get(event.kind)
        if label is None:
            continue
        start = start or event.at
        offset = _offset((event.at - start).total_seconds())
        who = event.actor_role or ("releasebot" if event.actor in ("releasebot", "system") else "")
        facts.timeline.append(
            f"{event.at:%H:%M:%S} (+{offset}) {label}" + (f" by {who}" if who else "")
        )
        payload = event.payload
        if event.kind == "rollback.recommended":
            facts.arithmetic = str(payload.get("explanation") or "")
        elif event.kind in ("approval.approve", "approval.reject"):
            facts.votes.append(f"{label} as {event.actor_role or 'a deciding role'}")
        elif event.kind == "drill.scored" and "score" in payload:
            facts.validation = f"drill score {payload['score']}/100"
        elif event.kind == "rollback.validated":
            outcome = payload.get("outcome", "?")
            minutes = payload.get("minutes_to_recover")
            facts.validation = f"{payload.get('metric', '?')}: {outcome}" + (
                f" after {minutes} min" if minutes is not None else ""
            )
    return facts


def _offset(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def parse_form(values: Mapping[str, Mapping[str, Any]]) -> PostmortemInput | dict[str, str]:
    """The modal's ``state.values`` as a post-mortem, or errors by block id. Action items
    get their ids when recorded (``with_ids``)."""
    errors: dict[str, str] = {}

    def text(block: str, *, required: bool) -> str:
        found = str((values.get(block, {}).get(block, {}) or {}).get("value") or "").strip()
        if required and len(found) < MIN_TEXT:
            errors[block] = "Please write a few words."
        if len(found) > MAX_TEXT:
            errors[block] = f"At most {MAX_TEXT} characters."
        return found

    what, well, change = (
        text("what_happened", required=True), text("went_well", required=False),
        text("what_to_change", required=True),
    )  # fmt: skip
    items = []
    for slot in range(1, ACTION_ITEM_SLOTS + 1):
        item_text = text(f"item_{slot}", required=False)
        owner = (values.get(f"item_{slot}_owner", {}).get(f"item_{slot}_owner") or {}).get(
            "selected_user"
        )
        due_text = (values.get(f"item_{slot}_due", {}).get(f"item_{slot}_due") or {}).get(
            "selected_date"
        )
        if not item_text and not owner and not due_text:
            continue
        if not item_text:
            errors[f"item_{slot}"] = "Say what is to be done."
        if not owner:
            errors[f"item_{slot}_owner"] = "An action item needs an owner."
        due = None
        if due_text:
            try:
                due = date.fromisoformat(str(due_text))
            except ValueError:
                errors[f"item_{slot}_due"] = "Not a date."
        items.append(ActionItem(id=str(slot), text=item_text, owner=str(owner or ""), due=due))
    if errors:
        return errors
    return PostmortemInput(what, well, change, tuple(items))


@dataclass
class Postmortem:
    """A subject's post-mortem as the trail has it: its parts in order, and its items."""

    subject: str
    parts: list[LearningEvent] = field(default_factory=list)
    items: dict[str, ActionItem] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    view_ids: set[str] = field(default_factory=set)

    @property
    def open_items(self) -> list[ActionItem]:
        return [item for item_id, item in self.items.items() if item_id not in self.done]

    @property
    def latest_lesson(self) -> str | None:
        for part in reversed(self.parts):
            lesson = part.payload.get("what_to_change")
            if isinstance(lesson, str) and lesson:
                return lesson
        return None


def fold_postmortems(events: Iterable[LearningEvent]) -> dict[str, Postmortem]:
    """Post-mortems by subject, from ``POSTMORTEM_KINDS`` events in chain order."""
    found: dict[str, Postmortem] = {}
    for event in events:
        postmortem = found.setdefault(event.subject, Postmortem(event.subject))
        payload = event.payload
        if event.kind in ("postmortem.written", "postmortem.added"):
            postmortem.parts.append(event)
            if isinstance(payload.get("view_id"), str):
                postmortem.view_ids.add(payload["view_id"])
            prefix = str(payload.get("view_id") or event.seq)
            for item in _items(prefix, payload.get("action_items")):
                postmortem.items[item.id] = item
        elif event.kind == "postmortem.item_done" and isinstance(payload.get("item"), str):
            postmortem.done.add(payload["item"])
    return found


def _items(prefix: str, raw: Any) -> Sequence[ActionItem]:
    if not isinstance(raw, list):
        return []
    items = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        due = entry.get("due")
        items.append(
            ActionItem(
                id=f"{prefix}.{entry.get('slot')}", text=str(entry.get("text", "")),
                owner=str(entry.get("owner", "")),
                due=date.fromisoformat(due) if isinstance(due, str) else None,
            )
        )  # fmt: skip
    return items
