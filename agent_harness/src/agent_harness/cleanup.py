"""Remove what a crashed harness left behind: labelled containers and runs stuck at ``running``.

Only what is provably abandoned is touched: a run whose harness is gone on THIS host (its pid
is dead and the host name is ours), or whose deadline plus grace (and :data:`MARGIN_S`) has
passed. A live run of another host is left alone. By default only runs under ``--runs-dir``
are considered (a container whose ``mlrb.run_dir`` label is elsewhere is not touched unless
``all_runs_dirs``). A run cleanup ends is recorded as ``error`` with ``ended_by`` ``cleanup``,
never as the agent's own failure.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent_harness.liveness import pid_alive
from agent_harness.records import (
    RunRecord,
    hostname,
    iso,
    list_records,
    read_record,
    utc_now,
    write_record,
)

ABANDONED = "the harness ended without recording how the run ended; marked by cleanup"

MARGIN_S = 30.0
"""Seconds past deadline + grace before cleanup calls a run of a live (or unknown) harness
abandoned: time for a harness that is finishing to record the run itself."""


@dataclass(frozen=True)
class Cleaned:
    """One thing cleanup handled."""

    run_id: str
    container: str | None
    action: str
    """``removed``, ``marked`` (run.json set to error), ``skipped`` (not provably abandoned),
    or ``engine-unreachable`` (no Docker engine answered: containers were not checked)."""
    reason: str = ""
    """Why it was (or was not) touched."""


def _harness_alive(pid: str | int | None, host: str | None) -> bool:
    if pid is None or host != hostname():
        return False
    try:
        return pid_alive(int(pid))
    except ValueError:
        return False


def abandoned(
    pid: str | int | None, host: str | None, record: RunRecord | None, now: float | None = None
) -> str | None:
    """Why a run is provably abandoned, or None when it may still be alive."""
    if host == hostname() and pid is not None and not _harness_alive(pid, host):
        return f"its harness (pid {pid}) is gone on this host"
    if record is not None:
        ends = record.deadline + record.limits.grace_s + MARGIN_S
        if (now if now is not None else time.time()) > ends:
            return "its deadline and grace period have passed"
    return None


def _mark(run_dir: Path, reason: str) -> bool:
    record = read_record(run_dir)
    if record is None or record.status != "running":
        return False
    write_record(
        run_dir,
        record.model_copy(
            update={
                "status": "error",
                "ended_at": iso(utc_now()),
                "ended_by": "cleanup",
                "message": f"{ABANDONED} ({reason})",
            }
        ),
    )
    return True


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def cleanup(
    runs_dir: Path, *, force: bool = False, all_runs_dirs: bool = False, client: Any = None
) -> list[Cleaned]:
    """Remove labelled containers of abandoned runs (every one with ``force``); mark their runs."""
    from agent_harness.errors import EngineNotReadyError
    from agent_harness.runtimes.container import (
        LABEL_HARNESS_PID,
        LABEL_HOST,
        LABEL_RUN_DIR,
        LABEL_RUN_ID,
        connect,
        leftover_containers,
        remove_container,
    )

    root = runs_dir.resolve()
    done: list[Cleaned] = []
    handled: set[str] = set()
    try:
        engine = client if client is not None else connect()
    except EngineNotReadyError:
        # Runs of the local runtime need no engine: mark those; say that containers were not
        # checked, so a docker run's leftover is not believed gone.
        engine = None
        done.append(Cleaned("", None, "engine-unreachable"))
    for container in leftover_containers(engine) if engine is not None else []:
        labels = container.labels
        run_id = labels.get(LABEL_RUN_ID, "")
        run_dir = Path(labels[LABEL_RUN_DIR]) if LABEL_RUN_DIR in labels else runs_dir / run_id
        if not all_runs_dirs and not _under(run_dir.resolve(), root):
            continue  # another runs folder's run: not ours to judge
        handled.add(run_id)
        record = read_record(run_dir)
        reason = abandoned(labels.get(LABEL_HARNESS_PID), labels.get(LABEL_HOST), record)
        if reason is None and not force:
            host = labels.get(LABEL_HOST) or "?"
            why = "its harness is alive" if host == hostname() else f"it runs on host {host}"
            done.append(Cleaned(run_id, container.name, "skipped", f"{why}, before its deadline"))
            continue
        reason = reason or "--force"
        # Recorded first, so a harness still watching reads that cleanup, not the agent, ended it.
        with contextlib.suppress(OSError):
            _mark(run_dir, reason)
        remove_container(engine, container.id)
        done.append(Cleaned(run_id, container.name, "removed", reason))
    for run_dir, record in list_records(runs_dir):
        if record.status != "running" or record.run_id in handled:
            continue
        reason = abandoned(record.harness_pid, record.host, record)
        if reason is None and not force:
            continue
        with contextlib.suppress(OSError):
            if _mark(run_dir, reason or "--force"):
                done.append(Cleaned(record.run_id, None, "marked", reason or "--force"))
    return done


def as_json(items: list[Cleaned]) -> list[dict[str, Any]]:
    """JSON-ready form of cleanup's report."""
    return [asdict(i) for i in items]
