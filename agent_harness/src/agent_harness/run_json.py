"""Writing and reading run.json (its model: :mod:`agent_contracts.run_record`)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agent_contracts.errors import NewerSchemaError
from agent_contracts.run_record import (
    LOG_FILE,
    OUTPUT_DIR,
    RUN_FILE,
    SCHEMA_VERSION,
    SNAPSHOTS_DIR,
    TASK_DIR,
    DeliverableRecord,
    EvaluationLink,
    Limits,
    ModelUsage,
    OutputSafety,
    RunRecord,
    Snapshots,
    Status,
    StopReason,
)
from agent_contracts.versions import refuse_newer

__all__ = [
    "LOG_FILE",
    "OUTPUT_DIR",
    "RUN_FILE",
    "SCHEMA_VERSION",
    "SNAPSHOTS_DIR",
    "TASK_DIR",
    "DeliverableRecord",
    "EvaluationLink",
    "Limits",
    "ModelUsage",
    "OutputSafety",
    "RunRecord",
    "Snapshots",
    "Status",
    "StopReason",
    "from_newer_harness",
    "hostname",
    "iso",
    "list_records",
    "new_run_id",
    "read_record",
    "unreadable_records",
    "utc_now",
    "write_record",
]


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 with seconds and a ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_run_id(task: str, moment: datetime | None = None) -> str:
    """A fresh run id such as ``20261122T113000Z-tiny_lm-3fa9c2``."""
    stamp = (moment or utc_now()).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{task}-{secrets.token_hex(3)}"


def hostname() -> str:
    """This machine's name."""
    return socket.gethostname()


def write_record(run_dir: Path, record: RunRecord) -> Path:
    """Write run.json atomically (a temporary file renamed over the old one).

    The record is validated as the evaluator will read it: ``model_copy(update=...)`` checks
    nothing, so a wrongly typed update fails here, loudly, not as a run.json the evaluator
    refuses later."""
    data = record.model_dump(mode="json")
    RunRecord.model_validate(data)
    target = run_dir / RUN_FILE
    # A fresh name made with O_EXCL: nothing planted in the folder is followed or truncated.
    fd, name = tempfile.mkstemp(prefix=f".{RUN_FILE}.", suffix=".tmp", dir=run_dir)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it 0600; run.json is readable like the folder
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(data, indent=2) + "\n")
        Path(name).replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(name).unlink()
        raise
    return target


def read_record(run_dir: Path) -> RunRecord | None:
    """The record in ``run_dir``, or None when there is none or it cannot be read (also when a
    newer harness wrote it: nothing here acts on a record it cannot read whole)."""
    try:
        data: Any = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
        return RunRecord.model_validate(data)
    except (OSError, ValueError, ValidationError, NewerSchemaError):
        return None


def list_records(runs_dir: Path) -> list[tuple[Path, RunRecord]]:
    """Every readable run record under ``runs_dir``, oldest first."""
    if not runs_dir.is_dir():
        return []
    found = []
    for child in sorted(runs_dir.iterdir()):
        if child.is_dir():
            record = read_record(child)
            if record is not None:
                found.append((child, record))
    found.sort(key=lambda item: item[1].started_at)
    return found


def from_newer_harness(run_dir: Path) -> bool:
    """True when the run.json in ``run_dir`` has a schema version newer than this harness's."""
    try:
        data: Any = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
        refuse_newer(data, newest=SCHEMA_VERSION, what=RUN_FILE)
    except NewerSchemaError:
        return True
    except (OSError, ValueError):
        return False
    return False


def unreadable_records(runs_dir: Path) -> list[str]:
    """Names of run folders whose run.json exists but cannot be read (corrupt, foreign)."""
    if not runs_dir.is_dir():
        return []
    return [
        child.name
        for child in sorted(runs_dir.iterdir())
        if (child / RUN_FILE).is_file() and read_record(child) is None
    ]
