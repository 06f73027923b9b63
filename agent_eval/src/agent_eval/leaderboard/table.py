"""Aggregation: evaluations and imported reference values become one leaderboard per benchmark.

Pure functions over plain lists, so they are tested without a database. An agent is its label
(or, without one, its image) plus provider and model; a trial is a harness run (an evaluation
without a run id is a trial of its own); a re-evaluation of the same run replaces the earlier one.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from agent_contracts.results import EvaluationResult
from agent_eval.leaderboard.stats import (
    PASS_AT,
    SUCCESS_THRESHOLD,
    Estimate,
    capability_level,
    mean_interval,
    pass_at_k,
)
from agent_eval.scores import score as score_value
from agent_tasks.spec import TaskSpec

Metric = Literal["relative", "absolute", "raw"]
"""``relative``: normalised score (baseline 0, reference 100); ``absolute``: improvement over
the baseline in %; ``raw``: the primary metric's own value."""

METRICS: tuple[Metric, ...] = ("relative", "absolute", "raw")

TrialsMode = Literal["mean", "best"]
"""How trials become one number: their mean (default) or the best of them (labelled)."""

RowKind = Literal["agent", "published", "reference"]
"""``agent``: recorded evaluations; ``published``: an imported agent result; ``reference``: an
imported reference such as the top human entry (shown, never ranked)."""

DEFAULT_REFERENCE_LABEL = "top human in competition"
"""An imported row with this name (any case), or with a task's ``reference_label``, is the
reference row: shown above the ranking, never ranked."""

METRIC_LABELS: dict[str, str] = {
    "relative": "relative improvement to reference (baseline 0, reference 100)",
    "absolute": "absolute improvement over baseline, %",
    "raw": "raw primary metric",
}


@dataclass(frozen=True)
class AgentKey:
    """Who an evaluation belongs to."""

    name: str
    provider: str | None = None
    model: str | None = None

    @property
    def display(self) -> str:
        """The name shown in tables: the label, with the model when the label lacks it."""
        if self.model and self.model not in self.name:
            return f"{self.name} ({self.model})"
        return self.name


@dataclass(frozen=True)
class EvaluationRecord:
    """What the leaderboard needs of one evaluation (read from a results file or the database)."""

    evaluation_id: str
    run_id: str | None
    task: str
    benchmark: str
    agent_label: str | None
    agent_image: str | None
    agent_provider: str | None
    agent_model: str | None
    status: str
    primary_metric: str
    raw: float | None
    """Raw primary value; None when it was not computed."""
    constraints_passed: bool
    finished_at: datetime
    normalised: float | None = None
    """Normalised score as stored (used only when the catalogue no longer has the task)."""
    absolute: float | None = None
    """Improvement over the baseline in % as stored (same use)."""
    tokens: int | None = None
    """Model-API tokens (input plus output) of the evaluated run, when its record has them."""
    cost_usd: float | None = None
    """Model-API cost of the evaluated run in USD, when its record has it."""
    model_format: str | None = None
    """Format of what was evaluated (``code``: the evaluator re-ran the agent's code)."""


def record_of(result: EvaluationResult | EvaluationRecord) -> EvaluationRecord:
    """The leaderboard's view of a results file: the row the store would write, ranked from the
    same columns as a row read back from the database."""
    from agent_eval.store.rows import evaluation_row, ranking_columns

    if isinstance(result, EvaluationRecord):
        return result
    return EvaluationRecord(**ranking_columns(evaluation_row(result, result.finished_at)))


def agent_of(record: EvaluationRecord) -> AgentKey:
    """The agent an evaluation belongs to (label, else image; plus provider and model)."""
    name = record.agent_label or record.agent_image or "unknown agent"
    return AgentKey(name, record.agent_provider, record.agent_model)


@dataclass(frozen=True)
class ReferenceValue:
    """One imported, published number: an agent's (or the top human's) result on one task."""

    agent_label: str
    task: str
    benchmark: str
    metric: Metric
    value: float
    source: str


@dataclass(frozen=True)
class Trial:
    """One run of an agent on a task, as its latest evaluation scored it."""

    trial_id: str
    evaluation_id: str
    status: str
    raw: float | None
    relative: float | None
    absolute: float | None
    tokens: int | None = None
    cost_usd: float | None = None

    @property
    def valid(self) -> bool:
        """True when the trial produced a usable primary value."""
        return self.raw is not None

    @property
    def level(self) -> int:
        """MLRC-Bench capability level (1 when nothing valid was produced)."""
        return capability_level(self.relative if self.valid else None)

    def value(self, metric: Metric) -> float | None:
        """This trial's number in a metric."""
        return {"relative": self.relative, "absolute": self.absolute, "raw": self.raw}[metric]


@dataclass(frozen=True)
class MetricStat:
    """One metric of one cell: the mean over trials with its interval, and the best trial."""

    estimate: Estimate | None
    best: float | None

    def value(self, trials: TrialsMode) -> float | None:
        """The number shown for this trials mode."""
        if trials == "best":
            return self.best
        return self.estimate.mean if self.estimate else None


@dataclass(frozen=True)
class Cell:
    """What a row says about one task."""

    metrics: dict[str, MetricStat]
    n_trials: int = 0
    n_valid: int = 0
    n_success: int = 0
    pass_at: dict[int, float | None] = field(default_factory=dict)
    levels: dict[int, int] = field(default_factory=dict)
    tokens_per_run: float | None = None
    """Mean model-API tokens per trial, over the trials whose run recorded them."""
    cost_usd_per_run: float | None = None
    """Mean model-API cost per trial in USD, over the trials whose run recorded it."""

    def value(self, metric: Metric, trials: TrialsMode) -> float | None:
        """The number shown for this metric and trials mode (None: missing)."""
        stat = self.metrics.get(metric)
        return stat.value(trials) if stat else None


@dataclass(frozen=True)
class Row:
    """One line of the leaderboard: an agent, a published result, or a reference."""

    agent: str
    kind: RowKind
    cells: dict[str, Cell]
    source: str | None = None
    provider: str | None = None
    model: str | None = None
    n_trials: int = 0
    tokens_per_run: float | None = None
    """Mean model-API tokens per run over the row's trials that recorded them."""
    cost_usd_per_run: float | None = None
    """Mean model-API cost per run in USD over the row's trials that recorded it."""


@dataclass(frozen=True)
class TaskColumn:
    """A task shown as a column, with what the page needs to describe it."""

    name: str
    title: str
    short: str
    spec: TaskSpec | None = None

    @property
    def direction(self) -> str:
        """Direction of the raw primary metric."""
        return self.spec.primary.direction if self.spec else "higher"

    @property
    def baseline(self) -> float | None:
        """Raw baseline value, when known."""
        return self.spec.anchors.baseline if self.spec else None


@dataclass(frozen=True)
class Board:
    """The leaderboard of one benchmark, with every metric and both trials modes."""

    benchmark: str
    tasks: list[TaskColumn]
    rows: list[Row]

    def columns_for(self, tasks: Sequence[str] | None = None) -> list[TaskColumn]:
        """The columns of the selected tasks (all when none are named), in board order."""
        if tasks is None:
            return list(self.tasks)
        wanted = set(tasks)
        return [c for c in self.tasks if c.name in wanted]


def short_name(spec: TaskSpec) -> str:
    """A compact column header for a task."""
    title = re.sub(r"\s*\([^)]*\)$", "", spec.title)  # "LLM merging (MLRC-Bench)"
    title = title.split(": ", 1)[0]  # "LLM Merging: one generalist from many experts"
    if len(title) <= 30:
        return title
    family = spec.benchmark.split("_")[0] + "_"
    name = spec.name.removeprefix(f"{spec.benchmark}_").removeprefix(family)
    words = name.replace("_", " ").replace("-", " ")
    return words[:1].upper() + words[1:]  # "product_recommendation" -> "Product recommendation"


def trial_of(record: EvaluationRecord, spec: TaskSpec | None) -> Trial:
    """One evaluation as a trial (no score when it errored or broke a checked constraint).

    Scores are recomputed with the current spec's anchors, so one board uses one scale; the
    stored score is used only for a task the catalogue no longer has. A primary metric the
    evaluator does not measure itself yet (a number the agent could have written, such as a
    self-reported inference time) gives no score, even from a results file that holds one; so
    does a re-run-only metric (TWE) of a result whose output the evaluator did not produce by
    re-running the code itself.
    """
    from agent_eval.metrics.registry import rerun_only_metrics, unmeasured_metrics

    trial_id = record.run_id or f"evaluation:{record.evaluation_id}"
    raw = record.raw
    if (
        record.status == "error"
        or not record.constraints_passed
        or raw is None
        or not math.isfinite(raw)
        or record.primary_metric in unmeasured_metrics()
        or (record.primary_metric in rerun_only_metrics() and record.model_format != "code")
    ):
        return Trial(
            trial_id, record.evaluation_id, record.status, None, None, None,
            record.tokens, record.cost_usd,
        )  # fmt: skip
    # A chance level measured on the scored rows is only in the stored score: keep that one.
    if (
        spec is not None
        and spec.primary_metric == record.primary_metric
        and not spec.primary.chance_measured
    ):
        scored = score_value(spec, raw)
        relative, absolute = scored.normalised, scored.absolute_improvement_pct
    else:
        relative, absolute = record.normalised, record.absolute
    return Trial(
        trial_id, record.evaluation_id, record.status, raw, relative, absolute,
        record.tokens, record.cost_usd,
    )  # fmt: skip


def _best(values: Sequence[float], metric: Metric, direction: str) -> float | None:
    if not values:
        return None
    if metric == "raw" and direction == "lower":
        return min(values)
    return max(values)


def cell_of(trials: Sequence[Trial], direction: str = "higher") -> Cell:
    """Statistics of one agent on one task over its trials."""
    metrics: dict[str, MetricStat] = {}
    for metric in METRICS:
        values = [v for t in trials if (v := t.value(metric)) is not None]
        metrics[metric] = MetricStat(mean_interval(values), _best(values, metric, direction))
    scoreable = any(t.relative is not None for t in trials)
    n = len(trials)
    success = sum(1 for t in trials if t.relative is not None and t.relative >= SUCCESS_THRESHOLD)
    levels: dict[int, int] = defaultdict(int)
    pass_at: dict[int, float | None] = {}
    if scoreable or all(not t.valid for t in trials):
        for t in trials:
            levels[t.level] += 1
        pass_at = {k: pass_at_k(n, success, k) for k in PASS_AT}
    return Cell(
        metrics=metrics,
        n_trials=n,
        n_valid=sum(1 for t in trials if t.valid),
        n_success=success,
        pass_at=pass_at,
        levels=dict(sorted(levels.items())),
        tokens_per_run=usage_per_run([t.tokens for t in trials]),
        cost_usd_per_run=usage_per_run([t.cost_usd for t in trials]),
    )


def usage_per_run(values: Sequence[float | None]) -> float | None:
    """The mean of the known values (None when no trial's run recorded any)."""
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _latest_per_trial(results: Iterable[EvaluationRecord]) -> list[EvaluationRecord]:
    latest: dict[str, EvaluationRecord] = {}
    for r in results:
        key = r.run_id or f"evaluation:{r.evaluation_id}"
        seen = latest.get(key)
        if seen is None or (r.finished_at, r.evaluation_id) > (
            seen.finished_at,
            seen.evaluation_id,
        ):
            latest[key] = r
    return list(latest.values())


def _columns(benchmark: str, specs: Sequence[TaskSpec], extra: Iterable[str]) -> list[TaskColumn]:
    columns = [
        TaskColumn(s.name, s.title, short_name(s), s) for s in specs if s.benchmark == benchmark
    ]
    known = {c.name for c in columns}
    columns += [TaskColumn(name, name, name) for name in sorted(set(extra) - known)]
    return columns


def build_boards(
    evaluations: Iterable[EvaluationResult | EvaluationRecord],
    references: Iterable[ReferenceValue],
    specs: Sequence[TaskSpec],
    *,
    benchmarks: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
) -> list[Board]:
    """One board per benchmark that has data (or per benchmark asked for).

    ``specs`` gives the column order and the anchors; ``tasks`` limits the columns.
    """
    by_spec = {s.name: s for s in specs}
    evs: dict[str, list[EvaluationRecord]] = defaultdict(list)
    for ev in evaluations:
        rec = record_of(ev)
        evs[rec.benchmark].append(rec)
    refs: dict[str, list[ReferenceValue]] = defaultdict(list)
    for ref in references:
        refs[ref.benchmark].append(ref)
    names = list(benchmarks) if benchmarks else sorted(set(evs) | set(refs))
    boards = []
    for bench in names:
        seen_tasks = {e.task for e in evs[bench]} | {r.task for r in refs[bench]}
        columns = _columns(bench, specs, seen_tasks)
        if tasks:
            wanted = set(tasks)
            columns = [c for c in columns if c.name in wanted]
        boards.append(_board(bench, columns, evs[bench], refs[bench], by_spec))
    return boards


def _board(
    benchmark: str,
    columns: list[TaskColumn],
    evaluations: list[EvaluationRecord],
    references: list[ReferenceValue],
    specs: Mapping[str, TaskSpec],
) -> Board:
    shown = {c.name for c in columns}
    direction = {c.name: c.direction for c in columns}
    grouped: dict[AgentKey, dict[str, list[EvaluationRecord]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for ev in evaluations:
        if ev.task in shown:
            grouped[agent_of(ev)][ev.task].append(ev)
    rows: list[Row] = []
    for key, per_task in grouped.items():
        cells: dict[str, Cell] = {}
        trial_ids: set[str] = set()
        every: dict[str, Trial] = {}
        for task, results in per_task.items():
            trials = [trial_of(r, specs.get(task)) for r in _latest_per_trial(results)]
            trial_ids.update(t.trial_id for t in trials)
            every.update((t.trial_id, t) for t in trials)
            cells[task] = cell_of(trials, direction[task])
        rows.append(
            Row(
                key.display, "agent", cells, None, key.provider, key.model, len(trial_ids),
                tokens_per_run=usage_per_run([t.tokens for t in every.values()]),
                cost_usd_per_run=usage_per_run([t.cost_usd for t in every.values()]),
            )
        )  # fmt: skip
    imported: dict[tuple[str, str], dict[str, dict[str, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for ref in references:
        if ref.task in shown:
            imported[(ref.agent_label, ref.source)][ref.task][ref.metric] = ref.value
    reference_labels = {DEFAULT_REFERENCE_LABEL} | {
        c.spec.anchors.reference_label.casefold() for c in columns if c.spec
    }
    for (label, source), per_task_values in imported.items():
        is_reference = label.casefold() in reference_labels
        ref_cells = {
            task: Cell(metrics={m: MetricStat(Estimate(mean=v, n=1), v) for m, v in values.items()})
            for task, values in per_task_values.items()
        }
        rows.append(Row(label, "reference" if is_reference else "published", ref_cells, source))
    return Board(benchmark, columns, rows)


@dataclass(frozen=True)
class RankedRow:
    """A row as one view shows it: values of the selected tasks, average, rank and medal."""

    row: Row
    values: dict[str, float | None]
    average: float | None
    covered: int
    rank: int | None
    medal: str | None


MEDALS = ("🥇", "🥈", "🥉")


def average(values: Iterable[float | None]) -> tuple[float | None, int]:
    """Mean over the tasks that have a value, and how many they are (missing is never 0)."""
    present = [v for v in values if v is not None]
    if not present:
        return None, 0
    return math.fsum(present) / len(present), len(present)


def rank_rows(
    board: Board,
    metric: Metric = "relative",
    trials: TrialsMode = "mean",
    tasks: Sequence[str] | None = None,
) -> list[RankedRow]:
    """Rows of one view, ordered: references first, then ranked rows by average.

    The average is the mean over the selected tasks the row has; rows covering every selected
    task rank before rows that miss some, and only complete rows earn medals. The raw metric has
    no cross-task average, so its rows keep the order (and ranks) of the relative view.
    """
    selected = [c.name for c in board.columns_for(tasks)]
    order_metric: Metric = "relative" if metric == "raw" else metric
    out: list[RankedRow] = []
    refs: list[RankedRow] = []
    ranked: list[tuple[tuple[int, int, float], RankedRow]] = []
    for row in board.rows:
        values = {
            t: (row.cells[t].value(metric, trials) if t in row.cells else None) for t in selected
        }
        if row.kind != "agent" and all(v is None for v in values.values()):
            continue  # an imported row with nothing in this metric says nothing here
        key_values = {
            t: (row.cells[t].value(order_metric, trials) if t in row.cells else None)
            for t in selected
        }
        avg, covered = average(key_values.values())
        shown_avg = avg if metric != "raw" else None
        item = RankedRow(row, values, shown_avg, covered, None, None)
        if row.kind == "reference":
            refs.append(item)
            continue
        sort_key = (
            0 if avg is None else 1,
            covered,
            avg if avg is not None else -math.inf,
        )
        ranked.append((sort_key, item))
    ranked.sort(key=lambda pair: pair[0], reverse=True)
    out.extend(refs)
    previous: tuple[int, int, float] | None = None
    rank = 0
    for position, (sort_key, item) in enumerate(ranked, start=1):
        if sort_key != previous:
            rank = position
            previous = sort_key
        complete = selected and item.covered == len(selected)
        medal = MEDALS[rank - 1] if complete and rank <= len(MEDALS) else None
        out.append(RankedRow(item.row, item.values, item.average, item.covered, rank, medal))
    return out
