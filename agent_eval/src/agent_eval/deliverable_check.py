"""The evaluator's trust boundary: what it accepts from a run folder, and from any deliverable.

Everything here looks at metadata only (``lstat``, ``readlink``); nothing is opened before it
has been found to be a regular file inside the deliverable. So a FIFO named ``config.json``
cannot hang the evaluator, a link to ``/etc/passwd`` is never read nor hashed, and a sparse
file announcing a terabyte is refused before anything tries to read it.

- **Run folders.** The evaluator takes exactly the deliverable that ``run.json`` accepted
  (its ``deliverable.path``). A rejected deliverable (``deliverable_rejected``), none at all, or
  a path that is absolute, holds ``..`` or resolves outside the run folder gives an error linked
  to the run: the evaluator never looks for ``output/model`` behind the harness's back.
- **Any deliverable** (run folder or not): every entry is a regular file, a folder, or a link
  whose target stays inside the deliverable; FIFOs, sockets and device nodes are refused, and
  so are sizes beyond :class:`DeliverableLimits`.

Admission reads in one direction: :func:`resolve_deliverable` (here) decides which deliverable
is evaluated and checks it; :mod:`agent_eval.loading` then loads what it admitted (does it
load), and never decides which deliverable that is.

See docs/evaluator.md ("Trust boundary") and docs/threat-model.md.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent_contracts.results import AgentInfo
from agent_contracts.run_record import RunRecord
from agent_eval.errors import EvalUsageError, ModelLoadError

GIB = 1 << 30
RUN_RECORD_MAX_BYTES = 1 << 20
"""run.json is a few kilobytes; anything beyond this is not the harness's record."""
RUN_RECORD_HINT = (
    "evaluate the run folder as agent-harness left it (its run.json unchanged), or pass the "
    "model folder itself"
)
"""What to do about a run.json that is not the harness's record."""

_SPECIAL = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device node",
    stat.S_IFBLK: "a block device node",
}


class DeliverableRefusedError(ModelLoadError):
    """The deliverable breaks the trust boundary: special files, links leaving it, absurd sizes,
    or a run whose ``run.json`` accepted no deliverable (exit 5, recorded as an error)."""


class DeliverableLimits(BaseSettings):
    """Size caps on a deliverable (prefix ``AGENT_EVAL_DELIVERABLE_``), checked before reading."""

    model_config = SettingsConfigDict(
        env_prefix="AGENT_EVAL_DELIVERABLE_",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        use_attribute_docstrings=True,
    )

    max_bytes: int = 512 * GIB
    """Total bytes of every file (``AGENT_EVAL_DELIVERABLE_MAX_BYTES``)."""
    max_file_bytes: int = 256 * GIB
    """Bytes of any single file (``AGENT_EVAL_DELIVERABLE_MAX_FILE_BYTES``)."""
    max_files: int = 100_000
    """Entries (files, folders, links) in the deliverable (``AGENT_EVAL_DELIVERABLE_MAX_FILES``)."""


def load_limits() -> DeliverableLimits:
    """The caps from the environment; a malformed value is a usage error (exit 2)."""
    try:
        return DeliverableLimits()
    except ValidationError as exc:
        names = sorted({"AGENT_EVAL_DELIVERABLE_" + str(e["loc"][0]).upper() for e in exc.errors()})
        raise EvalUsageError(
            f"invalid deliverable size cap in the environment: {', '.join(names)}",
            hint="give a whole number of bytes (or files), or unset the variable",
        ) from None


# --------------------------------------------------------------------------- run.json


def read_run_record(folder: Path) -> RunRecord:
    """``run.json`` of a run folder, read with the harness's own model; a link, a special file, a
    huge file or a record that is not the harness's is refused."""
    path = folder / "run.json"
    info = _lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise DeliverableRefusedError(
            f"run record {str(path)!r} is {_kind(info.st_mode)}, not a regular file",
            hint="agent-harness writes run.json as a plain file; pass the run folder it made",
        )
    if info.st_size > RUN_RECORD_MAX_BYTES:
        raise DeliverableRefusedError(
            f"run record {str(path)!r} is {info.st_size:,} bytes, more than a run record "
            f"({RUN_RECORD_MAX_BYTES:,} bytes at most)",
            hint=RUN_RECORD_HINT,
        )
    try:
        with open_regular(path) as fh:  # an unopenable file: an error with UNREADABLE_HINT
            data = json.loads(fh.read(RUN_RECORD_MAX_BYTES + 1).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"run record {str(path)!r} is unreadable: {exc}", hint=RUN_RECORD_HINT
        ) from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"run record {str(path)!r} is not a JSON object", hint=RUN_RECORD_HINT)
    try:
        return RunRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise DeliverableRefusedError(
            f"run record {str(path)!r} is not a run record as agent-harness writes it: "
            f"{where}: {first['msg']} ({exc.error_count()} problem(s))",
            hint="evaluate a run folder made by agent-harness, or pass the model folder itself",
        ) from None


def has_run_record(folder: Path) -> bool:
    """Whether ``folder`` holds a ``run.json`` file; a folder whose entries cannot be looked at
    is a load error saying so, never taken for a folder without one."""
    path = folder / "run.json"
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise _unreadable(f"run record {str(path)!r}", exc) from None
    # a link is there too: read_run_record refuses it, saying why
    return stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)


def accepted_deliverable(folder: Path, verdict: RunRecord) -> Path:
    """The deliverable ``run.json`` accepted, inside ``folder``; anything else is refused."""
    shown = str(folder)
    if verdict.deliverable is None:
        if verdict.deliverable_rejected:
            raise DeliverableRefusedError(
                f"run {shown!r}: the harness rejected the deliverable "
                f"({verdict.deliverable_rejected})",
                hint="the run is recorded as having no valid output; nothing in its output "
                "folder is evaluated",
            )
        raise DeliverableRefusedError(
            f"run {shown!r} has no deliverable: run.json accepted none",
            hint="the agent left nothing to evaluate (see the run's agent.log); the run is "
            "recorded as having no valid output",
        )
    safety = verdict.output_safety
    if safety is None or not safety.copied or not safety.safe:
        raise DeliverableRefusedError(
            f"run {shown!r}: run.json does not say the harness copied the output out of the "
            "agent's reach (output_safety.copied and safe); nothing in it is evaluated",
            hint="run the agent again with a current agent-harness, which writes a fresh "
            "output folder of plain files (older ones cleaned the agent's folder in place)",
        )
    raw = verdict.deliverable.path
    pure = PurePosixPath(raw)
    if not raw or "\x00" in raw or pure.is_absolute() or ".." in pure.parts:
        raise DeliverableRefusedError(
            f"run {shown!r}: run.json's deliverable path {raw!r} is not a path inside the run "
            "folder (absolute, empty or with '..')",
            hint="agent-harness writes a relative path such as 'output/model'",
        )
    candidate = folder / pure
    root = Path(os.path.realpath(folder))
    real = Path(os.path.realpath(candidate))
    if not _within(real, root):
        raise DeliverableRefusedError(
            f"run {shown!r}: the deliverable {raw!r} resolves outside the run folder "
            f"(to {str(real)!r})",
            hint="a link that leaves the run folder is never followed",
        )
    if not os.path.lexists(candidate):
        raise DeliverableRefusedError(
            f"run {shown!r}: the deliverable {raw!r} that run.json accepted is gone",
            hint="the run folder was changed after the run; evaluate an unchanged copy",
        )
    return candidate


# --------------------------------------------------------------------------- any deliverable


@dataclass(frozen=True)
class CheckedFile:
    """A file of a checked deliverable."""

    name: str
    """Path relative to the deliverable (POSIX), as the loader names it."""
    real: Path
    """The regular file it is (itself, or the target of a link inside the deliverable)."""
    size_bytes: int


@dataclass(frozen=True)
class CheckedTree:
    """A deliverable that passed the checks: its files and their sizes."""

    root: Path
    """The deliverable as given (a folder or a single file)."""
    files: tuple[CheckedFile, ...]
    """Every file, sorted by name; links inside the deliverable appear under their own name."""
    total_bytes: int


def check_tree(
    path: Path, limits: DeliverableLimits | None = None, *, links_may_leave: bool = False
) -> CheckedTree:
    """Refuse special files, links leaving ``path`` and absurd sizes; list the files otherwise.

    ``links_may_leave`` (a base model of this machine, e.g. in the Hugging Face cache whose
    snapshots are links into its blob store): links are followed wherever they point, and what
    they point at must still be a regular file or folder.
    """
    limits = limits or load_limits()
    info = _stat(path)  # the path as given is followed: the user (or run.json) chose it
    root = Path(os.path.realpath(path))
    if stat.S_ISREG(info.st_mode):
        _check_size(path, info.st_size, limits)
        _check_total(path, info.st_size, limits)
        checked = CheckedFile(path.name, root, info.st_size)
        return CheckedTree(path, (checked,), info.st_size)
    if not stat.S_ISDIR(info.st_mode):
        raise _special(path, info.st_mode)
    files: list[CheckedFile] = []
    total = 0
    entries = 0
    stack: list[tuple[Path, str]] = [(path, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            children = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:  # e.g. chmod a-r: entered but not listed
            raise _unreadable(f"folder {str(folder)!r} of the deliverable", exc, "listed") from None
        for entry in children:
            entries += 1
            if entries > limits.max_files:
                raise DeliverableRefusedError(
                    f"deliverable {str(path)!r} has more than {limits.max_files:,} entries",
                    hint="a model folder holds a few dozen files; raise the cap with "
                    "AGENT_EVAL_DELIVERABLE_MAX_FILES if this one is genuine",
                )
            name = f"{prefix}{entry.name}"
            here = Path(entry.path)
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError as exc:  # e.g. chmod a-x: listed but not entered
                raise _unreadable(f"{name!r} in the deliverable {str(path)!r}", exc) from None
            mode = info.st_mode
            if stat.S_ISLNK(mode):
                target = Path(os.path.realpath(here))
                if not links_may_leave and not _within(target, root):
                    raise DeliverableRefusedError(
                        f"deliverable {str(path)!r}: {name!r} is a link that leaves it "
                        f"(to {str(here.readlink())!r})",
                        hint="the evaluator never follows a link out of the deliverable; copy "
                        "the file in (cp -L) instead of linking it",
                    )
                try:
                    followed = target.stat()
                except OSError as exc:
                    if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                        raise _unreadable(
                            f"{name!r} in the deliverable {str(path)!r}", exc
                        ) from None
                    raise DeliverableRefusedError(
                        f"deliverable {str(path)!r}: {name!r} is a link to nothing "
                        f"({str(here.readlink())!r})",
                        hint="remove the link, or put the file it stands for in its place (cp -L)",
                    ) from None
                if stat.S_ISREG(followed.st_mode):
                    _check_size(here, followed.st_size, limits)
                    # a link inside is hashed under its name with the bytes it points at
                    files.append(CheckedFile(name, target, followed.st_size))
                    if links_may_leave:
                        total += followed.st_size
                elif not stat.S_ISDIR(followed.st_mode):
                    raise _special(here, followed.st_mode, via=name)
                # a folder link is not descended (no cycles): inside the deliverable its
                # files are listed under their real names
                continue
            if stat.S_ISDIR(mode):
                stack.append((here, f"{name}/"))
            elif stat.S_ISREG(mode):
                size = info.st_size
                _check_size(here, size, limits)
                total += size
                files.append(CheckedFile(name, here, size))
            else:
                raise _special(here, mode, via=name)
            _check_total(path, total, limits)
    files.sort(key=lambda f: PurePosixPath(f.name).parts)
    return CheckedTree(path, tuple(files), total)


UNREADABLE_HINT = (
    "give the evaluating user read access to the deliverable (chmod -R a+rX FOLDER), or run the "
    'evaluator as its owner: for the evaluator image, docker run --user "$(id -u):$(id -g)" ...'
)
"""What to do about a deliverable the evaluator may not read (``transformers`` writes
``model.safetensors`` as mode 0600)."""


@contextmanager
def open_regular(path: Path) -> Iterator[BinaryIO]:
    """Open a file for reading only if it is a regular file (never blocks on a FIFO)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:  # e.g. weights written 0600 by another user
        raise ModelLoadError(
            f"{str(path)!r} cannot be read: {exc.strerror or exc}", hint=UNREADABLE_HINT
        ) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _special(path, mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as fh:
        yield fh


def _within(child: Path, root: Path) -> bool:
    return child == root or root in child.parents


def _lstat(path: Path) -> os.stat_result:
    try:
        return os.lstat(path)
    except OSError as exc:
        raise _unreadable(repr(str(path)), exc) from None


def _stat(path: Path) -> os.stat_result:
    try:
        return path.stat()
    except OSError as exc:
        what = f"deliverable {str(path)!r}"
        with suppress(OSError):  # not a link, or not even that can be looked at
            what += f" (a link to {str(path.readlink())!r})"
        raise _unreadable(what, exc) from None


def _unreadable(what: str, exc: OSError, verb: str = "read") -> ModelLoadError:
    """``what`` cannot be read (or listed): the system's reason, and what to do about it."""
    if exc.errno == errno.ELOOP:
        hint = "it is a loop of links; pass the model folder itself, not a link to it"
    elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
        hint = "it is a link to nothing (or was removed meanwhile); pass the folder itself"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        hint = UNREADABLE_HINT
    else:
        hint = "check the disk that holds the deliverable, then evaluate it again"
    return ModelLoadError(f"{what} cannot be {verb}: {exc.strerror or exc}", hint=hint)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a link"
    if stat.S_ISDIR(mode):
        return "a folder"
    return _SPECIAL.get(stat.S_IFMT(mode), "not a regular file")


def _special(path: Path, mode: int, *, via: str | None = None) -> DeliverableRefusedError:
    shown = f"{via!r} in the deliverable" if via else repr(str(path))
    return DeliverableRefusedError(
        f"{shown} is {_kind(mode)}: the evaluator reads only regular files and folders",
        hint="a model folder holds regular files only; the deliverable is refused unread",
    )


def _check_size(path: Path, size: int, limits: DeliverableLimits) -> None:
    if size > limits.max_file_bytes:
        raise DeliverableRefusedError(
            f"{str(path)!r} is {size:,} bytes, beyond the cap of {limits.max_file_bytes:,} "
            "bytes for one file",
            hint="raise the cap with AGENT_EVAL_DELIVERABLE_MAX_FILE_BYTES if the file is genuine",
        )


def _check_total(path: Path, total: int, limits: DeliverableLimits) -> None:
    if total > limits.max_bytes:
        raise DeliverableRefusedError(
            f"deliverable {str(path)!r} holds more than {limits.max_bytes:,} bytes",
            hint="raise the cap with AGENT_EVAL_DELIVERABLE_MAX_BYTES if it is genuine",
        )


# ----------------------------------------------------------------------------- which deliverable


@dataclass
class ResolvedDeliverable:
    """Where the thing to evaluate is, and who produced it."""

    path: Path
    """Folder (or file) to evaluate."""
    given: str
    """The path as given on the command line."""
    run: RunRecord | None = None
    """The run record (``run.json``) when a run folder was given."""
    run_id: str | None = None
    agent: AgentInfo | None = None
    missing: ModelLoadError | None = None
    """Why there is nothing to evaluate: a run whose run.json accepted no deliverable, or a
    deliverable refused by the trust-boundary checks (the evaluation is then recorded as an
    error, linked to the run if any: never a score, never a score of zero)."""
    checked: CheckedTree | None = None
    """The deliverable's files as the checks listed them (None when refused)."""


def resolve_deliverable(given: str, deliverable_path: str = "model") -> ResolvedDeliverable:
    """Turn the ``--model_args`` path into the checked deliverable (following a run folder).

    Nothing is opened here but ``run.json``: the deliverable passes the trust-boundary checks
    here first, and a refusal, or a deliverable that cannot be looked at (a link loop, a link
    to nothing, a folder the evaluator may not enter or list), is kept in ``missing`` (the
    evaluation is then recorded as an error, never a score). A path that does not exist, and a
    run folder whose ``run.json`` is not the harness's, are raised: no run can be recorded.
    """
    path = Path(given).expanduser()
    found = ResolvedDeliverable(path=path, given=given)
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise ModelLoadError(
            f"model path {given!r} does not exist",
            hint="pass a Hugging Face model folder, a PEFT adapter folder or a run folder",
        ) from None
    except OSError as exc:  # e.g. inside a folder the evaluator may not enter
        found.missing = _unreadable(f"model path {given!r}", exc)
        return found
    limits = load_limits()
    try:
        run_folder = path.is_dir() and os.path.lexists(path / "run.json")
    except OSError:  # a link into a folder the evaluator may not enter: check_tree says so
        run_folder = False
    if run_folder and _enclosing_run(path) is None:
        run = read_run_record(path)
        found.run = run
        found.run_id = run.run_id
        found.agent = _agent(run)
        found.path = path / "output" / deliverable_path  # shown when nothing was accepted
        try:
            found.path = accepted_deliverable(path, run)
        except DeliverableRefusedError as exc:
            found.missing = exc
            return found
    try:
        found.checked = check_tree(found.path, limits)
    except ModelLoadError as exc:  # refused, or it cannot be looked at
        found.missing = exc
    return found


def _enclosing_run(path: Path) -> Path | None:
    """The run folder whose output folder holds ``path``, if any: a ``run.json`` found there was
    left by the agent, never a run record, so ``path`` is then evaluated as a plain folder."""
    real = Path(os.path.realpath(path))
    for folder in real.parents:
        if not os.path.lexists(folder / "run.json"):
            continue
        try:
            run = read_run_record(folder)
        except (DeliverableRefusedError, ModelLoadError):
            continue
        output = Path(os.path.realpath(folder / run.output_dir))
        if real == output or output in real.parents:
            return folder
    return None


def _agent(run: RunRecord) -> AgentInfo:
    """The agent as its run record names it (label, image, provider)."""
    return AgentInfo(
        label=run.agent_label or run.image,
        image=run.image if run.image_id is not None else None,  # else a label, not an image
        provider=run.provider,
    )
