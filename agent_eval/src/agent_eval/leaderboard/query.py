"""What the views read: recorded evaluations and imported references, checked against filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent_eval.leaderboard.importing import ReferenceBatch
from agent_eval.leaderboard.table import Board, EvaluationRecord, ReferenceValue, build_boards
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


def load_boards(
    store: Store,
    benchmark: str | None = None,
    tasks: Sequence[str] | None = None,
    *,
    every_benchmark: bool = False,
) -> list[Board]:
    """The boards for this selection, from the store (empty list: nothing recorded at all).

    ``every_benchmark``: without a selection, one board per catalogue benchmark even where
    nothing is recorded yet (the page shows every task's details from the start).
    """
    chosen = select(store, benchmark, tasks)
    evaluations = records(store, chosen.benchmarks, chosen.tasks)
    if chosen.benchmarks is None:
        stored = store.references()
    else:
        stored = [r for b in chosen.benchmarks for r in store.references(b, chosen.tasks)]
    specs = list_tasks()
    benchmarks = chosen.benchmarks
    if benchmarks is None and every_benchmark:
        recorded = {e.benchmark for e in evaluations} | {r.benchmark for r in stored}
        benchmarks = sorted({s.benchmark for s in specs} | recorded)
    if benchmarks is None and not evaluations and not stored:
        return []
    references = [
        ReferenceValue(r.agent_label, r.task, r.benchmark, r.metric_kind, r.value, r.source)
        for r in stored
    ]
    return build_boards(evaluations, references, specs, benchmarks=benchmarks, tasks=chosen.tasks)


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
