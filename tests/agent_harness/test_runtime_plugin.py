"""A third runtime, plugged in from a package as a lab would: found, run end to end, cleaned up.

``tests/support/runtime_plugin`` holds a module that registers ``@runtime("bwrap")`` (the local
runtime's process inside bubblewrap) and the ``mlrb.runtimes`` entry point that declares it. With
that folder on ``PYTHONPATH`` the real ``agent-harness`` (and its watchdog, another process)
find the runtime; nothing in the harness names it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from harness_testkit import HARNESS, TASK, clean_environ, harness, wait_for_line

from agent_harness.liveness import pid_alive, processes
from agent_harness.run_json import read_record

PLUGIN = Path(__file__).resolve().parents[1] / "support" / "runtime_plugin"

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is missing")

MARK = "3131"
"""A sleep the agent leaves in the background; nothing of it may outlive the run."""


def _env(*, plugin: bool = True) -> dict[str, str]:
    env = clean_environ()
    if plugin:
        env["PYTHONPATH"] = os.pathsep.join([p for p in (env.get("PYTHONPATH"), str(PLUGIN)) if p])
    return env


def _sleepers() -> list[int]:
    """Live processes of this host running the agent's background ``sleep MARK``."""

    def ours(entry: Path) -> bool:
        return (entry / "cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", MARK.encode()]

    return [pid for pid in processes(ours) if pid_alive(pid)]


def _gone(limit_s: float = 15) -> bool:
    end = time.monotonic() + limit_s
    while _sleepers():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


HOSTILE = (
    f"sleep {MARK} & "
    "env > env.txt; "
    "echo planted > /task/TASK.md || echo task-refused; "
    "echo planted > ../run.json || echo record-refused; "
    "mkdir -p $OUTPUT_DIR/model && echo weights > $OUTPUT_DIR/model/weights.bin; "
    "echo agent done"
)
"""An agent that leaves a deliverable, tries to overwrite its task and its run record, and
leaves a process behind."""


def test_a_plugin_runtime_runs_a_task_end_to_end(runs_dir: Path) -> None:
    result = harness(
        "run", "lab/agent:1", "--task", TASK, "--runtime", "bwrap", "--runs-dir", str(runs_dir),
        "--time-limit", "60", "--command", HOSTILE, "--json", env=_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [run_dir] = list(runs_dir.iterdir())
    record = read_record(run_dir)
    assert record is not None and json.loads(result.stdout)["run_id"] == record.run_id
    assert record.runtime == "bwrap" and record.status == "completed" and record.exit_code == 0
    assert record.ended_by == "harness" and record.image_id is None
    assert record.deliverable is not None and record.deliverable.path == "output/model"
    assert (run_dir / "output" / "model" / "weights.bin").read_bytes() == b"weights\n"
    assert record.output_safety is not None and record.output_safety.copied
    # The agent saw its folders where the runtime put them, and changed neither of the others.
    env = (run_dir / "output" / "env.txt").read_text()
    assert "TASK_DIR=/task\n" in env and "OUTPUT_DIR=/app/output\n" in env
    log = (run_dir / "agent.log").read_text()
    assert "task-refused" in log and "agent done" in log
    assert "planted" not in (run_dir / "task" / "TASK.md").read_text()
    # Cleanup on the way out: the staging folder is gone, the task folder given back, the
    # process the agent left behind killed.
    assert sorted(p.name for p in run_dir.iterdir() if p.is_dir()) == ["output", "task"]
    assert (run_dir / "task").stat().st_mode & 0o200
    assert _gone()
    listed = harness("runs", "--runs-dir", str(runs_dir), "--json", env=_env())
    assert [(r["runtime"], r["status"]) for r in json.loads(listed.stdout)] == [
        ("bwrap", "completed")
    ]


def test_an_unknown_runtime_is_a_usage_error_that_lists_the_known_ones(runs_dir: Path) -> None:
    without = harness(
        "run", "lab/agent:1", "--task", TASK, "--runtime", "bwrap", "--runs-dir", str(runs_dir),
        "--command", "true", env=_env(plugin=False),
    )  # fmt: skip
    assert without.returncode == 2
    assert "unknown runtime 'bwrap'" in without.stderr
    assert "known runtimes: docker, local, auto" in without.stderr
    assert "Traceback" not in without.stderr
    typo = harness(
        "run", "lab/agent:1", "--task", TASK, "--runtime", "bwarp", "--runs-dir", str(runs_dir),
        "--command", "true", env=_env(),
    )  # fmt: skip
    assert typo.returncode == 2
    assert "did you mean 'bwrap'?" in typo.stderr and "docker, local, bwrap, auto" in typo.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_a_plugin_runtime_refuses_the_proxy_before_anything_starts(runs_dir: Path) -> None:
    env = {**_env(), "OPENAI_API_KEY": "sk-test-FAKE-plugin"}
    result = harness(
        "run", "lab/agent:1", "--task", TASK, "--runtime", "bwrap", "--runs-dir", str(runs_dir),
        "--provider", "openai", "--command", "true", env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "the bwrap runtime gives the agent no network" in result.stderr
    assert not any(runs_dir.iterdir())  # no run folder


def test_the_watchdog_finds_a_plugin_runtimes_agent_when_the_harness_dies(runs_dir: Path) -> None:
    proc = subprocess.Popen(
        [str(HARNESS), "run", "lab/agent:1", "--task", TASK, "--runtime", "bwrap",
         "--runs-dir", str(runs_dir), "--time-limit", "4s", "--grace", "1s",
         "--command", f"sleep {MARK} & echo started; trap '' TERM; sleep 600"],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        run_dir = wait_for_line(runs_dir, "started")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        record = read_record(run_dir)
        assert record is not None and record.status == "running"
        end = time.monotonic() + 60
        while (final := read_record(run_dir)) is not None and final.status == "running":
            assert time.monotonic() < end, "the watchdog did not record the run"
            time.sleep(0.2)
        assert final is not None and final.status == "error" and final.ended_by == "watchdog"
        assert "at the deadline" in (final.message or "")
        assert final.output_safety is not None and final.output_safety.copied
        assert _gone()
        assert (run_dir / "task").stat().st_mode & 0o200  # given back by the runtime
    finally:
        if proc.poll() is None:
            proc.kill()
