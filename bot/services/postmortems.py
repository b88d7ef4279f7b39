"""Blameless post-mortems from Slack (issue 18): the form pre-filled from the trail, its
submission as trail events, the summary in the thread, action items reminded by timers.

A submission is ``postmortem.written`` (the first) or ``postmortem.added`` (every later one):
nothing is overwritten. A redelivered submission (same modal, same ``view_id``) is recorded
once: the unit checks the subject's post-mortem events, under the trail's chain lock. Each
action item with a due date gets a ``postmortem.remind`` timer planned in the same
transaction; the reminder is recorded (``postmortem.reminded``) once per item and due date,
and skipped once the item is done (``postmortem.item_done``, from the App Home's Done button).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time

from sqlalchemy import Engine
from sqlmodel import Session

from bot.core.postmortem import (
    ACTION_ITEM_SLOTS,
    POSTMORTEM_KINDS,
    TIMELINE_KINDS,
    Postmortem,
    PostmortemInput,
    fold_postmortems,
    trail_facts,
)
from bot.core.runbook import Runbook
from bot.core.subjects import SubjectKind, parse_subject
from bot.core.trail import ACTOR_BOT
from bot.render.escaping import mrkdwn_text as esc
from bot.render.learning_contexts import (
    PostmortemModalContext,
    PostmortemPromptContext,
)
from bot.runbooks.registry import RunbookRegistry
from bot.services.context_parts import runbook_ref
from bot.services.outbox.jobs import OpenView, PostDrill, PostRollback
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, MembershipUnavailable, resolving_groups, roles_of
from bot.store import UnitOfWork, read_connection
from bot.store.learning import stream_learning_events
from bot.store.tables import DrillRun, RollbackRecommendation
from bot.store.timers import Timer, schedule_timer
from bot.store.units import DirectUnits, UnitRunner

REMIND = "postmortem.remind"
REMIND_AT = time(9, 0)  # UTC on the due date


@dataclass(frozen=True)
class _Rollback:
    """What a post-mortem is about (a rollback, or a drill), and where its thread is."""

    runbook_id: str
    path: str | None
    channel_id: str | None
    thread_ts: str | None
    recommendation_id: int | None = None
    drill_run_id: int | None = None

    def post(self, text: str) -> PostRollback | PostDrill:
        """A reply in the thread."""
        if self.drill_run_id is not None:
            return PostDrill(drill_run_id=self.drill_run_id, text=text)
        return PostRollback(recommendation_id=self.recommendation_id or 0, text=text)


def prompt_context(
    runbook: Runbook, subject: str, *, existing: bool = False
) -> PostmortemPromptContext:
    """The invitation posted in the thread when a rollback's validation ends."""
    return {
        "subject": subject,
        "runbook": runbook_ref(runbook),
        "roles": sorted(runbook.roles),
        "existing": existing,
    }


class PostmortemService:
    def __init__(
        self,
        *,
        engine: Engine,
        runbooks: RunbookRegistry,
        directory: GroupDirectory,
        clock: Callable[[], datetime],
        units: UnitRunner | None = None,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks
        self.directory = directory
        self.clock = clock
        self.units = units if units is not None else DirectUnits(engine)

    # --- reading ----------------------------------------------------------------------------

    def postmortem(self, subject: str) -> Postmortem:
        with read_connection(self.engine) as connection:
            found = fold_postmortems(
                stream_learning_events(connection, kinds=POSTMORTEM_KINDS, subject=subject)
            )
        return found.get(subject, Postmortem(subject))

    def _rollback(self, subject: str) -> _Rollback | None:
        """The rollback (``rollback:ID``) or drill (``drill:ID``) of ``subject``."""
        try:
            parsed = parse_subject(subject)
        except ValueError:
            return None
        if not parsed.parts[0].isdigit() or parsed.kind is SubjectKind.RELEASE:
            return None
        number = int(parsed.parts[0])
        with read_connection(self.engine) as connection, Session(bind=connection) as session:
            recommended = next(stream_learning_events(
                connection, kinds=("rollback.recommended",), subject=subject, stream=False
            ), None)  # fmt: skip
            path = recommended.payload.get("path") if recommended else None
            path = path if isinstance(path, str) else None
            if parsed.kind is SubjectKind.DRILL:
                run = session.get(DrillRun, number)
                if run is None:
                    return None
                return _Rollback(run.runbook_id, path, run.channel_id, run.thread_ts,
                                 drill_run_id=number)  # fmt: skip
            rec = session.get(RollbackRecommendation, number)
            if rec is None:
                return None
            return _Rollback(rec.runbook_id, path, rec.channel_id, rec.conversation_ts,
                             recommendation_id=number)  # fmt: skip

    def _may_write(self, runbook_id: str, user_id: str, groups: GroupDirectory) -> Reply | None:
        runbook = self.runbooks.get(runbook_id)
        if runbook is None:
            return Reply(False, "This rollback's runbook no longer exists.")
        try:
            held = roles_of(runbook, user_id, groups)
        except MembershipUnavailable as error:
            return Reply(False, f"I could not check your roles ({error}); try again.")
        if not held:
            return Reply(False, f"Only the roles of *{runbook.id}* write its post-mortems.")
        return None

    # --- the form ---------------------------------------------------------------------------

    def open_form(
        self, *, subject: str, user_id: str, trigger_id: str, channel_id: str,
        thread_ts: str | None, now: datetime,
    ) -> Reply:  # fmt: skip
        """Queue the form, pre-filled from the trail, for a person holding a runbook role."""
        rollback = self._rollback(subject)
        if rollback is None:
            return Reply(False, "There is no rollback or drill here to write a post-mortem of.")
        refusal = resolving_groups(
            self.directory, lambda groups: self._may_write(rollback.runbook_id, user_id, groups)
        )
        if refusal is not None:
            return refusal
        with read_connection(self.engine) as connection:
            events = list(stream_learning_events(connection, kinds=TIMELINE_KINDS, subject=subject))
        facts = trail_facts(events)
        existing = bool(self.postmortem(subject).parts)
        context: PostmortemModalContext = {
            "subject": subject,
            "runbook_id": rollback.runbook_id,
            "existing": existing,
            "timeline": facts.timeline,
            "arithmetic": facts.arithmetic,
            "votes": facts.votes,
            "validation": facts.validation,
            "draft": "" if existing else "\n".join(facts.timeline[-12:]),
            "slots": list(range(1, ACTION_ITEM_SLOTS + 1)),
        }
        job = OpenView(
            trigger_id=trigger_id, template="postmortem_modal", context=context,
            user_id=user_id, channel_id=channel_id, thread_ts=thread_ts,
        )  # fmt: skip
        self.units.run(lambda uow: uow.enqueue(job, now=now))
        return Reply(True, "Opening the post-mortem form.")

    def submit(
        self, *, subject: str, user_id: str, view_id: str, form: PostmortemInput, now: datetime
    ) -> Reply:
        """Record a submitted form: ``postmortem.written`` or ``postmortem.added``."""
        rollback = self._rollback(subject)
        if rollback is None:
            return Reply(False, "This post-mortem's rollback no longer exists.")

        def attempt(groups: GroupDirectory) -> Reply:
            refusal = self._may_write(rollback.runbook_id, user_id, groups)
            if refusal is not None:
                return refusal
            runbook = self.runbooks.get(rollback.runbook_id)
            assert runbook is not None
            roles = sorted(roles_of(runbook, user_id, groups))
            return self.units.run(
                lambda uow: self._record(uow, rollback, roles, subject=subject, user_id=user_id,
                                         view_id=view_id, form=form, now=now)
            )  # fmt: skip

        return resolving_groups(self.directory, attempt)

    def _record(
        self, uow: UnitOfWork, rollback: _Rollback, roles: list[str], *, subject: str,
        user_id: str, view_id: str, form: PostmortemInput, now: datetime,
    ) -> Reply:  # fmt: skip
        found = fold_postmortems(
            stream_learning_events(
                uow.connection(), kinds=POSTMORTEM_KINDS, subject=subject, stream=False
            )
        ).get(subject, Postmortem(subject))
        if view_id in found.view_ids:
            return Reply(True, "Already recorded.")
        kind = "postmortem.added" if found.parts else "postmortem.written"
        payload = {**form.payload(), "view_id": view_id, "runbook": rollback.runbook_id,
                   "path": rollback.path}  # fmt: skip
        uow.trail(
            kind=kind, actor=user_id, actor_role=roles[0] if roles else None, subject=subject,
            at=now, channel_id=rollback.channel_id, thread_ts=rollback.thread_ts,
            payload=payload,
        )  # fmt: skip
        for item in form.action_items:
            if item.due is None:
                continue
            schedule_timer(
                uow.session, kind=REMIND, key=f"postmortem:{subject}:{view_id}.{item.id}",
                due_at=datetime.combine(item.due, REMIND_AT, tzinfo=UTC), now=now,
                payload={"subject": subject, "item": f"{view_id}.{item.id}"},
            )  # fmt: skip
        uow.enqueue(rollback.post(_summary(kind, roles, form)), now=now)
        return Reply(True, "Post-mortem recorded." if kind.endswith("written") else "Added.")

    # --- action items -----------------------------------------------------------------------

    def mark_done(self, *, subject: str, item_id: str, user_id: str, now: datetime) -> Reply:
        def unit(uow: UnitOfWork) -> Reply:
            found = fold_postmortems(
                stream_learning_events(
                    uow.connection(), kinds=POSTMORTEM_KINDS, subject=subject, stream=False
                )
            ).get(subject)
            item = found.items.get(item_id) if found else None
            if found is None or item is None:
                return Reply(False, "There is no such action item.")
            if item_id in found.done:
                return Reply(True, "Already done.")
            uow.trail(kind="postmortem.item_done", actor=user_id, subject=subject, at=now,
                      payload={"item": item_id, "owner": item.owner})  # fmt: skip
            return Reply(True, "Marked done.")

        return self.units.run(unit)

    def remind(self, *, subject: str, item_id: str, due_at: datetime, now: datetime) -> bool:
        """Remind the owner of an open action item in the thread, once per due time."""
        rollback = self._rollback(subject)
        if rollback is None:
            return False

        def unit(uow: UnitOfWork) -> bool:
            events = list(stream_learning_events(
                uow.connection(), kinds=(*POSTMORTEM_KINDS, "postmortem.reminded"),
                subject=subject, stream=False,
            ))  # fmt: skip
            found = fold_postmortems(events).get(subject)
            item = found.items.get(item_id) if found else None
            if found is None or item is None or item_id in found.done:
                return False
            stamp = due_at.isoformat()
            if any(e.kind == "postmortem.reminded" and e.payload.get("item") == item_id
                   and e.payload.get("due_at") == stamp for e in events):  # fmt: skip
                return False
            uow.trail(
                kind="postmortem.reminded", actor=ACTOR_BOT, subject=subject, at=now,
                channel_id=rollback.channel_id, thread_ts=rollback.thread_ts,
                payload={"item": item_id, "owner": item.owner, "due_at": stamp},
            )  # fmt: skip
            text = (
                f"⏰ <@{item.owner}>, a post-mortem action item is due: “{esc(item.text)}”. "
                "Mark it done from the releasebot App Home when it is."
            )
            uow.enqueue(rollback.post(text), now=now)
            return True

        return self.units.run(unit)


def _summary(kind: str, roles: list[str], form: PostmortemInput) -> str:
    head = "📝 Post-mortem recorded" if kind == "postmortem.written" else "📝 Post-mortem added to"
    role = f" by {', '.join(roles)}" if roles else ""
    lines = [
        f"{head}{role} (blameless: roles and decisions, not people).",
        f"*What happened:* {esc(form.what_happened)}",
    ]
    if form.went_well:
        lines.append(f"*What went well:* {esc(form.went_well)}")
    lines.append(f"*What to change:* {esc(form.to_change)}")
    for item in form.action_items:
        due = f", due {item.due.isoformat()}" if item.due else ""
        lines.append(f"• {esc(item.text)} (owner <@{item.owner}>{due})")
    return "\n".join(lines)[:3900]


def remind_action_item(
    service: PostmortemService, timer: Timer, now: datetime, *, after: Callable[[], None]
) -> None:
    """The ``postmortem.remind`` timer's handler (idempotent: ``remind`` checks the trail)."""
    subject, item = timer.payload.get("subject"), timer.payload.get("item")
    if isinstance(subject, str) and isinstance(item, str):
        if service.remind(subject=subject, item_id=item, due_at=timer.due_at, now=now):
            after()
