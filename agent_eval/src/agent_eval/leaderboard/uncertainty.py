"""Uncertainty of a ranked view: the average's interval, rank stability, ties and paired tests.

One stratified bootstrap per view: every cell's valid trials (one agent, one task) are resampled
with replacement on their own, by ``scipy.stats.bootstrap`` with a fixed seed, so a view gives the
same numbers every time. A row's average over its tasks, the rank it would take, the difference
between two rows: each is computed in every resample from the same resampled cell means, and its
interval is the percentile interval of those resamples. A cell with a single trial (and an
imported, published number) cannot be resampled and is held at its value; a row with such a cell
gets no interval. The paired test between two agents is ``scipy.stats.permutation_test`` with sign
flips of the per-task differences (exact when the tasks are few).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent_eval.leaderboard.stats import CONFIDENCE
from agent_eval.leaderboard.table import Board, Metric, RankedRow, Row, TrialsMode

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

RESAMPLES = 1000
"""Bootstrap resamples per view (a share in ``rank_stability`` is known to about ±1.5 %)."""

SEED = 20_250_101
"""Seed of every resampling, so the same data always gives the same intervals."""

METHOD = "percentile"
"""How an interval is read off the resamples (stated in the JSON and the docs)."""

PERMUTATIONS = 9999
"""Sign-flip permutations of the paired test; with 2**tasks below this the test is exact."""

BATCH = 250
"""Resamples drawn at once (bounds memory on a 10,000-evaluation board)."""

RowKey = tuple[str, str, str | None]
"""A row's identity on a board: agent, kind, source."""


def row_key(row: Row) -> RowKey:
    """The identity of a row within its board."""
    return (row.agent, row.kind, row.source)


@dataclass(frozen=True)
class RowUncertainty:
    """What the resampling says about one ranked row."""

    average_ci: tuple[float, float] | None
    """Percentile interval of the cross-task average (None: a cell has one trial, or the row is
    imported)."""
    rank_stability: float | None
    """Share of resamples in which the row holds its rank (None: the row has no average)."""
    tied_with_next: bool | None
    """True when the interval of the difference to the next ranked row (same coverage) contains
    0; None when there is no such row or either row has no interval."""


@dataclass(frozen=True)
class Resampled:
    """Bootstrap draws of every cell mean of one view (one metric, the mean of trials)."""

    cells: dict[tuple[RowKey, str], int]
    """(row, task) -> index of the cell in ``observed`` and ``draws``."""
    observed: NDArray[np.float64]
    """The cells' means."""
    draws: NDArray[np.float64]
    """Cells x resamples: each cell's mean in each resample."""
    samples: dict[tuple[RowKey, str], tuple[float, ...]]
    """The valid trial values of each cell."""


def resample_cells(
    samples: Mapping[tuple[RowKey, str], Sequence[float]],
    n_resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Resampled:
    """Resample each cell's trials on its own (a stratified bootstrap through scipy)."""
    import numpy as np
    from scipy.stats import bootstrap

    keys = [k for k, v in samples.items() if len(v) > 0]
    # scipy needs two values per sample; one value repeated resamples to itself (held fixed).
    data = [np.asarray(samples[k] if len(samples[k]) > 1 else 2 * [samples[k][0]]) for k in keys]
    if not keys:
        empty = np.zeros((0, n_resamples))
        return Resampled({}, np.zeros(0), empty, {})

    def cell_means(*xs: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
        return np.stack([x.mean(axis=axis) for x in xs])

    result = bootstrap(
        data,
        cell_means,
        n_resamples=n_resamples,
        batch=BATCH,
        vectorized=True,
        method=METHOD,
        confidence_level=CONFIDENCE,
        rng=np.random.default_rng(seed),
    )
    draws = np.asarray(result.bootstrap_distribution, dtype=float).reshape(len(keys), -1)
    observed = cell_means(*data)
    return Resampled(
        {k: i for i, k in enumerate(keys)},
        observed,
        draws,
        {k: tuple(samples[k]) for k in keys},
    )


def percentile_interval(draws: NDArray[np.float64]) -> tuple[float, float]:
    """The central ``CONFIDENCE`` share of the draws (the percentile method)."""
    import numpy as np

    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def view_samples(
    board: Board, metric: Metric, selected: Sequence[str]
) -> dict[tuple[RowKey, str], tuple[float, ...]]:
    """The valid trial values of every non-reference cell of the selected tasks."""
    out: dict[tuple[RowKey, str], tuple[float, ...]] = {}
    for row in board.rows:
        if row.kind == "reference":
            continue
        for task in selected:
            cell = row.cells.get(task)
            values = cell.samples.get(metric) if cell else None
            if values:
                out[(row_key(row), task)] = values
    return out


def _held_fixed(row: Row, tasks: Sequence[str], resampled: Resampled) -> bool:
    """True when some cell of the row has fewer than two trials (or the row is imported)."""
    return row.kind != "agent" or any(len(resampled.samples[(row_key(row), t)]) < 2 for t in tasks)


def view_uncertainty(
    board: Board,
    ranked: Sequence[RankedRow],
    metric: Metric,
    trials: TrialsMode,
    tasks: Sequence[str] | None = None,
) -> tuple[dict[RowKey, RowUncertainty], Resampled | None]:
    """Interval of the average, rank stability and ties of one ranked view.

    Only the mean over trials of a metric with an average (relative, absolute) has them; other
    views get an empty mapping.
    """
    import numpy as np

    if trials != "mean" or metric == "raw":
        return {}, None
    selected = [c.name for c in board.columns_for(tasks)]
    resampled = resample_cells(view_samples(board, metric, selected))
    items = [r for r in ranked if r.rank is not None and r.average is not None]
    if not items:
        return {}, resampled
    covered_tasks = [[t for t in selected if (row_key(r.row), t) in resampled.cells] for r in items]
    averages = np.stack(
        [
            resampled.draws[[resampled.cells[(row_key(r.row), t)] for t in ts]].mean(axis=0)
            for r, ts in zip(items, covered_tasks, strict=True)
        ]
    )  # rows x resamples
    coverage = np.array([len(ts) for ts in covered_tasks])
    # The rank a row takes in a resample: 1 + rows ahead of it (more tasks, or as many and a
    # higher average), the rule of rank_rows, applied to the resampled averages.
    # One row at a time keeps memory at rows x resamples, whatever the number of agents.
    out: dict[RowKey, RowUncertainty] = {}
    for i, r in enumerate(items):
        more = (coverage > coverage[i])[:, None]
        same = (coverage == coverage[i])[:, None]
        rank = 1 + (more | (same & (averages > averages[i]))).sum(axis=0)
        fixed = _held_fixed(r.row, covered_tasks[i], resampled)
        ci = None if fixed else percentile_interval(averages[i])
        tied: bool | None = None
        if i + 1 < len(items) and coverage[i] == coverage[i + 1]:
            nxt = items[i + 1]
            if not (fixed and r.row.kind == "agent") and not (
                _held_fixed(nxt.row, covered_tasks[i + 1], resampled) and nxt.row.kind == "agent"
            ):
                low, high = percentile_interval(averages[i] - averages[i + 1])
                tied = low <= 0 <= high
        stability = float(np.mean(rank == r.rank))
        out[row_key(r.row)] = RowUncertainty(ci, stability, tied)
    return out, resampled


@dataclass(frozen=True)
class TaskDifference:
    """Two agents on one task: their means over valid trials and the difference."""

    task: str
    mean_a: float
    mean_b: float
    difference: float
    p_a_beats_b: float
    """Share of (trial of A, trial of B) pairs that A wins (a draw counts half)."""


@dataclass(frozen=True)
class Plan:
    """Trials per task and agent needed to detect a difference of the average."""

    delta: float
    power: float
    alpha: float
    trials_per_task: int | None
    """None when no task has two trials of each agent to estimate the spread from."""
    tasks_with_spread: int
    """Tasks whose trial variances (of both agents) the plan uses."""
    reason: str | None = None


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two rows over the tasks both have a valid result on."""

    agent_a: str
    agent_b: str
    metric: Metric
    tasks: list[TaskDifference]
    """Per common task, ordered by the size of the difference (largest first)."""
    only_a: list[str]
    only_b: list[str]
    mean_difference: float
    ci: tuple[float, float] | None
    """Percentile bootstrap interval of the mean difference (None when neither agent has a cell
    with two trials: nothing to resample)."""
    p_value: float
    """Two-sided sign-flip permutation test of the per-task differences."""
    exact: bool
    """True when the permutation test enumerated every sign pattern."""
    p_a_beats_b: float
    """Mean over common tasks of the per-task probability that a run of A beats a run of B."""
    wins: int
    losses: int
    draws: int


def _superiority(a: Sequence[float], b: Sequence[float]) -> float:
    wins = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    return wins / (len(a) * len(b))


def sign_flip_test(a: Sequence[float], b: Sequence[float], seed: int = SEED) -> tuple[float, bool]:
    """Two-sided paired permutation test (signs of the differences flipped); p and exactness."""
    import numpy as np
    from scipy.stats import permutation_test

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or np.all(x == y):
        return 1.0, True  # one task: both sign patterns are as extreme (and scipy needs two)

    def mean_difference(
        u: NDArray[np.float64], v: NDArray[np.float64], axis: int = -1
    ) -> NDArray[np.float64]:
        return np.mean(u - v, axis=axis)

    result = permutation_test(
        (x, y),
        mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=PERMUTATIONS,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return float(min(1.0, result.pvalue)), 2 ** len(x) <= PERMUTATIONS


def compare_rows(
    a: Row, b: Row, resampled: Resampled, metric: Metric, tasks: Sequence[str]
) -> Comparison | None:
    """The paired comparison of two rows over the shown tasks both have (None: no common task)."""
    ka, kb = row_key(a), row_key(b)
    common = [t for t in tasks if (ka, t) in resampled.cells and (kb, t) in resampled.cells]
    only_a = [t for t in tasks if (ka, t) in resampled.cells and (kb, t) not in resampled.cells]
    only_b = [t for t in tasks if (kb, t) in resampled.cells and (ka, t) not in resampled.cells]
    if not common:
        return None
    ia = [resampled.cells[(ka, t)] for t in common]
    ib = [resampled.cells[(kb, t)] for t in common]
    means_a, means_b = resampled.observed[ia], resampled.observed[ib]
    per_task = [
        TaskDifference(
            t,
            float(ma),
            float(mb),
            float(ma - mb),
            _superiority(resampled.samples[(ka, t)], resampled.samples[(kb, t)]),
        )
        for t, ma, mb in zip(common, means_a, means_b, strict=True)
    ]
    moving = any(len(resampled.samples[(k, t)]) > 1 for k in (ka, kb) for t in common)
    diffs = resampled.draws[ia].mean(axis=0) - resampled.draws[ib].mean(axis=0)
    p, exact = sign_flip_test(list(means_a), list(means_b))
    d = [x.difference for x in per_task]
    return Comparison(
        agent_a=a.agent,
        agent_b=b.agent,
        metric=metric,
        tasks=sorted(per_task, key=lambda x: (-abs(x.difference), x.task)),
        only_a=only_a,
        only_b=only_b,
        mean_difference=math.fsum(d) / len(d),
        ci=percentile_interval(diffs) if moving else None,
        p_value=p,
        exact=exact,
        p_a_beats_b=math.fsum(x.p_a_beats_b for x in per_task) / len(per_task),
        wins=sum(1 for x in d if x > 0),
        losses=sum(1 for x in d if x < 0),
        draws=sum(1 for x in d if x == 0),
    )


def plan_trials(
    comparison: Comparison,
    resampled: Resampled,
    a: Row,
    b: Row,
    delta: float,
    power: float = 0.8,
    alpha: float = round(1 - CONFIDENCE, 10),
) -> Plan:
    """Trials per task (each agent) for a two-sided z test of the average difference to detect
    ``delta`` with this power: n = (z(1 - alpha/2) + z(power))^2 * sum_t(var_A,t + var_B,t) / (T^2
    delta^2), with the sample variances of the observed trials (tasks with fewer than two trials
    of either agent take the mean variance of the others).
    """
    import statistics

    from scipy.stats import norm

    ka, kb = row_key(a), row_key(b)
    spreads = []
    for t in comparison.tasks:
        sa, sb = resampled.samples[(ka, t.task)], resampled.samples[(kb, t.task)]
        if len(sa) > 1 and len(sb) > 1:
            spreads.append(statistics.variance(sa) + statistics.variance(sb))
    if not spreads:
        return Plan(
            delta, power, alpha, None, 0,
            "no common task has two or more trials of each agent to measure the spread from",
        )  # fmt: skip
    mean_spread = math.fsum(spreads) / len(spreads)  # stands in for the tasks without one
    total = math.fsum(spreads) + mean_spread * (len(comparison.tasks) - len(spreads))
    z = float(norm.ppf(1 - alpha / 2) + norm.ppf(power))
    n = z**2 * total / (len(comparison.tasks) ** 2 * delta**2)
    return Plan(delta, power, alpha, max(2, math.ceil(n)), len(spreads))
