"""``agent-eval leaderboard`` and ``agent-eval import`` on a real database (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.leaderboard import PAPER_AVERAGES, evaluation
from support.preconditions import missing
from typer.testing import CliRunner

from agent_eval.cli import app
from agent_eval.store import Store
from agent_tasks.registry import benchmarks, get_task

DB_VARS = ("DATABASE_URL", "DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_NAME")


@pytest.fixture
def results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder whose SQLite database the commands use."""
    for var in DB_VARS:
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "results"
    folder.mkdir()
    return folder


def invoke(*args: str) -> Any:
    """Run agent-eval in-process; stdout and stderr apart."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "250"})


def _record(results_dir: Path) -> None:
    """Two agents on full_benchmark: one on three tasks (3 trials each), one on two."""
    eff, pile, comp = (get_task(n) for n in ("llm_efficiency", "mini_pile", "edge_llm_compression"))
    evs = []
    for i, (a, b, c) in enumerate([(0.40, 0.50, 0.35), (0.45, 0.52, 0.40), (0.50, 0.51, 0.45)]):
        evs += [
            evaluation(eff, a, agent="steady", run_id=f"s-eff-{i}"),
            evaluation(pile, b, agent="steady", run_id=f"s-pile-{i}"),
            evaluation(comp, c, agent="steady", run_id=f"s-comp-{i}"),
        ]
    evs += [
        evaluation(eff, 0.90, agent="spiky", run_id="p-eff"),
        evaluation(comp, None, agent="spiky", run_id="p-comp", status="error"),
    ]
    with Store.open(results_dir=results_dir) as store:
        store.record_many(evs)


def test_a_view_of_a_missing_results_folder_creates_nothing(
    results_dir: Path, tmp_path: Path
) -> None:
    typo = tmp_path / "resluts" / "deeper"
    result = invoke("leaderboard", "--results-dir", str(typo))
    assert result.exit_code == 0 and "No results recorded yet" in result.stdout
    assert str(typo / "mlrb.sqlite") in result.stdout.replace("\n", "")
    result = invoke("leaderboard", "--results-dir", str(typo), "-b", "smoke", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["benchmarks"][0]["rows"] == []
    assert invoke("leaderboard", "--results-dir", str(typo), "-b", "nope").exit_code == 2
    assert not (tmp_path / "resluts").exists()


def test_empty_database_is_a_clear_empty_state(results_dir: Path, tmp_path: Path) -> None:
    result = invoke("leaderboard", "--results-dir", str(results_dir))
    assert result.exit_code == 0
    assert "No results recorded yet" in result.stdout
    assert "agent-eval import --builtin mlrc_bench_paper" in result.stdout
    result = invoke("leaderboard", "--results-dir", str(results_dir), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["benchmarks"] == []
    page = tmp_path / "site" / "index.html"
    result = invoke("leaderboard", "--results-dir", str(results_dir), "--html", str(page))
    assert result.exit_code == 0 and page.is_file()
    # a benchmark with no results yet: its own empty state, still exit 0
    result = invoke("leaderboard", "--results-dir", str(results_dir), "-b", "full_benchmark")
    assert result.exit_code == 0
    assert "No results recorded for benchmark 'full_benchmark' yet" in result.stdout


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["--benchmark", "full_benchmrk"], "unknown benchmark 'full_benchmrk'", "full_benchmark"),
        (["--task", "llm_efficency"], "unknown task 'llm_efficency'", "llm_efficiency"),
        (
            ["--benchmark", "mini_benchmark", "--task", "llm_efficiency"],
            "not part of benchmark 'mini_benchmark'",
            "full_benchmark",
        ),
    ],
)
def test_unknown_names_exit_2_with_a_hint(
    results_dir: Path, args: list[str], message: str, hint: str
) -> None:
    result = invoke("leaderboard", "--results-dir", str(results_dir), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "hint:" in result.stderr and hint in result.stderr


def test_leaderboard_from_recorded_evaluations(results_dir: Path) -> None:
    _record(results_dir)
    result = invoke("leaderboard", "--results-dir", str(results_dir), "-b", "full_benchmark")
    assert result.exit_code == 0, result.stderr
    assert "(1/9)" in result.stdout  # spiky's average covers 1 of the 9 tasks
    assert "🥇" not in result.stdout  # nobody covers all 9 tasks: no medals
    three = ["-t", "llm_efficiency", "-t", "mini_pile", "-t", "edge_llm_compression"]
    result = invoke("leaderboard", "--results-dir", str(results_dir), *three)
    out = result.stdout
    assert "🥇1" in out and "steady" in out and "spiky" in out
    assert "±" in out  # three trials: an interval
    assert "—" in out  # spiky has nothing valid on two tasks
    assert "(1/3)" in out

    result = invoke(
        "leaderboard", "--results-dir", str(results_dir), "-b", "full_benchmark", "--json"
    )
    doc = json.loads(result.stdout)["benchmarks"][0]
    rows = {r["agent"]: r for r in doc["rows"]}
    steady = rows["steady"]
    # llm_efficiency: chance 0.25 -> (x - .25) / .75 * 100; mean raw .45 -> 26.67
    eff = steady["cells"]["llm_efficiency"]
    assert eff["mean"] == pytest.approx((0.45 - 0.25) / 0.75 * 100)
    assert eff["trials"] == 3 and eff["ci95"] is not None
    assert eff["pass_at_k"]["1"] == 1.0 and eff["pass_at_k"]["5"] is None
    assert steady["tasks_covered"] == 3 and steady["trials"] == 9
    spiky = rows["spiky"]
    comp = spiky["cells"]["edge_llm_compression"]
    assert comp["value"] is None and comp["levels"] == {"L1": 1}  # the error: no valid output
    assert spiky["cells"]["baby_lm"] is None  # never run: missing, not 0
    assert spiky["tasks_covered"] == 1 and spiky["average"] == pytest.approx(
        (0.9 - 0.25) / 0.75 * 100
    )
    # complete coverage ranks first: steady (3 tasks) above spiky (1 task)
    assert [r["agent"] for r in doc["rows"]] == ["steady", "spiky"]

    only = invoke(
        "leaderboard", "--results-dir", str(results_dir), "-t", "llm_efficiency", "--json"
    )
    board = json.loads(only.stdout)["benchmarks"][0]
    assert board["tasks"] == ["llm_efficiency"]
    assert [r["agent"] for r in board["rows"]] == ["spiky", "steady"]
    assert board["rows"][0]["medal"] == "🥇"

    best = invoke(
        "leaderboard",
        "--results-dir",
        str(results_dir),
        "-t",
        "llm_efficiency",
        "--trials",
        "best",
    )
    assert "BEST of k" in best.stdout


def _reference_file(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "refs.json"
    doc = {"source": "Some paper, Table 3", "benchmark": "full_benchmark", "metric": "relative"}
    path.write_text(json.dumps({**doc, "rows": rows}), encoding="utf-8")
    return path


def _stored(results_dir: Path) -> list[Any]:
    with Store.open(results_dir=results_dir) as store:
        return store.references()


def test_import_then_reimport_adds_no_duplicates(results_dir: Path, tmp_path: Path) -> None:
    ref = _reference_file(
        tmp_path,
        [
            {"agent": "Published agent", "scores": {"llm_efficiency": 12.5, "mini_pile": -3}},
            {"agent": "Top Human in Competition", "scores": {"llm_efficiency": 100}},
        ],
    )
    first = invoke("import", str(ref), "--results-dir", str(results_dir))
    assert first.exit_code == 0, first.stderr
    assert "3 new" in first.stdout
    again = invoke("import", str(ref), "--results-dir", str(results_dir), "--json")
    report = json.loads(again.stdout)
    assert report["new"] == 0 and report["unchanged"] == 3
    assert len(_stored(results_dir)) == 3

    _record(results_dir)
    doc = json.loads(
        invoke(
            "leaderboard", "--results-dir", str(results_dir), "-b", "full_benchmark", "--json"
        ).stdout
    )["benchmarks"][0]
    kinds = {r["agent"]: (r["kind"], r["source"], r["rank"]) for r in doc["rows"]}
    assert kinds["Top Human in Competition"] == ("reference", "Some paper, Table 3", None)
    assert kinds["Published agent"][:2] == ("published", "Some paper, Table 3")
    assert doc["rows"][0]["agent"] == "Top Human in Competition"
    text = invoke("leaderboard", "--results-dir", str(results_dir), "-b", "full_benchmark").stdout
    assert "imported: Some paper, Table 3" in text and "ref" in text


def test_bad_import_names_the_entry_and_imports_nothing(results_dir: Path, tmp_path: Path) -> None:
    ref = _reference_file(
        tmp_path,
        [
            {"agent": "A", "scores": {"llm_efficiency": 1.0}},
            {"agent": "B", "scores": {"llm_efficiency": 2.0}},
            {"agent": "C", "scores": {"llm_efficiency": 3.0}},
            {"agent": "D", "scores": {"mini_pil": 1.0, "baby_lm": "high"}},
        ],
    )
    result = invoke("import", str(ref), "--results-dir", str(results_dir))
    assert result.exit_code == 2
    assert 'rows[3].scores["mini_pil"]' in result.stderr and "mini_pile" in result.stderr
    assert 'rows[3].scores["baby_lm"]: value must be a number' in result.stderr
    assert "hint:" in result.stderr
    assert _stored(results_dir) == []
    checked = invoke("import", "--builtin", "nope", "--results-dir", str(results_dir))
    assert checked.exit_code == 2 and "no built-in reference file 'nope'" in checked.stderr
    neither = invoke("import", "--results-dir", str(results_dir))
    assert neither.exit_code == 2 and "--builtin" in neither.stderr


def test_builtin_paper_import_reproduces_the_published_averages(results_dir: Path) -> None:
    if "mlrc_bench" not in benchmarks():
        missing("the mlrc_bench tasks are not in the catalogue")
    result = invoke("import", "--builtin", "mlrc_bench_paper", "--results-dir", str(results_dir))
    assert result.exit_code == 0, result.stderr
    for metric, column in (("relative", 0), ("absolute", 1)):
        out = invoke(
            "leaderboard",
            "--results-dir",
            str(results_dir),
            "-b",
            "mlrc_bench",
            "--metric",
            metric,
            "--json",
        )
        rows = {r["agent"]: r for r in json.loads(out.stdout)["benchmarks"][0]["rows"]}
        for agent, published in PAPER_AVERAGES.items():
            assert f"{rows[agent]['average']:.1f}" == f"{published[column]:.1f}"
            assert rows[agent]["tasks_covered"] == 7


def test_piped_table_keeps_every_number_whole_and_raw_without_values_says_so(
    results_dir: Path, tmp_path: Path
) -> None:
    names = ["llm_efficiency", "baby_lm", "mini_pile", "llm_merging", "edge_llm_compression"]
    long_agent = "a-very-long-agent-label-" + "x" * 80
    ref = _reference_file(
        tmp_path,
        [
            {"agent": "Published one", "scores": {n: -123.45 for n in names}},
            {"agent": long_agent, "scores": {n: 987.65 for n in names}},
        ],
    )
    assert invoke("import", str(ref), "--results-dir", str(results_dir)).exit_code == 0
    # Piped output (not a terminal) on an 80-column default: the table takes the width it needs.
    piped = CliRunner().invoke(
        app, ["leaderboard", "--results-dir", str(results_dir)], env={"COLUMNS": "80"}
    )
    assert piped.exit_code == 0
    assert "-123.5" in piped.stdout and "987.6" in piped.stdout and "…" not in piped.stdout
    assert "LLM Efficiency" in piped.stdout and "Edge LLM compression" in piped.stdout
    assert max(len(line) for line in piped.stdout.splitlines()) > 80
    assert "x" * 41 not in piped.stdout  # a long name wraps within its column
    # Imported rows carry no raw values: a sentence, not an empty table.
    raw = invoke("leaderboard", "--results-dir", str(results_dir), "--metric", "raw")
    assert raw.exit_code == 0
    assert "no raw values for the tasks shown" in raw.stdout and "┏" not in raw.stdout


def test_list_builtin_prints_tab_separated_name_and_path(results_dir: Path) -> None:
    result = invoke("import", "--list-builtin")
    assert result.exit_code == 0
    name, path = result.stdout.splitlines()[0].split("\t")
    assert name == "mlrc_bench_paper" and Path(path).is_file()
    checked = invoke("import", "--check", path, "--results-dir", str(results_dir))
    assert checked.exit_code == 0 and "is valid" in checked.stdout


def test_html_to_a_folder_or_under_a_file_exits_2_and_leaves_nothing(
    results_dir: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    result = invoke("leaderboard", "--results-dir", str(results_dir), "--html", str(site))
    assert result.exit_code == 2
    assert "it is a folder" in result.stderr and "leaderboard.html" in result.stderr
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    target = blocker / "deep" / "index.html"
    result = invoke("leaderboard", "--results-dir", str(results_dir), "--html", str(target))
    assert result.exit_code == 2
    assert f"{str(blocker)!r} is a file" in result.stderr and "hint:" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "results", "site"]
    assert list(site.iterdir()) == []  # no temporary page left behind
    # a folder that does not exist yet is created
    fresh = tmp_path / "new" / "deeper" / "index.html"
    assert (
        invoke("leaderboard", "--results-dir", str(results_dir), "--html", str(fresh)).exit_code
        == 0
    )
    assert fresh.is_file()


def test_real_subprocess_exit_codes_and_stderr(results_dir: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("agent-eval")
    env = {k: v for k, v in os.environ.items() if k not in DB_VARS}
    bad = subprocess.run(
        [str(exe), "leaderboard", "--results-dir", str(results_dir), "--benchmark", "nope"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: unknown benchmark 'nope'")
    assert "hint:" in bad.stderr and "Traceback" not in bad.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("[1, 2", encoding="utf-8")
    imp = subprocess.run(
        [str(exe), "import", str(broken), "--results-dir", str(results_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert imp.returncode == 2 and "is not valid JSON" in imp.stderr
    empty = subprocess.run(
        [str(exe), "leaderboard", "--results-dir", str(results_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert empty.returncode == 0 and "No results recorded yet" in empty.stdout


@pytest.mark.postgres
def test_leaderboard_on_postgresql(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    ref = _reference_file(
        tmp_path, [{"agent": "PG agent", "scores": {"llm_efficiency": 7.0, "mini_pile": 3.0}}]
    )
    assert invoke("import", str(ref)).exit_code == 0
    assert json.loads(invoke("import", str(ref), "--json").stdout)["new"] == 0
    eff = get_task("llm_efficiency")
    with Store.open() as store:
        assert store.backend == "postgresql"
        store.record_many([evaluation(eff, 0.55, agent="pg-recorded", run_id="pg-1")])
    doc = json.loads(invoke("leaderboard", "-t", "llm_efficiency", "--json").stdout)
    rows = {r["agent"]: r for r in doc["benchmarks"][0]["rows"]}
    assert rows["PG agent"]["average"] == pytest.approx(7.0)
    assert rows["pg-recorded"]["average"] == pytest.approx(40.0)


def test_a_quick_check_is_kept_in_history_but_never_ranked(results_dir: Path) -> None:
    spec = get_task("tiny_lm")
    full = evaluation(spec, 0.9, agent="careful", run_id="c-1")
    quick = evaluation(spec, 0.2, agent="hasty", run_id="h-1")
    quick = quick.model_copy(
        update={"environment": quick.environment.model_copy(update={"sample_limit": 3})}
    )
    with Store.open(results_dir=results_dir) as store:
        store.record_many([full, quick])
        assert len(store.history()) == 2
    result = invoke("leaderboard", "--results-dir", str(results_dir), "-b", "smoke", "--json")
    assert result.exit_code == 0, result.stderr
    agents = [r["agent"] for r in json.loads(result.stdout)["benchmarks"][0]["rows"]]
    assert agents == ["careful"]


def test_file_names_are_printed_literally(tmp_path: Path) -> None:
    folder = tmp_path / "[red]results"
    page = tmp_path / "[bold]page.html"
    result = invoke("leaderboard", "--results-dir", str(folder), "--html", str(page))
    assert result.exit_code == 0, result.output
    assert f"wrote {page}" in result.stderr
    bad = folder / "[red]x.json"
    folder.mkdir()
    bad.write_text("{not json", encoding="utf-8")
    synced = invoke("sync", str(folder))
    assert synced.exit_code == 2
    assert str(bad) in synced.stderr
    assert f"synced {folder} into" in synced.stdout


def _record_pair(results_dir: Path) -> None:
    """Two agents with three trials on each of three tasks of full_benchmark; B trails A."""
    specs = [get_task(n) for n in ("llm_efficiency", "mini_pile", "edge_llm_compression")]
    evs = []
    for i, raws in enumerate([(0.60, 0.50, 0.45), (0.65, 0.52, 0.50), (0.70, 0.54, 0.55)]):
        for spec, raw in zip(specs, raws, strict=True):
            evs.append(evaluation(spec, raw, agent="alpha", run_id=f"a-{spec.name}-{i}"))
            evs.append(evaluation(spec, raw - 0.05, agent="beta", run_id=f"b-{spec.name}-{i}"))
    evs.append(evaluation(get_task("baby_lm"), 0.5, agent="gamma", run_id="g-baby"))
    with Store.open(results_dir=results_dir) as store:
        store.record_many(evs)


def test_compare_two_agents_paired_over_their_tasks(results_dir: Path) -> None:
    _record_pair(results_dir)
    base = ("compare", "alpha", "beta", "--results-dir", str(results_dir))
    doc = json.loads(invoke(*base, "--json", "--plan-delta", "2").stdout)
    assert doc["benchmark"] == "full_benchmark" and doc["common_tasks"] == 3
    assert doc["wins"] == 3 and doc["losses"] == 0
    assert doc["mean_difference"] > 0 and doc["ci95"][0] <= doc["mean_difference"]
    # Three tasks, all won: the exact sign-flip p is 2 of 8 patterns.
    assert doc["p_value"] == pytest.approx(0.25) and "exact" in doc["test"]
    assert 0.5 < doc["p_a_beats_b"] <= 1
    assert doc["plan"]["trials_per_task"] >= 2 and doc["plan"]["delta"] == 2
    assert doc["plan"]["alpha"] == 0.05 and doc["plan"]["power"] == 0.8
    assert {t["task"] for t in doc["tasks"]} == {
        "llm_efficiency",
        "mini_pile",
        "edge_llm_compression",
    }
    text = invoke(*base).stdout
    assert "alpha vs beta on full_benchmark" in text
    assert "p = 0.25" in text and "sign-flip permutation" in text
    assert "smallest possible p is 0.25" in text  # three tasks cannot show more

    unknown = invoke("compare", "alpah", "beta", "--results-dir", str(results_dir))
    assert unknown.exit_code == 2
    assert "no agent 'alpah'" in unknown.stderr and "did you mean 'alpha'" in unknown.stderr
    apart = invoke("compare", "alpha", "gamma", "--results-dir", str(results_dir))
    assert apart.exit_code == 2 and "no task of 'full_benchmark'" in apart.stderr
    assert "Traceback" not in apart.stderr + unknown.stderr
    # A view writes nothing: a mistyped results folder is an empty database, not a new one.
    typo = results_dir.parent / "reslts"
    empty = invoke("compare", "alpha", "beta", "--results-dir", str(typo))
    assert empty.exit_code == 2 and "nothing is recorded yet" in empty.stderr
    assert not typo.exists()


def test_leaderboard_shows_the_average_interval_ranks_held_and_what_is_missing(
    results_dir: Path,
) -> None:
    _record_pair(results_dir)
    three = ["-t", "llm_efficiency", "-t", "mini_pile", "-t", "edge_llm_compression"]
    out = invoke("leaderboard", "--results-dir", str(results_dir), *three).stdout
    assert "95% CI of avg" in out and "rank held" in out and "bootstrap" in out
    doc = json.loads(
        invoke("leaderboard", "--results-dir", str(results_dir), *three, "--json").stdout
    )
    rows = {r["agent"]: r for r in doc["benchmarks"][0]["rows"]}
    low, high = rows["alpha"]["average_ci"]
    assert low < rows["alpha"]["average"] < high
    assert 0 <= rows["alpha"]["rank_stability"] <= 1
    everything = invoke("leaderboard", "--results-dir", str(results_dir), "-b", "full_benchmark")
    assert "misses:" in everything.stdout and "to complete a row" in everything.stdout


def test_compare_subprocess_exit_code_and_stderr(results_dir: Path) -> None:
    exe = Path(sys.executable).with_name("agent-eval")
    env = {k: v for k, v in os.environ.items() if k not in DB_VARS}
    _record_pair(results_dir)
    bad = subprocess.run(
        [str(exe), "compare", "alpha", "nobody", "--results-dir", str(results_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: no agent 'nobody'") and "Traceback" not in bad.stderr
