"""Run sets on one host through the real harness (local runtime): placement, results, retries,
kill -9 of the scheduler then resume, Ctrl-C, cancel."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
from runset_testkit import (
    audit,
    batch,
    ledger_events,
    results_in_ledger,
    run_folders,
    start_batch,
    wait_for,
    write_runset,
)

from agent_harness.runset.attempts import harness_pids

pytestmark = pytest.mark.usefixtures("runset_plugin")

TRACE = (
    'echo "$(date +%s.%N) $CUDA_VISIBLE_DEVICES" > trace.txt; sleep {sleep}; '
    'echo "$(date +%s.%N)" >> trace.txt'
)


def _sets_env() -> dict[str, str]:
    return dict(os.environ)


def _traces(folder: Path) -> list[tuple[str, float, float, set[str]]]:
    found = []
    for trace in folder.glob("runs/*/a*/*/output/trace.txt"):
        first, last = trace.read_text().split("\n")[:2]
        start, _, ids = first.partition(" ")
        cell = trace.parents[3].name
        found.append((cell, float(start), float(last), {i for i in ids.split(",") if i}))
    return found


def test_cells_run_on_free_gpus_only_and_failures_are_results(tmp_path: Path) -> None:
    path = write_runset(
        tmp_path,
        agents=[
            {"name": "ok", "command": TRACE.format(sleep=1)},
            {"name": "bad", "command": "echo giving up; exit 7"},
        ],
        tasks=["rstest_gpu1", "rstest_gpu2", "rstest_cpu"],
        trials=2,
        gpus="0,1,2",
        simulate_gpus=True,
        time_limit="60s",
        grace="1s",
    )
    done = batch("run", str(path), "--json", env=_sets_env())
    assert done.returncode == 0, done.stderr
    cells = {c["cell"]: c for c in json.loads(done.stdout)["cells"]}
    assert len(cells) == 12
    for cell_id, cell in cells.items():
        expected = ("completed", 0) if cell_id.startswith("ok--") else ("failed", 4)
        assert (cell["state"], cell["outcome"], cell["exit_code"]) == ("finished", *expected)
        assert cell["attempts"] == 1  # the agent's own failure is a result, never retried
    traces = _traces(tmp_path / "set")
    assert len(traces) == 6
    for cell, _, _, ids in traces:
        wanted = 2 if "gpu2" in cell else 1 if "gpu1" in cell else 0
        assert len(ids) == wanted and ids <= {"0", "1", "2"}, (cell, ids)
    for a, b in itertools.combinations(traces, 2):
        overlap = a[1] < b[2] and b[1] < a[2]
        assert not (overlap and a[3] & b[3]), f"{a[0]} and {b[0]} shared GPUs {a[3] & b[3]}"
    record = json.loads(
        next((tmp_path / "set").glob("runs/ok--rstest_gpu2--1/a1/*/run.json")).read_text()
    )
    assert len(record["gpus"]) == 2 and record["status"] == "completed"
    # Finished is finished: run again refuses, resume starts nothing.
    again = batch("run", str(path), env=_sets_env())
    assert again.returncode == 2 and "already started" in again.stderr
    resumed = batch("resume", str(path), "--json", env=_sets_env())
    assert resumed.returncode == 0
    launches = [e for e in ledger_events(tmp_path / "set") if e["event"] == "launch"]
    assert len(launches) == 12
    status = batch("status", str(path), "--json", env=_sets_env())
    assert {c["state"] for c in json.loads(status.stdout)["cells"]} == {"finished"}


def test_a_usage_error_ends_the_cell_without_retries(tmp_path: Path) -> None:
    path = write_runset(
        tmp_path,
        agents=[{"name": "a", "command": "true", "user": "bogus"}],  # refused by the harness
        tasks=["rstest_cpu"],
        retries=3,
    )
    done = batch("run", str(path), "--json", env=_sets_env())
    assert done.returncode == 3, done.stderr
    (cell,) = json.loads(done.stdout)["cells"]
    assert (cell["outcome"], cell["attempts"]) == ("error", 1)
    end = [e for e in ledger_events(tmp_path / "set") if e["event"] == "end"][-1]
    assert "bogus" in (end["message"] or "")


def _started(folder: Path, count: int) -> bool:
    return sum(1 for e in ledger_events(folder) if e["event"] == "started") >= count


def test_kill_9_of_the_scheduler_then_resume_loses_and_repeats_nothing(tmp_path: Path) -> None:
    path = write_runset(
        tmp_path,
        agents=[{"name": "s", "command": "sleep 1.5; echo done > model.txt"}],
        tasks=["rstest_gpu1", "rstest_gpu2", "rstest_cpu"],
        trials=3,
        gpus="0,1",
        simulate_gpus=True,
        grace="1s",
    )
    folder = tmp_path / "set"
    proc = start_batch("run", str(path), env=_sets_env(), log=tmp_path / "first.log")
    wait_for(lambda: _started(folder, 3), 60, "three cells to start")
    time.sleep(random.uniform(0.5, 3.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = results_in_ledger(folder)
    cells = [
        f"s--{t}--{n}" for t in ("rstest_gpu1", "rstest_gpu2", "rstest_cpu") for n in (1, 2, 3)
    ]
    assert len(before) < len(cells)  # killed mid-set
    done = batch("resume", str(path), "--json", env=_sets_env())
    assert done.returncode == 0, done.stderr
    assert audit(folder, cells, before) == {"rerun": 0, "lost": 0, "duplicated": 0}
    folders = run_folders(folder)
    assert all(len(folders[c]) == 1 and folders[c][0][1] == "completed" for c in cells)


def test_ctrl_c_stops_every_running_cell_and_resume_finishes_the_set(tmp_path: Path) -> None:
    duration = tmp_path / "duration"
    duration.write_text("30")
    path = write_runset(
        tmp_path,
        agents=[{"name": "s", "command": f"sleep $(cat {duration})"}],
        tasks=["rstest_gpu1"],
        trials=3,
        gpus="0,1",
        simulate_gpus=True,
        grace="2s",
    )
    folder = tmp_path / "set"
    proc = start_batch("run", str(path), env=_sets_env(), log=tmp_path / "first.log")
    wait_for(lambda: _started(folder, 2), 60, "two cells to start")
    attempts = [folder / "runs" / f"s--rstest_gpu1--{n}" / "a1" for n in (1, 2)]
    wait_for(lambda: all(run_folders(folder).get(a.parent.name) for a in attempts), 30, "runs")
    asked = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert time.monotonic() - asked < 2 + 10
    for attempt in attempts:
        assert not harness_pids(attempt)
        record = json.loads(next(attempt.glob("*/run.json")).read_text())
        assert (record["status"], record["exit_code"]) == ("interrupted", 130)
    ends = [e for e in ledger_events(folder) if e["event"] == "end"]
    assert sorted(e["cell"] for e in ends) == ["s--rstest_gpu1--1", "s--rstest_gpu1--2"]
    assert {e["outcome"] for e in ends} == {"interrupted"}
    assert "interrupted" in (tmp_path / "first.log").read_text()
    duration.write_text("0")
    done = batch("resume", str(path), "--json", env=_sets_env())
    assert done.returncode == 0, done.stderr
    assert {c["outcome"] for c in json.loads(done.stdout)["cells"]} == {"completed"}


def test_cancel_stops_the_harnesses_a_killed_scheduler_left(tmp_path: Path) -> None:
    path = write_runset(
        tmp_path,
        agents=[{"name": "s", "command": "sleep 30"}],
        tasks=["rstest_cpu"],
        trials=2,
        concurrency=2,
        grace="1s",
    )
    folder = tmp_path / "set"
    proc = start_batch("run", str(path), env=_sets_env(), log=tmp_path / "first.log")
    wait_for(lambda: _started(folder, 2), 60, "two cells to start")
    attempts = [folder / "runs" / f"s--rstest_cpu--{n}" / "a1" for n in (1, 2)]
    # Both agents running (a harness stopped before it made its run folder is "lost" instead).
    wait_for(lambda: all(list(a.glob("*/run.json")) for a in attempts), 60, "both runs to start")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert all(harness_pids(a) for a in attempts)  # the harnesses outlive the scheduler
    status = json.loads(batch("status", str(path), "--json", env=_sets_env()).stdout)
    assert {c["state"] for c in status["cells"]} == {"running"}
    cancelled = batch("cancel", str(path), "--json", env=_sets_env())
    assert cancelled.returncode == 0, cancelled.stderr
    assert len(json.loads(cancelled.stdout)["harnesses"]) == 2
    assert not any(harness_pids(a) for a in attempts)
    ends = [e for e in ledger_events(folder) if e["event"] == "end"]
    assert {e["outcome"] for e in ends} == {"interrupted"} and len(ends) == 2


def test_simulated_gpus_exist_only_where_gpus_are_listed_and_requested(tmp_path: Path) -> None:
    import subprocess
    import sys

    from agent_harness.gpus import SIMULATED_GPUS_ENV

    argv = [sys.executable, "-m", "agent_harness", "run", "sim", "--task", "rstest_gpu1",
            "--runtime", "local", "--gpus", "1", "--runs-dir", str(tmp_path / "runs"),
            "--command", "echo $CUDA_VISIBLE_DEVICES > seen.txt", "--quiet"]  # fmt: skip
    real = {k: v for k, v in os.environ.items() if k != SIMULATED_GPUS_ENV}
    refused = subprocess.run(argv, capture_output=True, text=True, env=real, timeout=120)
    assert refused.returncode == 3 and "GPU" in refused.stderr  # no GPU here: refused
    simulated = {**real, SIMULATED_GPUS_ENV: "0,1"}
    done = subprocess.run(argv, capture_output=True, text=True, env=simulated, timeout=120)
    assert done.returncode == 0, done.stderr
    (seen,) = (tmp_path / "runs").glob("*/output/seen.txt")
    assert seen.read_text().strip() == "1"
    record = json.loads((seen.parents[1] / "run.json").read_text())
    assert record["gpus"] == ["1"]


def test_cells_are_evaluated_through_the_hand_off_and_the_set_gets_its_leaderboard(
    tmp_path: Path,
) -> None:
    path = write_runset(
        tmp_path,
        agents=[{"name": "noop", "command": "echo no model"}],
        tasks=["rstest_cpu"],
        evaluate=True,
        eval_mode="process",
    )
    done = batch("run", str(path), env=_sets_env())
    assert done.returncode == 0, done.stderr
    end = next(e for e in ledger_events(tmp_path / "set") if e["event"] == "end")
    # No deliverable: the evaluator records an error linked to the run (exit 5), never a score;
    # the run itself is the cell's result.
    assert (end["outcome"], end["evaluation_exit"]) == ("completed", 5)
    saved = list((tmp_path / "set" / "results").glob("*.json"))
    assert [p.name for p in saved] == end["results"]
    result = json.loads(saved[0].read_text())
    assert result["status"] == "error" and result["run_id"] == end["run_id"]
    assert "Average" in done.stderr and "never counted as 0" in done.stderr  # the leaderboard


def test_a_link_planted_as_the_sets_lock_is_refused_and_its_target_untouched(
    tmp_path: Path,
) -> None:
    """A scheduler (run as root on a shared host) never truncates or writes through a link
    put in place of its lock file."""
    path = write_runset(tmp_path, agents=[{"name": "a", "command": "true"}], tasks=["rstest_cpu"])
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    (tmp_path / "set").mkdir(exist_ok=True)
    (tmp_path / "set" / "scheduler.lock").symlink_to(victim)
    done = batch("run", str(path), env=_sets_env())
    assert done.returncode == 3, done.stderr
    assert "scheduler.lock" in done.stderr and "Traceback" not in done.stderr
    assert victim.read_text() == "precious\n" and (victim.stat().st_mode & 0o777) == 0o600
    assert not list((tmp_path / "set").glob("runs/*/a*/*/run.json"))  # nothing was started
