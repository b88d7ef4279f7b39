"""Delivers the outbox's Slack work: posts, updates, ephemerals, permalinks.

A background thread claims one due job at a time (a short transaction), calls Slack outside
any transaction, then records the result (another short transaction). Posts are exactly
once: each carries metadata naming its job, and a retried job looks for its post before
posting again (``bot.slack.posts``). Every read and write is a unit of work run by ``units``
(the group commit's writer in ``serve``: see ``bot.services.outbox.worker``). A job that keeps
failing is retried with backoff and, after the last attempt, reported: logged, counted, and
written to the trail of its subject.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, update

from bot.core.subjects import recommendation_subject, release_subject
from bot.core.trail import ACTOR_BOT
from bot.render import Renderer
from bot.runbooks.registry import RunbookRegistry
from bot.services.outbox.jobs import (
    Ephemeral,
    OpenView,
    PostChecklist,
    PostDrill,
    PostInThread,
    PostMessage,
    PostRollback,
    TemplateContext,
    UpdateChecklist,
    UpdateRequestMessage,
    UpdateRollback,
    parse_job,
)
from bot.services.outbox.worker import JobWorker, NotReady, Record
from bot.services.releases.contexts import checklist_context
from bot.services.releases.review_rows import ReviewRows, load_review
from bot.slack.drill_delivery import post_drill
from bot.slack.forms import open_form, tell_form_not_opened
from bot.slack.pacing import Pacing
from bot.slack.posts import Poster, permalink_of, post_once
from bot.store import UnitOfWork
from bot.store.gate_checks import checks_of
from bot.store.outbox import ClaimedJob
from bot.store.tables import (
    ApprovalRequest,
    ReadinessReview,
    Release,
    RollbackRecommendation,
)
from bot.store.transitions import table_of
from bot.store.units import UnitRunner

log = logging.getLogger(__name__)
PERMANENT_ERRORS = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "invalid_blocks",
    "msg_too_long",
    "no_text",
    "user_not_found",
    "message_not_found",
    "cant_update_message",
    "unknown_method",
    "expired_trigger_id",
    "invalid_trigger_id",
}


def _posted(payload: dict[str, Any], found: bool) -> dict[str, Any]:
    """A posted message's trail payload; ``found``: posted by an attempt whose answer was lost
    (found by its metadata, not posted again)."""
    return {**payload, "found_after_retry": True} if found else payload


def _nothing(uow: UnitOfWork) -> None:
    """Nothing to record beside the job's completion."""


class SlackDelivery(JobWorker):
    """Delivers the Slack work of the outbox: posts, updates, ephemerals, permalinks."""

    name = "slack-delivery"

    def __init__(
        self,
        *,
        engine: Engine,
        client: WebClient,
        renderer: Renderer,
        runbooks: RunbookRegistry,
        clock: Callable[[], datetime],
        poll_seconds: float = 0.25,
        on_result: Callable[[str], None] | None = None,
        units: UnitRunner | None = None,
    ) -> None:
        super().__init__(
            engine=engine, clock=clock, poll_seconds=poll_seconds, on_result=on_result, units=units
        )
        self.client = client
        self.pacing = Pacing(clock)
        self._me: Poster | None = None
        self.renderer = renderer
        self.runbooks = runbooks
        self.register(PostChecklist, self._post_checklist)
        self.register(UpdateChecklist, self._update_checklist)
        self.register(PostInThread, self._post_in_thread)
        self.register(UpdateRequestMessage, self._update_request_message)
        self.register(Ephemeral, self._ephemeral)
        self.register(OpenView, self._open_view)
        self.register(PostMessage, self._post_message)
        self.register(PostRollback, self._post_rollback)
        self.register(UpdateRollback, self._update_rollback)
        self.register(PostDrill, self._post_drill)

    def classify(self, error: Exception) -> tuple[bool, timedelta | None]:
        if not isinstance(error, SlackApiError):
            return False, None
        code = error.response.get("error")
        if error.response.status_code == 429:
            return False, timedelta(seconds=float(error.response.headers.get("Retry-After", 1)))
        return code in PERMANENT_ERRORS, None

    def report(self, uow: UnitOfWork, job: ClaimedJob, error: str) -> None:
        if job.kind == OpenView.kind:  # the person is waiting for a form: say it failed
            tell_form_not_opened(parse_job(OpenView, job.payload), self.clock())(uow)
            return
        review_id = job.payload.get("review_id")
        if review_id is None:
            return
        rows = load_review(uow.session, review_id=int(review_id), runbooks=self.runbooks)
        if rows is None:
            return
        runbook, release, review, _ = rows
        uow.trail(
            kind="slack.delivery_failed",
            actor=ACTOR_BOT,
            subject=release_subject(runbook.id, release.version),
            at=self.clock(),
            channel_id=review.channel_id,
            thread_ts=release.thread_ts,
            payload={"job": job.kind, "job_id": job.id, "error": error},
        )

    # --- handlers -------------------------------------------------------------------------

    def _review(self, review_id: int) -> ReviewRows | None:
        return self.units.run(
            lambda uow: load_review(uow.session, review_id=review_id, runbooks=self.runbooks)
        )

    def _checklist(self, review_id: int) -> tuple[dict[str, Any], ReviewRows]:
        rows = self._review(review_id)
        if rows is None:
            raise LookupError(f"review {review_id} is gone")
        runbook, release, review, states = rows
        checks = self.units.run(lambda uow: checks_of(uow.session, review_id=review_id))
        message = self.renderer.render(
            "readiness_checklist", checklist_context(runbook, release, review, states, checks)
        )
        return message, rows

    def _post_checklist(self, job: PostChecklist) -> Record:
        message, (runbook, release, review, _) = self._checklist(job.review_id)
        if review.message_ts is not None:  # posted before a crash: refresh it instead
            self._update_checklist(UpdateChecklist(review_id=job.review_id))
            return _nothing
        channel_id = str(review.channel_id)
        ts, found = self._post(channel_id, None, message)
        permalink = self._permalink(channel_id, ts)
        posted_at = self.clock()

        def remember(uow: UnitOfWork) -> None:
            stored_review = uow.session.get(ReadinessReview, review.id)
            stored_release = uow.session.get(Release, release.id)
            assert stored_review is not None and stored_release is not None
            stored_review.message_ts = ts
            stored_release.thread_ts = ts
            stored_release.channel_id = review.channel_id
            uow.trail(
                kind="slack.message_posted",
                actor=ACTOR_BOT,
                subject=release_subject(runbook.id, release.version),
                at=posted_at,
                channel_id=review.channel_id,
                thread_ts=ts,
                message_ts=ts,
                permalink=permalink,
                payload=_posted({"template": "readiness_checklist"}, found),
            )

        return remember

    def _update_checklist(self, job: UpdateChecklist) -> None:
        message, (_, _, review, _) = self._checklist(job.review_id)
        if review.message_ts is None:
            raise NotReady
        channel, ts = str(review.channel_id), review.message_ts
        self._update(channel, ts, message)

    def _post_in_thread(self, job: PostInThread) -> Record:
        rows = self._review(job.review_id)
        if rows is None:
            raise LookupError(f"review {job.review_id} is gone")
        runbook, release, review, _ = rows
        if release.thread_ts is None:
            raise NotReady
        message = self._render(job.template, job.context, job.text)
        ts, found = self._post(str(review.channel_id), release.thread_ts, message)
        permalink = self._permalink(str(review.channel_id), ts)
        posted_at = self.clock()

        def remember(uow: UnitOfWork) -> None:
            if job.remember_request is not None:
                request = uow.session.get(ApprovalRequest, job.remember_request)
                if request is not None:
                    request.message_ts = ts
            uow.trail(
                kind="slack.message_posted",
                actor=ACTOR_BOT,
                subject=release_subject(runbook.id, release.version),
                at=posted_at,
                channel_id=review.channel_id,
                thread_ts=release.thread_ts,
                message_ts=ts,
                permalink=permalink,
                payload=_posted({"template": job.template or "text"}, found),
            )

        return remember

    def _update_request_message(self, job: UpdateRequestMessage) -> None:
        request = self.units.run(lambda uow: uow.session.get(ApprovalRequest, job.request_id))
        if request is None:
            raise LookupError(f"approval request {job.request_id} is gone")
        if request.message_ts is None or request.channel_id is None:
            raise NotReady
        message = self.renderer.render(job.template, job.context)
        self._update(request.channel_id, request.message_ts, message)

    def _update(self, channel: str, ts: str, message: dict[str, Any]) -> None:
        """Redraw a message (idempotent: a retry draws the same again)."""
        text, blocks = message["text"], message["blocks"]
        self.pacing.call(
            "chat.update",
            channel,
            lambda: self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks),
        )

    def _ephemeral(self, job: Ephemeral) -> None:
        self.pacing.call(
            "chat.postEphemeral",
            job.channel_id,
            lambda: self.client.chat_postEphemeral(
                channel=job.channel_id, user=job.user_id, text=job.text, thread_ts=job.thread_ts
            ),
        )

    def _open_view(self, job: OpenView) -> Record | None:
        view = self.renderer.render(job.template, job.context)
        return open_form(self.client, self.pacing, job, view, clock=self.clock)

    def _post_message(self, job: PostMessage) -> None:
        self._post(job.channel_id, job.thread_ts, {"text": job.text, "blocks": None})

    def _post(
        self, channel: str, thread_ts: str | None, message: dict[str, Any]
    ) -> tuple[str, bool]:
        return post_once(
            self.client, self.pacing, channel=channel, thread_ts=thread_ts, message=message,
            poster=self._poster,
        )  # fmt: skip

    def _poster(self) -> Poster:
        """The bot's own identity (asked of Slack once, when a look-up first needs it)."""
        if self._me is None:
            self._me = Poster.of(self.client)
        return self._me

    def _render(
        self, template: str | None, context: TemplateContext | None, text: str | None
    ) -> dict[str, Any]:
        """A template's message, or plain text (no blocks)."""
        if template:
            return self.renderer.render(template, context or {})
        return {"text": text, "blocks": None}

    def _post_rollback(self, job: PostRollback) -> Record:
        recommendation = self._recommendation(job.recommendation_id)
        if recommendation is None or recommendation.channel_id is None:
            raise LookupError(f"rollback {job.recommendation_id} is gone")
        channel_id = recommendation.channel_id
        if job.as_root and recommendation.message_ts is not None:
            # posted before a crash: refresh it instead
            self._update_rollback(
                UpdateRollback(
                    recommendation_id=job.recommendation_id,
                    template=job.template or "",
                    context=job.context or {},
                )
            )
            return _nothing
        if job.as_root:
            thread_ts = recommendation.thread_ts
        else:
            thread_ts = recommendation.conversation_ts
            if thread_ts is None:
                raise NotReady
        message = self._render(job.template, job.context, job.text)
        ts, found = self._post(channel_id, thread_ts, message)
        permalink = self._permalink(channel_id, ts)
        posted_at = self.clock()

        def remember(uow: UnitOfWork) -> None:
            if job.as_root:
                # requests before their recommendation: the order votes lock them in
                requests, recommendations = (
                    table_of(ApprovalRequest),
                    table_of(RollbackRecommendation),
                )
                uow.session.execute(
                    update(requests)
                    .where(requests.c.recommendation_id == recommendation.id)
                    .values(message_ts=ts)
                )
                uow.session.execute(
                    update(recommendations)
                    .where(recommendations.c.id == recommendation.id)
                    .values(message_ts=ts)
                )
            uow.trail(
                kind="slack.message_posted",
                actor=ACTOR_BOT,
                subject=recommendation_subject(recommendation),
                at=posted_at,
                channel_id=channel_id,
                thread_ts=thread_ts or ts,
                message_ts=ts,
                permalink=permalink,
                payload=_posted({"template": job.template or "text"}, found),
            )

        return remember

    def _post_drill(self, job: PostDrill) -> Record:
        return post_drill(
            job, units=self.units, post=self._post, render=self._render,
            permalink=self._permalink, clock=self.clock,
        )  # fmt: skip

    def _recommendation(self, recommendation_id: int) -> RollbackRecommendation | None:
        return self.units.run(
            lambda uow: uow.session.get(RollbackRecommendation, recommendation_id)
        )

    def _update_rollback(self, job: UpdateRollback) -> None:
        recommendation = self._recommendation(job.recommendation_id)
        if recommendation is None or recommendation.channel_id is None:
            raise LookupError(f"rollback {job.recommendation_id} is gone")
        if recommendation.message_ts is None:
            raise NotReady
        message = self._render(job.template, job.context, None)
        self._update(recommendation.channel_id, recommendation.message_ts, message)

    def _permalink(self, channel_id: str, ts: str) -> str | None:
        return permalink_of(self.client, channel_id, ts)
