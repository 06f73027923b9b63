"""Alembic environment: runs on the connection ``Store.open`` passes, or on the resolved URL.

``target_metadata`` is the tables of ``agent_eval.store.schema``, whose ``evaluations`` columns
are derived from the results model: ``alembic revision --autogenerate`` writes the migration of
a newly marked results field from it (docs/database.md).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from agent_eval.store.schema import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("connection") is None:
    from logging.config import fileConfig

    fileConfig(config.config_file_name)
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the database the product (or the ``alembic`` command line) points at."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from agent_eval.settings import resolve_url

    url = config.get_main_option("sqlalchemy.url") or None
    engine = create_engine(resolve_url(url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade head --sql``)."""
    from agent_eval.settings import resolve_url

    url = config.get_main_option("sqlalchemy.url") or None
    context.configure(url=resolve_url(url), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
