"""Aggregation: evaluations and imported reference values become one leaderboard per benchmark.

Pure functions over plain lists, so they are tested without a database. An agent is its label
(or, without one, its image) plus provider and model; a trial is a harness run (an evaluation
without a run id is a trial of its own); a re-evaluation of the same run replaces the earlier one.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from agent_contracts.results import EvaluationResult, SeriesPoint
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
    run_duration_s: float | None = None
    """Wall time of the evaluated run (the agent's working time), when its record has it."""
    gpu_count: int | None = None
    """GPUs the evaluated run was given (None: unknown, e.g. ``--gpus all``)."""
    working_time_s: float | None = None
    """Working time of the evaluated run (wall time less the time stalled on the provider),
    when its record has it."""
    elapsed_s: float | None = None
    """The moment of the run this record's score stands for, in seconds from its start, in a
    view at a time budget (None: the evaluation of the final deliverable as recorded)."""

    @property
    def gpu_hours(self) -> float | None:
        """GPUs x wall time of the run, in hours (None when either is unknown)."""
        if self.gpu_count is None or self.run_duration_s is None:
            return None
        return self.gpu_count * self.run_duration_s / 3600.0


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
    gpu_hours: float | None = None
    run_hours: float | None = None
    working_hours: float | None = None
    """Working time of the run in hours (wall time less the time stalled on the provider)."""
    run_id: str | None = None
    """The harness run (None: an evaluation of a folder given by hand)."""
    elapsed_s: float | None = None
    """In a view at a time budget, the moment of the run whose score this is (seconds)."""

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
    samples: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Per metric, the valid trials' values (what the bootstrap resamples)."""
    trials: tuple[Trial, ...] = ()
    """The trials themselves (each links to its run's page)."""

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
    gpu_hours_per_run: float | None = None
    """Mean GPUs x wall hours per run over the row's trials whose run recorded both."""
    run_hours_per_run: float | None = None
    """Mean wall hours per run over the trials that recorded it."""
    working_hours_per_run: float | None = None
    """Mean working hours per run (wall time less the time stalled on the provider) over the
    trials whose run recorded it."""
    cost_usd_total: float | None = None
    """Model-API cost of all the row's trials that recorded it, in USD."""
    tokens_total: int | None = None
    """Model-API tokens of all the row's trials that recorded them."""
    gpu_hours_total: float | None = None
    """GPU-hours of all the row's trials that recorded them."""


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
class ApartTrial:
    """A trial a view at a time budget does not rank: its run has no scored moment at or
    before the budget (no ``--over-time`` series, or its first snapshot came later)."""

    trial_id: str
    evaluation_id: str
    task: str
    agent: str
    why: str


@dataclass(frozen=True)
class Board:
    """The leaderboard of one benchmark, with every metric and both trials modes."""

    benchmark: str
    tasks: list[TaskColumn]
    rows: list[Row]
    at_s: float | None = None
    """The time budget the scores stand at, in seconds of each run (None: final scores)."""
    apart: tuple[ApartTrial, ...] = ()
    """Trials left out at that budget, and why."""

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


@dataclass(frozen=True)
class UnscoredMetrics:
    """Primary metrics that give no score: not measured by the evaluator yet, or counted only
    from its own re-run of the code (looked up once per board, not once per trial)."""

    unmeasured: frozenset[str]
    rerun_only: frozenset[str]

    @classmethod
    def current(cls) -> UnscoredMetrics:
        """The metric registry's sets as they are now."""
        from agent_eval.metrics.registry import rerun_only_metrics, unmeasured_metrics

        return cls(frozenset(unmeasured_metrics()), frozenset(rerun_only_metrics()))


def trial_of(
    record: EvaluationRecord, spec: TaskSpec | None, unscored: UnscoredMetrics | None = None
) -> Trial:
    """One evaluation as a trial (no score when it errored or broke a checked constraint).

    Scores are recomputed with the current spec's anchors, so one board uses one scale; the
    stored score is used only for a task the catalogue no longer has. A primary metric the
    evaluator does not measure itself yet (a number the agent could have written, such as a
    self-reported inference time) gives no score, even from a results file that holds one; so
    does a re-run-only metric (TWE) of a result whose output the evaluator did not produce by
    re-running the code itself.
    """
    unscored = unscored or UnscoredMetrics.current()
    trial_id = record.run_id or f"evaluation:{record.evaluation_id}"
    raw = record.raw
    if (
        record.status == "error"
        or not record.constraints_passed
        or raw is None
        or not math.isfinite(raw)
        or record.primary_metric in unscored.unmeasured
        or (record.primary_metric in unscored.rerun_only and record.model_format != "code")
    ):
        return Trial(
            trial_id, record.evaluation_id, record.status, None, None, None,
            record.tokens, record.cost_usd, record.gpu_hours, hours(record.run_duration_s),
            hours(record.working_time_s), record.run_id, record.elapsed_s,
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
        record.tokens, record.cost_usd, record.gpu_hours, hours(record.run_duration_s),
        hours(record.working_time_s), record.run_id, record.elapsed_s,
    )  # fmt: skip


def hours(seconds: float | None) -> float | None:
    """Seconds as hours (None stays None)."""
    return None if seconds is None else seconds / 3600.0


def _best(values: Sequence[float], metric: Metric, direction: str) -> float | None:
    if not values:
        return None
    if metric == "raw" and direction == "lower":
        return min(values)
    return max(values)


def cell_of(trials: Sequence[Trial], direction: str = "higher") -> Cell:
    """Statistics of one agent on one task over its trials."""
    metrics: dict[str, MetricStat] = {}
    samples: dict[str, tuple[float, ...]] = {}
    for metric in METRICS:
        values = [v for t in trials if (v := t.value(metric)) is not None]
        metrics[metric] = MetricStat(mean_interval(values), _best(values, metric, direction))
        samples[metric] = tuple(values)
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
        samples=samples,
        trials=tuple(trials),
    )


def usage_per_run(values: Sequence[float | None]) -> float | None:
    """The mean of the known values (None when no trial's run recorded any)."""
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def usage_total(values: Sequence[float | None]) -> float | None:
    """The sum of the known values (None when no trial's run recorded any)."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


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
    at_s: float | None = None,
    apart: Iterable[tuple[str, ApartTrial]] = (),
) -> list[Board]:
    """One board per benchmark that has data (or per benchmark asked for).

    ``specs`` gives the column order and the anchors; ``tasks`` limits the columns. ``at_s``
    and ``apart`` (benchmark, trial) describe a view at a time budget (:func:`at_budget`).
    """
    left: dict[str, list[ApartTrial]] = defaultdict(list)
    for bench_name, trial in apart:
        left[bench_name].append(trial)
    by_spec = {s.name: s for s in specs}
    evs: dict[str, list[EvaluationRecord]] = defaultdict(list)
    for ev in evaluations:
        rec = record_of(ev)
        evs[rec.benchmark].append(rec)
    refs: dict[str, list[ReferenceValue]] = defaultdict(list)
    for ref in references:
        refs[ref.benchmark].append(ref)
    names = list(benchmarks) if benchmarks else sorted(set(evs) | set(refs) | set(left))
    boards = []
    for bench in names:
        seen_tasks = {e.task for e in evs[bench]} | {r.task for r in refs[bench]}
        seen_tasks |= {t.task for t in left[bench]}
        columns = _columns(bench, specs, seen_tasks)
        if tasks:
            wanted = set(tasks)
            columns = [c for c in columns if c.name in wanted]
        board = _board(bench, columns, evs[bench], refs[bench], by_spec)
        shown = {c.name for c in columns}
        kept = tuple(t for t in left[bench] if t.task in shown)
        boards.append(dataclasses.replace(board, at_s=at_s, apart=kept))
    return boards


def at_budget(
    record: EvaluationRecord, series: Sequence[SeriesPoint], budget_s: float
) -> EvaluationRecord | str:
    """The evaluation as it stood ``budget_s`` seconds into its run: the last point of its
    score-over-time series (``agent-eval --over-time``) at or before the budget, or why there is
    none (a string). The final deliverable's point is the evaluation itself (the run had ended
    by then); a snapshot's point takes its status, score and constraint checks (a series
    recorded before points kept them has none, so none can fail there)."""
    from agent_contracts.durations import describe

    if not series:
        return "no score over time (evaluate the run with agent-eval --over-time)"
    points = sorted(series, key=lambda p: p.elapsed_s)
    reached = [p for p in points if p.elapsed_s <= budget_s]
    if not reached:
        first = points[0]
        return (
            f"no snapshot at or before {describe(int(budget_s))}: its first scored moment is at "
            f"{describe(int(first.elapsed_s))}"
        )
    point = reached[-1]
    if point.final:
        return dataclasses.replace(record, elapsed_s=point.elapsed_s)
    score = point.score
    primary = next((m for m in point.metrics if m.name == record.primary_metric), None)
    raw = score.raw if score is not None else (primary.value if primary else None)
    return dataclasses.replace(
        record,
        status=point.status,
        raw=raw,
        normalised=score.normalised if score else None,
        absolute=score.absolute_improvement_pct if score else None,
        constraints_passed=point.constraints_passed,
        elapsed_s=point.elapsed_s,
    )


def _board(
    benchmark: str,
    columns: list[TaskColumn],
    evaluations: list[EvaluationRecord],
    references: list[ReferenceValue],
    specs: Mapping[str, TaskSpec],
) -> Board:
    shown = {c.name for c in columns}
    direction = {c.name: c.direction for c in columns}
    unscored = UnscoredMetrics.current()
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
            trials = [trial_of(r, specs.get(task), unscored) for r in _latest_per_trial(results)]
            trial_ids.update(t.trial_id for t in trials)
            every.update((t.trial_id, t) for t in trials)
            cells[task] = cell_of(trials, direction[task])
        runs = list(every.values())
        rows.append(
            Row(
                key.display, "agent", cells, None, key.provider, key.model, len(trial_ids),
                tokens_per_run=usage_per_run([t.tokens for t in runs]),
                cost_usd_per_run=usage_per_run([t.cost_usd for t in runs]),
                gpu_hours_per_run=usage_per_run([t.gpu_hours for t in runs]),
                run_hours_per_run=usage_per_run([t.run_hours for t in runs]),
                working_hours_per_run=usage_per_run([t.working_hours for t in runs]),
                cost_usd_total=usage_total([t.cost_usd for t in runs]),
                tokens_total=_int(usage_total([t.tokens for t in runs])),
                gpu_hours_total=usage_total([t.gpu_hours for t in runs]),
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
            task: Cell(
                metrics={m: MetricStat(Estimate(mean=v, n=1), v) for m, v in values.items()},
                samples={m: (v,) for m, v in values.items()},
            )
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
