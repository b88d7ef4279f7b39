"""Database-level guard: trail events may be inserted, never updated or deleted, and the
trail head only moves forward, to the event last appended.

The hash chain and its MACs *detect* tampering; these triggers *prevent* accidents (a stray
UPDATE from a maintenance script) and make an edit take a deliberate step (dropping them),
which needs the table owner's rights. The same statements are used by ``create_all`` and by
the migrations (the head's guard since ``0006_integrity``).
"""

from __future__ import annotations

from sqlalchemy import DDL, Table, event
from sqlalchemy.engine import Connection

SQLITE_STATEMENTS = (
    "CREATE TRIGGER trail_events_no_update BEFORE UPDATE ON trail_events "
    "BEGIN SELECT RAISE(ABORT, 'trail_events is append-only'); END",
    "CREATE TRIGGER trail_events_no_delete BEFORE DELETE ON trail_events "
    "BEGIN SELECT RAISE(ABORT, 'trail_events is append-only'); END",
)
POSTGRESQL_STATEMENTS = (
    "CREATE FUNCTION trail_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'trail_events is append-only'; END $$",
    "CREATE TRIGGER trail_events_no_change BEFORE UPDATE OR DELETE ON trail_events "
    "FOR EACH ROW EXECUTE FUNCTION trail_events_append_only()",
    "CREATE TRIGGER trail_events_no_truncate BEFORE TRUNCATE ON trail_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION trail_events_append_only()",
)
SQLITE_HEAD_STATEMENTS = (
    "CREATE TRIGGER trail_head_forward_only BEFORE UPDATE ON trail_head "
    "WHEN NEW.id IS NOT OLD.id OR NEW.seq <= OLD.seq "
    "OR NEW.hash IS NOT (SELECT hash FROM trail_events WHERE seq = NEW.seq) "
    "BEGIN SELECT RAISE(ABORT, 'trail_head only moves forward, to the last event'); END",
    "CREATE TRIGGER trail_head_no_delete BEFORE DELETE ON trail_head "
    "BEGIN SELECT RAISE(ABORT, 'trail_head cannot be deleted'); END",
)
POSTGRESQL_HEAD_STATEMENTS = (
    "CREATE FUNCTION trail_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "IF TG_OP <> 'UPDATE' THEN RAISE EXCEPTION 'trail_head cannot be deleted'; END IF; "
    "IF NEW.id <> OLD.id OR NEW.seq <= OLD.seq OR NEW.hash IS DISTINCT FROM "
    "(SELECT hash FROM trail_events WHERE seq = NEW.seq) THEN "
    "RAISE EXCEPTION 'trail_head only moves forward, to the last event'; END IF; "
    "RETURN NEW; END $$",
    "CREATE TRIGGER trail_head_forward BEFORE UPDATE OR DELETE ON trail_head "
    "FOR EACH ROW EXECUTE FUNCTION trail_head_forward_only()",
    "CREATE TRIGGER trail_head_no_truncate BEFORE TRUNCATE ON trail_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION trail_head_forward_only()",
)
SQLITE_HEAD_DROP = (
    "DROP TRIGGER IF EXISTS trail_head_forward_only",
    "DROP TRIGGER IF EXISTS trail_head_no_delete",
)
POSTGRESQL_HEAD_DROP = ("DROP FUNCTION IF EXISTS trail_head_forward_only() CASCADE",)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS trail_events_no_update",
    "DROP TRIGGER IF EXISTS trail_events_no_delete",
)
POSTGRESQL_DROP = ("DROP FUNCTION IF EXISTS trail_events_append_only() CASCADE",)


def statements_for(dialect_name: str, *, drop: bool = False) -> tuple[str, ...]:
    if dialect_name == "sqlite":
        return SQLITE_DROP if drop else SQLITE_STATEMENTS
    if dialect_name == "postgresql":
        return POSTGRESQL_DROP if drop else POSTGRESQL_STATEMENTS
    return ()


def head_statements_for(dialect_name: str, *, drop: bool = False) -> tuple[str, ...]:
    if dialect_name == "sqlite":
        return SQLITE_HEAD_DROP if drop else SQLITE_HEAD_STATEMENTS
    if dialect_name == "postgresql":
        return POSTGRESQL_HEAD_DROP if drop else POSTGRESQL_HEAD_STATEMENTS
    return ()


def install(connection: Connection) -> None:
    """The events' guard (as the first migration installed it)."""
    for statement in statements_for(connection.dialect.name):
        connection.exec_driver_sql(statement)


def uninstall(connection: Connection) -> None:
    for statement in statements_for(connection.dialect.name, drop=True):
        connection.exec_driver_sql(statement)


def install_head_guard(connection: Connection) -> None:
    for statement in head_statements_for(connection.dialect.name):
        connection.exec_driver_sql(statement)


def uninstall_head_guard(connection: Connection) -> None:
    for statement in head_statements_for(connection.dialect.name, drop=True):
        connection.exec_driver_sql(statement)


def attach_to(table: Table, *, head: bool = False) -> None:
    """Make ``metadata.create_all`` install the guard after creating the table (the
    events' guard, or with ``head`` the head's)."""
    statements = head_statements_for if head else statements_for
    for dialect_name in ("sqlite", "postgresql"):
        for statement in statements(dialect_name):
            ddl = DDL(statement)  # type: ignore[no-untyped-call]
            event.listen(table, "after_create", ddl.execute_if(dialect=dialect_name))
