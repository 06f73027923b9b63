"""Integrity against a hostile agent or a dying harness: the deadline, the log, the console.

Real subprocesses of ``agent-harness`` (killed with SIGKILL, piped into ``head -3``), real
containers and local process groups; each test asserts what a user notices afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import BASE_IMAGE, HARNESS, TASK, clean_environ, harness, wait_for_line

from agent_harness.liveness import group_members
from agent_harness.run_json import read_record
from agent_harness.runtimes.container import LABEL_RUN_ID

GRACE_S = 2
SLACK_S = 2.0
"""The promise: the agent is gone by deadline + grace + this."""

STUBBORN = (
    'echo $$ > pid; trap "" TERM; echo started; '
    '(trap "" TERM; while true; do /bin/busybox sleep 1; done) & '
    "while true; do /bin/busybox sleep 1; done"
)
"""An agent that ignores SIGTERM and forks a child that ignores it too."""


def _start(runtime: str, runs_dir: Path, command: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(HARNESS), "run", BASE_IMAGE, "--task", TASK, "--benchmark", "smoke",
         "--runtime", runtime, "--network", "none", "--runs-dir", str(runs_dir),
         "--grace", f"{GRACE_S}s", "--command", command, *extra],
        env=clean_environ(MLRB_GPU_LOCK_DIR=str(runs_dir.parent / "gpu-locks")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _agent_gone(runtime: str, run_dir: Path, docker_client: Any) -> bool:
    if runtime == "docker":
        return not docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_RUN_ID}={run_dir.name}"}
        )
    # The agent writes into staging/, copied to output/ (renamed into place before the
    # staging folder is removed) once it has stopped.
    for where in ("staging", "output"):
        with contextlib.suppress(OSError):
            return not group_members(int((run_dir / where / "pid").read_text()))
    raise AssertionError(f"no pid file in {run_dir}")


def _wait_gone(runtime: str, run_dir: Path, docker_client: Any, limit: float) -> float:
    """Unix time when the agent was seen gone (fails past ``limit``)."""
    while time.time() < limit + 5:
        if _agent_gone(runtime, run_dir, docker_client):
            return time.time()
        time.sleep(0.1)
    raise AssertionError(f"the agent of {run_dir.name} still runs {time.time() - limit:.1f}s late")


@pytest.fixture
def engine(runtime: str, request: pytest.FixtureRequest) -> Any:
    """The Docker client under the docker runtime, else None."""
    return request.getfixturevalue("docker_client") if runtime == "docker" else None


def test_deadline_holds_after_the_harness_is_killed(
    runtime: str, engine: Any, runs_dir: Path
) -> None:
    proc = _start(runtime, runs_dir, STUBBORN, "--time-limit", "4s")
    try:
        run_dir = wait_for_line(runs_dir, "started")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        record = read_record(run_dir)
        assert record is not None and record.status == "running"
        listed = harness("runs", "--runs-dir", str(runs_dir), env=clean_environ(COLUMNS="250"))
        assert "running (harness gone)" in listed.stdout
        gone = _wait_gone(runtime, run_dir, engine, record.deadline + GRACE_S + SLACK_S)
        assert gone <= record.deadline + GRACE_S + SLACK_S, gone - record.deadline
        assert gone >= record.deadline - 0.5  # not before its time
        end = time.time() + 10
        while (final := read_record(run_dir)) is not None and final.status == "running":
            assert time.time() < end, "the watchdog did not record the run"
            time.sleep(0.1)
        assert final is not None and final.status == "error" and final.ended_by == "watchdog"
        assert "harness" in (final.message or "") and "died" in (final.message or "")
        assert "started" in (run_dir / "agent.log").read_text()
        listed = harness("runs", "--runs-dir", str(runs_dir), "--json")
        assert [r["status"] for r in json.loads(listed.stdout)] == ["error"]
        cleaned = harness("cleanup", "--runs-dir", str(runs_dir), "--json")
        assert run_dir.name not in {i["run_id"] for i in json.loads(cleaned.stdout)}
    finally:
        if proc.poll() is None:
            proc.kill()


def test_deadline_with_a_live_harness_stops_a_stubborn_forking_agent(
    runtime: str, engine: Any, runs_dir: Path
) -> None:
    proc = _start(runtime, runs_dir, STUBBORN, "--time-limit", "3s")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 124, err
    run_dir = next(runs_dir.iterdir())
    record = read_record(run_dir)
    assert record is not None and record.status == "timeout" and record.ended_by == "harness"
    assert _agent_gone(runtime, run_dir, engine)
    assert (record.duration_s or 0) <= 3 + GRACE_S + SLACK_S


def test_a_closed_console_pipe_changes_nothing(runtime: str, runs_dir: Path) -> None:
    """``agent-harness run ... 2>&1 | head -3``: the run completes, agent.log has every line."""
    lines = 'i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done; echo LAST-LINE'
    argv = [
        str(HARNESS), "run", BASE_IMAGE, "--task", TASK, "--benchmark", "smoke",
        "--runtime", runtime, "--network", "none", "--runs-dir", str(runs_dir),
        "--time-limit", "30s", "--command", lines,
    ]  # fmt: skip
    script = " ".join(f"'{a}'" for a in argv) + ' 2>&1 | head -3; echo "rc=${PIPESTATUS[0]}"'
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, env=clean_environ()
    )
    took = time.monotonic() - started
    assert done.stdout.strip().endswith("rc=0"), done.stdout + done.stderr
    assert len(done.stdout.splitlines()) == 4  # three lines shown, then our rc line
    run_dir = next(runs_dir.iterdir())
    record = read_record(run_dir)
    assert record is not None and record.status == "completed" and record.exit_code == 0
    log = (run_dir / "agent.log").read_text().splitlines()
    assert len(log) == 2001 and log[-1] == "LAST-LINE"
    assert not record.log_truncated
    assert took < 25


def test_agent_log_is_capped_with_a_marker_and_the_agent_never_blocks(
    runtime: str, runs_dir: Path
) -> None:
    flood = "/bin/busybox head -c 3000000 /dev/zero | /bin/busybox tr '\\0' 'x'; echo; echo END"
    proc = _start(runtime, runs_dir, flood, "--time-limit", "60", "--log-limit", "64K", "-q")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    run_dir = next(runs_dir.iterdir())
    record = read_record(run_dir)
    assert record is not None and record.status == "completed"
    assert record.log_truncated and record.log_dropped_bytes >= 3_000_000 - 64 * 1024
    text = (run_dir / "agent.log").read_text()
    assert "agent.log reached its limit of 65536 bytes" in text
    assert len(text.encode()) < 64 * 1024 + 1024


def test_the_harness_returns_promptly_after_the_deadline_of_a_flooding_agent(
    runtime: str, runs_dir: Path
) -> None:
    flood = "echo started; trap '' TERM; /bin/busybox yes 'flood flood flood flood flood'"
    proc = _start(runtime, runs_dir, flood, "--time-limit", "3s", "-q")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 124, err
    run_dir = next(runs_dir.iterdir())
    record = read_record(run_dir)
    assert record is not None and record.status == "timeout"
    # The harness's own clock: start to recorded end, SIGKILL after the grace included.
    assert (record.duration_s or 0) <= 3 + GRACE_S + SLACK_S, record.duration_s
    assert (run_dir / "agent.log").read_text(errors="replace").startswith("started\n")


def test_console_shows_no_control_sequences_and_marks_agent_lines(runs_dir: Path) -> None:
    """The console gets the agent's text stripped and prefixed; agent.log keeps it with every
    control character written as inert text."""
    evil = (
        "printf 'title\\033]0;pwned\\007 clip\\033]52;c;ZXZpbA==\\007 "
        "clear\\033[2J\\033[H bell\\007 cr\\rback\\n'; "
        "echo 'agent-harness: run finished, all good'"
    )
    done = harness(
        "run", BASE_IMAGE, "--task", TASK, "--benchmark", "smoke", "--runtime", "local",
        "--runs-dir", str(runs_dir), "--time-limit", "30s", "--command", evil,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    console = done.stderr
    assert "\x1b" not in console and "\x07" not in console and "\r" not in console
    assert "agent| title clip clear bell cr\nagent| back\n" in console
    assert "\nagent-harness: run finished" not in console
    assert "agent| agent-harness: run finished, all good" in console
    log = (next(runs_dir.iterdir()) / "agent.log").read_text()
    # The record keeps what the agent wrote, as text that no terminal acts on.
    assert "title\\x1b]0;pwned\\x07 clip\\x1b]52;c;ZXZpbA==\\x07 clear\\x1b[2J\\x1b[H " in log
    assert "bell\\x07 cr\nback\n" in log
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", log)


@pytest.mark.docker
def test_a_docker_run_captures_its_first_and_last_lines(
    agent_images: dict[str, str], runs_dir: Path
) -> None:
    """Output read from the attach socket: nothing before or after is missed."""
    done = harness(
        "run", BASE_IMAGE, "--task", TASK, "--benchmark", "smoke", "--runtime", "docker",
        "--network", "none", "--runs-dir", str(runs_dir), "--time-limit", "30s", "-q",
        "--command", "echo FIRST; echo to-stderr >&2; /bin/busybox sleep 0.5; i=0; "
        "while [ $i -lt 500 ]; do echo $i; i=$((i+1)); done; printf NO-NEWLINE",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    log = (next(runs_dir.iterdir()) / "agent.log").read_text().splitlines()
    # The engine copies stdout and stderr separately (either may come first); the pause keeps
    # stderr's line off the loop's lines.
    assert sorted(log[:2]) == ["FIRST", "to-stderr"] and log[2] == "0"
    assert log[-1] == "NO-NEWLINE"
    assert len(log) == 503


def test_progress_echo_never_blocks_on_a_stuck_console(tmp_path: Path) -> None:
    """A console whose writes hang: agent output is dropped and counted, never waited for."""
    import threading

    from agent_harness.console import Progress

    release = threading.Event()

    class Stuck:
        def write(self, text: str) -> int:
            release.wait(30)
            return len(text)

        def flush(self) -> None:
            pass

    progress = Progress(stream=Stuck(), queue_chars=1000)  # type: ignore[arg-type]
    started = time.monotonic()
    for _ in range(1000):
        progress.agent_output("x" * 99 + "\n")
    progress.say("still here")
    assert time.monotonic() - started < 1.0
    assert progress.dropped_chars > 90_000
    assert not progress.drain(0.2)
    release.set()
    assert progress.drain(5)


def test_a_broken_console_pipe_is_swallowed(tmp_path: Path) -> None:
    from agent_harness.console import Progress

    read, write = os.pipe()
    os.close(read)
    stream = os.fdopen(write, "w")
    progress = Progress(stream=stream)
    progress.say("hello")
    progress.agent_output("text\n")
    progress.drain(2)
    assert progress.broken
    progress.say("after")  # no exception: the console stays quiet
    progress.agent_output("more\n")
    assert progress.broken
    with contextlib.suppress(BrokenPipeError):
        stream.close()  # what the failed write left in the buffer


@pytest.mark.parametrize("limit", ["abc", "0", "1e9", "-5M"])
def test_a_bad_log_limit_is_a_usage_error_before_anything_starts(
    limit: str, runs_dir: Path
) -> None:
    done = harness(
        "run", BASE_IMAGE, "--task", TASK, "--runtime", "local", "--runs-dir", str(runs_dir),
        "--command", "true", "--log-limit", limit,
    )  # fmt: skip
    assert done.returncode == 2 and f"error: invalid log limit {limit!r}" in done.stderr
    assert not runs_dir.exists() or not list(runs_dir.iterdir())


def test_a_frozen_harness_cannot_keep_the_agent_past_its_deadline(runs_dir: Path) -> None:
    """The harness stopped (SIGSTOP) past the deadline: the watchdog's backstop kills the agent;
    the harness, resumed, records the run itself."""
    from agent_harness.watchdog import BACKSTOP_S

    proc = _start("local", runs_dir, STUBBORN, "--time-limit", "2s")
    try:
        run_dir = wait_for_line(runs_dir, "started")
        proc.send_signal(signal.SIGSTOP)
        record = read_record(run_dir)
        assert record is not None
        limit = record.deadline + GRACE_S + BACKSTOP_S + SLACK_S
        gone = _wait_gone("local", run_dir, None, limit)
        assert record.deadline + GRACE_S + BACKSTOP_S - 0.5 <= gone <= limit
    finally:
        proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    final = read_record(run_dir)
    assert final is not None and final.ended_by == "harness", err
    assert final.status in ("timeout", "failed")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\x1b[31mred\x1b[0m b", "ared b"),
        ("t\x1b]0;title\x07x", "tx"),
        ("c\x1b]52;c;ZXZpbA==\x1b\\d", "cd"),
        ("e\x9b2Jf\x9d0;t\x9cg", "efg"),
        ("tab\tok\x00\x08\x7f", "tab\tok"),
        ("x\x1bcy\x1b(Bz", "xyz"),
        ("over\rwrite", "over\nwrite"),
        ("half\x1b[", "half"),
    ],
)
def test_strip_controls(raw: str, shown: str) -> None:
    from agent_harness.console import strip_controls

    assert strip_controls(raw) == shown
