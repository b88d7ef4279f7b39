"""Keeping the timers this process runs: their leases renewed while their handlers work.

A claim holds a timer for one lease (``bot.store.timers.LEASE``). ``LeaseKeeper`` renews the
lease of every timer held here three times per lease (``bot.store.lease_heartbeat``), so a
handler may take as long as it needs without being taken over; when the process dies the
renewals stop, and another replica claims the timer once the lease has run out.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.store.lease_heartbeat import LeaseHeartbeat
from bot.store.timers import Timer, renew_timer_lease


class LeaseKeeper(LeaseHeartbeat[Timer]):
    def renew_one(self, session: Session, claimed: Timer, now: datetime) -> bool:
        return renew_timer_lease(session, timer=claimed, now=now, lease=self.lease)
