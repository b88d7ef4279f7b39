"""The human side of a release thread: every reply is kept in the trail beside the decisions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import select

from bot.core.trail import release_subject
from bot.services.ledger import trail
from bot.store import session_scope
from bot.store.inbox import claim_delivery
from bot.store.tables import Release

MAX_TEXT = 40_000


class ConversationService:
    def __init__(self, *, engine: Engine) -> None:
        self.engine = engine

    def record_reply(
        self,
        *,
        channel_id: str,
        thread_ts: str,
        ts: str,
        user_id: str,
        text: str,
        now: datetime,
        delivery_key: str,
    ) -> bool:
        """Store a reply in a release thread as a trail event; False if not a release thread
        or already stored (a redelivery)."""
        with session_scope(self.engine) as session:
            release = session.exec(
                select(Release).where(
                    Release.channel_id == channel_id, Release.thread_ts == thread_ts
                )
            ).first()
            if release is None:
                return False
            if not claim_delivery(session, key=delivery_key, now=now):
                return False
            trail(
                session,
                kind="conversation.reply",
                actor=user_id,
                subject=release_subject(release.runbook_id, release.version),
                at=now,
                channel_id=channel_id,
                thread_ts=thread_ts,
                message_ts=ts,
                payload={"text": text[:MAX_TEXT], "ts": ts},
            )
        return True
