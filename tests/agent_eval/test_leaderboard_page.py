"""The leaderboard page in a real headless Chromium, driven as a person would: clicks, then reads.

Chromium is driven through the DevTools protocol over ``--remote-debugging-pipe`` (messages on
file descriptors 3 and 4, separated by NUL bytes), so no browser-automation package is needed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.browser import ARTIFACTS, Browser
from support.leaderboard import (
    evaluation,
    make_spec,
    paper_reference_data,
    paper_specs,
    raw_for,
)

from agent_eval.leaderboard import (
    build_boards,
    parse_reference_data,
    rank_rows,
    render_page,
    view_json,
    write_page,
)
from agent_eval.leaderboard.table import EvaluationRecord, record_of
from agent_eval.leaderboard.uncertainty import compare_rows, view_uncertainty
from agent_eval.leaderboard.views import HOW_TO, page_data
from agent_tasks.spec import TaskSpec

pytestmark = pytest.mark.browser

TABLE_JS = """(() => {
  const table = document.querySelector('#board');
  if (!table) return null;
  return {
    head: [...table.querySelectorAll('thead th')].map((th) => th.dataset.key),
    rows: [...table.querySelectorAll('tbody tr')].map((tr) => ({
      agent: tr.dataset.agent, kind: tr.dataset.kind,
      rank: tr.querySelector('td.rank').textContent,
      avg: tr.querySelector('td.avg').textContent,
      cells: Object.fromEntries([...tr.querySelectorAll('td[data-task]')].map(
        (td) => [td.dataset.task, {text: td.firstChild.textContent, tone: td.className}])),
    })),
  };
})()"""


@pytest.fixture(scope="module")
def scene() -> dict[str, Any]:
    """The paper's published rows plus two recorded agents (one missing a task)."""
    specs = paper_specs()
    batch = parse_reference_data(paper_reference_data(), specs)
    evs = []
    for i, rel in enumerate([40.0, 60.0, 50.0]):  # mean 50 on every task, 3 trials
        evs += [
            evaluation(s, raw_for(s, rel), agent="bold-agent", run_id=f"bold-{s.name}-{i}")
            for s in specs
        ]
    evs += [
        evaluation(s, raw_for(s, -2.0), agent="careful-agent", run_id=f"careful-{s.name}")
        for s in specs[1:]  # nothing on the first task
    ]
    boards = build_boards(evs, batch.values, specs)
    return {"specs": specs, "board": boards[0], "boards": boards}


@pytest.fixture
def browser(chromium_path: Path, tmp_path: Path) -> Iterator[Browser]:
    """A fresh headless Chromium with its own profile."""
    b = Browser(chromium_path, tmp_path / "profile")
    yield b
    b.close()


def _agents(table: dict[str, Any]) -> list[str]:
    return [r["agent"] for r in table["rows"]]


def _row(table: dict[str, Any], agent: str) -> dict[str, Any]:
    return next(r for r in table["rows"] if r["agent"] == agent)


def test_page_is_self_contained(scene: dict[str, Any]) -> None:
    text = render_page(page_data(scene["boards"], "now"))
    assert not re.search(r"<script[^>]*\bsrc=", text)
    assert not re.search(r"<link\b", text)
    assert "@import" not in text and "url(" not in text
    assert text.count("<script") == 2  # the data and the code, both inline


def test_page_metric_filter_sort_and_details(
    browser: Browser, scene: dict[str, Any], tmp_path: Path
) -> None:
    board = scene["board"]
    page = write_page(scene["boards"], tmp_path / "leaderboard.html")
    browser.open(page.as_uri())

    # Default view: relative score, mean over trials; the reference row on top, then by average.
    table = browser.js(TABLE_JS)
    expected = [r.row.agent for r in rank_rows(board, "relative")]
    assert _agents(table) == expected
    assert table["rows"][0]["agent"] == "Top Human in Competition"
    assert table["rows"][0]["rank"] == "ref"
    bold = _row(table, "bold-agent")
    assert bold["rank"] == "🥇1" and bold["avg"] == "50.0"
    gemini = _row(table, "MLAB (gemini-exp-1206)")
    assert gemini["rank"] == "🥈2" and gemini["avg"] == "9.3"
    assert gemini["cells"]["mlrc_rainfall_prediction"] == {"text": "43.1", "tone": "pos"}
    assert gemini["cells"]["mlrc_meta_learning"] == {"text": "-1.1", "tone": "neg"}
    careful = _row(table, "careful-agent")  # misses a task: shown as missing, ranked last
    assert careful["cells"]["mlrc_temporal_action_loc"]["text"] == "—"
    assert careful["avg"] == "-2.0 (6/7)" and careful["rank"] == "9"
    assert _row(table, "MLAB (claude-3-5-sonnet-v2)")["avg"] == "-5.2"
    assert browser.js("document.querySelectorAll('#plot circle').length") > 0

    # Switch the metric to absolute improvement: the published absolute table, re-ranked.
    browser.click("input[name=metric][value=absolute]")
    browser.wait_for("location.hash.includes('metric=absolute')")
    table = browser.js(TABLE_JS)
    assert _agents(table) == [r.row.agent for r in rank_rows(board, "absolute")]
    assert _row(table, "Top Human in Competition")["avg"] == "280.7"
    published = [r for r in table["rows"] if r["kind"] == "published"]
    assert [r["agent"] for r in published[:2]] == [
        "MLAB (claude-3-5-sonnet-v2)",
        "MLAB (gemini-exp-1206)",
    ]
    assert _row(table, "MLAB (claude-3-5-sonnet-v2)")["avg"] == "31.9"

    # Filter to one task: only its column; rows ordered by it.
    browser.click("#no-tasks")
    assert browser.js("document.querySelector('#empty-state').textContent").startswith(
        "No task selected"
    )
    assert browser.js("document.querySelector('#board')") is None
    browser.click("input[data-task=mlrc_rainfall_prediction]")
    table = browser.js(TABLE_JS)
    assert table["head"] == ["rank", "agent", "mlrc_rainfall_prediction", "avg", "ci"]
    published = [r for r in table["rows"] if r["kind"] == "published"]
    assert [r["cells"]["mlrc_rainfall_prediction"]["text"] for r in published[:3]] == [
        "100.8",
        "91.4",
        "83.6",
    ]
    assert _row(table, "careful-agent")["rank"].endswith(tuple("0123456789"))

    # All tasks again, then sort by a column (descending, then ascending).
    browser.click("#all-tasks")
    browser.click("th[data-key=mlrc_machine_unlearning]")
    table = browser.js(TABLE_JS)
    values = [float(r["cells"]["mlrc_machine_unlearning"]["text"]) for r in table["rows"][1:]]
    assert values == sorted(values, reverse=True)
    assert _agents(table)[1:4] == [
        "bold-agent",
        "CoI-Agent (o1) + MLAB (gpt-4o)",
        "Human Idea + MLAB (gpt-4o)",
    ]
    browser.click("th[data-key=mlrc_machine_unlearning]")
    table = browser.js(TABLE_JS)
    assert table["rows"][0]["agent"] == "Top Human in Competition"  # the reference stays on top
    assert table["rows"][1]["agent"] == "MLAB (claude-3-5-sonnet-v2)"
    assert table["rows"][1]["cells"]["mlrc_machine_unlearning"]["text"] == "-58.6"
    assert "sort=mlrc_machine_unlearning" in browser.js("location.hash")
    assert "dir=asc" in browser.js("location.hash")
    browser.screenshot(ARTIFACTS / "leaderboard.png")

    # Best of k is its own, labelled view.
    browser.click("input[name=metric][value=relative]")
    browser.click("input[name=trials][value=best]")
    table = browser.js(TABLE_JS)
    assert _row(table, "bold-agent")["avg"] == "60.0"
    assert "best of k" in browser.js("document.querySelector('#metric-label').textContent")

    # Task details: the story and one card per task with its competition link.
    browser.click("nav button[data-view=details]")
    assert browser.js("document.querySelector('#details').hidden") is False
    cards = browser.js(
        "[...document.querySelectorAll('.card')].map((c) => [c.dataset.task,"
        " c.querySelector('a') && c.querySelector('a').href])"
    )
    assert [c[0] for c in cards] == [s.name for s in scene["specs"]]
    assert all(link and link.startswith("https://") for _, link in cards)
    assert "MLRC-Bench" in browser.js("document.querySelector('.story h2').textContent")
    browser.screenshot(ARTIFACTS / "leaderboard-details.png")

    # Nothing was fetched but the page itself.
    fetched = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert fetched and all(u.startswith(("file:", "data:", "about:")) for u in fetched), fetched


def test_page_reads_its_view_from_the_url_and_shows_empty_states(
    browser: Browser, scene: dict[str, Any], tmp_path: Path
) -> None:
    page = write_page(scene["boards"], tmp_path / "board.html")
    browser.open(page.as_uri() + "#metric=absolute&tasks=mlrc_llm_merging&sort=avg&dir=asc")
    table = browser.js(TABLE_JS)
    assert table["head"] == ["rank", "agent", "mlrc_llm_merging", "avg", "ci"]
    ranked = [r for r in table["rows"] if r["kind"] != "reference"]
    averages = [float(r["avg"].split()[0]) for r in ranked]
    assert averages == sorted(averages)

    empty = write_page([], tmp_path / "empty.html")
    browser.open(empty.as_uri())
    text = browser.js("document.querySelector('#empty-state').textContent")
    assert text.startswith("No results recorded yet")
    assert HOW_TO in text  # the same how-to as the terminal's empty state


HOSTILE = "</script><script>window.__pwned = 1</script><img src=x onerror='window.__pwned=2'>"
LONG_NAME = "agent-" + "x" * 300  # one word: nothing to break it at


def test_page_escapes_names_fits_long_ones_and_never_plots_raw_values_on_one_axis(
    browser: Browser, tmp_path: Path
) -> None:
    specs = paper_specs()
    doc = {
        "source": "a source with </script><b>markup</b> & 'quotes'",
        "benchmark": "mlrc_bench",
        "metric": "relative",
        "rows": [
            {"agent": LONG_NAME, "scores": {s.name: 10.0 for s in specs}},
            {"agent": "<img src=x onerror='window.__pwned=3'>", "scores": {specs[0].name: 1.0}},
        ],
    }
    refs = parse_reference_data(doc, specs).values
    evs = [
        evaluation(s, raw_for(s, rel), agent=HOSTILE, run_id=f"h-{s.name}-{i}")
        for s in specs
        for i, rel in enumerate([20.0, 30.0])
    ]
    page = write_page(build_boards(evs, refs, specs), tmp_path / "hostile.html")
    browser.open(page.as_uri())

    assert browser.js("window.__pwned === undefined")
    assert browser.js("document.querySelectorAll('main img, main b').length") == 0
    agents = _agents(browser.js(TABLE_JS))
    assert HOSTILE in agents and LONG_NAME in agents
    assert "</script><b>markup</b>" in browser.js("document.querySelector('.notes').textContent")
    # A long name wraps inside its column: every task column and the average stay in view.
    fits = "(() => { const w = document.querySelector('.tablewrap');"
    fits += " return w.scrollWidth <= w.clientWidth; })()"
    assert browser.js(fits)

    # Raw values of different tasks share no scale: the plot shows the relative score instead.
    browser.click("input[name=metric][value=raw]")
    browser.wait_for("location.hash.includes('metric=raw')")
    assert "no common scale" in browser.js("document.querySelector('#plot-note').textContent")
    labels = browser.js("[...document.querySelectorAll('#plot text')].map((t) => t.textContent)")
    assert "0.0" in labels  # the relative axis, with its baseline at 0
    assert browser.js("document.querySelectorAll('#plot circle').length") == len(specs)
    browser.screenshot(ARTIFACTS / "leaderboard-hostile-raw.png")

    # Only imported rows, which carry no raw values: say so, not "no results recorded".
    only_refs = write_page(build_boards([], refs, specs), tmp_path / "refs.html")
    browser.open(only_refs.as_uri() + "#metric=raw")
    text = browser.js("document.querySelector('#empty-state').textContent")
    assert text.startswith("No raw values for the selected tasks")


def test_plot_keeps_long_task_labels_inside_the_picture(browser: Browser, tmp_path: Path) -> None:
    specs = [
        make_spec("smoke_a", "smoke", title="Tiny language model on the CPU"),
        make_spec(
            "smoke_an_unusually_long_task_name_that_keeps_on_going",
            "smoke",
            title="A task title far longer than a column header may be",
        ),
    ]
    evs = [evaluation(s, raw_for(s, 50.0), agent="agent", run_id=s.name) for s in specs]
    page = write_page(build_boards(evs, [], specs), tmp_path / "labels.html")
    browser.open(page.as_uri())
    labels = browser.js(
        "[...document.querySelectorAll('#plot text.tasklabel')].map((t) =>"
        " [t.firstChild.textContent, t.getBBox().x, t.querySelector('title').textContent])"
    )
    assert [title for _, _, title in labels] == [s.title for s in specs]
    assert all(x >= 0 for _, x, _ in labels), labels  # nothing cut off on the left
    assert labels[0][0] == "Tiny language model on the CPU"
    assert labels[1][0].endswith("…") and len(labels[1][0]) == 40


def test_page_of_an_empty_database_shows_every_benchmarks_task_details(
    browser: Browser, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from agent_eval.cli import app
    from agent_tasks.registry import benchmarks, get_task

    page = tmp_path / "site" / "index.html"
    result = CliRunner().invoke(
        app, ["leaderboard", "--results-dir", str(tmp_path / "results"), "--html", str(page)]
    )
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "results").exists()  # a view writes no database
    browser.open(page.as_uri() + "#view=details&benchmark=mlrc_bench")
    names = browser.js(
        "[...document.querySelectorAll('#bench-select option')].map(o => o.textContent)"
    )
    assert sorted(names) == sorted(benchmarks())
    cards = browser.js(
        "[...document.querySelectorAll('#details .card')].map(c => "
        "[c.dataset.task, (c.querySelector('a') || {}).href || null])"
    )
    spec = get_task("mlrc_llm_merging")
    links = dict(cards)
    assert spec.competition_url and links[spec.name].rstrip("/") == spec.competition_url.rstrip("/")
    assert len(cards) == 7


def _costed(spec: TaskSpec, relative: float, agent: str, run: str, usd: float) -> EvaluationRecord:
    """One evaluation whose run cost ``usd`` and held two GPUs for half an hour (1 GPU-hour)."""
    record = record_of(evaluation(spec, raw_for(spec, relative), agent=agent, run_id=run))
    return dataclasses.replace(record, cost_usd=usd, gpu_count=2, run_duration_s=1800.0)


def test_page_shows_intervals_ties_costs_and_paired_comparisons(
    browser: Browser, tmp_path: Path
) -> None:
    specs = [
        make_spec("smoke_one", "smoke", title="First task"),
        make_spec("smoke_two", "smoke", title="Second task"),
    ]
    specs[0] = specs[0].model_copy(
        update={
            "summary": "Train **fast**, see `code` <script>window.__pwned = 4</script>"
            " [a link](javascript:window.__pwned=5) [docs](https://example.org/docs)"
        }
    )
    plan = {  # agent: (cost per run, scores of three trials per task)
        "cheap-good": (0.10, [55.0, 60.0, 65.0]),
        "pricey-better": (1.00, [56.0, 61.0, 67.0]),  # within the noise of cheap-good: tied
        "pricey-worse": (2.00, [10.0, 12.0, 14.0]),  # costs more, scores less: dominated
    }
    evs = [
        _costed(s, v, agent, f"{agent}-{s.name}-{i}", usd)
        for agent, (usd, values) in plan.items()
        for s in specs
        for i, v in enumerate(values)
    ]
    evs += [_costed(specs[0], 90.0, "partial", f"partial-{i}", 0.2) for i in range(2)]
    boards = build_boards(evs, [], specs)
    page = write_page(boards, tmp_path / "stats.html")
    browser.open(page.as_uri())
    expected = {r["agent"]: r for r in view_json(boards[0])["rows"]}
    table = browser.js(TABLE_JS)
    assert _agents(table) == ["pricey-better", "cheap-good", "pricey-worse", "partial"]
    assert table["head"] == ["rank", "agent", "smoke_one", "smoke_two", "avg", "ci"]
    rows = browser.js(
        "Object.fromEntries([...document.querySelectorAll('#board tbody tr')].map((tr) =>"
        " [tr.dataset.agent, {tied: tr.dataset.tied || null,"
        " rank: tr.querySelector('td.rank').textContent,"
        " ci: tr.querySelector('td.ci-cell').textContent,"
        " meta: tr.querySelector('td[data-task=smoke_one] .cellmeta')?.textContent || null,"
        " missing: tr.querySelector('.missing-note')?.textContent || null}]))"
    )
    # The tie: the first two rows are not significantly apart; the third is clearly below.
    assert expected["pricey-better"]["tied_with_next"] is True
    assert rows["pricey-better"]["tied"] == "1" and rows["pricey-better"]["rank"] == "🥇1≈"
    assert rows["cheap-good"]["tied"] is None and expected["cheap-good"]["tied_with_next"] is False
    low, high = expected["pricey-better"]["average_ci"]
    held = expected["pricey-better"]["rank_stability"]
    assert rows["pricey-better"]["ci"] == f"[{low:.1f}, {high:.1f}]rank held {held * 100:.0f} %"
    # Trials, best of k and levels are written under each value, not only on hover.
    assert rows["pricey-better"]["meta"] == "3/3 trials · best 67.0 · L7×3"
    # The incomplete row says what it lacks, and the notes say how to complete it.
    assert rows["partial"]["missing"] == "missing 1 of 2: Second task"
    assert "agent-harness run" in browser.js("document.querySelector('#complete-hint').textContent")

    # Score vs cost: the Pareto front holds the cheapest good agent and the best one.
    browser.click("nav button[data-view=cost]")
    front = browser.js(
        "[...document.querySelectorAll('#cost-usd circle')].map((c) =>"
        " [c.dataset.agent, c.dataset.front])"
    )
    assert dict(front) == {
        "cheap-good": "1",
        "pricey-better": "1",
        "pricey-worse": "0",
        "partial": "0",  # cheap and high, but on one task of two: never on the front
    }
    assert browser.js("document.querySelectorAll('#cost-gpu circle').length") == 4
    assert browser.js("document.querySelector('#cost-usd path.front') !== null")
    browser.js(
        "(() => { const i = document.querySelector('#budget'); i.value = '0.5';"
        " i.dispatchEvent(new Event('change')); return 1; })()"
    )
    budget = browser.js(
        "[...document.querySelectorAll('#budget-table tbody tr')].map((r) => r.dataset.agent)"
    )
    assert budget == ["cheap-good", "partial"]  # in the board's order: complete rows first
    assert "budget=0.5" in browser.js("location.hash")
    browser.screenshot(ARTIFACTS / "leaderboard-cost.png")

    # Compare: the page's numbers are the paired comparison's, from either side.
    browser.click("nav button[data-view=compare]")
    browser.js(
        "(() => { const a = document.querySelector('#cmp-a'); a.value = 'cheap-good';"
        " a.dispatchEvent(new Event('change')); const b = document.querySelector('#cmp-b');"
        " b.value = 'pricey-better'; b.dispatchEvent(new Event('change')); return 1; })()"
    )
    board = boards[0]
    _, resampled = view_uncertainty(board, rank_rows(board), "relative", "mean")
    assert resampled is not None
    by_name = {r.agent: r for r in board.rows}
    c = compare_rows(
        by_name["cheap-good"],
        by_name["pricey-better"],
        resampled,
        "relative",
        ["smoke_one", "smoke_two"],
    )
    assert c is not None and c.ci is not None
    diff = browser.js("document.querySelector('#cmp-diff').textContent")
    assert diff.startswith(
        f"{c.mean_difference:+.1f} (95 % interval {c.ci[0]:+.1f} to {c.ci[1]:+.1f}"
    )
    p_text = browser.js("document.querySelector('#cmp-p').textContent")
    assert p_text.startswith(f"p = {float(f'{c.p_value:.3g}'):g}") and "sign-flip" in p_text
    beats = browser.js("document.querySelector('#cmp-beats').textContent")
    assert beats.startswith(f"{c.p_a_beats_b * 100:.0f} %")
    assert browser.js("document.querySelectorAll('#compare-tasks tbody tr').length") == 2
    browser.screenshot(ARTIFACTS / "leaderboard-compare.png")

    # Task cards render their Markdown; raw HTML in it stays text.
    browser.click("nav button[data-view=details]")
    card = "document.querySelector('.card[data-task=smoke_one] .md')"
    assert browser.js(f"{card}.querySelector('strong').textContent") == "fast"
    assert browser.js(f"{card}.querySelector('code').textContent") == "code"
    assert browser.js(f"{card}.querySelector('script')") is None
    assert "<script>" in browser.js(f"{card}.textContent")
    links = browser.js(f"[...{card}.querySelectorAll('a')].map((a) => a.href)")
    assert links == ["https://example.org/docs"]  # the javascript: link stays text
    assert browser.js("window.__pwned === undefined")


def test_page_lists_what_is_not_ranked_and_why(
    browser: Browser, scene: dict[str, Any], tmp_path: Path
) -> None:
    """Evaluations the ranking leaves out are shown apart, each with its reason, for the tasks
    in view (the terminal and --json say the same)."""
    first, second = scene["specs"][0].name, scene["specs"][1].name
    left_out = [
        ("a" * 32, first, "quick-agent", "a sample limit of 4 (a quick check)"),
        ("b" * 32, second, HOSTILE, "not comparable: the task needs 1 GPU(s), the run had none"),
        ("c" * 32, first, None, "the same model (sha256) is already counted under a run"),
    ]
    page = write_page(scene["boards"], tmp_path / "board.html", left_out=left_out)
    browser.open(page.as_uri())
    browser.js("document.querySelector('#not-ranked summary').click()")
    items = browser.js(
        "[...document.querySelectorAll('#not-ranked-list li')].map((li) => li.textContent)"
    )
    assert items == [
        f"quick-agent \u00b7 {first} \u00b7 {'a' * 12}: a sample limit of 4 (a quick check)",
        f"{HOSTILE} \u00b7 {second} \u00b7 {'b' * 12}: not comparable: the task needs 1 GPU(s), "
        "the run had none",
        f"(no agent) \u00b7 {first} \u00b7 {'c' * 12}: the same model (sha256) is already "
        "counted under a run",
    ]
    summary = browser.js("document.querySelector('#not-ranked summary').textContent")
    assert summary.startswith("Not ranked: 3 evaluation(s) of these tasks")
    assert browser.js("window.__pwned === undefined")  # the agent's name stayed text
    # Only the tasks in view: with the second task alone, one evaluation is listed.
    browser.open(page.as_uri() + f"#tasks={second}")
    summary = browser.js("document.querySelector('#not-ranked summary').textContent")
    assert summary.startswith("Not ranked: 1 evaluation(s)")
    # Nothing left out: no such note.
    plain = write_page(scene["boards"], tmp_path / "plain.html")
    browser.open(plain.as_uri())
    assert browser.js("document.querySelector('#not-ranked') === null")
