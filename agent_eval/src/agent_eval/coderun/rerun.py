"""Re-run a code deliverable the way MLRC-Bench runs its test phase, and keep what it produced.

Steps: check that everything the re-run needs is here (else exit 3, naming what to build or
fetch) -> lay the work folder out (the deliverable, or the task's pristine folder with the
agent's ``methods/`` over it) -> restore the protected files from the pristine copy and swap in
the test constants -> copy the hidden test inputs (never labels) -> run the command in a sandbox
-> keep the output file, the measured wall time and the method's statement count.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import uuid
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal

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
    if path.is_symlink() or not path.is_file():
        return None
    try:
        return statements(path)
    except (SyntaxError, ValueError, UnicodeDecodeError):
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
        name = json.loads(submission.read_text(encoding="utf-8")).get("method")
    except (OSError, ValueError, AttributeError):
        name = None
    if not isinstance(name, str) or not METHOD_NAME.match(name):
        raise ModelLoadError(
            f'{str(submission)!r} does not name a method as {{"method": "<name>"}}',
            hint="write submission.json next to methods/ naming your registered method",
        )
    return methods, name


def _special(folder: str, names: list[str]) -> set[str]:
    """Entries that are neither files, folders nor links (FIFOs, sockets, devices): opening a
    FIFO would hang the copy, so they are left out of the work folder."""
    kept = (stat.S_ISREG, stat.S_ISDIR, stat.S_ISLNK)
    modes = {n: (Path(folder) / n).lstat().st_mode for n in names}
    return {n for n, mode in modes.items() if not any(k(mode) for k in kept)}


def _copy(source: Path, target: Path) -> None:
    """Copy a file tree without following links or opening special files."""
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True, ignore=_special)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def _seal(folder: Path) -> None:
    """Directories 0755, files 0644 (0755 when executable), no set-id bits, links left alone."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        if path.is_dir():
            path.chmod(0o755)
        else:
            path.chmod(0o755 if mode & stat.S_IXUSR else 0o644)


def _pristine(spec: TaskSpec) -> Path:
    if spec.assets is None:
        raise CodeEnvironmentError(f"task {spec.name!r} has no assets to take a pristine copy from")
    return Path(str(files(spec.assets) / "starter"))


def _layout(spec: TaskSpec, code_run: CodeRun, deliverable: Path, work: Path) -> str | None:
    """Fill ``work``; return the method name (method deliverables)."""
    method: str | None = None
    if code_run.pristine == "starter":
        pristine = _pristine(spec)
        _copy(pristine, work)
        methods, method = _methods_and_name(deliverable)
        shutil.rmtree(work / "methods", ignore_errors=True)
        _copy(methods, work / "methods")
        for rel in code_run.protected:  # MLRC-Bench: read-only files come back pristine
            target = work / rel
            if target.is_symlink() or target.exists():
                target.unlink()
            _copy(pristine / rel, target)
    elif code_run.pristine is None:
        folder = deliverable if deliverable.is_dir() else deliverable.parent
        _copy(folder, work)
    else:  # a pristine folder inside the image: only the agent's methods travel
        methods, method = _methods_and_name(deliverable)
        _copy(methods, work / "methods")
    return method


def rerun(
    spec: TaskSpec,
    deliverable: Path,
    data_dir: Path,
    scratch: Path,
    *,
    choice: str | None = None,
) -> CodeRunOutcome:
    """Re-run the deliverable of a code task in a sandbox (see the module doc)."""
    code_run = spec.evaluation.code_run
    if code_run is None:
        raise CodeEnvironmentError(f"task {spec.name!r} has no code re-run")
    chosen = choice or os.environ.get(SANDBOX_ENV) or "auto"
    backend, client = check_ready(spec, data_dir, chosen)
    _guard(scratch, data_dir)
    scratch.chmod(scratch.stat().st_mode | 0o011)  # traversable (not listable) by nobody
    base = Path(tempfile.mkdtemp(prefix="mlrb-coderun-", dir=scratch))
    base.chmod(0o755)  # nobody must reach the work, inputs and output folders inside
    work, inputs, output = base / "work", base / "inputs", base / "output"
    work.mkdir()
    method = _layout(spec, code_run, deliverable, work)
    if code_run.test_constants:
        constants = _data_file(code_run.test_constants, data_dir)
        target = work / "constants.py"
        if target.is_symlink() or target.exists():
            target.unlink()
        shutil.copyfile(constants, target)
    method_file = (code_run.method_file or "main.py").format(method=method or "")
    counted = work / method_file
    method_statements = _count(counted)
    _copy(inputs_folder(code_run, data_dir), inputs)
    _seal(work)
    _seal(inputs)
    output.mkdir()
    if os.geteuid() == 0:  # the code runs as nobody: the one folder it may write is its own
        os.chown(output, SANDBOX_UID, SANDBOX_UID)
    else:
        output.chmod(0o777)
    command = tuple(part.replace("{method}", method or "") for part in code_run.command)
    in_image = _pristine_in_image(code_run) is not None
    name = f"mlrb-coderun-{spec.name.replace('_', '-')}-{uuid.uuid4().hex[:10]}"
    request = SandboxRequest(
        command=command,
        work=work,
        inputs=inputs,
        output=output,
        time_limit_s=code_run.time_limit_s,
        memory_gb=code_run.memory_gb,
        gpus=code_run.gpus,
        image=code_run.image,
        name=name,
        workdir=code_run.pristine if in_image else None,
        extra_mounts=_over_pristine(code_run, work) if in_image else (),
        hide=_hidden_stores(data_dir),
    )
    if backend == "docker":
        result = run_docker(request, client)
    else:
        result = run_process(request, sys.executable)
    produced = output / code_run.output_file
    failure: str | None = None
    if result.timed_out:
        failure = f"the re-run exceeded its time limit of {code_run.time_limit_s} s and was killed"
    elif result.exit_code != 0:
        failure = f"the re-run exited with status {result.exit_code}"
    elif produced.is_symlink() or not produced.is_file():
        failure = f"the re-run wrote no {code_run.output_file!r}"
    if failure is not None:
        tail = result.log_tail.strip().splitlines()[-5:]
        failure += (": " + " | ".join(tail)) if tail else ""
    return CodeRunOutcome(
        sandbox=result,
        output_file=None if failure else produced,
        failure=failure,
        method=method,
        method_statements=method_statements,
        work=work,
    )


def _hidden_stores(data_dir: Path) -> tuple[Path, ...]:
    """Folders that may hold labels: the evaluator's package data and its data folder."""
    package_data = bundled_dir().parent
    return tuple(p for p in (package_data, data_dir) if p.is_dir())


def _guard(scratch: Path, data_dir: Path) -> None:
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
