"""Settings of the evaluator read from the environment, and the database URL they resolve to."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from agent_eval.errors import EvalUsageError

SQLITE_FILENAME = "mlrb.sqlite"
"""Name of the embedded database file inside the results folder."""

_DB_PARTS = ("DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_NAME")
_DB_REQUIRED = ("DB_USER", "DB_HOST", "DB_NAME")


class EvalSettings(BaseSettings):
    """Environment settings of ``agent-eval`` (prefix ``AGENT_EVAL_``; database names as is)."""

    model_config = SettingsConfigDict(
        env_prefix="AGENT_EVAL_",
        env_ignore_empty=True,
        extra="ignore",
        use_attribute_docstrings=True,
    )

    results_dir: Path = Path("results")
    """Folder of the results files and of the embedded SQLite file (``AGENT_EVAL_RESULTS_DIR``)."""
    database_url: SecretStr | None = Field(default=None, validation_alias="DATABASE_URL")
    """Full SQLAlchemy URL of the database; wins over the ``DB_*`` parts."""
    db_user: str | None = Field(default=None, validation_alias="DB_USER")
    """PostgreSQL user."""
    db_password: SecretStr | None = Field(default=None, validation_alias="DB_PASSWORD")
    """PostgreSQL password (never printed)."""
    db_host: str | None = Field(default=None, validation_alias="DB_HOST")
    """PostgreSQL host."""
    db_port: int | None = Field(default=None, validation_alias="DB_PORT", gt=0, lt=65536)
    """PostgreSQL port (the driver's default, 5432, when unset)."""
    db_name: str | None = Field(default=None, validation_alias="DB_NAME")
    """PostgreSQL database name."""


def load_settings() -> EvalSettings:
    """Read the settings from the environment; a malformed value is a usage error (exit 2)."""
    try:
        return EvalSettings()
    except ValidationError as exc:
        names = sorted({_env_name(err["loc"]) for err in exc.errors()})
        raise EvalUsageError(
            f"invalid database or evaluator setting in the environment: {', '.join(names)}",
            hint="DB_PORT must be a port number; unset empty or malformed variables",
        ) from None


def _env_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    return field.upper() if field.startswith("DB_") or field == "DATABASE_URL" else field


def resolve_url(
    url: str | None = None,
    *,
    results_dir: str | Path | None = None,
    settings: EvalSettings | None = None,
) -> URL:
    """The database URL: ``url``, else ``DATABASE_URL``, else ``DB_*`` (PostgreSQL), else SQLite.

    The SQLite fallback is ``<results_dir>/mlrb.sqlite``; ``results_dir`` defaults to the
    ``AGENT_EVAL_RESULTS_DIR`` setting (``results/``).
    """
    if url is not None:
        return parse_url(url, source="the database URL given")
    settings = settings or load_settings()
    if settings.database_url is not None:
        return parse_url(settings.database_url.get_secret_value(), source="DATABASE_URL")
    given = {
        "DB_USER": settings.db_user,
        "DB_PASSWORD": settings.db_password,
        "DB_HOST": settings.db_host,
        "DB_PORT": settings.db_port,
        "DB_NAME": settings.db_name,
    }
    if any(value is not None for value in given.values()):
        missing = [name for name in _DB_REQUIRED if given[name] is None]
        if missing:
            present = [name for name in _DB_PARTS if given[name] is not None]
            raise EvalUsageError(
                f"database settings incomplete: {', '.join(missing)} not set "
                f"(found {', '.join(present)})",
                hint="set DB_USER, DB_HOST and DB_NAME (DB_PASSWORD, DB_PORT optional), "
                "or DATABASE_URL, or none of them for the embedded SQLite file",
            )
        return _postgres_url(settings)
    folder = Path(results_dir) if results_dir is not None else settings.results_dir
    return URL.create("sqlite+pysqlite", database=str(folder / SQLITE_FILENAME))


def _postgres_url(settings: EvalSettings) -> URL:
    assert settings.db_user and settings.db_host and settings.db_name
    user = quote(settings.db_user, safe="")
    auth = user
    if settings.db_password is not None:
        auth += ":" + quote(settings.db_password.get_secret_value(), safe="")
    host = settings.db_host
    if ":" in host and not host.startswith("["):  # an IPv6 literal
        host = f"[{host}]"
    port = f":{settings.db_port}" if settings.db_port is not None else ""
    name = quote(settings.db_name, safe="")
    return parse_url(f"postgresql+psycopg2://{auth}@{host}{port}/{name}", source="DB_*")


DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg2", "sqlite": "sqlite+pysqlite"}
"""Driver used when a URL names only the database (SQLAlchemy's own default may be missing)."""


def parse_url(text: str, *, source: str) -> URL:
    """Parse a database URL; ``postgres://`` and ``postgresql://`` mean psycopg2.

    The URL's driver must be installed and synchronous; otherwise a usage error (exit 2).
    """
    candidate = text.strip()
    if candidate.startswith("postgres://"):
        candidate = "postgresql://" + candidate[len("postgres://") :]
    try:
        parsed = make_url(candidate)
    except (ArgumentError, ValueError):
        # The text may hold a password: never echo it.
        raise EvalUsageError(
            f"{source} is not a valid database URL",
            hint="expected e.g. postgresql+psycopg2://user:password@host:5432/name "
            "or sqlite:///path/to/file.sqlite",
        ) from None
    if parsed.get_backend_name() not in {"postgresql", "sqlite"}:
        raise EvalUsageError(
            f"{source} names an unsupported database {parsed.get_backend_name()!r}",
            hint="use PostgreSQL (postgresql+psycopg2://...) or SQLite (sqlite:///...)",
        )
    if parsed.drivername in DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=DEFAULT_DRIVERS[parsed.drivername])
    _check_driver(parsed, source)
    return parsed


def _check_driver(url: URL, source: str) -> None:
    """The URL's driver can be loaded and is not an asyncio driver."""
    from sqlalchemy.exc import NoSuchModuleError

    try:
        dialect = url.get_dialect()
        dialect.import_dbapi()
    except (NoSuchModuleError, ImportError):
        raise EvalUsageError(
            f"{source} names the database driver {url.drivername!r}, which is not installed",
            hint="use postgresql+psycopg2://... (or postgresql://) or sqlite:///...",
        ) from None
    if getattr(dialect, "is_async", False):
        raise EvalUsageError(
            f"{source} names the asyncio driver {url.drivername!r}, which cannot be used here",
            hint="use postgresql+psycopg2://... (or postgresql://) or sqlite:///...",
        )


def mask_url(url: URL | str) -> str:
    """The URL as shown to a person: the password replaced by ``***``."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except (ArgumentError, ValueError):
            return "<unparseable database URL>"
    return url.render_as_string(hide_password=True)
