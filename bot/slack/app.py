"""The Bolt app factory: one App per call, its listeners bound to the services given.

The app runs with ``process_before_response=True``: a listener's work (verify, authorise,
record the decision and its trail event, queue the Slack messages it implies) happens before
the HTTP response, in one short transaction (shared with the clicks that arrive at the same
moment: ``bot.store.units.GroupCommitter``), so an acknowledged click is a recorded click.
Everything slow (posting, updating, permalinks) is outbox work done after the response by
``SlackDelivery``; ``delivery.wake()`` starts it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.config import Settings
from bot.render import Renderer
from bot.services.conversation import ConversationService
from bot.services.executions import ExecutionService
from bot.services.go_no_go import GoNoGoService
from bot.services.registry import RunbookRegistry
from bot.services.reviews import ReviewService
from bot.services.rollback_decisions import RollbackDecisions
from bot.services.rollbacks import RollbackService
from bot.services.votes import Votes
from bot.slack.delivery import SlackDelivery
from bot.worker import JobWorker


@dataclass(frozen=True)
class SlackServices:
    """Everything the listeners may call."""

    engine: Engine
    registry: RunbookRegistry
    reviews: ReviewService
    go_no_go: GoNoGoService
    votes: Votes
    conversation: ConversationService
    delivery: SlackDelivery
    renderer: Renderer
    clock: Callable[[], datetime]
    rollbacks: RollbackService
    decisions: RollbackDecisions
    executions: ExecutionService
    executor_worker: JobWorker

    def wake(self) -> None:
        self.delivery.wake()
        self.executor_worker.wake()


def build_bolt_app(
    *,
    settings: Settings,
    client: WebClient,
    services: SlackServices,
    token_verification: bool = True,
) -> App:
    from bot.slack.listeners import actions, commands, events, views

    if settings.slack_signing_secret is None:
        raise ValueError("SLACK_SIGNING_SECRET is required")
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        process_before_response=True,
        token_verification_enabled=token_verification,
        # Every HTTP request is verified on its raw body, before it is parsed, by the one
        # door it comes in by (bot.web.app.SlackEvents); Socket Mode needs no signature.
        request_verification_enabled=False,
    )
    # Bolt tries listeners in the order they were added: buttons, the busiest, go first.
    actions.register(app, services)
    commands.register(app, services)
    views.register(app, services)
    events.register(app, services)
    return app
