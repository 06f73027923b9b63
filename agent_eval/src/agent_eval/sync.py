"""Load saved results files into the database, without duplicates (``agent-eval sync``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from agent_contracts.errors import NewerSchemaError
from agent_contracts.results import EvaluationResult
from agent_eval.errors import EvalUsageError

BATCH_SIZE = 500
"""Results written per transaction."""


class BadFile(BaseModel):
    """A ``.json`` file that looks like a results file but cannot be loaded."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    path: str
    """The file, as found in the folder."""
    error: str
    """Why it cannot be loaded."""


class SyncReport(BaseModel):
    """What a sync did."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    folder: str
    """The results folder synced."""
    database: str
    """The database, password masked."""
    added: int
    """Results newly written."""
    present: int
    """Results already in the database (or in an earlier file of the same sync)."""
    skipped: tuple[str, ...]
    """JSON files that are not results files (no ``evaluation_id``), left alone."""
    bad: tuple[BadFile, ...]
    """Results files that cannot be read or do not match the schema (nothing loaded from them)."""


def results_files(folder: Path) -> Iterator[Path]:
    """Every ``*.json`` under ``folder`` (recursively, sorted), hidden files and folders skipped."""
    for path in sorted(folder.rglob("*.json")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        yield path


def _validation_summary(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "document"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"not a valid results file: {where}: {first['msg']}{more}"


def load_folder(
    folder: Path,
) -> tuple[list[EvaluationResult], list[str], list[BadFile]]:
    """Parse every JSON file: (results, paths that are not results files, bad files)."""
    results: list[EvaluationResult] = []
    skipped: list[str] = []
    bad: list[BadFile] = []
    for path in results_files(folder):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            bad.append(BadFile(path=str(path), error=f"cannot be read: {exc.strerror or exc}"))
            continue
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            bad.append(BadFile(path=str(path), error=f"not valid JSON: {exc}"))
            continue
        if not isinstance(document, dict) or "evaluation_id" not in document:
            skipped.append(str(path))
            continue
        try:
            results.append(EvaluationResult.model_validate(document))
        except ValidationError as exc:
            bad.append(BadFile(path=str(path), error=_validation_summary(exc)))
        except NewerSchemaError as exc:
            bad.append(BadFile(path=str(path), error=f"{exc.message} ({exc.hint})"))
    return results, skipped, bad


def sync_folder(folder: str | Path, url: str | None = None) -> SyncReport:
    """Record every results file under ``folder`` that the database lacks.

    The database is ``url``, else the environment's (``DATABASE_URL``, ``DB_*``), else the SQLite
    file ``<folder>/mlrb.sqlite``. Bad files are reported, not fatal.
    """
    from agent_eval.store import Store

    root = Path(folder)
    if not root.is_dir():
        raise EvalUsageError(
            f"results folder {str(root)!r} does not exist or is not a folder",
            hint="pass the folder agent-eval wrote its results into (default: results/)",
        )
    with Store.open(url, results_dir=root) as store:
        results, skipped, bad = load_folder(root)
        added = present = 0
        for start in range(0, len(results), BATCH_SIZE):
            new, old = store.record_many(results[start : start + BATCH_SIZE])
            added += new
            present += old
        return SyncReport(
            folder=str(root),
            database=store.url,
            added=added,
            present=present,
            skipped=tuple(skipped),
            bad=tuple(bad),
        )
