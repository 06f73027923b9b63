"""Re-run a code deliverable the way MLRC-Bench runs its test phase, and keep what it produced.

Steps: check that everything the re-run needs is here (else exit 3, naming what to build or
fetch) -> lay the work folder out (the deliverable, or the task's pristine folder with the
agent's ``methods/`` over it) -> restore the protected files from the pristine copy and swap in
the test constants -> copy the hidden test inputs (never labels) -> run the command in a sandbox
-> keep the output file, the measured wall time and the method's statement count.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal

from agent_contracts.results import Timing
from agent_eval.coderun.sandbox import (
    SANDBOX_UID,
    Backend,
    SandboxRequest,
    SandboxResult,
    docker_client,
    image_present,
    process_sandbox_ready,
    run_docker,
    run_process,
)
from agent_eval.datasets import (
    bundled_dir,
    code_inputs_path,
    hf_split_path,
    split_file_name,
)
from agent_eval.deliverable_check import DeliverableRefusedError, load_limits, open_regular
from agent_eval.errors import CodeEnvironmentError, ModelLoadError
from agent_tasks.spec import CodeRun, TaskSpec

SANDBOX_ENV = "AGENT_EVAL_SANDBOX"
"""Chooses the backend: ``auto`` (default), ``docker`` or ``process``."""
INSIDE_IMAGE_ENV = "AGENT_EVAL_INSIDE_IMAGE"
"""Set by an image that is itself a task's environment: its name, so that the process sandbox
may stand in for a container of that image."""
METHOD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
"""A method name as ``main.py -m`` accepts it (no spaces, no options, no paths)."""
BUNDLED = "bundled:"
MAX_DEPTH = 64
"""Deepest folder nesting of a code deliverable that is copied; deeper is refused (exit 5)."""
STATEMENTS_MAX_BYTES = 4 << 20
"""A method file larger than this is not parsed for its statement count (no value)."""
SUBMISSION_MAX_BYTES = 64 << 10
"""``submission.json`` names a method: a few bytes; a larger one is refused unread."""

Choice = Literal["auto", "docker", "process"]


@dataclass(frozen=True)
class CodeRunOutcome:
    """What the evaluator's own re-run of the deliverable produced."""

    sandbox: SandboxResult
    output_file: Path | None
    """The file the run wrote (None when it wrote none)."""
    failure: str | None
    """Why the run earns no score (timeout, crash, no output), else None."""
    method: str | None
    """The method that ran (method deliverables)."""
    method_statements: int | None
    """``ast`` statement count of the method's file."""
    work: Path
    """The work folder the code ran in (kept until the evaluation ends)."""
    timing: Timing | None = None
    """The agent's code timed against the task's baseline code (None: the task has none, or the
    scored run failed)."""
    timing_failure: str | None = None
    """Why the timed rounds give no time (a timed run of the agent's code failed, or wrote
    another output than the scored run), else None."""


def inputs_folder(code_run: CodeRun, data_dir: Path) -> Path:
    """Where the hidden test inputs of a code task are on this machine."""
    if code_run.inputs.startswith(BUNDLED):
        return bundled_dir() / code_run.inputs.removeprefix(BUNDLED) / "inputs"
    dataset, _, split = code_run.inputs.rpartition(":")
    return code_inputs_path(data_dir, dataset, split or "test")


def labels_file(data_dir: Path, dataset_id: str, config: str | None, split: str) -> Path:
    """The hidden labels of a split: bundled with the evaluator, or in the data folder."""
    if dataset_id.startswith(BUNDLED):
        return bundled_dir() / dataset_id.removeprefix(BUNDLED) / f"{split_file_name(split)}.jsonl"
    return hf_split_path(data_dir, dataset_id, config, split)


def _data_file(name: str, data_dir: Path) -> Path:
    if name.startswith(BUNDLED):
        return bundled_dir() / name.removeprefix(BUNDLED)
    return data_dir / name


def _choose(code_run: CodeRun, choice: str) -> tuple[Backend, object | None, list[str]]:
    """The backend to use, its client, and what is missing for it (empty: ready)."""
    if choice not in ("auto", "docker", "process"):
        raise CodeEnvironmentError(
            f"unknown sandbox {choice!r} in {SANDBOX_ENV}", hint="use auto, docker or process"
        )
    image = code_run.image
    inside = image is not None and os.environ.get(INSIDE_IMAGE_ENV) == image
    if choice == "process" or (choice == "auto" and (image is None or inside)):
        why = process_sandbox_ready()
        return "process", None, [f"a process sandbox ({why})"] if why else []
    client = docker_client()
    if client is None:
        return (
            "docker",
            None,
            [
                f"a Docker engine with the task's environment image {image!r} (no engine answers; "
                f"or run the evaluator inside that image with {INSIDE_IMAGE_ENV}={image})"
            ],
        )
    if image is None:
        return "docker", client, ["an environment image named by the task (it names none)"]
    if not image_present(client, image):
        return (
            "docker",
            client,
            [
                f"the task's environment image {image!r} on this Docker engine (build or load it; "
                "nothing is pulled)"
            ],
        )
    return "docker", client, []


def check_ready(spec: TaskSpec, data_dir: Path, choice: str = "auto") -> tuple[Backend, object]:
    """Everything the re-run needs is here; else one exit-3 error naming each missing piece."""
    code_run = spec.evaluation.code_run
    assert code_run is not None
    backend, client, missing = _choose(code_run, choice)
    inputs = inputs_folder(code_run, data_dir)
    if not inputs.is_dir():
        missing.append(f"the hidden test inputs {code_run.inputs!r} at {str(inputs)!r}")
    if code_run.test_constants and not _data_file(code_run.test_constants, data_dir).is_file():
        where = _data_file(code_run.test_constants, data_dir)
        missing.append(f"the test constants {code_run.test_constants!r} at {str(where)!r}")
    if code_run.labels and not (data_dir / code_run.labels).is_dir():
        missing.append(f"the hidden test labels at {str(data_dir / code_run.labels)!r}")
    for dataset in spec.evaluation.datasets:
        for split in dataset.splits or {"test": 0}:
            path = labels_file(data_dir, dataset.id, dataset.config, split)
            if not path.is_file():
                missing.append(f"the hidden labels of {dataset.id} ({split}) at {str(path)!r}")
    if missing:
        raise CodeEnvironmentError(
            f"task {spec.name!r} re-runs the agent's code, and this machine lacks: "
            + "; ".join(missing),
            hint="see docs/code-deliverables.md ('What a code task needs'); no score is given "
            "until these exist",
        )
    return backend, client


def statements(path: Path) -> int:
    """Logical lines of code: the ``ast`` statement count of a Python file (MLRC-Bench's
    simplicity measure; docstrings count, comments and blank lines do not)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return sum(isinstance(node, ast.stmt) for node in ast.walk(tree))


def _count(path: Path) -> int | None:
    """The statement count of a regular Python file, None when it is absent or not Python."""
    if path.is_symlink() or not path.is_file() or path.stat().st_size > STATEMENTS_MAX_BYTES:
        return None
    try:
        return statements(path)
    except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        return None  # the simplicity metric then records why it has no value


def _methods_and_name(deliverable: Path) -> tuple[Path, str]:
    """The delivered ``methods/`` folder and the method ``submission.json`` names."""
    if (deliverable / "methods").is_dir():
        root, methods = deliverable, deliverable / "methods"
    else:
        root, methods = deliverable.parent, deliverable
    if not (methods / "__init__.py").is_file():
        raise ModelLoadError(
            f"no methods package at {str(methods)!r}",
            hint="deliver the task folder's methods/ package with your method registered",
        )
    submission = root / "submission.json"
    try:
        with open_regular(submission) as fh:
            raw = fh.read(SUBMISSION_MAX_BYTES + 1)
        if len(raw) > SUBMISSION_MAX_BYTES:
            raise ValueError("too large")
        name = json.loads(raw.decode("utf-8")).get("method")
    except (OSError, ValueError, AttributeError, RecursionError, ModelLoadError):
        name = None  # a missing, special, huge or absurdly nested file names no method
    if not isinstance(name, str) or not METHOD_NAME.match(name):
        raise ModelLoadError(
            f'{str(submission)!r} does not name a method as {{"method": "<name>"}}',
            hint="write submission.json next to methods/ naming your registered method",
        )
    return methods, name


@dataclass
class Copier:
    """Copies the re-run's folders iteratively and bounded: folders and regular files (bytes
    read without following a link), links as links (never followed), special files left out
    (opening a FIFO would hang the copy); nesting deeper than ``MAX_DEPTH`` or apparent sizes
    beyond the task's disk are refused before anything is written, so a sparse file is never
    made dense."""

    room: int
    """Apparent bytes that may still be copied."""
    task: str

    def __call__(self, source: Path, target: Path) -> None:
        """Copy ``source`` (a file, a link or a folder) to ``target``."""
        stack = [(source, target, 0)]
        while stack:
            src, dst, depth = stack.pop()
            info = os.lstat(src)
            if stat.S_ISLNK(info.st_mode):
                _clear(dst)
                dst.symlink_to(src.readlink())
            elif stat.S_ISREG(info.st_mode):
                self._file(src, dst, info.st_size)
            elif stat.S_ISDIR(info.st_mode):
                if depth >= MAX_DEPTH:
                    raise DeliverableRefusedError(
                        f"the deliverable nests folders deeper than {MAX_DEPTH} levels "
                        f"({str(src)!r})",
                        hint="a code deliverable is a shallow folder of code and weights",
                    )
                if dst.is_symlink() or (dst.exists() and not dst.is_dir()):
                    _clear(dst)
                dst.mkdir(mode=0o755, exist_ok=True)
                with os.scandir(src) as entries:
                    stack.extend((Path(e.path), dst / e.name, depth + 1) for e in entries)

    def _file(self, src: Path, dst: Path, size: int) -> None:
        self.room -= size
        if self.room < 0:
            raise DeliverableRefusedError(
                f"the deliverable's files add up beyond the task's disk ({self.task!r}): "
                f"{str(src)!r} alone is {size:,} bytes (apparent size; sparse files count "
                "whole)",
                hint="deliver only the code and the weights it loads",
            )
        _clear(dst)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        with (
            open(os.open(src, flags), "rb") as reader,  # noqa: PTH123 - a descriptor
            open(  # noqa: PTH123 - a descriptor
                os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), "wb"
            ) as writer,
        ):
            shutil.copyfileobj(reader, writer, 1 << 20)


def _clear(path: Path) -> None:
    """Remove what is at ``path`` (a file, a link, or a folder of our own copy)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)  # our copy: at most MAX_DEPTH deep


def seal(folder: Path) -> None:
    """Directories 0755, files 0644 (0755 when executable), no set-id bits, links left alone."""
    stack = [folder]
    while stack:
        path = stack.pop()
        info = os.lstat(path)
        if stat.S_ISDIR(info.st_mode):
            path.chmod(0o755)
            stack.extend(path.iterdir())
        elif stat.S_ISREG(info.st_mode):
            path.chmod(0o755 if info.st_mode & stat.S_IXUSR else 0o644)


def pristine_folder(spec: TaskSpec) -> Path:
    if spec.assets is None:
        raise CodeEnvironmentError(f"task {spec.name!r} has no assets to take a pristine copy from")
    return Path(str(files(spec.assets) / "starter"))


def _layout(
    spec: TaskSpec, code_run: CodeRun, deliverable: Path, work: Path, _copy: Copier
) -> str | None:
    """Fill ``work``; return the method name (method deliverables)."""
    method: str | None = None
    if code_run.pristine == "starter":
        pristine = pristine_folder(spec)
        _copy(pristine, work)
        methods, method = _methods_and_name(deliverable)
        shutil.rmtree(work / "methods", ignore_errors=True)
        _copy(methods, work / "methods")
        for rel in code_run.protected:  # MLRC-Bench: read-only files come back pristine
            target = work / rel
            _clear(target)
            _copy(pristine / rel, target)
    elif code_run.pristine is None:
        folder = deliverable if deliverable.is_dir() else deliverable.parent
        _copy(folder, work)
    else:  # a pristine folder inside the image: only the agent's methods travel
        methods, method = _methods_and_name(deliverable)
        _copy(methods, work / "methods")
    return method


@dataclass(frozen=True)
class Prepared:
    """A laid-out work folder and the sandbox request that runs it: run it as often as needed,
    each time into a fresh output folder."""

    request: SandboxRequest
    """The request; its ``output`` and ``name`` are replaced on each run."""
    backend: Backend
    client: object | None
    output_file: str
    """What each run must write, relative to its output folder."""
    time_limit_s: int
    """The run's time limit, for the failure message."""


@dataclass(frozen=True)
class Run:
    """One sandboxed run of a prepared work folder."""

    sandbox: SandboxResult
    produced: Path
    """Where the run had to write its output file."""
    failure: str | None
    """Why the run earns no score (timeout, crash, no output), else None."""


OUTPUT_PREFIX = "run-"
"""Start of every output folder's name; the rest is random (:func:`fresh_output`)."""


def fresh_output(base: Path) -> Path:
    """A new, empty output folder under ``base`` that only the sandbox's user may write. Its
    name is random and of one shape for every run (the scored run, each timed round, the
    baseline's build), so nothing the code can see of its host path (``/proc/self/mountinfo``)
    tells which run is scored or which round it is."""
    output = base / f"{OUTPUT_PREFIX}{secrets.token_hex(8)}"
    output.mkdir(mode=0o700)
    if os.geteuid() == 0:  # the code runs as nobody: the one folder it may write is its own
        os.chown(output, SANDBOX_UID, SANDBOX_UID)
    return output


def run_prepared(prepared: Prepared, output: Path) -> Run:
    """Run the prepared code once, writing into ``output`` (a :func:`fresh_output`)."""
    request = dataclasses.replace(
        prepared.request, output=output, name=f"{prepared.request.name}-{uuid.uuid4().hex[:6]}"
    )
    if prepared.backend == "docker":
        result = run_docker(request, prepared.client)
    else:
        result = run_process(request, sys.executable)
    produced = output / prepared.output_file
    failure: str | None = None
    if result.timed_out:
        failure = f"the re-run exceeded its time limit of {prepared.time_limit_s} s and was killed"
    elif result.exit_code != 0:
        failure = f"the re-run exited with status {result.exit_code}"
    elif produced.is_symlink() or not produced.is_file():
        failure = f"the re-run wrote no {prepared.output_file!r}"
    if failure is not None:
        tail = result.log_tail.strip().splitlines()[-5:]
        failure += (": " + " | ".join(tail)) if tail else ""
    return Run(sandbox=result, produced=produced, failure=failure)


def prepare(
    spec: TaskSpec,
    deliverable: Path,
    data_dir: Path,
    base: Path,
    inputs: Path,
    ready: tuple[Backend, object | None],
) -> tuple[Prepared, str | None, int | None]:
    """Lay ``deliverable`` out in ``base/work`` the way the task re-runs it, against the copied
    ``inputs``; (the prepared run, the method's name, the method file's statement count)."""
    code_run = spec.evaluation.code_run
    assert code_run is not None
    work = base / "work"
    work.mkdir()
    disk = spec.resources.disk_gb
    copy = Copier(room=int(disk * 1e9) if disk else load_limits().max_bytes, task=spec.name)
    method = _layout(spec, code_run, deliverable, work, copy)
    if code_run.test_constants:
        constants = _data_file(code_run.test_constants, data_dir)
        target = work / "constants.py"
        _clear(target)
        shutil.copyfile(constants, target)
    method_file = (code_run.method_file or "main.py").format(method=method or "")
    method_statements = _count(work / method_file)
    seal(work)
    command = tuple(part.replace("{method}", method or "") for part in code_run.command)
    in_image = _pristine_in_image(code_run) is not None
    request = SandboxRequest(
        command=command,
        work=work,
        inputs=inputs,
        output=base,  # replaced on each run
        time_limit_s=code_run.time_limit_s,
        memory_gb=code_run.memory_gb,
        gpus=code_run.gpus,
        image=code_run.image,
        name=f"mlrb-coderun-{spec.name.replace('_', '-')}-{uuid.uuid4().hex[:10]}",
        workdir=code_run.pristine if in_image else None,
        extra_mounts=_over_pristine(code_run, work) if in_image else (),
        hide=_hidden_stores(data_dir),
    )
    backend, client = ready
    prepared = Prepared(
        request=request,
        backend=backend,
        client=client,
        output_file=code_run.output_file,
        time_limit_s=code_run.time_limit_s,
    )
    return prepared, method, method_statements


def _hidden_stores(data_dir: Path) -> tuple[Path, ...]:
    """Folders that may hold labels: the evaluator's package data and its data folder."""
    package_data = bundled_dir().parent
    return tuple(p for p in (package_data, data_dir) if p.is_dir())


def guard_scratch(scratch: Path, data_dir: Path) -> None:
    """The work folder must be reachable by ``nobody`` and not inside a hidden folder."""
    for folder in scratch.resolve().parents:
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise CodeEnvironmentError(
                f"the re-run's scratch folder {str(scratch)!r} is inside {str(folder)!r}, "
                "which the sandbox's unprivileged user cannot enter",
                hint="use a temporary folder whose parents are world-traversable (TMPDIR)",
            )
    for hidden in _hidden_stores(data_dir):
        try:
            scratch.resolve().relative_to(hidden.resolve())
        except ValueError:
            continue
        raise CodeEnvironmentError(
            f"the re-run's scratch folder {str(scratch)!r} is inside {str(hidden)!r}, which "
            "holds labels and is hidden from the sandbox",
            hint="use a temporary folder elsewhere (TMPDIR)",
        )


def _over_pristine(code_run: CodeRun, work: Path) -> tuple[tuple[Path, str], ...]:
    """Mounts over the image's pristine task folder: the agent's methods, the test constants."""
    mounts = [(work / "methods", f"{code_run.pristine}/methods")]
    if code_run.test_constants:
        mounts.append((work / "constants.py", f"{code_run.pristine}/constants.py"))
    return tuple(mounts)


SCORE_LINE = re.compile(r"^\s*\{.*\}\s*$")


def _pristine_in_image(code_run: CodeRun) -> str | None:
    """The pristine task folder inside the task's environment image, when it lives there (not
    in the evaluator's own copy of the starter files, nor absent)."""
    return code_run.pristine if code_run.pristine not in (None, "starter") else None


def score_in_image(spec: TaskSpec, outcome: CodeRunOutcome, data_dir: Path) -> float:
    """Run the task's scorer in a fresh container of its image: the pristine task folder, the
    method's output read-only, the labels read-only, and none of the agent's code."""
    from agent_eval.errors import MetricError

    code_run = spec.evaluation.code_run
    assert code_run is not None and code_run.scorer and code_run.labels
    if outcome.output_file is None:
        raise MetricError(f"no score: {outcome.failure}")
    client = docker_client()
    if client is None:
        raise CodeEnvironmentError("the task's scorer needs a Docker engine, and none answers")
    scored = outcome.output_file.parent
    results = Path(tempfile.mkdtemp(prefix="scorer-", dir=scored.parent.parent))
    command = tuple(
        part.replace("{output}", "{inputs}").replace("{labels}", "/labels")
        for part in code_run.scorer
    )
    request = SandboxRequest(
        command=command,
        work=results,  # an empty folder: the scorer runs from the image's pristine folder
        inputs=scored,
        output=results,
        time_limit_s=code_run.time_limit_s,
        memory_gb=code_run.memory_gb,
        gpus=code_run.gpus,
        image=code_run.image,
        name=f"mlrb-coderun-score-{uuid.uuid4().hex[:10]}",
        workdir=_pristine_in_image(code_run),
        extra_mounts=((data_dir / code_run.labels, "/labels"),),
    )
    result = run_docker(request, client)
    if result.timed_out or result.exit_code != 0:
        raise MetricError(
            f"the task's scorer failed (exit {result.exit_code}, timed out: {result.timed_out})"
        )
    lines = [ln for ln in result.log_tail.splitlines() if SCORE_LINE.match(ln)]
    try:
        return float(json.loads(lines[-1])["score"])
    except (IndexError, ValueError, KeyError, TypeError):
        raise MetricError('the task\'s scorer printed no {"score": <number>} line') from None


def remove_work(folder: Path) -> None:
    """Remove a re-run's work folder whatever the agent's code left in it (folders nested
    thousands deep, which ``shutil.rmtree`` cannot): GNU ``rm``, which never follows a link and
    stays on one file system."""
    subprocess.run(
        ["rm", "-rf", "--one-file-system", "--", str(folder)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
