"""Remove what a crashed harness left behind: labelled containers and runs stuck at ``running``."""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent_harness.records import (
    hostname,
    iso,
    list_records,
    read_record,
    utc_now,
    write_record,
)

ABANDONED = "the harness ended without recording how the run ended; marked by cleanup"


@dataclass(frozen=True)
class Cleaned:
    """One thing cleanup handled."""

    run_id: str
    container: str | None
    action: str
    """``removed``, ``marked`` (run.json set to error), ``skipped`` (its harness is alive), or
    ``engine-unreachable`` (no Docker engine answered: containers were not checked)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _harness_alive(pid: str | int | None, host: str | None) -> bool:
    if pid is None or host != hostname():
        return False
    try:
        return _alive(int(pid))
    except ValueError:
        return False


def _mark(run_dir: Path) -> bool:
    record = read_record(run_dir)
    if record is None or record.status != "running":
        return False
    write_record(
        run_dir,
        record.model_copy(
            update={"status": "error", "ended_at": iso(utc_now()), "message": ABANDONED}
        ),
    )
    return True


def cleanup(runs_dir: Path, *, force: bool = False, client: Any = None) -> list[Cleaned]:
    """Remove labelled containers whose harness is gone (all with ``force``); mark their runs."""
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
        handled.add(run_id)
        if not force and _harness_alive(labels.get(LABEL_HARNESS_PID), labels.get(LABEL_HOST)):
            done.append(Cleaned(run_id, container.name, "skipped"))
            continue
        remove_container(engine, container.id)
        run_dir = Path(labels[LABEL_RUN_DIR]) if LABEL_RUN_DIR in labels else runs_dir / run_id
        with contextlib.suppress(OSError):
            _mark(run_dir)
        done.append(Cleaned(run_id, container.name, "removed"))
    for run_dir, record in list_records(runs_dir):
        if record.status != "running" or record.run_id in handled:
            continue
        if not force and (
            record.host != hostname() or _harness_alive(record.harness_pid, record.host)
        ):
            continue
        with contextlib.suppress(OSError):
            if _mark(run_dir):
                done.append(Cleaned(record.run_id, None, "marked"))
    return done


def as_json(items: list[Cleaned]) -> list[dict[str, Any]]:
    """JSON-ready form of cleanup's report."""
    return [asdict(i) for i in items]
