"""Database-level guard: trail events may be inserted, never updated or deleted.

The hash chain *detects* tampering; these triggers *prevent* accidents (a stray UPDATE from
a maintenance script). The same statements are used by ``create_all`` and by the migrations.
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


def install(connection: Connection) -> None:
    for statement in statements_for(connection.dialect.name):
        connection.exec_driver_sql(statement)


def uninstall(connection: Connection) -> None:
    for statement in statements_for(connection.dialect.name, drop=True):
        connection.exec_driver_sql(statement)


def attach_to(table: Table) -> None:
    """Make ``metadata.create_all`` install the guard after creating the table."""
    for dialect_name in ("sqlite", "postgresql"):
        for statement in statements_for(dialect_name):
            ddl = DDL(statement)  # type: ignore[no-untyped-call]
            event.listen(table, "after_create", ddl.execute_if(dialect=dialect_name))
