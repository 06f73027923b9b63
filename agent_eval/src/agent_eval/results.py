"""Writing and reading results files (their schema: :mod:`agent_contracts.results`)."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from agent_contracts.results import EvaluationResult


def utcnow() -> datetime:
    """Timezone-aware current UTC time."""
    return datetime.now(UTC)


def result_filename(result: EvaluationResult) -> str:
    """``<UTC start>_<task>_<id8>.json``: sortable by time, unique by id."""
    stamp = result.started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}_{result.task}_{result.evaluation_id[:8]}.json"


def write_result(result: EvaluationResult, results_dir: str | Path) -> Path:
    """Write the result atomically into ``results_dir``; return the file's path."""
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / result_filename(result)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(result.model_dump_json(indent=2) + "\n")
        _hand_over(fh.fileno(), folder)
    Path(tmp).replace(target)
    return target


RESULT_FILE_MODE = 0o644
"""Mode of a results file: mkstemp's 0600 would keep it from the host user who mounted the
folder into the evaluator's container (a different uid), and from sync jobs."""


def _hand_over(fd: int, folder: Path) -> None:
    """Make the results file readable by all; as root, give it to the results folder's owner.

    Run as root in a container, the file would belong to root on the host; its owner is the one
    who made the mounted folder instead (docs/evaluator.md, "Who owns the results file").
    """
    os.fchmod(fd, RESULT_FILE_MODE)
    if os.geteuid() == 0:
        owner = folder.stat()
        if (owner.st_uid, owner.st_gid) != (0, 0):
            os.fchown(fd, owner.st_uid, owner.st_gid)


def read_result(path: str | Path) -> EvaluationResult:
    """Load one results file (raises pydantic.ValidationError or OSError on a bad file, and
    :class:`~agent_contracts.errors.NewerSchemaError` on one from a newer version)."""
    return EvaluationResult.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
