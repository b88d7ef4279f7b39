"""Delivers the outbox's Slack work: posts, updates, ephemerals, permalinks.

A background thread claims one due job at a time (a short transaction), calls Slack outside
any transaction (the SDK retries 429s and 5xx itself), then records the result (another short
transaction). Every read and write is a unit of work run by ``units`` (the group commit's
writer in ``serve``: see ``bot.services.outbox.worker``). A job that keeps failing is retried
with backoff and, after the last attempt, reported: logged, counted, and written to the trail
of its subject.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, update
from sqlmodel import Session

from bot.core.trail import ACTOR_BOT, release_subject
from bot.render import Renderer
from bot.runbooks.registry import RunbookRegistry
from bot.services.ledger import review_bundle, rollback_thread, trail
from bot.services.outbox import jobs
from bot.services.outbox.worker import JobWorker, NotReady, Record
from bot.services.releases.contexts import checklist_context
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


def _nothing(session: Session) -> None:
    """Nothing to record beside the job's completion."""


VIEW_NOT_OPENED = (
    "I could not open the form in time (Slack allows 3 seconds), so nothing was recorded. "
    "Please press the button again."
)


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
        self.renderer = renderer
        self.runbooks = runbooks
        for kind, handler in {
            jobs.POST_CHECKLIST: self._post_checklist,
            jobs.UPDATE_CHECKLIST: self._update_checklist,
            jobs.POST_IN_THREAD: self._post_in_thread,
            jobs.UPDATE_REQUEST_MESSAGE: self._update_request_message,
            jobs.EPHEMERAL: self._ephemeral,
            jobs.OPEN_VIEW: self._open_view,
            jobs.POST_MESSAGE: self._post_message,
            jobs.POST_ROLLBACK: self._post_rollback,
            jobs.UPDATE_ROLLBACK: self._update_rollback,
        }.items():
            self.register(kind, handler)

    def classify(self, error: Exception) -> tuple[bool, timedelta | None]:
        if not isinstance(error, SlackApiError):
            return False, None
        code = error.response.get("error")
        if error.response.status_code == 429:
            return False, timedelta(seconds=float(error.response.headers.get("Retry-After", 1)))
        return code in PERMANENT_ERRORS, None

    def report(self, session: Session, job: ClaimedJob, error: str) -> None:
        if job.kind == jobs.OPEN_VIEW:  # the person is waiting for a form: say it failed
            jobs.ephemeral(
                session,
                channel_id=job.payload["channel_id"],
                user_id=job.payload["user_id"],
                text=VIEW_NOT_OPENED,
                thread_ts=job.payload.get("thread_ts"),
                now=self.clock(),
            )
            return
        review_id = job.payload.get("review_id")
        if review_id is None:
            return
        bundle = review_bundle(session, review_id=int(review_id), runbooks=self.runbooks)
        if bundle is None:
            return
        runbook, release, review, _ = bundle
        trail(
            session,
            kind="slack.delivery_failed",
            actor=ACTOR_BOT,
            subject=release_subject(runbook.id, release.version),
            at=self.clock(),
            channel_id=review.channel_id,
            thread_ts=release.thread_ts,
            payload={"job": job.kind, "job_id": job.id, "error": error},
        )

    # --- handlers -------------------------------------------------------------------------

    def _bundle(self, review_id: int) -> Any:
        return self.units.run(
            lambda session: review_bundle(session, review_id=review_id, runbooks=self.runbooks)
        )

    def _checklist(self, review_id: int) -> tuple[dict[str, Any], Any]:
        bundle = self._bundle(review_id)
        if bundle is None:
            raise LookupError(f"review {review_id} is gone")
        runbook, release, review, states = bundle
        message = self.renderer.render(
            "readiness_checklist", checklist_context(runbook, release, review, states)
        )
        return message, bundle

    def _post_checklist(self, payload: dict[str, Any]) -> Record:
        message, (runbook, release, review, _) = self._checklist(payload["review_id"])
        if review.message_ts is not None:  # posted before a crash: refresh it instead
            self._update_checklist(payload)
            return _nothing
        channel_id = str(review.channel_id)
        response = self.client.chat_postMessage(
            channel=channel_id, text=message["text"], blocks=message["blocks"]
        )
        ts = str(response["ts"])
        permalink = self._permalink(channel_id, ts)
        posted_at = self.clock()

        def remember(session: Session) -> None:
            stored_review = session.get(ReadinessReview, review.id)
            stored_release = session.get(Release, release.id)
            assert stored_review is not None and stored_release is not None
            stored_review.message_ts = ts
            stored_release.thread_ts = ts
            stored_release.channel_id = review.channel_id
            trail(
                session,
                kind="slack.message_posted",
                actor=ACTOR_BOT,
                subject=release_subject(runbook.id, release.version),
                at=posted_at,
                channel_id=review.channel_id,
                thread_ts=ts,
                message_ts=ts,
                permalink=permalink,
                payload={"template": "readiness_checklist"},
            )

        return remember

    def _update_checklist(self, payload: dict[str, Any]) -> None:
        message, (_, _, review, _) = self._checklist(payload["review_id"])
        if review.message_ts is None:
            raise NotReady
        self.client.chat_update(
            channel=review.channel_id,
            ts=review.message_ts,
            text=message["text"],
            blocks=message["blocks"],
        )

    def _post_in_thread(self, payload: dict[str, Any]) -> Record:
        bundle = self._bundle(payload["review_id"])
        if bundle is None:
            raise LookupError(f"review {payload['review_id']} is gone")
        runbook, release, review, _ = bundle
        if release.thread_ts is None:
            raise NotReady
        if payload.get("template"):
            message = self.renderer.render(payload["template"], payload["context"])
        else:
            message = {"text": payload["text"], "blocks": None}
        response = self.client.chat_postMessage(
            channel=str(review.channel_id),
            thread_ts=release.thread_ts,
            text=message["text"],
            blocks=message["blocks"],
        )
        ts = str(response["ts"])
        permalink = self._permalink(str(review.channel_id), ts)
        posted_at = self.clock()

        def remember(session: Session) -> None:
            if payload.get("remember_request") is not None:
                request = session.get(ApprovalRequest, payload["remember_request"])
                if request is not None:
                    request.message_ts = ts
            trail(
                session,
                kind="slack.message_posted",
                actor=ACTOR_BOT,
                subject=release_subject(runbook.id, release.version),
                at=posted_at,
                channel_id=review.channel_id,
                thread_ts=release.thread_ts,
                message_ts=ts,
                permalink=permalink,
                payload={"template": payload.get("template") or "text"},
            )

        return remember

    def _update_request_message(self, payload: dict[str, Any]) -> None:
        request = self.units.run(
            lambda session: session.get(ApprovalRequest, payload["request_id"])
        )
        if request is None:
            raise LookupError(f"approval request {payload['request_id']} is gone")
        if request.message_ts is None or request.channel_id is None:
            raise NotReady
        message = self.renderer.render(payload["template"], payload["context"])
        self.client.chat_update(
            channel=request.channel_id,
            ts=request.message_ts,
            text=message["text"],
            blocks=message["blocks"],
        )

    def _ephemeral(self, payload: dict[str, Any]) -> None:
        self.client.chat_postEphemeral(
            channel=payload["channel_id"],
            user=payload["user_id"],
            text=payload["text"],
            thread_ts=payload.get("thread_ts"),
        )

    def _open_view(self, payload: dict[str, Any]) -> None:
        view = self.renderer.render(payload["template"], payload["context"])
        self.client.views_open(trigger_id=payload["trigger_id"], view=view)

    def _post_message(self, payload: dict[str, Any]) -> None:
        self.client.chat_postMessage(
            channel=payload["channel_id"], text=payload["text"], thread_ts=payload.get("thread_ts")
        )

    def _render(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("template"):
            return self.renderer.render(payload["template"], payload["context"])
        return {"text": payload["text"], "blocks": None}

    def _post_rollback(self, payload: dict[str, Any]) -> Record:
        recommendation = self._recommendation(payload)
        if recommendation is None or recommendation.channel_id is None:
            raise LookupError(f"rollback {payload['recommendation_id']} is gone")
        channel_id = recommendation.channel_id
        if payload.get("as_root") and recommendation.message_ts is not None:
            self._update_rollback(payload)  # posted before a crash: refresh it instead
            return _nothing
        if payload.get("as_root"):
            thread_ts = recommendation.thread_ts
        else:
            thread_ts = rollback_thread(recommendation)
            if thread_ts is None:
                raise NotReady
        message = self._render(payload)
        response = self.client.chat_postMessage(
            channel=channel_id,
            thread_ts=thread_ts,
            text=message["text"],
            blocks=message["blocks"],
        )
        ts = str(response["ts"])
        permalink = self._permalink(channel_id, ts)
        posted_at = self.clock()

        def remember(session: Session) -> None:
            if payload.get("as_root"):
                # requests before their recommendation: the order votes lock them in
                requests, recommendations = (
                    table_of(ApprovalRequest),
                    table_of(RollbackRecommendation),
                )
                session.execute(
                    update(requests)
                    .where(requests.c.recommendation_id == recommendation.id)
                    .values(message_ts=ts)
                )
                session.execute(
                    update(recommendations)
                    .where(recommendations.c.id == recommendation.id)
                    .values(message_ts=ts)
                )
            trail(
                session,
                kind="slack.message_posted",
                actor=ACTOR_BOT,
                subject=f"rollback:{recommendation.id}",
                at=posted_at,
                channel_id=channel_id,
                thread_ts=thread_ts or ts,
                message_ts=ts,
                permalink=permalink,
                payload={"template": payload.get("template") or "text"},
            )

        return remember

    def _recommendation(self, payload: dict[str, Any]) -> RollbackRecommendation | None:
        return self.units.run(
            lambda session: session.get(RollbackRecommendation, payload["recommendation_id"])
        )

    def _update_rollback(self, payload: dict[str, Any]) -> None:
        recommendation = self._recommendation(payload)
        if recommendation is None or recommendation.channel_id is None:
            raise LookupError(f"rollback {payload['recommendation_id']} is gone")
        if recommendation.message_ts is None:
            raise NotReady
        message = self._render(payload)
        self.client.chat_update(
            channel=recommendation.channel_id,
            ts=recommendation.message_ts,
            text=message["text"],
            blocks=message["blocks"],
        )

    def _permalink(self, channel_id: str, ts: str) -> str | None:
        try:
            response = self.client.chat_getPermalink(channel=channel_id, message_ts=ts)
        except Exception as error:  # noqa: BLE001 - a missing permalink is not a lost message
            log.warning("no permalink for %s/%s: %s", channel_id, ts, error)
            return None
        link = response.get("permalink")
        return str(link) if link else None
