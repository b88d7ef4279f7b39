"""Publishes a person's App Home (``views.publish``) as outbox work.

The ``app_home_opened`` listener only queues a ``publish_home`` job; the delivery worker then
builds the page from the database and the user-group directory, renders ``app_home`` and
publishes it. A failed publish is retried like any other Slack job.
"""

from __future__ import annotations

from bot.render import Renderer
from bot.services.outbox.jobs import PublishHome
from bot.services.releases.home import HomeService
from bot.slack.delivery import SlackDelivery


def register_home(delivery: SlackDelivery, home_service: HomeService, renderer: Renderer) -> None:
    """Teach ``delivery`` to perform ``PublishHome`` jobs."""

    def publish_home(job: PublishHome) -> None:
        user_id = job.user_id
        context = home_service.home_context(user_id=user_id, now=delivery.clock())
        view = renderer.render("app_home", context)
        delivery.pacing.call(  # a 429 defers this publish only
            "views.publish", None, lambda: delivery.client.views_publish(user_id=user_id, view=view)
        )

    delivery.register(PublishHome, publish_home)
