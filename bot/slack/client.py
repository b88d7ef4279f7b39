"""The Slack Web API clients: the listeners' (the SDK's retry handlers for 429s, 5xx and
dropped links) and the outbox delivery's (no retries inside a call: see ``make_delivery_client``).
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.config import Settings


def make_web_client(settings: Settings, *, timeout: int = 10) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )


def make_delivery_client(settings: Settings, *, timeout: int = 10) -> WebClient:
    """The client the outbox delivers with: it never retries inside a call.

    A retried ``chat.postMessage`` whose first answer was lost would post twice, and sleeping
    through a 429's ``Retry-After`` would hold up every other channel's messages. The delivery
    worker retries instead: a failed job after looking for its post (``bot.slack.posts``), a
    rate-limited one deferred for its method and channel only (``bot.slack.pacing``).
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    # retry_handlers=[]: none at all (the SDK adds a connection-error retry by default)
    return WebClient(
        token=token, base_url=settings.slack_api_url, timeout=timeout, retry_handlers=[]
    )
