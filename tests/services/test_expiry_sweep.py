"""The expiry sweep: requests expire at the deadline stored when they were opened, and one
request that fails never stops the sweep (the crash of the time-driven-work issue: lengthen a
runbook's ``go_no_go.expires_after`` after a request opened, and every sweep raised
``KeyError: 'pending'`` on it and skipped every later request, every 30 s, forever)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.runbooks.files import load_runbooks
from bot.runbooks.registry import RunbookRegistry
from bot.store import TrailEventRow, read_connection, verify_trail
from bot.store.tables import ApprovalRequest, ReadinessReview, Release
from bot.store.transitions import table_of
from tests.services.go_no_go_support import NOW, approval_engine, open_go_no_gos

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_DEADLINE = timedelta(hours=8)  # fraud-model's go_no_go.expires_after


def registry(tmp_path: Path, expires_after: str = "8h") -> RunbookRegistry:
    """The shipped runbooks, fraud-model's go/no-go lasting ``expires_after``."""
    folder = tmp_path / f"runbooks-{expires_after}"
    folder.mkdir()
    for path in (ROOT / "runbooks").glob("*.yaml"):
        text = path.read_text()
        if path.name == "fraud-model.yaml":
            assert "    expires_after: 8h\n" in text
            text = text.replace("    expires_after: 8h\n", f"    expires_after: {expires_after}\n")
        (folder / path.name).write_text(text)
    found = load_runbooks(folder)
    assert not found.problems, found.problems
    return RunbookRegistry(found.runbooks)


def states(engine: Engine) -> dict[str, list[str]]:
    tables = {
        "requests": table_of(ApprovalRequest),
        "reviews": table_of(ReadinessReview),
        "releases": table_of(Release),
    }
    with read_connection(engine) as connection:
        return {
            name: list(connection.execute(select(t.c.state).order_by(t.c.id)).scalars())
            for name, t in tables.items()
        }


def trail_kinds(engine: Engine) -> list[str]:
    events = table_of(TrailEventRow)
    with read_connection(engine) as connection:
        return list(connection.execute(select(events.c.kind).order_by(events.c.seq)).scalars())


def test_a_lengthened_deadline_does_not_revive_an_overdue_request(
    engine: Engine, tmp_path: Path
) -> None:
    """Two go/no-gos opened under 8h; the runbook now says 24h; the sweep 9h later expires
    both, at the deadline they were opened with."""
    first, second = open_go_no_gos(engine, registry(tmp_path), 2, major=3)
    lengthened = approval_engine(engine, registry(tmp_path, "24h"))
    later = NOW + SHIPPED_DEADLINE + timedelta(hours=1)
    assert lengthened.expire_due(now=later) == 2
    assert states(engine) == {
        "requests": ["expired", "expired"],
        "reviews": ["expired", "expired"],
        "releases": ["expired", "expired"],
    }
    assert trail_kinds(engine).count("go_no_go.expired") == 2
    assert lengthened.expire_due(now=later) == 0  # nothing left, and nothing twice
    assert lengthened.expire(request_id=first, now=later) is False
    assert lengthened.expire(request_id=second, now=later) is False
    assert verify_trail(engine).intact


def test_a_request_is_not_expired_before_its_stored_deadline(
    engine: Engine, tmp_path: Path
) -> None:
    """Shortened since: the request keeps the deadline it was opened with."""
    (request_id,) = open_go_no_gos(engine, registry(tmp_path), 1, major=3)
    shortened = approval_engine(engine, registry(tmp_path, "1h"))
    before = NOW + SHIPPED_DEADLINE - timedelta(minutes=1)
    assert shortened.expire_due(now=before) == 0
    assert shortened.expire(request_id=request_id, now=before) is False
    assert states(engine)["requests"] == ["pending"]
    assert shortened.expire(request_id=request_id, now=NOW + SHIPPED_DEADLINE) is True
    assert states(engine)["requests"] == ["expired"]


def test_one_request_that_fails_never_stops_the_sweep(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """The middle of three overdue requests fails as it is closed: it is logged and left
    pending (its transaction rolled back), and the other two expire."""
    runbooks = registry(tmp_path)
    _, broken, _ = open_go_no_gos(engine, runbooks, 3, major=3)
    sweep = approval_engine(engine, runbooks)
    kind = sweep.kinds["go_no_go"]
    announce = kind.announce

    def failing(uow: Any, ballot: Any, *args: Any, **kwargs: Any) -> None:
        if ballot.request.id == broken:
            raise RuntimeError("this one's message cannot be built")
        announce(uow, ballot, *args, **kwargs)

    monkeypatch.setattr(kind, "announce", failing)
    with caplog.at_level(logging.ERROR, logger="bot.services.approvals.engine"):
        assert sweep.expire_due(now=NOW + SHIPPED_DEADLINE) == 2
    assert states(engine)["requests"] == ["expired", "pending", "expired"]
    assert [record.message for record in caplog.records] == [
        f"expiring approval request {broken} failed; the sweep goes on"
    ]
    monkeypatch.undo()
    assert sweep.expire_due(now=NOW + SHIPPED_DEADLINE) == 1  # the next sweep gets it
    assert states(engine)["requests"] == ["expired", "expired", "expired"]
    assert verify_trail(engine).intact
