"""Reading approval requests on the click path: the request and its kinds' rows in one query.

Every vote reads its request, locked until the vote commits (``FOR UPDATE`` of the request's
row on PostgreSQL; SQLite has one writer anyway), so that two votes cast at once are counted
one after the other and the second sees the first. The rows each kind hangs its requests
from (``ApprovalKind.joins``) come in the same statement, outer-joined, and are read with
Core into detached model objects: this is on every click, and ORM loading costs more than
the rest of the vote. A batch of votes reads all its requests in one statement
(``read_ahead``, for ``GroupCommitter.prefetch``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.orm import configure_mappers
from sqlmodel import SQLModel

from bot.store import UnitOfWork
from bot.store.tables import ApprovalRequest
from bot.store.transitions import table_of

APPROVAL_REQUEST = "approval_request"  # what a vote's unit reads first (its prefetch kind)
_REQUESTS = table_of(ApprovalRequest)


@dataclass(frozen=True)
class Join:
    """``model``'s row, found by the id in ``parent``'s column ``column`` (an outer join)."""

    model: type[SQLModel]
    parent: type[SQLModel]
    column: str


class JoinedRows:
    """The request's row and its kinds' rows, as detached model objects (None: no row)."""

    def __init__(self, found: dict[type[SQLModel], Any]) -> None:
        self._found = found

    @property
    def request(self) -> ApprovalRequest:
        request: ApprovalRequest = self._found[ApprovalRequest]
        return request

    def get(self, model: type[SQLModel]) -> Any:
        return self._found.get(model)


class RequestReader:
    """Built once from every kind's joins; reads requests with those rows, locked."""

    def __init__(self, joins: Iterable[Join]) -> None:
        # Detached objects built with ``model_construct`` read their attributes through the
        # mapper's instrumentation, which exists only once the mappers are configured.
        configure_mappers()
        models: list[type[SQLModel]] = [ApprovalRequest]
        statement_from: Any = _REQUESTS
        for join in joins:
            if join.model in models:
                continue
            if join.parent not in models:
                raise ValueError(f"join {join.model.__name__}: join its parent first")
            child, parent = table_of(join.model), table_of(join.parent)
            statement_from = statement_from.outerjoin(child, parent.c[join.column] == child.c.id)
            models.append(join.model)
        # per model: its column names, where they start and end in a row, where its id is
        self._parts: list[tuple[type[SQLModel], list[str], int, int, int]] = []
        columns: list[Any] = []
        for model in models:
            names = [column.name for column in table_of(model).c]
            start = len(columns)
            self._parts.append((model, names, start, start + len(names), start + names.index("id")))
            columns += [table_of(model).c[name] for name in names]
        base: Select[Any] = (
            select(*columns).select_from(statement_from).with_for_update(of=_REQUESTS)
        )
        self._one = base.where(_REQUESTS.c.id == bindparam("request_id"))
        # Several at once, in id order (so that writers locking several take them in one order).
        self._among = base.where(
            _REQUESTS.c.id.in_(bindparam("request_ids", expanding=True))
        ).order_by(_REQUESTS.c.id)

    def read(self, uow: UnitOfWork, request_id: int) -> JoinedRows | None:
        """The request (read ahead for this batch, else read now) and its rows; None if gone."""
        row = uow.take_row(APPROVAL_REQUEST, request_id)
        if row is None:  # not read ahead, or already used by an earlier unit of the batch
            row = uow.connection().execute(self._one, {"request_id": request_id}).first()
        return None if row is None else self._split(row)

    def read_ahead(self, uow: UnitOfWork, request_ids: Sequence[int]) -> None:
        """Read and lock the requests a batch of votes is about, in one statement, and their
        votes in another (``uow.votes``).

        Each request row is used once: a second vote on the same request in the same batch
        reads it again, and so sees what the first one changed; the votes read ahead are
        kept up to date by the votes of the batch."""
        rows = uow.connection().execute(self._among, {"request_ids": list(request_ids)})
        uow.rows_read_ahead.setdefault(APPROVAL_REQUEST, {}).update((row.id, row) for row in rows)
        # The rows are locked now, so their votes can be read once and counted in memory.
        uow.votes.read(uow.session, request_ids=request_ids)

    def _split(self, row: Row[Any]) -> JoinedRows:
        found: dict[type[SQLModel], Any] = {}
        for model, names, start, end, id_at in self._parts:
            if row[id_at] is None:  # a row of another kind's: not there for this request
                found[model] = None
                continue
            found[model] = model.model_construct(**dict(zip(names, row[start:end], strict=True)))
        return JoinedRows(found)
