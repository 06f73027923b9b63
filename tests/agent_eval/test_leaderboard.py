"""Leaderboard scoring: trials statistics with known answers, aggregation, and the MLRC-Bench paper.

The builders (``make_spec``, ``evaluation``, ``paper_specs``) live in ``support.leaderboard``.
"""

from __future__ import annotations

import math

import pytest
from support.leaderboard import (
    PAPER_AVERAGES,
    evaluation,
    make_spec,
    paper_reference_data,
    paper_specs,
)

from agent_eval.leaderboard import (
    build_boards,
    capability_level,
    mean_interval,
    parse_reference_data,
    pass_at_k,
    rank_rows,
    t_quantile,
    view_json,
)
from agent_eval.scores import score

# -- statistics with known answers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (29, 2.0452), (120, 1.9799)],
)
def test_t_quantile_matches_the_printed_table(df: int, expected: float) -> None:
    assert t_quantile(0.95, df) == pytest.approx(expected, abs=1e-4)


def test_mean_interval_uses_the_t_quantile_and_sample_sd() -> None:
    # values 2, 4, 6: mean 4, sample sd 2, se 2/sqrt(3), t(0.975, 2) = 4.302653
    est = mean_interval([2.0, 4.0, 6.0])
    assert est is not None
    half = 4.302653 * 2 / math.sqrt(3)
    assert est.mean == pytest.approx(4.0)
    assert est.low == pytest.approx(4.0 - half, abs=1e-5)
    assert est.high == pytest.approx(4.0 + half, abs=1e-5)
    assert est.n == 3


def test_one_trial_has_no_interval_and_none_has_no_mean() -> None:
    one = mean_interval([7.5])
    assert one is not None and one.mean == 7.5 and one.low is None and one.half_width is None
    assert mean_interval([]) is None
    same = mean_interval([3.0, 3.0])
    assert same is not None and same.low == same.high == 3.0


def test_pass_at_k_formula_and_edge_cases() -> None:
    # 1 - C(n-c, k)/C(n, k): n=8, c=2, k=3 -> 1 - C(6,3)/C(8,3) = 1 - 20/56
    assert pass_at_k(8, 2, 3) == pytest.approx(1 - 20 / 56)
    assert pass_at_k(8, 2, 1) == pytest.approx(2 / 8)  # pass@1 is the success rate
    assert pass_at_k(8, 0, 8) == 0.0  # no success, ever
    assert pass_at_k(8, 8, 1) == 1.0
    assert pass_at_k(5, 3, 3) == 1.0  # n - c < k: every draw of 3 holds a success
    assert pass_at_k(3, 1, 5) is None  # k > n: not estimable
    assert pass_at_k(10, 1, 10) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


@pytest.mark.parametrize(
    ("normalised", "level"),
    [
        (None, 1),
        (-20.0, 3),
        (0.0, 3),
        (4.99, 5),
        (5.0, 6),
        (49.9, 6),
        (50.0, 7),
        (100.0, 7),
        (100.1, 8),
    ],
)
def test_capability_levels(normalised: float | None, level: int) -> None:
    assert capability_level(normalised) == level


# -- aggregation ------------------------------------------------------------------------------


def test_trials_are_runs_and_cells_carry_mean_interval_best_and_pass_at_k() -> None:
    spec = make_spec("t1", baseline=0.0, reference=1.0, improvement_pct=None)
    evs = [
        evaluation(spec, 0.02, run_id="r1"),  # 2: below success
        evaluation(spec, 0.10, run_id="r2"),  # 10: success
        evaluation(spec, 0.30, run_id="r3"),  # 30: success
        evaluation(spec, None, run_id="r4", status="error"),  # no valid output
        # a re-evaluation of r1, later: it replaces the first one (2 -> 6)
        evaluation(spec, 0.06, run_id="r1", minutes=5),
    ]
    (board,) = build_boards(evs, [], [spec])
    (row,) = board.rows
    cell = row.cells["t1"]
    assert row.n_trials == 4 and cell.n_trials == 4 and cell.n_valid == 3
    rel = cell.metrics["relative"]
    assert rel.estimate is not None
    assert rel.estimate.mean == pytest.approx((6 + 10 + 30) / 3)
    assert rel.estimate.n == 3 and rel.estimate.low is not None
    assert rel.best == pytest.approx(30)
    assert cell.n_success == 3
    assert cell.pass_at[1] == pytest.approx(3 / 4)  # the failed run is a failure, not skipped
    assert cell.pass_at[3] == 1.0 and cell.pass_at[5] is None
    assert cell.levels == {1: 1, 6: 3}


def test_evaluations_without_run_id_are_separate_trials_and_agents_split_by_model() -> None:
    spec = make_spec("t1", baseline=0.0, reference=1.0, improvement_pct=None)
    evs = [
        evaluation(spec, 0.2),
        evaluation(spec, 0.4),
        evaluation(spec, 0.9, model="gpt-4o"),
    ]
    (board,) = build_boards(evs, [], [spec])
    by_agent = {r.agent: r for r in board.rows}
    assert set(by_agent) == {"agent-a", "agent-a (gpt-4o)"}
    assert by_agent["agent-a"].cells["t1"].n_trials == 2


def test_constraint_violation_is_no_valid_output() -> None:
    spec = make_spec("t1", baseline=0.0, reference=1.0, improvement_pct=None)
    (board,) = build_boards([evaluation(spec, 0.9, constraint_ok=False)], [], [spec])
    cell = board.rows[0].cells["t1"]
    assert cell.n_valid == 0 and cell.levels == {1: 1} and cell.value("relative", "mean") is None


def test_direction_aware_scores_and_chance_rescale() -> None:
    lower = make_spec("ppl", baseline=20.0, reference=10.0, improvement_pct=None, direction="lower")
    mc = make_spec("mc", baseline=None, improvement_pct=None, chance=0.25)
    evs = [evaluation(lower, 15.0), evaluation(mc, 0.625)]
    (board,) = build_boards(evs, [], [lower, mc])
    cells = board.rows[0].cells
    assert cells["ppl"].value("relative", "mean") == pytest.approx(50.0)
    assert cells["ppl"].value("absolute", "mean") == pytest.approx(25.0)  # 25 % lower is better
    assert cells["ppl"].value("raw", "mean") == pytest.approx(15.0)
    assert cells["mc"].value("relative", "mean") == pytest.approx(50.0)  # (0.625-.25)/(1-.25)


def test_missing_task_is_missing_not_zero_and_ranks_after_complete_rows() -> None:
    a, b = (make_spec(n, baseline=0.0, reference=1.0, improvement_pct=None) for n in ("a", "b"))
    evs = [
        evaluation(a, 0.9, agent="only-a"),  # 90 on one task, nothing on the other
        evaluation(a, 0.1, agent="both"),
        evaluation(b, 0.2, agent="both"),  # average 15
    ]
    (board,) = build_boards(evs, [], [a, b])
    ranked = rank_rows(board)
    assert [r.row.agent for r in ranked] == ["both", "only-a"]
    both, only = ranked
    assert both.average == pytest.approx(15.0) and both.covered == 2 and both.medal == "🥇"
    assert only.values["b"] is None and only.average == pytest.approx(90.0)
    assert only.covered == 1 and only.medal is None  # incomplete rows earn no medal
    # Filtering to the task both have makes the ranking plain again.
    ranked_a = rank_rows(board, tasks=["a"])
    assert [r.row.agent for r in ranked_a] == ["only-a", "both"]
    assert ranked_a[0].medal == "🥇" and ranked_a[1].medal == "🥈"
    doc = view_json(board)
    assert doc["rows"][1]["cells"]["b"] is None
    assert doc["rows"][1]["tasks_covered"] == 1 and doc["rows"][1]["tasks_selected"] == 2


def test_best_of_k_is_a_separate_view() -> None:
    spec = make_spec("t1", baseline=0.0, reference=1.0, improvement_pct=None)
    evs = [evaluation(spec, v, run_id=f"r{i}") for i, v in enumerate([0.1, 0.5, 0.3])]
    (board,) = build_boards(evs, [], [spec])
    assert rank_rows(board, "relative", "mean")[0].average == pytest.approx(30.0)
    assert rank_rows(board, "relative", "best")[0].average == pytest.approx(50.0)
    assert view_json(board, trials="best")["trials"] == "best_of_k"


# -- the MLRC-Bench paper ---------------------------------------------------------------------


def test_paper_averages_come_out_as_published() -> None:
    specs = paper_specs()
    batch = parse_reference_data(paper_reference_data(), specs)
    (board,) = build_boards([], batch.values, specs)
    for metric, column in (("relative", 0), ("absolute", 1)):
        ranked = rank_rows(board, metric)  # type: ignore[arg-type]
        agents = {r.row.agent: r for r in ranked if r.row.kind == "published"}
        assert set(agents) == set(PAPER_AVERAGES)
        for agent, published in PAPER_AVERAGES.items():
            assert f"{agents[agent].average:.1f}" == f"{published[column]:.1f}", (metric, agent)
            assert agents[agent].covered == 7
    ranked = rank_rows(board, "relative")
    assert ranked[0].row.agent == "Top Human in Competition" and ranked[0].rank is None
    assert ranked[1].row.agent == "MLAB (gemini-exp-1206)" and ranked[1].medal == "🥇"
    assert [r.row.agent for r in ranked[2:]] == [
        "CoI-Agent (o1) + MLAB (gpt-4o)",
        "MLAB (llama3-1-405b-instruct)",
        "MLAB (gpt-4o)",
        "MLAB (o3-mini)",
        "Human Idea + MLAB (gpt-4o)",
        "MLAB (claude-3-5-sonnet-v2)",
    ]
    assert [r.rank for r in ranked[1:]] == [1, 2, 3, 4, 5, 6, 7]
    absolute = rank_rows(board, "absolute")
    assert absolute[0].average is not None and f"{absolute[0].average:.1f}" == "280.7"


def test_paper_relative_is_absolute_over_top_human_absolute() -> None:
    """relative = absolute / top-human absolute * 100, within the rounding of the printed tables.

    Both tables print 1 decimal, so each number may be off by up to 0.05. Propagated through
    r = a / h * 100, the bound is 0.05 (rounding of r) + 100 * (0.05 / |h| + |a| * 0.05 / h**2)
    (rounding of a and of h): 0.13 for LLM merging (h = 68.2), under 0.07 elsewhere.
    """
    specs = paper_specs()
    batch = parse_reference_data(paper_reference_data(), specs)
    values = {(v.agent_label, v.task, v.metric): v.value for v in batch.values}
    human = "Top Human in Competition"
    checked = 0
    for (agent, task, metric), rel in values.items():
        if metric != "relative" or agent == human:
            continue
        absolute = values[(agent, task, "absolute")]
        top = values[(human, task, "absolute")]
        bound = 0.05 + 100 * (0.05 / abs(top) + abs(absolute) * 0.05 / top**2)
        assert abs(absolute / top * 100 - rel) <= bound + 1e-9, (agent, task, rel, absolute, top)
        checked += 1
    assert checked == 7 * 7


def test_paper_rows_match_their_anchors_when_scored_from_raw() -> None:
    """A raw value at the paper's absolute improvement scores the paper's relative value."""
    specs = {s.name: s for s in paper_specs()}
    data = paper_reference_data()
    absolute = {r["agent"]: r["scores"] for r in data["tables"][1]["rows"]}
    relative = {r["agent"]: r["scores"] for r in data["tables"][0]["rows"]}
    spec = specs["mlrc_backdoor_trigger_recovery"]
    base = spec.anchors.baseline
    assert base is not None
    raw = base * (1 + absolute["MLAB (claude-3-5-sonnet-v2)"][spec.name] / 100)
    scored = score(spec, raw)
    assert scored.normalised == pytest.approx(
        relative["MLAB (claude-3-5-sonnet-v2)"][spec.name], abs=0.05
    )
