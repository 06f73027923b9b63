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
