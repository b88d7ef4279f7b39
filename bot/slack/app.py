"""The Bolt app factory: one App per call, its listeners bound to the services given.

The app runs with ``process_before_response=True``: a listener's work (verify, authorise,
record the decision and its trail event, queue the Slack messages it implies) happens before
the HTTP response, in one short transaction (shared with the clicks that arrive at the same
moment: ``bot.store.units.GroupCommitter``), so an acknowledged click is a recorded click.
Everything slow (posting, updating, permalinks) is outbox work done after the response by
``SlackDelivery``; ``services.wake()`` starts it at once.
"""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from bot.config import Settings
from bot.slack.listeners import actions, commands, drill_commands, events, modals
from bot.slack.services import SlackServices


def build_bolt_app(
    *,
    settings: Settings,
    client: WebClient,
    services: SlackServices,
    token_verification: bool = True,
) -> App:
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
    drill_commands.register(app, services)
    modals.register(app, services)
    events.register(app, services)
    return app
