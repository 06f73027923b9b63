"""The database of evaluations: runs, evaluations, metric values and reference results.

The results JSON is the source of truth; the database holds a copy that the views query. Every
write is idempotent (the evaluation id is the key), and every failure to reach or write the
database is a :class:`~agent_eval.errors.DatabaseError` (exit 6) that names the database with its
password masked.
"""

from __future__ import annotations

import gc
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Connection, Engine, Text, cast, create_engine, event, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from agent_eval.errors import DatabaseError, EvalUsageError, ImportFileError
from agent_eval.results import EvaluationResult
from agent_eval.settings import mask_url, resolve_url
from agent_eval.store.schema import (
    METRIC_KINDS,
    EvaluationRow,
    MetricValueRow,
    ReferenceResultRow,
    RunRow,
)

__all__ = [
    "CONNECT_TIMEOUT_S",
    "HistoryEntry",
    "ReferenceRow",
    "Store",
    "StoredReference",
    "record_result",
]

CONNECT_TIMEOUT_S = 5
"""Seconds a PostgreSQL connection attempt may take before the database counts as down."""

MetricKind = Literal["relative", "absolute", "raw"]


class HistoryEntry(BaseModel):
    """One recorded evaluation, as ``agent-eval history`` lists it."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    evaluation_id: str
    run_id: str | None
    task: str
    benchmark: str
    agent_label: str | None
    model_sha256: str | None
    model_format: str
    status: str
    primary_metric: str
    primary_value: float | None
    """Raw value of the primary metric (None when it was not computed)."""
    normalised_score: float | None
    constraints_passed: bool
    started_at: datetime
    finished_at: datetime
    duration_s: float


class ReferenceRow(BaseModel):
    """A published per-task result to import (a paper's table cell, a top human entry ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    agent_label: str = Field(min_length=1)
    """Who achieved it (``Top Human in Competition``, an agent's name ...)."""
    task: str = Field(min_length=1)
    benchmark: str = Field(min_length=1)
    metric_kind: MetricKind
    """``relative`` (normalised score), ``absolute`` (improvement over baseline in %) or ``raw``."""
    value: float
    source: str = Field(min_length=1)
    """Where the number was published (citation or URL)."""

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value


class StoredReference(ReferenceRow):
    """A reference result as stored, with its import batch."""

    id: int
    batch_id: str
    """Id shared by every row imported in the same call."""
    imported_at: datetime


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _reason(exc: BaseException, url: URL) -> str:
    """A one-line cause for a person, with the password scrubbed out if the driver echoed it."""
    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    text = str(cause).strip().splitlines()
    line = text[0] if text else type(cause).__name__
    secret = str(url.password or "")
    if len(secret) >= 4:  # drivers do not echo passwords; this guards odd ones, not short words
        line = line.replace(secret, "***")
    return line


@contextmanager
def _bulk_objects() -> Iterator[None]:
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


def _create_engine(url: URL) -> Engine:
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


def _first(data: Mapping[str, Any], *paths: str) -> Any:
    """The first present, non-empty value among dotted key paths (``agent.image``)."""
    for path in paths:
        node: Any = data
        for key in path.split("."):
            node = node.get(key) if isinstance(node, Mapping) else None
        if node not in (None, ""):
            return node
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _run_row(run: Mapping[str, Any], run_id: str, now: datetime) -> RunRow:
    """A ``runs`` row from a parsed run.json (lenient: unknown or missing keys become NULL)."""
    return RunRow(
        run_id=run_id,
        task=_text(_first(run, "task", "task.name")),
        benchmark=_text(_first(run, "benchmark")),
        agent_label=_text(_first(run, "agent_label", "label", "agent.label", "agent_name")),
        agent_image=_text(_first(run, "image", "agent_image", "agent.image")),
        image_digest=_text(_first(run, "image_digest", "digest", "agent.digest", "image_id")),
        provider=_text(_first(run, "provider", "agent.provider")),
        status=_text(_first(run, "status")),
        exit_code=_number(_first(run, "exit_code"), int),
        started_at=_moment(_first(run, "started_at", "start", "started")),
        finished_at=_moment(_first(run, "finished_at", "ended_at", "end", "finished")),
        duration_s=_number(_first(run, "duration_s", "duration"), float),
        model_calls=_number(_first(run, "model_usage.calls"), int),
        input_tokens=_number(_first(run, "model_usage.input_tokens"), int),
        output_tokens=_number(_first(run, "model_usage.output_tokens"), int),
        cost_usd=_number(_first(run, "model_usage.cost_usd"), float),
        run_json=dict(run),
        recorded_at=now,
    )


def _evaluation_row(result: EvaluationResult, now: datetime) -> EvaluationRow:
    agent = result.agent
    row = EvaluationRow(
        evaluation_id=result.evaluation_id,
        run_id=result.run_id,
        task=result.task,
        benchmark=result.benchmark,
        task_version=result.task_version,
        agent_label=agent.label if agent else None,
        agent_image=agent.image if agent else None,
        agent_provider=agent.provider if agent else None,
        agent_model=agent.model if agent else None,
        model_path=result.model.path,
        model_sha256=result.model.sha256,
        model_format=result.model.format,
        status=result.status,
        primary_metric=result.primary_metric,
        primary_value=result.primary_value,
        normalised_score=result.score.normalised if result.score else None,
        absolute_improvement_pct=result.score.absolute_improvement_pct if result.score else None,
        constraints_passed=result.constraints_passed,
        sample_limit=result.environment.sample_limit,
        data_subset=result.data_subset,
        started_at=_utc(result.started_at),
        finished_at=_utc(result.finished_at),
        duration_s=result.duration_s,
        evaluator_version=result.environment.evaluator_version,
        schema_version=result.schema_version,
        result_json=result.model_dump(mode="json"),
        recorded_at=now,
    )
    row.metrics = [
        MetricValueRow(
            name=m.name,
            value=m.value,
            stderr=m.stderr,
            unit=m.unit,
            direction=m.direction,
            source=m.source,
        )
        for m in result.metrics
    ]
    return row


class Store:
    """An open database, at the newest schema; use as a context manager or call :meth:`close`."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self._url = url
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | None = None, *, results_dir: str | Path | None = None) -> Store:
        """Connect (URL from the environment when None) and migrate to the newest schema."""
        from agent_eval.store.migrate import upgrade

        resolved = resolve_url(url, results_dir=results_dir)
        store = cls(_create_engine(resolved), resolved)
        try:
            with store._errors():
                upgrade(store._engine)
        except BaseException:
            store.close()
            raise
        return store

    @property
    def url(self) -> str:
        """The database URL with its password masked."""
        return mask_url(self._url)

    @property
    def backend(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return self._url.get_backend_name()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and read-only views)."""
        return self._engine

    def close(self) -> None:
        """Release every connection."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise DatabaseError(
                f"database {self.url} cannot be used: {_reason(exc, self._url)}",
                hint="check DATABASE_URL (or DB_USER, DB_HOST, DB_PORT, DB_NAME) and that the "
                "database server is running",
            ) from None

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._errors(), self._sessions() as session:
            yield session

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A session in one transaction that holds the write lock from its start on SQLite.

        Otherwise two writers that both read first would deadlock, and SQLite fails one at once.
        """
        with self._session() as session, session.begin():
            session.connection(execution_options={"sqlite_lock": True})
            yield session

    # -- writes --------------------------------------------------------------------------------

    def record(self, result: EvaluationResult, run: Mapping[str, Any] | None = None) -> bool:
        """Store one result (and its run); False when this evaluation id was already stored."""
        return self.record_many([result], run=run)[0] == 1

    def record_many(
        self, results: Iterable[EvaluationResult], run: Mapping[str, Any] | None = None
    ) -> tuple[int, int]:
        """Store results in one transaction; return (added, already present)."""
        batch = list(results)
        run_id = self._run_id(batch, run)
        added = present = 0
        try:
            with self._writing() as session:
                now = _now()
                if run is not None and run_id is not None:
                    self._put_run(session, run, run_id, now)
                ids = [r.evaluation_id for r in batch]
                known = set(
                    session.scalars(
                        select(EvaluationRow.evaluation_id).where(
                            EvaluationRow.evaluation_id.in_(ids)
                        )
                    )
                )
                for result in batch:
                    if result.evaluation_id in known:
                        present += 1
                        continue
                    known.add(result.evaluation_id)
                    if result.run_id is not None and session.get(RunRow, result.run_id) is None:
                        session.add(self._stub_run(result, now))
                        session.flush()
                    session.add(_evaluation_row(result, now))
                    added += 1
        except DatabaseError:
            if len(batch) == 1 and self._exists(batch[0].evaluation_id):
                return 0, 1  # written meanwhile by another process: nothing to do
            raise
        return added, present

    @staticmethod
    def _run_id(batch: Sequence[EvaluationResult], run: Mapping[str, Any] | None) -> str | None:
        if run is None:
            return None
        given = _first(run, "run_id", "id")
        linked = {r.run_id for r in batch if r.run_id is not None}
        if given is not None and linked and linked != {str(given)}:
            raise EvalUsageError(
                f"run record {given!r} does not match the result's run id "
                f"{', '.join(sorted(linked))!r}",
                hint="pass the run.json of the run the result was evaluated from",
            )
        run_id = str(given) if given is not None else (next(iter(linked)) if linked else None)
        if run_id is None:
            raise EvalUsageError(
                "the run record has no run_id and the result names no run",
                hint="pass the run.json written by agent-harness",
            )
        return run_id

    @staticmethod
    def _put_run(session: Session, run: Mapping[str, Any], run_id: str, now: datetime) -> None:
        existing = session.get(RunRow, run_id)
        if existing is None:
            session.add(_run_row(run, run_id, now))
            session.flush()
        elif existing.run_json is None:  # a stub from a result synced before its run record
            full = _run_row(run, run_id, now)
            for column in [c.key for c in RunRow.__table__.columns]:
                if column != "run_id":
                    setattr(existing, column, getattr(full, column))
            session.flush()

    @staticmethod
    def _stub_run(result: EvaluationResult, now: datetime) -> RunRow:
        assert result.run_id is not None
        agent = result.agent
        return RunRow(
            run_id=result.run_id,
            task=result.task,
            benchmark=result.benchmark,
            agent_label=agent.label if agent else None,
            agent_image=agent.image if agent else None,
            provider=agent.provider if agent else None,
            run_json=None,
            recorded_at=now,
        )

    def _exists(self, evaluation_id: str) -> bool:
        try:
            with self._session() as session:
                return session.get(EvaluationRow, evaluation_id) is not None
        except DatabaseError:
            return False

    def add_references(self, rows: Iterable[ReferenceRow | Mapping[str, Any]]) -> int:
        """Import published results, all or nothing; return the rows written.

        A row with the same agent, task, metric kind and source as a stored one replaces its
        value. A malformed row, or two rows with the same key, is an
        :class:`~agent_eval.errors.ImportFileError` naming the row, and nothing is written.
        """
        checked: list[ReferenceRow] = []
        seen: dict[tuple[str, str, str, str], int] = {}
        for index, row in enumerate(rows):
            try:
                item = row if isinstance(row, ReferenceRow) else ReferenceRow.model_validate(row)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}"
                    for e in exc.errors()
                )
                raise ImportFileError(
                    f"reference row {index} is malformed ({problems}); nothing was imported",
                    hint="each row needs agent_label, task, benchmark, "
                    f"metric_kind ({'|'.join(METRIC_KINDS)}), value and source",
                ) from None
            key = (item.agent_label, item.task, item.metric_kind, item.source)
            if key in seen:
                raise ImportFileError(
                    f"reference rows {seen[key]} and {index} both give {item.metric_kind} "
                    f"for {item.agent_label!r} on {item.task!r} from the same source; "
                    "nothing was imported",
                    hint="keep one value per agent, task, metric kind and source",
                )
            seen[key] = index
            checked.append(item)
        batch_id = uuid.uuid4().hex
        now = _now()
        with self._writing() as session:
            for item in checked:
                existing = session.scalars(
                    select(ReferenceResultRow).where(
                        ReferenceResultRow.agent_label == item.agent_label,
                        ReferenceResultRow.task == item.task,
                        ReferenceResultRow.metric_kind == item.metric_kind,
                        ReferenceResultRow.source == item.source,
                    )
                ).one_or_none()
                if existing is None:
                    session.add(
                        ReferenceResultRow(**item.model_dump(), batch_id=batch_id, imported_at=now)
                    )
                else:
                    existing.value = item.value
                    existing.benchmark = item.benchmark
                    existing.batch_id = batch_id
                    existing.imported_at = now
                session.flush()
        return len(checked)

    # -- reads ---------------------------------------------------------------------------------

    def evaluations(
        self,
        task: str | None = None,
        benchmark: str | None = None,
        tasks: Sequence[str] | None = None,
    ) -> list[EvaluationResult]:
        """Stored results (oldest first), parsed back from their JSON; filters combine."""
        # The JSON text straight to pydantic: no Python dicts in between.
        query = select(EvaluationRow.evaluation_id, cast(EvaluationRow.result_json, Text))
        if task is not None:
            query = query.where(EvaluationRow.task == task)
        if tasks is not None:
            query = query.where(EvaluationRow.task.in_(list(tasks)))
        if benchmark is not None:
            query = query.where(EvaluationRow.benchmark == benchmark)
        query = query.order_by(EvaluationRow.started_at, EvaluationRow.evaluation_id)
        with self._session() as session:
            stored = session.execute(query).all()
        parsed: list[EvaluationResult] = []
        with _bulk_objects():
            for evaluation_id, document in stored:
                try:
                    parsed.append(EvaluationResult.model_validate_json(document))
                except ValidationError as exc:
                    raise DatabaseError(
                        f"stored evaluation {evaluation_id!r} in {self.url} does not parse as a "
                        f"results file ({exc.error_count()} problems)",
                        hint="it was written by a different version of agent-eval",
                    ) from None
        return parsed

    def history(self, task: str | None = None, limit: int | None = None) -> list[HistoryEntry]:
        """Recorded evaluations, newest first."""
        columns = [getattr(EvaluationRow, name) for name in HistoryEntry.model_fields]
        query = select(*columns)
        if task is not None:
            query = query.where(EvaluationRow.task == task)
        query = query.order_by(EvaluationRow.started_at.desc(), EvaluationRow.evaluation_id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._session() as session:
            rows = session.execute(query).mappings().all()
        with _bulk_objects():
            return [
                HistoryEntry.model_validate(
                    {
                        **row,
                        "started_at": _utc(row["started_at"]),
                        "finished_at": _utc(row["finished_at"]),
                    }
                )
                for row in rows
            ]

    def references(
        self, benchmark: str | None = None, tasks: Sequence[str] | None = None
    ) -> list[StoredReference]:
        """Imported reference results, by benchmark, task, agent and metric kind."""
        query = select(ReferenceResultRow)
        if benchmark is not None:
            query = query.where(ReferenceResultRow.benchmark == benchmark)
        if tasks is not None:
            query = query.where(ReferenceResultRow.task.in_(list(tasks)))
        query = query.order_by(
            ReferenceResultRow.benchmark,
            ReferenceResultRow.task,
            ReferenceResultRow.agent_label,
            ReferenceResultRow.metric_kind,
            ReferenceResultRow.id,
        )
        with self._session() as session:
            return [
                StoredReference(
                    id=r.id,
                    agent_label=r.agent_label,
                    task=r.task,
                    benchmark=r.benchmark,
                    metric_kind=r.metric_kind,
                    value=r.value,
                    source=r.source,
                    batch_id=r.batch_id,
                    imported_at=_utc(r.imported_at),
                )
                for r in session.scalars(query)
            ]

    def run(self, run_id: str) -> dict[str, Any] | None:
        """The stored run record (the run.json as given), or None."""
        with self._session() as session:
            row = session.get(RunRow, run_id)
            return None if row is None else dict(row.run_json or {"run_id": row.run_id})


SYNC_HINT = "the result is saved as JSON; run `agent-eval sync {folder}` when the database is back"


def record_result(
    result: EvaluationResult,
    run: Mapping[str, Any] | None = None,
    url: str | None = None,
    *,
    results_dir: str | Path | None = None,
) -> bool:
    """Record one result (and its run) in the database; False when it was already there.

    The URL is resolved from the environment when None (the SQLite fallback lives in
    ``results_dir``). A database that cannot be reached or written raises
    :class:`~agent_eval.errors.DatabaseError` (exit 6) whose hint names the sync command.
    """
    try:
        with Store.open(url, results_dir=results_dir) as store:
            return store.record(result, run=run)
    except DatabaseError as exc:
        if results_dir is None:
            from agent_eval.settings import load_settings

            results_dir = load_settings().results_dir
        raise DatabaseError(exc.message, hint=SYNC_HINT.format(folder=results_dir)) from None
