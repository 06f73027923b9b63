"""The run-set file: validated as a whole, every problem named by its place; stable cells."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from runset_testkit import batch, write_runset

from agent_harness.gpus import GpuSelection
from agent_harness.runset.attempts import attempt_config
from agent_harness.runset.model import RunSetError, load_runset

pytestmark = pytest.mark.usefixtures("runset_plugin")


def _problems(path: Path) -> list[str]:
    with pytest.raises(RunSetError) as caught:
        load_runset(path)
    assert caught.value.exit_code == 2
    return [line.strip() for line in caught.value.message.splitlines()[1:]]


def test_every_problem_is_named_with_its_place(tmp_path: Path) -> None:
    path = write_runset(
        tmp_path,
        agents=[
            {"name": "ok", "image": "x/agent:1"},
            {"name": "no-way"},
            {"name": "bad name!", "image": "y", "harness_args": ["--gpus", "3"]},
        ],
        tasks=["rstest_cpu", {"name": "rstest_gpu1", "time_limit": "soon"}],
        trials=0,
        gpus="0,00",
        colour="blue",
    )
    problems = _problems(path)
    places = [p.split(":", 1)[0] for p in problems]
    assert "agents[1]" in places  # neither image nor command
    assert "agents[2].name" in places
    assert "agents[2].harness_args" in places  # a command line is refused, with what to write
    assert any("fields of the agent now" in p for p in problems)
    assert "tasks[1].time_limit" in places
    assert "trials" in places
    assert "gpus" in places  # duplicate ids in any spelling
    assert "colour" in places  # unknown field
    assert any("give an image" in p for p in problems)


def test_an_agents_runtime_is_a_registered_one_that_can_run_it(tmp_path: Path) -> None:
    path = write_runset(
        tmp_path,
        agents=[
            {"name": "a", "command": "true", "runtime": "kubernetes"},
            {"name": "b", "command": "true", "runtime": "docker"},
            {"name": "c", "image": "x/agent:1", "runtime": "local"},
        ],
        tasks=["rstest_cpu"],
    )
    problems = _problems(path)
    assert any(
        p.startswith("agents[0]") and "unknown runtime 'kubernetes'" in p
        and "known runtimes: docker, local, auto" in p
        for p in problems
    ), problems  # fmt: skip
    assert any(p.startswith("agents[1]") and "runtime docker needs an image" in p for p in problems)
    assert any(p.startswith("agents[2]") and "runtime local needs a command" in p for p in problems)


def test_catalogue_problems_are_named_too(tmp_path: Path) -> None:
    path = write_runset(
        tmp_path,
        agents=[{"name": "a", "command": "true", "env_file": "missing.env"}],
        tasks=["rstest_cpu", "rstest_gpuu2", "rstest_gpu2"],
        benchmarks=["nobench"],
        gpus="0",
        simulate_gpus=True,
    )
    problems = _problems(path)
    assert any(p.startswith("tasks[1]: unknown task 'rstest_gpuu2'") for p in problems)
    assert any("did you mean" in p and "rstest_gpu2" in p for p in problems)
    assert any(p.startswith("benchmarks[0]: unknown benchmark 'nobench'") for p in problems)
    assert any(p.startswith("gpus: task 'rstest_gpu2' needs 2 GPU(s)") for p in problems)
    assert any(p.startswith("agents[0].env_file") for p in problems)


def test_yaml_syntax_and_shape_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents: [\n", encoding="utf-8")
    assert "not valid YAML at line" in _problems(bad)[0]
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n", encoding="utf-8")
    assert "a run set is a mapping" in _problems(listing)[0]


def test_cells_expand_with_stable_ids_widest_first(tmp_path: Path) -> None:
    content = {
        "agents": [{"name": "a", "command": "true"}, {"name": "b", "image": "img:1"}],
        "benchmarks": ["rstest"],
        "tasks": ["rstest_cpu", {"name": "rstest_gpu1", "time_limit": "45s"}],
        "trials": 2,
        "time_limit": "90s",
        "gpus": "0,1,2,3",
        "simulate_gpus": True,
    }
    first = load_runset(write_runset(tmp_path, **content))
    again = load_runset(write_runset(tmp_path, **content))
    ids = [c.cell_id for c in first.cells]
    assert ids == [c.cell_id for c in again.cells] and first.digest == again.digest
    assert len(ids) == len(set(ids)) == 2 * 3 * 2  # a task named twice runs once
    assert ids[0] == "a--rstest_gpu2--1"
    assert [c.gpus for c in first.cells] == sorted((c.gpus for c in first.cells), reverse=True)
    limits = {c.task: c.time_limit_s for c in first.cells}
    assert limits == {"rstest_gpu2": 90, "rstest_gpu1": 45, "rstest_cpu": 90}
    assert first.folder == tmp_path / "set" and first.gpu_ids == ("0", "1", "2", "3")
    changed = load_runset(write_runset(tmp_path, **{**content, "trials": 3}))
    assert changed.digest != first.digest


def test_an_attempts_run_description_carries_the_cell_and_no_secret(tmp_path: Path) -> None:
    (tmp_path / "agent.env").write_text("OPENAI_API_KEY=sk-FAKE-123\n", encoding="utf-8")
    loaded = load_runset(
        write_runset(
            tmp_path,
            agents=[
                {
                    "name": "b",
                    "image": "img:1",
                    "provider": "openai",
                    "env_file": "agent.env",
                    "budget_tokens": 50000,
                    "budget_usd": 1.5,
                    "pass_env": ["EXTRA"],
                    "log_limit": "1.5G",
                    "disk_limit": "2T",
                }
            ],
            tasks=["rstest_gpu2"],
            gpus="0,1",
            simulate_gpus=True,
            evaluate=True,
            grace="1m",
        )
    )
    cell = loaded.cells[0]
    config = attempt_config(loaded, cell, GpuSelection(ids=("0", "1")), tmp_path / "a1")
    assert config.gpus == GpuSelection(ids=("0", "1")) and config.task == "rstest_gpu2"
    assert config.env_file == tmp_path / "agent.env" and config.pass_env == ("EXTRA",)
    assert config.evaluate and config.results_dir == loaded.folder / "results"
    assert (config.agent_label, config.credentials) == ("b", "proxy")
    assert (config.budget_tokens, config.budget_usd) == (50000, 1.5)
    assert (config.grace, config.log_limit, config.disk_limit) == (
        60,
        3 * 1024**3 // 2,
        2 * 1024**4,
    )
    assert (config.runs_dir, config.echo) == (tmp_path / "a1", False)
    assert "sk-FAKE-123" not in config.model_dump_json()


def test_ledger_survives_a_torn_last_line(tmp_path: Path) -> None:
    from agent_harness.runset.ledger import Ledger

    ledger = Ledger(tmp_path)
    ledger.append("launch", cell="a--t--1", attempt=1, folder="runs/a--t--1/a1", gpus=["0"])
    with ledger.path.open("ab") as torn:
        torn.write(b'{"event": "end", "cell": "a--t--1", "outc')  # a crash mid-write
    ledger.append("started", cell="a--t--1", attempt=1, pid=42)
    _, cells = ledger.replay()
    attempt = cells["a--t--1"].open_attempt
    assert attempt is not None and attempt.pid == 42 and attempt.gpus == ["0"]
    assert len(ledger.path.read_text().splitlines()) == 3


def test_progress_lines_show_counts_gpus_and_time() -> None:
    import io

    from agent_harness.runset.panel import SetView

    snap = {
        "name": "m",
        "total": 24,
        "queued": 10,
        "running": [{"cell": "a--t--1", "gpus": ["0", "1"], "elapsed_s": 5.0, "limit_s": 60}],
        "finished": {"completed": 11, "failed": 2},
        "gpus": {"0": "a--t--1", "1": "a--t--1", "2": "", "3": ""},
        "gpus_used": 2,
        "gpus_total": 4,
        "elapsed_s": 65.0,
        "eta_s": 130.0,
        "stopping": False,
    }
    plain = io.StringIO()
    view = SetView(plain)
    view.update(snap)
    line = plain.getvalue()
    assert "13/24 finished (11 completed, 2 failed/timeout/error)" in line
    assert "1 running | 10 queued | GPUs 2/4 busy" in line and "0:02:10 left" in line
    from rich.console import Console

    from agent_harness.runset.panel import panel

    shown = io.StringIO()
    Console(file=shown, width=160).print(panel(snap))
    text = shown.getvalue()
    assert "a--t--1" in text and "0,1" in text and "0:00:05 / 0:01:00" in text
    assert "GPUs: 0 1 2 3" in text


def test_batch_cli_reports_a_bad_file_and_an_unstarted_set(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from agent_harness.cli import app

    runner = CliRunner()
    bad = write_runset(tmp_path, name="bad.yaml", agents=[], tasks=["rstest_cpu"])
    result = runner.invoke(app, ["batch", "run", str(bad)])
    assert result.exit_code == 2 and "agents: " in result.output
    good = write_runset(tmp_path, agents=[{"name": "a", "command": "true"}], tasks=["rstest_cpu"])
    result = runner.invoke(app, ["batch", "resume", str(good)])
    assert result.exit_code == 2 and "has not been started" in result.output
    status = runner.invoke(app, ["batch", "status", str(good), "--json"])
    assert status.exit_code == 0
    shown = json.loads(status.output)
    assert shown["scheduler_pid"] is None
    assert [(c["cell"], c["state"]) for c in shown["cells"]] == [("a--rstest_cpu--1", "queued")]
    cancelled = runner.invoke(app, ["batch", "cancel", str(good)])
    assert cancelled.exit_code == 0 and "nothing was running" in cancelled.output
    assert not (tmp_path / "set" / "ledger.jsonl").exists()  # still startable


MALFORMED = {
    "latin-1": (
        b'agents:\n  - name: a\n    command: "caf\xe9"\ntasks: [rstest_cpu]\n',
        "line 3, column 18: byte 0xe9 is not UTF-8",
    ),
    "deep": (
        b"agents: " + b"[" * 20000 + b"]" * 20000 + b"\ntasks: [rstest_cpu]\n",
        "too deep at line 1, column 40: nested deeper than 32 levels",
    ),
    "duplicate": (
        b"agents:\n  - {name: a, command: 'true'}\ntrials: 3\ntasks: [rstest_cpu]\ntrials: 1\n",
        "line 5: key 'trials' is given twice (first at line 3)",
    ),
    "oversized": (
        b"agents: [{name: a, command: 'true'}]\ntasks: [rstest_cpu]\n" + b"#" * (1 << 20),
        "larger than 1 MiB, the most a run set may be",
    ),
    "aliases": (
        b"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        b"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
        "more than 100000 values once aliases are expanded",
    ),
    "agent-typo": (
        b"agents:\n  - name: a\n    comand: 'true'\ntasks: [rstest_cpu]\n",
        "agents[0].comand: unknown field 'comand' (did you mean 'command'?)",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_file_is_exit_2_with_one_located_problem(tmp_path: Path, case: str) -> None:
    content, expected = MALFORMED[case]
    path = tmp_path / "set.yaml"
    path.write_bytes(content)
    done = batch("run", str(path), "--json", env=dict(os.environ), timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert "has 1 problem(s)" in done.stderr, done.stderr  # one clear error, no spurious extra
    assert expected in done.stderr, done.stderr
    assert not (tmp_path / "set").exists()  # nothing started


def test_address_help_names_no_cluster_that_does_not_exist() -> None:
    from typer.testing import CliRunner

    from agent_harness.cli import app

    shown = CliRunner().invoke(app, ["batch", "run", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    assert "started for this set" not in shown.output
    assert "required with --backend ray" in shown.output


def test_a_run_sets_snapshot_interval_reaches_each_cells_harness(tmp_path: Path) -> None:
    content = {"agents": [{"name": "a", "image": "img:1"}], "tasks": ["rstest_gpu2"],
               "gpus": "0,1", "simulate_gpus": True}  # fmt: skip
    loaded = load_runset(write_runset(tmp_path, snapshot_every="30m", **content))
    config = attempt_config(loaded, loaded.cells[0], GpuSelection(ids=("0", "1")), tmp_path / "a1")
    assert config.snapshot_every == 1800
    bad = write_runset(tmp_path, "bad.yaml", snapshot_every="0s", **content)
    assert any("snapshot interval" in p for p in _problems(bad))
