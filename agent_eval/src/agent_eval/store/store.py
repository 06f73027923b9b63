"""The store: records results (and their runs) idempotently, and reads them back for the views.

The results JSON is the source of truth; the database holds a copy that the views query. Every
write is idempotent (the evaluation id is the key), and every failure to reach or write the
database is a :class:`~agent_eval.errors.DatabaseError` (exit 6) that names the database with its
password masked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, Text, cast, exists, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from agent_contracts.results import EvaluationResult
from agent_contracts.run_record import RunRecord
from agent_eval.errors import DatabaseError, EvalUsageError, ImportFileError
from agent_eval.ranking import DUPLICATE_REASON
from agent_eval.settings import mask_url, resolve_url
from agent_eval.store.engine import bulk_objects, create_store_engine, now_utc, reason, utc
from agent_eval.store.rows import RANKING_COLUMNS, evaluation_row, run_row, stub_run_row
from agent_eval.store.schema import (
    EVALUATIONS,
    METRIC_KINDS,
    EvaluationRow,
    ReferenceResultRow,
    RunRow,
)
from agent_eval.store.views import HistoryEntry, ReferenceRow, StoredReference


def _why(not_ranked: str | None, twice: bool | None) -> str | None:
    """The stored reasons, and the duplicate one where it applies (None: ranked)."""
    return "; ".join(w for w in (not_ranked, DUPLICATE_REASON if twice else None) if w) or None


def counted_under_a_run(e: ReadOnlyColumnCollection[str, Any]) -> Any:
    """True for an evaluation naming no run whose model (same sha256, same task) an evaluation
    of a run already has: it is not counted twice (``e``: the ``evaluations`` columns)."""
    other = EVALUATIONS.alias("other").c
    return (
        e.run_id.is_(None)
        & e.model_sha256.is_not(None)
        & exists().where(
            other.run_id.is_not(None),
            other.task == e.task,
            other.model_sha256 == e.model_sha256,
        )
    )


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
        store = cls(create_store_engine(resolved), resolved)
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
                f"database {self.url} cannot be used: {reason(exc, self._url)}",
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

    def record(self, result: EvaluationResult, run: RunRecord | None = None) -> bool:
        """Store one result (and its run); False when this evaluation id was already stored."""
        return self.record_many([result], run=run)[0] == 1

    def record_many(
        self, results: Iterable[EvaluationResult], run: RunRecord | None = None
    ) -> tuple[int, int]:
        """Store results in one transaction; return (added, already present)."""
        batch = list(results)
        self._check_run(batch, run)
        added = present = 0
        try:
            with self._writing() as session:
                now = now_utc()
                if run is not None:
                    self._put_run(session, run, now)
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
                        session.add(stub_run_row(result, now))
                        session.flush()
                    session.add(evaluation_row(result, now))
                    added += 1
        except DatabaseError:
            if len(batch) == 1 and self._exists(batch[0].evaluation_id):
                return 0, 1  # written meanwhile by another process: nothing to do
            raise
        return added, present

    @staticmethod
    def _check_run(batch: Sequence[EvaluationResult], run: RunRecord | None) -> None:
        """A run record given with results must be theirs."""
        if run is None:
            return
        linked = {r.run_id for r in batch if r.run_id is not None}
        if linked and linked != {run.run_id}:
            raise EvalUsageError(
                f"run record {run.run_id!r} does not match the result's run id "
                f"{', '.join(sorted(linked))!r}",
                hint="pass the run.json of the run the result was evaluated from",
            )

    @staticmethod
    def _put_run(session: Session, run: RunRecord, now: datetime) -> None:
        existing = session.get(RunRow, run.run_id)
        if existing is None:
            session.add(run_row(run, now))
            session.flush()
        elif existing.run_json is None:  # a stub from a result synced before its run record
            full = run_row(run, now)
            for column in [c.key for c in RunRow.__table__.columns]:
                if column != "run_id":
                    setattr(existing, column, getattr(full, column))
            session.flush()

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
        now = now_utc()
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
        e = EVALUATIONS.c
        query = select(e.evaluation_id, cast(e.result_json, Text))
        if task is not None:
            query = query.where(e.task == task)
        if tasks is not None:
            query = query.where(e.task.in_(list(tasks)))
        if benchmark is not None:
            query = query.where(e.benchmark == benchmark)
        query = query.order_by(e.started_at, e.evaluation_id)
        with self._session() as session:
            stored = session.execute(query).all()
        parsed: list[EvaluationResult] = []
        with bulk_objects():
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

    def ranking_rows(
        self,
        benchmarks: Sequence[str] | None = None,
        tasks: Sequence[str] | None = None,
        *,
        series: bool = False,
    ) -> list[dict[str, Any]]:
        """What the leaderboard ranks, straight from the tables (no results file parsed back).

        Every rankable evaluation under :data:`~agent_eval.store.rows.RANKING_COLUMNS` (one with
        a ``not_ranked`` reason, such as a quick check with ``--limit``, a subset of the data,
        conditions other than the task's or no run or agent named, is kept in history, never
        ranked; so is a model already counted under a run), plus its run's model-API use
        (``tokens``, ``cost_usd``, wall and working time; None without a run record). With
        ``series``, also the result's score over time (``over_time``: its JSON list, empty when
        it has none).
        """
        e, r = EVALUATIONS.c, RunRow
        columns = [e[column].label(name) for name, column in RANKING_COLUMNS.items()]
        if series:
            columns.append(e.result_json["over_time"].label("over_time"))
        query = select(*columns, *_run_usage()).outerjoin(r, r.run_id == e.run_id)
        query = query.where(
            e.sample_limit.is_(None), e.data_subset.is_(False), e.not_ranked.is_(None)
        )
        query = query.where(~counted_under_a_run(e))
        if benchmarks is not None:
            query = query.where(e.benchmark.in_(list(benchmarks)))
        if tasks is not None:
            query = query.where(e.task.in_(list(tasks)))
        with self._errors(), self.engine.connect() as conn:
            return [_with_gpu_count(row._asdict()) for row in conn.execute(query).all()]

    def left_out(
        self, benchmarks: Sequence[str] | None = None, tasks: Sequence[str] | None = None
    ) -> list[tuple[str, str, str | None, str]]:
        """The evaluations :meth:`ranking_rows` leaves out: (evaluation id, task, agent, why)."""
        e = EVALUATIONS.c
        twice = counted_under_a_run(e)
        query = select(e.evaluation_id, e.task, e.agent_label, e.not_ranked, twice.label("twice"))
        query = query.where(
            e.sample_limit.is_not(None)
            | e.data_subset.is_(True)
            | e.not_ranked.is_not(None)
            | twice
        )
        if benchmarks is not None:
            query = query.where(e.benchmark.in_(list(benchmarks)))
        if tasks is not None:
            query = query.where(e.task.in_(list(tasks)))
        query = query.order_by(e.started_at, e.evaluation_id)
        with self._errors(), self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            (row.evaluation_id, row.task, row.agent_label, _why(row.not_ranked, row.twice) or "")
            for row in rows
        ]

    def standing(self, evaluation_id: str) -> str | None:
        """Why this recorded evaluation is not ranked (None: it is), the model counted twice
        included (which only the database can tell)."""
        e = EVALUATIONS.c
        query = select(e.not_ranked, counted_under_a_run(e).label("twice"))
        query = query.where(e.evaluation_id == evaluation_id)
        with self._errors(), self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _why(row.not_ranked, row.twice)

    def history(self, task: str | None = None, limit: int | None = None) -> list[HistoryEntry]:
        """Recorded evaluations, newest first, with their run's cost where it was recorded."""
        e = EVALUATIONS.c
        columns = [e[name] for name in HistoryEntry.model_fields if name not in RUN_USAGE_FIELDS]
        twice = counted_under_a_run(e).label("counted_twice")
        query = select(*columns, twice, *_run_usage())
        query = query.outerjoin(RunRow, RunRow.run_id == e.run_id)
        if task is not None:
            query = query.where(e.task == task)
        query = query.order_by(e.started_at.desc(), e.evaluation_id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._session() as session:
            rows = session.execute(query).mappings().all()
        with bulk_objects():
            return [
                HistoryEntry.model_validate(
                    {
                        **_with_gpu_count(dict(row)),
                        "started_at": utc(row["started_at"]),
                        "finished_at": utc(row["finished_at"]),
                        "not_ranked": _why(row["not_ranked"], row["counted_twice"]),
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
                    imported_at=utc(r.imported_at),
                )
                for r in session.scalars(query)
            ]

    def result(self, evaluation_id: str) -> EvaluationResult | None:
        """One stored result, parsed back from its JSON (None: no such evaluation)."""
        query = select(cast(EvaluationRow.result_json, Text)).where(
            EvaluationRow.evaluation_id == evaluation_id
        )
        with self._session() as session:
            document = session.execute(query).scalar_one_or_none()
        if document is None:
            return None
        try:
            return EvaluationResult.model_validate_json(document)
        except ValidationError as exc:
            raise DatabaseError(
                f"stored evaluation {evaluation_id!r} in {self.url} does not parse as a results "
                f"file ({exc.error_count()} problems)",
                hint="it was written by a different version of agent-eval",
            ) from None

    def run(self, run_id: str) -> dict[str, Any] | None:
        """The stored run record (run.json as the harness wrote it), or None."""
        with self._session() as session:
            row = session.get(RunRow, run_id)
            return None if row is None else dict(row.run_json or {"run_id": row.run_id})


RUN_USAGE_FIELDS = ("tokens", "cost_usd", "run_duration_s", "working_time_s", "gpu_count")
"""What a view reads of an evaluation's run record beside the evaluation (None without one)."""


def _run_usage() -> list[Any]:
    """The run's model-API use, wall time and GPU selection, as labelled columns."""
    r = RunRow
    return [
        (r.input_tokens + r.output_tokens).label("tokens"),
        r.cost_usd.label("cost_usd"),
        r.duration_s.label("run_duration_s"),
        r.run_json["working_time_s"].as_float().label("working_time_s"),
        r.run_json["gpus"].label("gpus"),
    ]


def _with_gpu_count(row: dict[str, Any]) -> dict[str, Any]:
    """Replace run.json's GPU selection by its count: a list of ids counts them; ``"all"`` (the
    ids were not recorded) and a missing record are unknown."""
    gpus = row.pop("gpus", None)
    row["gpu_count"] = len(gpus) if isinstance(gpus, list) else None
    return row


SYNC_HINT = "the result is saved as JSON; run `agent-eval sync {folder}` when the database is back"


def record_result(
    result: EvaluationResult,
    run: RunRecord | None = None,
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
