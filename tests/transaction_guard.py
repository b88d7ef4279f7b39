"""A test-suite guard: no Slack Web API call while a database transaction is open.

A Slack call can take seconds (retries, timeouts); made inside a transaction it holds
SQLite's process-wide write lock, or a PostgreSQL row lock, against every click (issue 14:
``roles_of`` looked user groups up inside the units of reviews, rollback decisions and
executions). The guard counts, per thread, the transactions open on any engine (SQLAlchemy's
``begin``/``commit``/``rollback`` events) and the sessions' transactions (from ``begin()``,
before they touch a connection: a unit of work holds SQLite's writer lock from its start),
and wraps the Slack SDK's ``api_call``: a call made
while its thread has one open is recorded, and the fixture that installed the guard fails
the test with the method and the stack that made it.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_sdk.web.base_client import BaseClient
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction


@dataclass
class TransactionGuard:
    violations: list[str] = field(default_factory=list)
    calls: int = 0  # Slack calls seen (so a test can show the guard was exercised)
    _open: threading.local = field(default_factory=threading.local)

    def depth(self) -> int:
        return int(getattr(self._open, "depth", 0))

    def began(self, _connection: Connection | None) -> None:
        self._open.depth = self.depth() + 1

    def ended(self, _connection: Connection | None) -> None:
        self._open.depth = max(0, self.depth() - 1)

    def session_began(self, _session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            self.began(None)

    def session_ended(self, _session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            self.ended(None)

    def check(self, method: str) -> None:
        self.calls += 1
        if self.depth() > 0:
            stack = "".join(traceback.format_stack(limit=25)[:-2])
            self.violations.append(f"Slack {method} inside a transaction:\n{stack}")


@contextmanager
def transaction_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[TransactionGuard]:
    guard = TransactionGuard()
    listeners = (("begin", guard.began), ("commit", guard.ended), ("rollback", guard.ended))
    for name, listener in listeners:
        event.listen(Engine, name, listener)
    event.listen(Session, "after_transaction_create", guard.session_began)
    event.listen(Session, "after_transaction_end", guard.session_ended)
    original = BaseClient.api_call

    def api_call(self: BaseClient, api_method: str, *args: Any, **kwargs: Any) -> Any:
        guard.check(api_method)
        return original(self, api_method, *args, **kwargs)

    monkeypatch.setattr(BaseClient, "api_call", api_call)
    try:
        yield guard
    finally:
        for name, listener in listeners:
            event.remove(Engine, name, listener)
        event.remove(Session, "after_transaction_create", guard.session_began)
        event.remove(Session, "after_transaction_end", guard.session_ended)
