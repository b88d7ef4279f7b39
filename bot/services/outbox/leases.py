"""Keeping the outbox jobs a worker is running: their leases renewed while it works.

A claim holds a job for one short lease (``bot.store.outbox.LEASE``), so that a job whose
process died is taken over within seconds. ``JobLeases`` renews the lease of the job in hand
three times per lease (``bot.store.lease_heartbeat``), so a slow Slack call or a long
execution is never taken over while its process lives; the renewals are fenced by the
claim's ``attempts``.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.store.lease_heartbeat import LeaseHeartbeat
from bot.store.outbox import ClaimedJob, renew_job_lease


class JobLeases(LeaseHeartbeat[ClaimedJob]):
    def renew_one(self, session: Session, claimed: ClaimedJob, now: datetime) -> bool:
        return renew_job_lease(session, job=claimed, now=now, lease=self.lease)
