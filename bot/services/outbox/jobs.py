"""The outbox's work, typed: one frozen dataclass per kind of job.

A decision queues the work it implies on its unit of work (``uow.enqueue(job, now=now)``), so
the work commits with the decision or not at all; a worker does it after the commit (Slack
work: ``bot.slack.delivery``; executions: ``bot.services.rollbacks.execution_worker``). The
stored payload is the job's fields as JSON, and ``parse_job`` turns it back into the job,
types checked; payloads stored by earlier versions parse too (new fields have defaults).

Template contexts are JSON-able snapshots taken when the decision was made, of the shape the
template's TypedDict in ``bot.render.contexts`` gives; the checklist is the exception,
rendered from the current state whenever it is posted or updated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from pydantic import TypeAdapter

# One of ``bot.render.contexts``' TypedDicts, as built by a context builder.
TemplateContext = Mapping[str, Any]


@dataclass(frozen=True)
class Job:
    """A kind of outbox work; ``kind`` is what the stored row and the workers call it."""

    kind: ClassVar[str]

    def payload(self) -> dict[str, Any]:
        """The JSON stored with the job (contexts are JSON-able already)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass(frozen=True)
class PostChecklist(Job):
    """Post a review's checklist: the root of the release thread."""

    kind: ClassVar[str] = "post_checklist"
    review_id: int


@dataclass(frozen=True)
class UpdateChecklist(Job):
    kind: ClassVar[str] = "update_checklist"
    review_id: int


@dataclass(frozen=True)
class PostInThread(Job):
    """Reply in a review's thread, from a template or as plain text; ``remember_request``
    stores the posted message on that approval request (its buttons' message)."""

    kind: ClassVar[str] = "post_in_thread"
    review_id: int
    template: str | None = None
    context: TemplateContext | None = None
    text: str | None = None
    remember_request: int | None = None


@dataclass(frozen=True)
class UpdateRequestMessage(Job):
    """Redraw an approval request's own message (its buttons go once it is decided)."""

    kind: ClassVar[str] = "update_request_message"
    request_id: int
    template: str
    context: TemplateContext


@dataclass(frozen=True)
class Ephemeral(Job):
    """A message only ``user_id`` sees (refusals and errors)."""

    kind: ClassVar[str] = "ephemeral"
    channel_id: str
    user_id: str
    text: str
    thread_ts: str | None = None


@dataclass(frozen=True)
class OpenView(Job):
    """Open a modal (views.open). Slack honours a trigger for 3 seconds: if the modal cannot
    be opened in time, the person is told to press the button again."""

    kind: ClassVar[str] = "open_view"
    trigger_id: str
    template: str
    context: TemplateContext
    user_id: str
    channel_id: str
    thread_ts: str | None = None


@dataclass(frozen=True)
class PublishHome(Job):
    kind: ClassVar[str] = "publish_home"
    user_id: str


@dataclass(frozen=True)
class PostMessage(Job):
    """A plain message (an answer to ``@releasebot status``, say) in a channel or thread."""

    kind: ClassVar[str] = "post_message"
    channel_id: str
    text: str
    thread_ts: str | None = None


@dataclass(frozen=True)
class PostRollback(Job):
    """A rollback message: the recommendation itself (``as_root``), or a reply in its
    thread, from a template or as plain text."""

    kind: ClassVar[str] = "post_rollback"
    recommendation_id: int
    template: str | None = None
    context: TemplateContext | None = None
    as_root: bool = False
    text: str | None = None


@dataclass(frozen=True)
class UpdateRollback(Job):
    kind: ClassVar[str] = "update_rollback"
    recommendation_id: int
    template: str
    context: TemplateContext


@dataclass(frozen=True)
class PostDrill(Job):
    """A drill message: its announcement (``as_root``: the drill's thread starts there), or a
    reply in its thread, from a template or as plain text."""

    kind: ClassVar[str] = "post_drill"
    drill_run_id: int
    template: str | None = None
    context: TemplateContext | None = None
    as_root: bool = False
    text: str | None = None


@dataclass(frozen=True)
class ExecuteRollback(Job):
    """Run an approved path; a worker of its own takes these, so Slack work never waits."""

    kind: ClassVar[str] = "execute_rollback"
    execution_id: int


JOB_TYPES: dict[str, type[Job]] = {
    job_type.kind: job_type
    for job_type in (
        PostChecklist,
        UpdateChecklist,
        PostInThread,
        UpdateRequestMessage,
        Ephemeral,
        OpenView,
        PublishHome,
        PostMessage,
        PostRollback,
        UpdateRollback,
        ExecuteRollback,
        PostDrill,
    )
}
J = TypeVar("J", bound=Job)


_ADAPTERS: dict[type[Job], TypeAdapter[Any]] = {}
# A job's ids, most telling first, and the subject each names (timers' keys use the same).
_SUBJECT_IDS = (
    ("recommendation_id", "rollback"),  # the rollback's trail subject itself
    ("request_id", "request"),
    ("execution_id", "execution"),
    ("review_id", "review"),
)


def job_subject(payload: Mapping[str, Any]) -> str | None:
    """What a stored job is about, for its log records: the trail subject its message's
    context names (``release:ranking-model:v2.4.0``, ``rollback:3``), else its first id
    (``request:12``, ``review:3``); None for jobs about a person (an ephemeral, a form)."""
    context = payload.get("context")
    if isinstance(context, Mapping) and isinstance(context.get("trail_subject"), str):
        return str(context["trail_subject"])
    for field, prefix in _SUBJECT_IDS:
        value = payload.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{prefix}:{value}"
    return None


def parse_job(job_type: type[J], payload: Mapping[str, Any]) -> J:
    """The job of ``job_type`` a stored payload holds (pydantic's ``ValidationError`` if the
    payload does not fit it)."""
    adapter = _ADAPTERS.get(job_type)
    if adapter is None:
        adapter = _ADAPTERS[job_type] = TypeAdapter(job_type)
    job: J = adapter.validate_python(dict(payload))
    return job
