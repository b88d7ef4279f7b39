"""The conversation around releases: replies in a release thread kept in the trail beside the
decisions, and ``@releasebot status`` answered where it was asked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import select

from bot.core.subjects import release_subject
from bot.services.outbox.jobs import PostMessage
from bot.store import UnitOfWork
from bot.store.inbox import claim_delivery
from bot.store.tables import Release
from bot.store.units import DirectUnits, UnitRunner

MAX_TEXT = 40_000


class ConversationService:
    def __init__(self, *, engine: Engine, units: UnitRunner | None = None) -> None:
        self.engine = engine
        self.units = units if units is not None else DirectUnits(engine)

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

        def unit(uow: UnitOfWork) -> bool:
            release = uow.session.exec(
                select(Release).where(
                    Release.channel_id == channel_id, Release.thread_ts == thread_ts
                )
            ).first()
            if release is None:
                return False
            if not claim_delivery(uow.session, key=delivery_key, now=now):
                return False
            uow.trail(
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

        return self.units.run(unit)

    def answer(
        self,
        *,
        channel_id: str,
        text: str,
        thread_ts: str | None,
        now: datetime,
        delivery_key: str,
    ) -> bool:
        """Post ``text`` as the answer to a mention, once per delivery of the event."""

        def unit(uow: UnitOfWork) -> bool:
            if not claim_delivery(uow.session, key=delivery_key, now=now):
                return False
            job = PostMessage(channel_id=channel_id, text=text, thread_ts=thread_ts)
            uow.enqueue(job, now=now)
            return True

        return self.units.run(unit)
