"""Fencing: after kill -9 of a harness (and of the scheduler), the retried cell's new attempt
starts only once the old attempt's agent is gone: no two agents of one cell ever run at once."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import BASE_IMAGE
from runset_testkit import (
    BEATS,
    batch,
    beats,
    event_time,
    ledger_events,
    overlapping,
    start_batch,
    wait_for,
    write_runset,
)

from agent_harness.runset.attempts import harness_pids
from agent_harness.runset.fencing import watchdog_pids
from agent_harness.runtimes.container import LABEL_RUN_ID

pytestmark = pytest.mark.usefixtures("runset_plugin")


def _kill_mid_cell(
    folder: Path, cell: str, scheduler: Any, also_scheduler: bool, also_watchdog: bool = False
) -> Path:
    attempt = folder / "runs" / cell / "a1"
    wait_for(lambda: len(beats(attempt)) >= 5, 90, "the first attempt's agent to beat")
    (harness,) = harness_pids(attempt)
    if also_scheduler:
        scheduler.send_signal(signal.SIGKILL)
        scheduler.wait()
    os.kill(harness, signal.SIGKILL)
    if also_watchdog:  # as a supervisor that kills the harness's whole cgroup would
        (run_dir,) = [p.parent for p in attempt.glob("*/run.json")]
        for pid in watchdog_pids(run_dir):
            os.kill(pid, signal.SIGKILL)
    return attempt


def _assert_fenced(folder: Path, cell: str, first: Path, offset: float = 0.0) -> dict[str, Any]:
    events = [e for e in ledger_events(folder) if e.get("cell") == cell]
    second = next(e for e in events if e["event"] == "launch" and e["attempt"] == 2)
    seen = beats(first, offset)
    # Zero overlap: the old agent's last heartbeat precedes the new attempt's launch.
    assert seen and max(seen) < event_time(second), (max(seen), event_time(second))
    assert not overlapping(folder, offset)
    fenced = [e for e in events if e["event"] == "fenced"]
    assert len(fenced) == 1 and fenced[0]["attempt"] == 1, fenced
    assert events.index(fenced[0]) < events.index(second)  # proof written before the launch
    record = json.loads(next(first.glob("*/run.json")).read_text())
    assert record["status"] == "error" and record["ended_by"] in ("watchdog", "cleanup")
    return fenced[0]


@pytest.mark.parametrize("killed", ["harness", "scheduler-and-harness", "everything"])
def test_a_retried_cell_starts_only_after_the_old_agent_is_gone(
    tmp_path: Path, killed: str
) -> None:
    clock = "date +%s.%N"
    path = write_runset(
        tmp_path,
        agents=[{"name": "hb", "command": BEATS.format(n=60, clock=clock, out="")}],
        tasks=["rstest_cpu"],
        time_limit="120s",
        grace="5s",
    )
    folder = tmp_path / "set"
    cell = "hb--rstest_cpu--1"
    proc = start_batch("run", str(path), env=dict(os.environ), log=tmp_path / "first.log")
    first = _kill_mid_cell(
        folder, cell, proc, also_scheduler=killed != "harness", also_watchdog=killed == "everything"
    )
    if killed == "harness":
        assert proc.wait(timeout=120) == 0, (tmp_path / "first.log").read_text()[-2000:]
    else:
        done = batch("resume", str(path), "--json", env=dict(os.environ))
        assert done.returncode == 0, done.stderr
        (summary,) = json.loads(done.stdout)["cells"]
        assert (summary["outcome"], summary["attempts"]) == ("completed", 2)
    fenced = _assert_fenced(folder, cell, first)
    # With its watchdog gone too, the scheduler kills the agent's process group itself.
    killer = "scheduler" if killed == "everything" else "watchdog"
    assert fenced["proof"] == "gone" and fenced["killed_by"] == killer
    record = json.loads(next(first.glob("*/run.json")).read_text())
    assert "fenced" in record["message"]
    second = next((folder / "runs" / cell / "a2").glob("*/run.json"))
    assert json.loads(second.read_text())["status"] == "completed"


@pytest.mark.docker
@pytest.mark.usefixtures("agent_images")
def test_docker_cell_is_fenced_by_its_container_label_after_kill_9(
    tmp_path: Path, docker_client: Any
) -> None:
    # busybox's date has no sub-second field: the agent stamps the host's uptime, which the
    # test turns into wall time with the offset it measures itself.
    clock = "cut -d' ' -f1 /proc/uptime"
    path = write_runset(
        tmp_path,
        agents=[
            {
                "name": "hb",
                "image": BASE_IMAGE,
                "command": BEATS.format(n=100, clock=clock, out="/app/output/"),
                "network": "none",
            }
        ],
        tasks=["rstest_cpu"],
        time_limit="120s",
        grace="5s",
    )
    folder = tmp_path / "set"
    cell = "hb--rstest_cpu--1"
    proc = start_batch("run", str(path), env=dict(os.environ), log=tmp_path / "first.log")
    first = _kill_mid_cell(folder, cell, proc, also_scheduler=True)
    run_id = json.loads(next(first.glob("*/run.json")).read_text())["run_id"]
    done = batch("resume", str(path), "--json", env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    offset = time.time() - uptime
    fenced = _assert_fenced(folder, cell, first, offset)
    assert fenced["proof"] == "gone" and "run id" in fenced["detail"]

    assert not docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN_ID}={run_id}"}
    )


def test_an_attempt_on_another_machine_is_fenced_by_its_record_or_its_deadline(
    tmp_path: Path,
) -> None:
    """A Ray node that is not this machine: the fence request goes through the shared folder,
    and the proof is the record of the agent's end, or the old deadline long past."""
    from agent_harness.run_json import Limits, RunRecord, read_record, write_record
    from agent_harness.runset.fencing import REMOTE_MARGIN_S, Fence
    from agent_harness.watchdog import BACKSTOP_S, FENCE_FILE

    attempt = tmp_path / "runs" / "a--t--1" / "a1"
    run_dir = attempt / "20261207T000000Z-rstest_cpu-abcdef"
    run_dir.mkdir(parents=True)
    record = RunRecord(
        run_id=run_dir.name,
        task="rstest_cpu",
        benchmark="rstest",
        task_version="1.0.0",
        image="x",
        runtime="docker",
        provider="none",
        gpus=[],
        limits=Limits(time_limit_s=60, grace_s=5),
        started_at="2026-12-07T00:00:00.000Z",
        deadline=time.time() + 60,
        host="another-machine.invalid",
    )
    write_record(run_dir, record)
    fence = Fence(attempt)
    assert fence.check() is None  # running there, before its deadline: wait
    assert (run_dir / FENCE_FILE).is_file()  # the request, for the watchdog on that node
    write_record(run_dir, record.model_copy(update={"status": "error", "ended_by": "watchdog"}))
    proof = fence.check()
    assert proof is not None and proof.how == "recorded" and "says error" in proof.detail
    # Nothing recorded and the machine silent: proven only once the deadline has long passed.
    write_record(run_dir, record.model_copy(update={"deadline": time.time()}))
    assert Fence(attempt).check() is None
    long_ago = time.time() - (5 + BACKSTOP_S + REMOTE_MARGIN_S) - 10
    write_record(run_dir, record.model_copy(update={"deadline": long_ago}))
    proof = Fence(attempt).check()
    assert proof is not None and "long passed" in proof.detail
    found = read_record(run_dir)
    assert found is not None and found.status == "running"  # another machine's record: untouched
