"""What the views read: recorded evaluations and imported references, checked against filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent_contracts.results import SeriesPoint
from agent_eval.leaderboard.importing import ReferenceBatch
from agent_eval.leaderboard.table import (
    ApartTrial,
    Board,
    EvaluationRecord,
    Metric,
    ReferenceValue,
    agent_of,
    at_budget,
    build_boards,
    rank_rows,
)
from agent_eval.leaderboard.uncertainty import Comparison, Plan
from agent_eval.store import ReferenceRow, Store
from agent_tasks.errors import UnknownBenchmarkError, UnknownTaskError
from agent_tasks.registry import get_task, list_tasks


@dataclass(frozen=True)
class Selection:
    """The benchmarks and tasks a view is limited to (None: everything recorded)."""

    benchmarks: list[str] | None
    tasks: list[str] | None


def select(
    store: Store, benchmark: str | None = None, tasks: Sequence[str] | None = None
) -> Selection:
    """Check ``--benchmark`` and ``--task`` (names or aliases) against the catalogue and data.

    An unknown name is a usage error with a did-you-mean hint (exit 2); a benchmark that the
    catalogue no longer has is accepted while the database still holds results for it.
    """
    if benchmark is not None:
        try:
            list_tasks(benchmark)
        except UnknownBenchmarkError:
            if not (records(store, [benchmark]) or store.references(benchmark)):
                raise
    if not tasks:
        return Selection([benchmark] if benchmark else None, None)
    names: list[str] = []
    for name in tasks:
        spec = get_task(name)
        if benchmark is not None and spec.benchmark != benchmark:
            raise UnknownTaskError(
                f"task {spec.name!r} is not part of benchmark {benchmark!r}",
                hint=f"it belongs to {spec.benchmark!r}; drop --benchmark or pick a task of "
                f"{benchmark!r} (agent-tasks list --benchmark {benchmark})",
            )
        if spec.name not in names:
            names.append(spec.name)
    chosen = [benchmark] if benchmark else sorted({get_task(n).benchmark for n in names})
    return Selection(chosen, names)


def records(
    store: Store, benchmarks: Sequence[str] | None = None, tasks: Sequence[str] | None = None
) -> list[EvaluationRecord]:
    """The rankable evaluations the store holds for this selection (see Store.ranking_rows)."""
    return [EvaluationRecord(**row) for row in store.ranking_rows(benchmarks, tasks)]


def records_at(
    store: Store,
    budget_s: float,
    benchmarks: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
) -> tuple[list[EvaluationRecord], list[tuple[str, ApartTrial]]]:
    """The rankable evaluations as they stood ``budget_s`` seconds into their runs (see
    :func:`~agent_eval.leaderboard.table.at_budget`), and the trials that cannot be placed
    there, by benchmark. Only each trial's latest evaluation counts, as on every board."""
    from pydantic import TypeAdapter

    points = TypeAdapter(list[SeriesPoint])
    placed: list[EvaluationRecord] = []
    apart: list[tuple[str, ApartTrial]] = []
    latest: dict[str, tuple[EvaluationRecord, list[SeriesPoint]]] = {}
    for row in store.ranking_rows(benchmarks, tasks, series=True):
        series = points.validate_python(row.pop("over_time", None) or [])
        record = EvaluationRecord(**row)
        key = record.run_id or f"evaluation:{record.evaluation_id}"
        seen = latest.get(key)
        order = (record.finished_at, record.evaluation_id)
        if seen is None or order > (seen[0].finished_at, seen[0].evaluation_id):
            latest[key] = (record, series)
    for key, (record, series) in latest.items():
        found = at_budget(record, series, budget_s)
        if isinstance(found, str):
            agent = agent_of(record).display
            apart.append(
                (record.benchmark, ApartTrial(key, record.evaluation_id, record.task, agent, found))
            )
        else:
            placed.append(found)
    return placed, apart


def load_boards(
    store: Store,
    benchmark: str | None = None,
    tasks: Sequence[str] | None = None,
    *,
    every_benchmark: bool = False,
    at_s: float | None = None,
) -> list[Board]:
    """The boards for this selection, from the store (empty list: nothing recorded at all).

    ``every_benchmark``: without a selection, one board per catalogue benchmark even where
    nothing is recorded yet (the page shows every task's details from the start). ``at_s``:
    the scores the runs had reached at this time budget (seconds), from their score-over-time
    series; the trials without a scored moment by then are listed apart on each board.
    """
    chosen = select(store, benchmark, tasks)
    apart: list[tuple[str, ApartTrial]] = []
    if at_s is None:
        evaluations = records(store, chosen.benchmarks, chosen.tasks)
    else:
        evaluations, apart = records_at(store, at_s, chosen.benchmarks, chosen.tasks)
    if chosen.benchmarks is None:
        stored = store.references()
    else:
        stored = [r for b in chosen.benchmarks for r in store.references(b, chosen.tasks)]
    specs = list_tasks()
    benchmarks = chosen.benchmarks
    if benchmarks is None and every_benchmark:
        recorded = {e.benchmark for e in evaluations} | {r.benchmark for r in stored}
        recorded |= {bench_name for bench_name, _ in apart}
        benchmarks = sorted({s.benchmark for s in specs} | recorded)
    if benchmarks is None and not evaluations and not stored and not apart:
        return []
    references = [
        ReferenceValue(r.agent_label, r.task, r.benchmark, r.metric_kind, r.value, r.source)
        for r in stored
    ]
    return build_boards(
        evaluations,
        references,
        specs,
        benchmarks=benchmarks,
        tasks=chosen.tasks,
        at_s=at_s,
        apart=apart,
    )


def trials_of(boards: Sequence[Board]) -> list[tuple[str, str]]:
    """(run id, evaluation id) of every trial the boards show that names a harness run."""
    return [
        (trial.run_id, trial.evaluation_id)
        for board in boards
        for row in board.rows
        for cell in row.cells.values()
        for trial in cell.trials
        if trial.run_id is not None
    ]


@dataclass(frozen=True)
class ImportReport:
    """What an import did."""

    source: str
    benchmark: str
    written: int
    new: int
    unchanged: int
    updated: int


def import_batch(store: Store, batch: ReferenceBatch) -> ImportReport:
    """Write a checked reference batch, all or nothing; a re-import adds no duplicates."""
    before = {
        (r.agent_label, r.task, r.metric_kind, r.source): r.value
        for r in store.references(batch.benchmark)
    }
    new = unchanged = updated = 0
    for v in batch.values:
        old = before.get((v.agent_label, v.task, v.metric, v.source))
        if old is None:
            new += 1
        elif old == v.value:
            unchanged += 1
        else:
            updated += 1
    written = store.add_references(
        ReferenceRow(
            agent_label=v.agent_label,
            task=v.task,
            benchmark=v.benchmark,
            metric_kind=v.metric,
            value=v.value,
            source=v.source,
        )
        for v in batch.values
    )
    return ImportReport(batch.source, batch.benchmark, written, new, unchanged, updated)


@dataclass(frozen=True)
class PairedResult:
    """``agent-eval compare``: the paired comparison of two agents, and a trials plan."""

    benchmark: str
    comparison: Comparison
    plan: Plan | None


def compare_agents(
    store: Store,
    agent_a: str,
    agent_b: str,
    benchmark: str | None = None,
    tasks: Sequence[str] | None = None,
    metric: Metric = "relative",
    plan_delta: float | None = None,
    power: float = 0.8,
    database: str | None = None,
) -> PairedResult:
    """Compare two rows of one board (names as the leaderboard shows them) over their common
    tasks; unknown agents, agents on different benchmarks and no common task are usage errors.

    ``database``: how error messages name the store (its URL by default)."""
    from agent_contracts.suggestions import did_you_mean
    from agent_eval.errors import EvalUsageError
    from agent_eval.leaderboard.uncertainty import compare_rows, plan_trials, view_uncertainty

    if agent_a == agent_b:
        raise EvalUsageError(
            f"cannot compare {agent_a!r} with itself", hint="name two different agents"
        )
    boards = [b for b in load_boards(store, benchmark, tasks) if b.rows]
    rows = {
        name: {
            b.benchmark: r
            for b in boards
            for r in b.rows
            if r.agent == name and r.kind != "reference"
        }
        for name in (agent_a, agent_b)
    }
    known = sorted({r.agent for b in boards for r in b.rows if r.kind != "reference"})
    for name, found in rows.items():
        if not found:
            where = f" on benchmark {benchmark!r}" if benchmark else ""
            raise EvalUsageError(
                f"no agent {name!r}{where} in {database or store.url}",
                hint=did_you_mean(name, known, known="agents")
                if known
                else "nothing is recorded yet: evaluate an agent or import published results",
            )
    shared = [b for b in boards if b.benchmark in rows[agent_a] and b.benchmark in rows[agent_b]]
    if not shared:
        raise EvalUsageError(
            f"{agent_a!r} ({', '.join(rows[agent_a])}) and {agent_b!r} "
            f"({', '.join(rows[agent_b])}) have no benchmark in common",
            hint="compare two agents that ran tasks of the same benchmark",
        )
    if len(shared) > 1:
        raise EvalUsageError(
            f"{agent_a!r} and {agent_b!r} both have results on {len(shared)} benchmarks",
            hint="pick one with --benchmark: " + ", ".join(b.benchmark for b in shared),
        )
    board = shared[0]
    a, b = rows[agent_a][board.benchmark], rows[agent_b][board.benchmark]
    ranked = rank_rows(board, metric, "mean", tasks)
    _, resampled = view_uncertainty(board, ranked, metric, "mean", tasks)
    names = [c.name for c in board.columns_for(tasks)]
    comparison = compare_rows(a, b, resampled, metric, names) if resampled else None
    if comparison is None:
        raise EvalUsageError(
            f"{agent_a!r} and {agent_b!r} have no task of {board.benchmark!r} with a valid "
            f"{metric} result in common",
            hint="run both agents on the same task (agent-harness run ... --task TASK --evaluate)",
        )
    plan = None
    if plan_delta is not None and resampled is not None:
        plan = plan_trials(comparison, resampled, a, b, plan_delta, power)
    return PairedResult(board.benchmark, comparison, plan)
