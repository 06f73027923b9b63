"""Uncertainty on the leaderboard, checked against independent computations on fixed data.

The bootstrap's interval, rank stability and ties are compared with the exact bootstrap
distribution (every resample enumerated); the paired test's p-value with a sign-flip count done
by hand; P(A beats B) and the trials plan with their formulas written out here.
"""

from __future__ import annotations

import io
import itertools
import math
import statistics
from collections.abc import Sequence

import numpy as np
import pytest
from rich.console import Console
from support.leaderboard import evaluation, make_spec, raw_for

from agent_eval.leaderboard import build_boards, rank_rows, render_board, view_json
from agent_eval.leaderboard.table import Board, Row
from agent_eval.leaderboard.uncertainty import (
    compare_rows,
    plan_trials,
    row_key,
    view_uncertainty,
)
from agent_tasks.spec import TaskSpec


def board_of(scores: dict[str, dict[str, Sequence[float]]], tasks: Sequence[str]) -> Board:
    """A board whose agents have exactly these relative scores per task (one run per value)."""
    specs = {t: make_spec(t) for t in tasks}
    evs = []
    for agent, per_task in scores.items():
        for task, values in per_task.items():
            for i, v in enumerate(values):
                spec: TaskSpec = specs[task]
                evs.append(
                    evaluation(spec, raw_for(spec, v), agent=agent, run_id=f"{agent}-{task}-{i}")
                )
    (board,) = build_boards(evs, [], list(specs.values()))
    return board


def exact_bootstrap(cells: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Every value the average of the cells' resampled means takes, with its probability."""
    per_cell = []
    for values in cells:
        n = len(values)
        means = [sum(c) / n for c in itertools.product(values, repeat=n)]
        per_cell.append(np.asarray(means))
    total = per_cell[0]
    for m in per_cell[1:]:
        total = np.add.outer(total, m).ravel()
    averages = total / len(cells)
    return averages, np.full(len(averages), 1 / len(averages))


def quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cdf = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cdf, q)])


def row(board: Board, agent: str) -> Row:
    return next(r for r in board.rows if r.agent == agent)


A = {"t1": [10.0, 20.0, 35.0, 41.0], "t2": [40.0, 52.0, 60.0, 75.0]}
B = {"t1": [12.0, 18.0, 25.0, 30.0], "t2": [35.0, 52.0, 58.0, 61.0]}


def test_average_interval_matches_the_exact_bootstrap_distribution() -> None:
    board = board_of({"A": A}, ["t1", "t2"])
    ranked = rank_rows(board)
    unc, resampled = view_uncertainty(board, ranked, "relative", "mean")
    low, high = unc[row_key(row(board, "A"))].average_ci or (None, None)
    assert low is not None and high is not None
    values, weights = exact_bootstrap([A["t1"], A["t2"]])  # 4^4 * 4^4 = 65,536 resamples
    exact_low, exact_high = quantile(values, weights, 0.025), quantile(values, weights, 0.975)
    # 1,000 Monte Carlo resamples estimate each 2.5 % quantile to within about a unit here.
    assert low == pytest.approx(exact_low, abs=1.5)
    assert high == pytest.approx(exact_high, abs=1.5)
    assert low < ranked[0].average < high
    # The resampled averages have the exact bootstrap's spread: sum of plug-in variances / n / T^2.
    plug_in = sum(statistics.pvariance(v) / len(v) for v in A.values()) / 4
    assert resampled is not None
    draws = resampled.draws.mean(axis=0)
    assert float(np.var(draws)) == pytest.approx(plug_in, rel=0.15)
    # Fixed seed: the same board gives the same interval.
    again, _ = view_uncertainty(board, rank_rows(board), "relative", "mean")
    assert again[row_key(row(board, "A"))].average_ci == (low, high)


def test_rank_stability_and_tie_match_the_exact_bootstrap() -> None:
    board = board_of({"A": {"t1": A["t1"]}, "B": {"t1": B["t1"]}}, ["t1"])
    ranked = rank_rows(board)
    assert [r.row.agent for r in ranked] == ["A", "B"]
    unc, _ = view_uncertainty(board, ranked, "relative", "mean")
    a_means, _ = exact_bootstrap([A["t1"]])
    b_means, _ = exact_bootstrap([B["t1"]])
    # A keeps rank 1 when its resampled mean beats B's (a draw puts both first: not held by B).
    held_a = float(np.mean(a_means[:, None] >= b_means[None, :]))
    held_b = float(np.mean(b_means[None, :] < a_means[:, None]))
    ua, ub = unc[row_key(row(board, "A"))], unc[row_key(row(board, "B"))]
    assert ua.rank_stability == pytest.approx(held_a, abs=0.05)
    assert ub.rank_stability == pytest.approx(held_b, abs=0.05)
    diffs = np.subtract.outer(a_means, b_means).ravel()
    weights = np.full(len(diffs), 1 / len(diffs))
    exact_tie = quantile(diffs, weights, 0.025) <= 0 <= quantile(diffs, weights, 0.975)
    assert exact_tie and ua.tied_with_next is True and ub.tied_with_next is None
    out = io.StringIO()
    render_board(board, Console(file=out, width=200))
    lines = {
        line.split("│")[2].strip(): line for line in out.getvalue().splitlines() if "│" in line
    }
    assert "1 ≈" in lines["A"] and "≈" not in lines["B"]  # the terminal marks the tie too

    far = board_of({"A": {"t1": A["t1"]}, "Z": {"t1": [90.0, 95.0, 99.0]}}, ["t1"])
    ranked = rank_rows(far)
    unc, _ = view_uncertainty(far, ranked, "relative", "mean")
    assert unc[row_key(row(far, "Z"))].rank_stability == 1.0
    assert unc[row_key(row(far, "Z"))].tied_with_next is False


def test_one_trial_cells_give_no_interval_and_incomplete_rows_never_rank_first() -> None:
    board = board_of(
        {
            "complete": {"t1": [10.0, 14.0], "t2": [20.0, 22.0]},
            "single": {"t1": [15.0], "t2": [25.0, 27.0]},
            "partial": {"t1": [95.0, 99.0]},  # far better, on one task of two
        },
        ["t1", "t2"],
    )
    doc = view_json(board)
    rows = {r["agent"]: r for r in doc["rows"]}
    assert [r["agent"] for r in doc["rows"]] == ["single", "complete", "partial"]
    assert rows["single"]["average_ci"] is None  # a cell of one trial: nothing to resample
    assert rows["complete"]["average_ci"] is not None
    assert rows["partial"]["rank"] == 3 and rows["partial"]["tasks_missing"] == ["t2"]
    # Coverage never moves under resampling: the complete rows hold their ranks against it.
    assert rows["partial"]["rank_stability"] == 1.0
    assert rows["single"]["tied_with_next"] is None  # no interval for "single": not testable
    assert rows["complete"]["tied_with_next"] is None  # next row covers fewer tasks
    assert "bootstrap" in doc["uncertainty"] and "seed" in doc["uncertainty"]
    best = view_json(board, trials="best")
    assert best["uncertainty"] is None and best["rows"][0]["average_ci"] is None


def test_paired_comparison_against_a_hand_count() -> None:
    # One trial per task: per-task differences A - B are 3, -1, 2, 4 (mean 2).
    a = {"t1": [13.0], "t2": [9.0], "t3": [12.0], "t4": [14.0]}
    b = {t: [10.0] for t in a}
    board = board_of({"A": a, "B": b}, list(a))
    _, resampled = view_uncertainty(board, rank_rows(board), "relative", "mean")
    assert resampled is not None
    c = compare_rows(row(board, "A"), row(board, "B"), resampled, "relative", list(a))
    assert c is not None
    assert c.mean_difference == pytest.approx(2.0)
    # Of the 16 sign patterns of (3, -1, 2, 4), |mean| >= 2 needs |sum| >= 8: (3, -1, 2, 4),
    # (3, 1, 2, 4) and their negatives: p = 4 / 16.
    assert c.exact and c.p_value == pytest.approx(4 / 16)
    assert c.ci is None  # one trial per cell: no trial noise to resample
    assert (c.wins, c.losses, c.draws) == (3, 1, 0)
    assert c.p_a_beats_b == pytest.approx(3 / 4)
    assert [t.task for t in c.tasks] == ["t4", "t1", "t3", "t2"]  # largest |difference| first


def test_paired_interval_superiority_and_plan_against_formulas() -> None:
    board = board_of({"A": A, "B": B}, ["t1", "t2"])
    _, resampled = view_uncertainty(board, rank_rows(board), "relative", "mean")
    assert resampled is not None
    ra, rb = row(board, "A"), row(board, "B")
    c = compare_rows(ra, rb, resampled, "relative", ["t1", "t2"])
    assert c is not None and c.ci is not None
    diff = np.mean([np.mean(A[t]) - np.mean(B[t]) for t in A])
    assert c.mean_difference == pytest.approx(diff)
    # The interval's spread: var(diff*) = sum over both agents' cells of pvar / n, over T^2.
    sd = math.sqrt(sum(statistics.pvariance(v) / len(v) for s in (A, B) for v in s.values()) / 4)
    assert c.ci[0] == pytest.approx(diff - 1.96 * sd, abs=0.35 * sd)
    assert c.ci[1] == pytest.approx(diff + 1.96 * sd, abs=0.35 * sd)
    # P(A beats B) per task: share of the 16 trial pairs A wins, a draw counting half.
    per_task = [
        sum((x > y) + 0.5 * (x == y) for x in A[t] for y in B[t]) / 16 for t in ("t1", "t2")
    ]
    assert c.p_a_beats_b == pytest.approx(sum(per_task) / 2)
    plan = plan_trials(c, resampled, ra, rb, delta=5.0)
    spread = sum(statistics.variance(A[t]) + statistics.variance(B[t]) for t in A)
    z = 1.959963984540054 + 0.8416212335729143
    assert plan.trials_per_task == math.ceil(z**2 * spread / (4 * 25.0))
    assert plan.tasks_with_spread == 2


def test_plan_without_two_trials_says_why() -> None:
    board = board_of({"A": {"t1": [10.0]}, "B": {"t1": [20.0]}}, ["t1"])
    _, resampled = view_uncertainty(board, rank_rows(board), "relative", "mean")
    assert resampled is not None
    ra, rb = row(board, "A"), row(board, "B")
    c = compare_rows(ra, rb, resampled, "relative", ["t1"])
    assert c is not None
    plan = plan_trials(c, resampled, ra, rb, delta=5.0)
    assert plan.trials_per_task is None and plan.reason and "two or more trials" in plan.reason
