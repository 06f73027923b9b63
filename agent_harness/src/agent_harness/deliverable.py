"""Find the deliverable in a run's output folder; a path that leaves the folder is rejected."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

CONTAINER_OUTPUT = "/app/output"
"""The output folder as the agent sees it in a container."""

SUBMISSION_FILE = "submission.json"
SUBMISSION_MAX_BYTES = 1024**2
"""A larger submission.json is rejected unread (it names one path)."""
SUBMISSION_MAX_DEPTH = 32
"""Nesting of arrays and objects past which submission.json is rejected unparsed."""


@dataclass(frozen=True)
class Found:
    """The outcome of the search: a path relative to the output folder, or a rejection."""

    relative: str | None = None
    source: str | None = None
    rejected: str | None = None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _resolve(raw: str, output: Path, aliases: tuple[str, ...]) -> Path | str:
    """The real path ``raw`` names inside ``output``, or the reason it is refused."""
    root = output.resolve()
    if "\x00" in raw or not raw.strip():
        return f"model_path {raw!r} is not a usable path"
    candidate: Path
    if raw.startswith("/"):
        for alias in aliases:
            alias_path = PurePosixPath(alias)
            pure = PurePosixPath(os.path.normpath(raw))
            if pure == alias_path or alias_path in pure.parents:
                candidate = output / pure.relative_to(alias_path)
                break
        else:
            return f"model_path {raw!r} is outside the output folder ({aliases[0]})"
    else:
        candidate = output / raw
    real = Path(os.path.realpath(candidate))
    if not _inside(real, root):
        return f"model_path {raw!r} resolves outside the output folder"
    if not real.exists():
        return f"model_path {raw!r} does not exist in the output folder"
    return real


FOLDER_KINDS = ("hf_model", "method")
"""Deliverable kinds that are folders; ``predictions_csv`` is a file."""


def _wrong_type(real: Path, kind: str | None, shown: str) -> str | None:
    """Why ``real`` cannot be a deliverable of ``kind`` (a file where a folder is due, ...)."""
    if kind in FOLDER_KINDS and not real.is_dir():
        return f"{shown} is a file, but the task's deliverable ({kind}) is a folder"
    if kind == "predictions_csv" and not real.is_file():
        return f"{shown} is a folder, but the task's deliverable ({kind}) is a file"
    return None


def _nesting(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _read_submission(path: Path) -> tuple[object, str | None]:
    """submission.json's content, or why it is rejected (too large, too deep, not JSON)."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(SUBMISSION_MAX_BYTES + 1)
    except OSError as exc:
        return None, f"{SUBMISSION_FILE} cannot be read: {exc.strerror or exc}"
    if len(raw) > SUBMISSION_MAX_BYTES:
        return None, f"{SUBMISSION_FILE} is larger than {SUBMISSION_MAX_BYTES:,} bytes"
    try:
        text = raw.decode("utf-8")
        if _nesting(text) > SUBMISSION_MAX_DEPTH:
            return None, (f"{SUBMISSION_FILE} is nested deeper than {SUBMISSION_MAX_DEPTH} levels")
        return json.loads(text), None
    except (ValueError, RecursionError) as exc:
        return None, f"{SUBMISSION_FILE} cannot be read as JSON: {str(exc)[:200]}"


def find_deliverable(
    output: Path, spec_path: str, *, output_alias: str | None = None, kind: str | None = None
) -> Found:
    """Where the deliverable is: submission.json's ``model_path``, else the spec's path.

    ``model_path`` may be relative to the output folder or absolute under ``/app/output``
    (or ``output_alias``, the output folder's path as the agent saw it). A path that resolves
    outside the folder, symbolic links included, is rejected and no deliverable is reported;
    so is a file where the task's ``kind`` of deliverable is a folder, and the reverse.
    """
    aliases = tuple(a for a in (CONTAINER_OUTPUT, output_alias, str(output)) if a)
    root = output.resolve()
    submission = output / SUBMISSION_FILE
    if submission.is_file() or submission.is_symlink():
        real_submission = Path(os.path.realpath(submission))
        if not _inside(real_submission, root):
            return Found(rejected=f"{SUBMISSION_FILE} is a link that leaves the output folder")
        data, problem = _read_submission(real_submission)
        if problem is not None:
            return Found(rejected=problem)
        raw = data.get("model_path") if isinstance(data, dict) else None
        if raw is not None:
            if not isinstance(raw, str):
                return Found(rejected=f"{SUBMISSION_FILE} model_path is not a string")
            resolved = _resolve(raw, output, aliases)
            if isinstance(resolved, str):
                return Found(rejected=resolved)
            wrong = _wrong_type(resolved, kind, f"model_path {raw!r}")
            if wrong:
                return Found(rejected=wrong)
            return Found(relative=resolved.relative_to(root).as_posix(), source=SUBMISSION_FILE)
    resolved = _resolve(spec_path, output, aliases)
    if isinstance(resolved, Path):
        wrong = _wrong_type(resolved, kind, repr(spec_path))
        if wrong:
            return Found(rejected=wrong)
        return Found(relative=resolved.relative_to(root).as_posix(), source="spec")
    if (output / spec_path).is_symlink():
        return Found(rejected=f"{spec_path!r} is a link that leaves the output folder")
    return Found()
