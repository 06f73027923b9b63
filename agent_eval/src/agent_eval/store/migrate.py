"""Bring a database's schema to the newest migration, with Alembic, from inside the package."""

from __future__ import annotations

from importlib.resources import as_file, files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text

from agent_eval.errors import DatabaseError

_LOCK_KEY = 0x4D4C5242  # "MLRB": one advisory lock, so two first runs do not race on PostgreSQL


def _config(location: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", location)
    return cfg


def head_revision() -> str:
    """The newest revision shipped with this version of the package."""
    with as_file(files("agent_eval") / "migrations") as location:
        head = ScriptDirectory.from_config(_config(str(location))).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None for an empty database)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> bool:
    """Upgrade the database to the newest revision; False when it already was there.

    The upgrade runs in one transaction holding a lock (PostgreSQL: an advisory lock; SQLite: the
    write lock), so evaluators starting together on an empty database do not race.
    """
    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return False
    with (
        as_file(files("agent_eval") / "migrations") as location,
        engine.connect() as conn,
    ):
        conn.execution_options(sqlite_lock=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            at = current_revision(conn)
            if at == head:  # another process got there first
                return False
            cfg = _config(str(location))
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, "head")
            except CommandError as exc:
                raise DatabaseError(
                    f"the database schema is at revision {at!r}, which this version of "
                    f"agent-eval does not know ({exc})",
                    hint="upgrade mlrbench-eval to the version that wrote this database",
                ) from None
    return True


def fill_from_results(conn: Connection, columns: dict[str, tuple[str, ...]]) -> None:
    """Fill ``evaluations`` columns from each stored results file (``result_json``), for a
    migration that starts keeping a field the stored files already hold: column name -> the
    field's path in the file (a missing step leaves the column's value as it is).

    A migration names the paths itself, so it keeps doing what it did when the model changes.
    """
    import sqlalchemy as sa

    table = sa.table(
        "evaluations",
        sa.column("evaluation_id", sa.String()),
        sa.column("result_json", sa.JSON()),
        *(sa.column(name) for name in columns),
    )
    rows = conn.execute(sa.select(table.c.evaluation_id, table.c.result_json)).all()
    for evaluation_id, document in rows:
        values = {}
        for name, path in columns.items():
            found: object = document or {}
            for step in path:
                found = found.get(step) if isinstance(found, dict) else None
            if found is not None:
                values[name] = found
        if values:
            conn.execute(
                table.update().where(table.c.evaluation_id == evaluation_id).values(**values)
            )
