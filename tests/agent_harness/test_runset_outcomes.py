"""How an attempt's end becomes a cell's outcome, and the scheduler's retry policy.

The GPU lock of the harness (exit 3 "GPU ... busy") is being added separately; until then the
refusal is produced by a stand-in backend that writes what such a harness would leave (its
console output and exit code). Everything else here is the real scheduler and ledger.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from runset_testkit import event_time, ledger_events, write_runset

from agent_harness.run_json import Limits, RunRecord, write_record
from agent_harness.runset.attempts import HARNESS_LOG, judge
from agent_harness.runset.backends.base import Ended, Job
from agent_harness.runset.model import load_runset
from agent_harness.runset.scheduler import Scheduler

pytestmark = pytest.mark.usefixtures("runset_plugin")


def _record(folder: Path, status: str, exit_code: int | None) -> None:
    run_dir = folder / f"20261129T000000Z-rstest_cpu-{status}"
    run_dir.mkdir(parents=True)
    write_record(
        run_dir,
        RunRecord(
            run_id=run_dir.name,
            task="rstest_cpu",
            benchmark="rstest",
            task_version="1.0.0",
            image="x",
            runtime="local",
            provider="none",
            gpus=[],
            limits=Limits(time_limit_s=60, grace_s=1),
            started_at="2026-11-29T00:00:00.000Z",
            deadline=0.0,
            status=status,  # type: ignore[arg-type]
            exit_code=exit_code,
        ),
    )


@pytest.mark.parametrize(
    ("status", "code", "log", "stopping", "outcome"),
    [
        ("completed", 0, "", False, "completed"),
        ("completed", 5, "", False, "completed"),  # the evaluation failed: still a result
        ("failed", 4, "", False, "failed"),
        ("timeout", 124, "", False, "timeout"),
        ("interrupted", 130, "", True, "interrupted"),
        ("error", 3, "error: cannot start the container", False, "infra"),
        ("running", None, "", False, "infra"),  # the harness died mid-run
        (None, 2, "error: invalid --eval-mode", False, "error"),
        (None, 3, "error: image 'x' is not present and cannot be pulled", False, "infra"),
        (None, 3, "error: GPU 1 is busy: held by run 2026-r-1 (pid 7)", False, "busy"),
        (None, None, "", False, "lost"),
        (None, None, "", True, "interrupted"),
    ],
)
def test_an_attempt_is_judged_by_its_run_record_and_exit_code(
    tmp_path: Path, status: str | None, code: int | None, log: str, stopping: bool, outcome: str
) -> None:
    folder = tmp_path / "a1"
    folder.mkdir()
    if status is not None:
        _record(folder, status, code)
    (folder / HARNESS_LOG).write_text(log + "\n" if log else "")
    assert judge(folder, code, stopping=stopping).outcome == outcome


class ScriptedBackend:
    """Stands in for harnesses whose ends are scripted per cell (exit code, console output)."""

    name = "local"
    picks_gpus = False

    def __init__(self, script: dict[str, list[tuple[int, str]]]) -> None:
        self.script = script
        self.jobs: list[Job] = []

    def submit(self, job: Job) -> Job:
        """Write what the harness would leave, at once."""
        job.folder.mkdir(parents=True, exist_ok=True)
        code, text = self.script[job.cell_id][job.attempt - 1]
        (job.folder / HARNESS_LOG).write_text(text + "\n")
        if code in (0, 4):
            _record(job.folder, "completed" if code == 0 else "failed", code)
        self.jobs.append(job)
        return job

    def poll(self, handle: Job) -> Ended | None:
        """Ended as scripted."""
        return Ended(exit_code=self.script[handle.cell_id][handle.attempt - 1][0])

    def cancel(self, handle: Any) -> None:
        """Nothing runs."""

    def pid(self, handle: Any) -> int | None:
        """No process."""
        return None

    def close(self) -> None:
        """Nothing held."""


def test_busy_gpus_wait_infrastructure_is_retried_within_the_bound_agent_failure_never(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent_harness.runset.scheduler as scheduler

    monkeypatch.setattr(scheduler, "BUSY_WAIT_S", 0.2)
    path = write_runset(
        tmp_path,
        agents=[{"name": "a", "command": "true"}],
        tasks=["rstest_gpu1"],
        trials=3,
        gpus="0",
        simulate_gpus=True,
        retries=1,
    )
    busy = (3, "error: GPU 0 is busy: held by run other-run (pid 99)")
    infra = (3, "error: no Docker engine answers")
    backend = ScriptedBackend(
        {
            "a--rstest_gpu1--1": [busy, busy, infra, (0, "")],
            "a--rstest_gpu1--2": [infra, infra, (0, "never reached")],
            "a--rstest_gpu1--3": [(4, "")],
        }
    )
    summary = Scheduler(load_runset(path), backend).run()
    assert summary.finished == {"completed": 1, "error": 1, "failed": 1}
    assert summary.exit_code == 3
    ends = [e for e in ledger_events(tmp_path / "set") if e["event"] == "end"]
    first = [(e["outcome"], e["counted"]) for e in ends if e["cell"] == "a--rstest_gpu1--1"]
    assert first == [("infra", False), ("infra", False), ("infra", True), ("completed", False)]
    second = [e["outcome"] for e in ends if e["cell"] == "a--rstest_gpu1--2"]
    assert second == ["infra", "error"]  # 1 + retries=1 attempts, then given up
    # An infrastructure failure is retried after a back-off, not at once.
    events = ledger_events(tmp_path / "set")
    failed = next(e for e in ends if e["cell"] == "a--rstest_gpu1--2")
    assert failed["retry_in_s"] == scheduler.RETRY_BASE_S
    retried = next(
        e
        for e in events
        if e["event"] == "launch" and e["cell"] == "a--rstest_gpu1--2" and e["attempt"] == 2
    )
    assert event_time(retried) - event_time(failed) >= scheduler.RETRY_BASE_S
    assert [scheduler.retry_delay(n) for n in (1, 2, 3, 10)] == [2.0, 4.0, 8.0, 120.0]
    third = [e["outcome"] for e in ends if e["cell"] == "a--rstest_gpu1--3"]
    assert third == ["failed"]  # the agent's own failure: one attempt
    assert all(j.gpus == ["0"] for j in backend.jobs)  # one GPU, never two cells at once
