"""Opening a database: the engine for a URL (SQLite or PostgreSQL), times, error causes."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from agent_eval.errors import DatabaseError
from agent_eval.settings import mask_url

CONNECT_TIMEOUT_S = 5
"""Seconds a PostgreSQL connection attempt may take before the database counts as down."""


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


def reason(exc: BaseException, url: URL) -> str:
    """A one-line cause for a person, with the password scrubbed out if the driver echoed it."""
    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    text = str(cause).strip().splitlines()
    line = text[0] if text else type(cause).__name__
    secret = str(url.password or "")
    if len(secret) >= 4:  # drivers do not echo passwords; this guards odd ones, not short words
        line = line.replace(secret, "***")
    return line


@contextmanager
def bulk_objects() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many long-lived objects.

    Each collection would walk every object built so far, which made reading 2,000 results five
    times slower; nothing built here forms reference cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def create_store_engine(url: URL) -> Engine:
    backend = url.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "postgresql" and "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    if backend == "sqlite" and url.database and url.database != ":memory:":
        folder = Path(url.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(
                f"database {mask_url(url)} cannot be used: folder {str(folder)!r} cannot be "
                f"created ({exc.strerror or exc})",
                hint="choose a writable results folder (AGENT_EVAL_RESULTS_DIR) or set "
                "DATABASE_URL",
            ) from None
    engine = create_engine(url, connect_args=connect_args)
    if backend == "sqlite":
        # SQLAlchemy, not the driver, starts transactions, so that schema changes are
        # transactional too; a connection marked `sqlite_lock` takes the write lock at once.
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            immediate = connection.get_execution_options().get("sqlite_lock", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
