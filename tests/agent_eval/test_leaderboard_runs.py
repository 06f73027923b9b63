"""The leaderboard's trials: each links to its run's page, each shows its working time, and the
board ranks at a time budget from the runs' scores over time.

The page test publishes the folder ``agent-eval leaderboard --html`` wrote (copied elsewhere,
the run folders gone) and clicks through it in headless Chromium, as a reader would. The time
budget test ranks real ``agent-eval --over-time`` results, recorded in the database.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from run_page_testkit import RUN_ID, make_run
from support.browser import Browser
from support.store import clear_database_env
from support.tiny_models import save_gpt2

from agent_contracts.results import EvaluationResult
from agent_contracts.run_record import DeliverableRecord, Limits, OutputSafety, RunRecord
from agent_eval.cli import main
from agent_eval.evaluate import EvalOptions, evaluate
from agent_eval.store import Store
from agent_tasks.spec import TaskSpec

GONE = "20261202T000000Z-tiny_lm-ffffff"
"""A trial whose run folder is not where the leaderboard looks: listed, never linked."""


def _cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def browser(chromium_path: Path, tmp_path: Path) -> Iterator[Browser]:
    """A fresh headless Chromium with its own profile."""
    b = Browser(chromium_path, tmp_path / "profile")
    yield b
    b.close()


def _recorded_trials(root: Path) -> Path:
    """Two trials of one agent in a fresh database: the synthetic day-long run (its folder in
    ``root/runs``) and one whose folder is elsewhere. Returns the results folder."""
    run_dir, results = make_run(root, calls=3, log_lines=20)
    result = EvaluationResult.model_validate_json(results.read_text())
    run = RunRecord.model_validate_json((run_dir / "run.json").read_text())
    gone = result.model_copy(update={"evaluation_id": "e2" * 16, "run_id": GONE, "over_time": ()})
    with Store.open(results_dir=root / "results") as store:
        store.record(result, run=run)
        store.record(gone)
    return root / "results"


def _wait(browser: Browser, expression: str, timeout: float = 20.0) -> None:
    """Poll across a navigation (the page's context is replaced while it loads)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if browser.js(expression):
                return
        except RuntimeError:
            pass  # the page's context is being replaced
        assert time.monotonic() < deadline, f"the page never satisfied {expression!r}"
        time.sleep(0.05)


@pytest.mark.browser
def test_clicking_a_trial_of_the_published_board_opens_its_run_page(
    tmp_path: Path,
    browser: Browser,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clear_database_env(monkeypatch, tmp_path / "results")
    results_dir = _recorded_trials(tmp_path)
    site = tmp_path / "site"
    code = _cli(
        "leaderboard", "--html", str(site / "index.html"), "--runs-dir", str(tmp_path / "runs"),
        "--results-dir", str(results_dir),
    )  # fmt: skip
    assert code == 0
    said = capsys.readouterr().err
    assert "1 run page(s)" in said and "1 trial(s) have no run folder" in said
    assert sorted(p.name for p in (site / "run-pages").iterdir()) == [f"{RUN_ID}.html"]
    # Published: the folder copied to a static host; the run folders are not there.
    published = tmp_path / "host" / "board"
    shutil.copytree(site, published)
    shutil.rmtree(site)
    shutil.rmtree(tmp_path / "runs")

    browser.open((published / "index.html").as_uri() + "#benchmark=mlrb")
    # On the board, the cell says how many trials it holds; clicking that lists them.
    browser.click("a.trials-link[data-agent='llm-agent'][data-task='tiny_lm']")
    _wait(browser, "document.querySelector('#trials-table') !== null")
    rows = browser.js(
        "[...document.querySelectorAll('#trials-table tbody tr')].map((tr) => ({"
        " trial: tr.dataset.trial, text: tr.innerText,"
        " link: tr.querySelector('a.run-link') && tr.querySelector('a.run-link')"
        ".getAttribute('href')}))"
    )
    by_trial = {r["trial"]: r for r in rows}
    assert set(by_trial) == {RUN_ID, GONE}
    assert by_trial[RUN_ID]["link"] == f"run-pages/{RUN_ID}.html"  # relative: the folder travels
    assert by_trial[GONE]["link"] is None
    # Its working time: a day less 12.5 s stalled on the provider.
    assert "23 h 59 min" in by_trial[RUN_ID]["text"] and "24 h 00 min" in by_trial[RUN_ID]["text"]
    assert "view=trials" in browser.js("location.hash")  # the view can be shared as a link

    browser.click(f"a.run-link[data-run='{RUN_ID}']")
    _wait(
        browser,
        f"location.pathname.endsWith('/board/run-pages/{RUN_ID}.html')"
        " && document.body && document.body.dataset.ready === '1'",
    )
    ending = browser.js("document.querySelector('#ending').innerText")
    assert "completed" in ending and "working time 86387.5 s" in ending
    assert "final line: deliverable saved to /app/output/model" in ending
    evaluation = browser.js("document.querySelector('#evaluation').innerText")
    assert "perplexity = 30" in evaluation  # the evaluation the board ranks, from the database
    assert browser.js("document.querySelectorAll('#chart circle').length") == 24


def test_the_json_lists_each_trial_with_its_working_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_database_env(monkeypatch, tmp_path / "results")
    results_dir = _recorded_trials(tmp_path)
    capsys.readouterr()
    assert _cli("leaderboard", "-b", "mlrb", "--json", "--results-dir", str(results_dir)) == 0
    board = json.loads(capsys.readouterr().out)["benchmarks"][0]
    row = board["rows"][0]
    assert row["working_hours_per_run"] == pytest.approx((86400 - 12.5) / 3600)
    runs = {r["run_id"]: r for r in row["cells"]["tiny_lm"]["runs"]}
    assert runs[RUN_ID]["working_hours"] == pytest.approx((86400 - 12.5) / 3600)
    assert runs[GONE]["working_hours"] is None  # no run record: unknown, never 0
    assert board["at_s"] is None and board["not_ranked_at_budget"] == []
    # The history shows it per evaluation too.
    assert _cli("history", "--results-dir", str(results_dir)) == 0
    assert "23h59m48s" in capsys.readouterr().out


def test_series_and_working_time_read_back_on_every_backend(db_url: str, tmp_path: Path) -> None:
    # The synthetic day-long run: 24 hourly points, 12.5 s stalled on the provider.
    from agent_eval.leaderboard.query import load_boards

    run_dir, results = make_run(tmp_path, calls=2, log_lines=5)
    result = EvaluationResult.model_validate_json(results.read_text())
    run = RunRecord.model_validate_json((run_dir / "run.json").read_text())
    with Store.open(db_url) as store:
        store.record(result, run=run)
        (board,) = load_boards(store, "mlrb", at_s=5 * 3600 + 30)
    (trial,) = board.rows[0].cells["tiny_lm"].trials
    assert trial.elapsed_s == 5 * 3600  # the last hourly snapshot at or before 5 h 30 s
    assert trial.raw == pytest.approx(60 - 30 * 5 / 24)
    assert trial.working_hours == pytest.approx((86400 - 12.5) / 3600)
    assert board.apart == ()


def test_a_run_id_that_is_a_path_gets_no_page_and_no_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A results file synced from elsewhere names a "run" that climbs out of the runs folder,
    # where a run folder waits (and its page would land outside the site).
    clear_database_env(monkeypatch, tmp_path / "results")
    run_dir, results = make_run(tmp_path / "src", calls=2, log_lines=5)
    shutil.copytree(run_dir, tmp_path / "outside")
    climbing = "../outside"
    result = EvaluationResult.model_validate_json(results.read_text())
    hostile = result.model_copy(update={"evaluation_id": "e3" * 16, "run_id": climbing})
    with Store.open(results_dir=tmp_path / "results") as store:
        store.record(hostile)
    site = tmp_path / "site"
    runs = tmp_path / "runs"
    runs.mkdir()
    code = _cli("leaderboard", "--html", str(site / "index.html"), "--runs-dir", str(runs),
                "--results-dir", str(tmp_path / "results"))  # fmt: skip
    assert code == 0
    assert "0 run page(s)" in capsys.readouterr().err
    assert not (site / "run-pages").exists() and not (site / "outside.html").exists()
    assert sorted(p.name for p in site.iterdir()) == ["index.html"]
    capsys.readouterr()
    assert _cli("leaderboard", "-b", "mlrb", "--json", "--results-dir",
                str(tmp_path / "results")) == 0  # fmt: skip
    row = json.loads(capsys.readouterr().out)["benchmarks"][0]["rows"][0]
    assert [r["run_id"] for r in row["cells"]["tiny_lm"]["runs"]] == [climbing]
    text = (site / "index.html").read_text()
    assert '"page": "run-pages/' not in text and '"page":"run-pages/' not in text


METRICS = [{"name": "bits_per_byte", "direction": "lower", "params": {"dataset": "wikitext2"}}]


def _run_folder(
    runs: Path, run_id: str, tokenizer: Any, snapshots: dict[int, tuple[int, Any]]
) -> Path:
    """A run of 3000 s whose output was snapshotted at these moments (seconds -> model seed
    and dtype of its stored weights)."""
    run_dir = runs / run_id
    save_gpt2(run_dir / "output" / "model", tokenizer, seed=3)
    for elapsed, (seed, dtype) in snapshots.items():
        folder = run_dir / "snapshots" / str(elapsed) / "model"
        save_gpt2(folder, tokenizer, seed=seed, dtype=dtype)
    record = RunRecord(
        run_id=run_id, task="lm_task", benchmark="test_benchmark", task_version="1.0.0",
        image="local", agent_label="budget-agent", runtime="local", provider="none", gpus=[],
        limits=Limits(time_limit_s=3600, grace_s=5), started_at="2026-12-01T00:00:00.000Z",
        deadline=0.0, duration_s=3000.0, status="completed", exit_code=0,
        deliverable=DeliverableRecord(path="output/model", source="spec"),
        output_safety=OutputSafety(owner="0:0", safe=True, copied=True),
    )  # fmt: skip
    (run_dir / "run.json").write_text(record.model_dump_json(indent=2))
    return run_dir


def test_the_board_ranks_at_a_time_budget_from_recorded_scores_over_time(
    tmp_path: Path,
    eval_data_dir: Path,
    tiny_tokenizer: Any,
    make_spec: Callable[..., TaskSpec],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    results_dir = clear_database_env(monkeypatch, tmp_path / "results")
    spec = make_spec(
        "lm_task",
        METRICS,
        anchors={"source": "t", "baseline": 16.0, "reference": 4.0},
        resources={"gpus": 0, "time_limit_s": 3600},  # the runs' own limit: comparable
        constraints=[{"kind": "allowed_dtypes", "dtypes": ["float32"]}],
    )
    timed = _run_folder(tmp_path / "runs", "20261201T000000Z-lm_task-aaaaaa", tiny_tokenizer,
                        {600: (1, None), 1800: (2, torch.bfloat16)})  # fmt: skip
    plain = _run_folder(tmp_path / "runs", "20261201T000000Z-lm_task-bbbbbb", tiny_tokenizer, {})
    finals = {}
    for run_dir, over_time in ((timed, True), (plain, False)):
        outcome = evaluate(
            EvalOptions(
                model_args=str(run_dir), task="lm_task", results_dir=results_dir, device="cpu",
                data_dir=eval_data_dir, over_time=over_time,
            ),
            spec=spec,
        )  # fmt: skip
        assert outcome.recorded
        finals[run_dir.name] = outcome
    series = {p.elapsed_s: p for p in finals[timed.name].result.over_time}
    assert sorted(series) == [600.0, 1800.0, 3000.0]
    score = {t: series[t].score for t in series}
    assert all(s is not None and s.normalised is not None for s in score.values())
    # The 30-minute snapshot stored bfloat16 weights: the task's constraint failed on it.
    assert [series[t].constraints_passed for t in sorted(series)] == [True, False, True]

    def board(*args: str) -> dict[str, Any]:
        capsys.readouterr()
        code = _cli("leaderboard", "-b", "test_benchmark", "--json", "--results-dir",
                    str(results_dir), *args)  # fmt: skip
        assert code == 0
        return dict(json.loads(capsys.readouterr().out)["benchmarks"][0])

    def trials(view: dict[str, Any]) -> dict[str, Any]:
        cell = view["rows"][0]["cells"]["lm_task"] if view["rows"] else None
        return {r["run_id"]: r for r in cell["runs"]} if cell else {}

    # Final scores: both trials rank.
    final = board()
    assert set(trials(final)) == {timed.name, plain.name}
    # At 25 minutes: the snapshot of 10 minutes stands for the timed run; the run evaluated
    # without --over-time is listed apart, not ranked with its final score.
    at = board("--at", "25m")
    assert at["at_s"] == 1500
    assert set(trials(at)) == {timed.name}
    point = trials(at)[timed.name]
    assert point["elapsed_s"] == 600.0 and point["value"] == pytest.approx(score[600.0].normalised)
    assert [(a["trial"], a["why"]) for a in at["not_ranked_at_budget"]] == [
        (plain.name, "no score over time (evaluate the run with agent-eval --over-time)")
    ]
    assert at["rows"][0]["average"] == pytest.approx(score[600.0].normalised)
    # At 40 minutes: the 30-minute snapshot, which broke a constraint: no valid output then,
    # not its score. At 2 h: the run had ended, its final deliverable.
    late = trials(board("--at", "40m"))[timed.name]
    assert (late["elapsed_s"], late["valid"], late["value"]) == (1800.0, False, None)
    assert trials(board("--at", "2h"))[timed.name]["elapsed_s"] == 3000.0
    # Before its first snapshot, the timed run has nothing to show either: apart, with why.
    early = board("--at", "5m")
    assert early["rows"] == []
    assert {a["trial"]: a["why"] for a in early["not_ranked_at_budget"]}[timed.name] == (
        "no snapshot at or before 5m: its first scored moment is at 10m"
    )
    # The terminal says the same, and a budget that is not a duration is a usage error.
    capsys.readouterr()
    assert _cli("leaderboard", "-b", "test_benchmark", "--at", "25m", "--results-dir",
                str(results_dir)) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "AT 25m into each run" in text and "not ranked at 25m: 1 trial(s)" in text
    # The page at that budget says so, and lists the trial left out.
    page = tmp_path / "site" / "index.html"
    runs = str(tmp_path / "runs")
    code = _cli("leaderboard", "-b", "test_benchmark", "--at", "25m", "--html", str(page),
                "--runs-dir", runs, "--results-dir", str(results_dir))  # fmt: skip
    assert code == 0
    html = page.read_text()
    assert "<title>ML Research Benchmark leaderboard at 25m into each run</title>" in html
    assert '"at": "25m"' in html and plain.name in html
    assert sorted(p.name for p in (tmp_path / "site" / "run-pages").iterdir()) == [
        f"{timed.name}.html"
    ]  # the trial ranked at 25m has its page; the one apart is not in the board's trials
    assert _cli("leaderboard", "--at", "2 hours", "--results-dir", str(results_dir)) == 2
    assert "time budget (--at)" in capsys.readouterr().err
