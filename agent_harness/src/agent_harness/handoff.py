"""Hand a finished run to the evaluator: in its image (no network, run read-only) or as a process.

The harness never imports the evaluator: it starts ``agent-eval`` as a container or a process and
reads back only its exit code and the results files it wrote.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agent_contracts.errors import ExitCode, NewerSchemaError
from agent_contracts.results import EvaluationReport
from agent_contracts.run_record import EvaluationLink
from agent_harness.errors import EngineNotReadyError, EvaluatorNotStartedError
from agent_harness.gpus import NO_GPUS_ENV, GpuSelection
from agent_harness.option_values import EvalModeChoice

DEFAULT_EVAL_IMAGE = "mlrb/agent-eval:latest"
"""Evaluator image used under a runtime with a container engine unless ``--eval-image`` names
another."""

EVAL_IMAGE_ENV = "AGENT_EVAL_IMAGE"
"""Environment variable that overrides the default evaluator image (and, set for the evaluator
container, names its image in the result's conditions)."""
EVAL_IMAGE_ID_ENV = "AGENT_EVAL_IMAGE_ID"
"""Set for the evaluator container: the id of its image, recorded in the result's conditions."""


DATABASE_KEYS = ("DATABASE_URL", "DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_NAME")
"""Settings the evaluator (never the agent) receives from the env file."""

CONTAINER_RUN_DIR = "/run-record"
CONTAINER_RESULTS_DIR = "/results"
CODE_TASK_SECURITY_OPT = "seccomp=unconfined"
"""What the evaluator container needs for a code task: its bubblewrap sandbox creates
namespaces, which Docker's default seccomp profile forbids (docs/code-deliverables.md)."""


@dataclass(frozen=True)
class EvalPlan:
    """Where and how the evaluation will run, settled before the agent starts."""

    mode: Literal["image", "process"]
    results_dir: Path
    image: str | None
    executable: str | None
    environment: dict[str, str]
    note: str | None = None


def find_agent_eval() -> str | None:
    """The ``agent-eval`` executable: beside this Python first, then on PATH."""
    beside = Path(sys.executable).parent / "agent-eval"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("agent-eval")


def evaluator_environment(file_values: dict[str, str]) -> dict[str, str]:
    """Database settings from the env file for the evaluator, unless already in the environment."""
    return {k: v for k, v in file_values.items() if k in DATABASE_KEYS and k not in os.environ}


def _unrecorded(executable: str | None) -> str | None:
    """The note for image mode when nothing on this machine can record the result."""
    if executable is not None:
        return None
    return (
        "agent-eval is not installed on this machine: the evaluator image saves the results JSON, "
        "but nothing records it in the database (exit 6); load it later with `agent-eval sync`"
    )


def plan_evaluation(
    mode: EvalModeChoice,
    *,
    engine: Any | None,
    image: str | None,
    results_dir: Path,
    file_values: dict[str, str],
) -> EvalPlan:
    """Choose image or process; raise EngineNotReadyError when neither can run.

    ``engine`` is the run's runtime's container engine (:attr:`Runtime.engine`), None when
    the runtime has none: the evaluator's image is then not an option."""
    image = image or os.environ.get(EVAL_IMAGE_ENV) or DEFAULT_EVAL_IMAGE
    env = evaluator_environment(file_values)
    executable = find_agent_eval()
    image_ok = False
    if mode in ("auto", "image") and engine is not None:
        try:
            engine.images.get(image)
            image_ok = True
        except Exception:  # not found, or the engine refused: either way not usable
            image_ok = False
    if mode == "image":
        if not image_ok:
            raise EngineNotReadyError(
                f"evaluator image {image!r} is not available"
                + ("" if engine is not None else " (the run's runtime has no container engine)"),
                hint="build it (docker/eval/Dockerfile, see docs/evaluator.md), or use "
                "--eval-mode process",
            )
        return EvalPlan("image", results_dir, image, executable, env, _unrecorded(executable))
    if mode == "auto" and image_ok:
        return EvalPlan("image", results_dir, image, executable, env, _unrecorded(executable))
    if executable is None:
        raise EngineNotReadyError(
            "agent-eval is not installed, so the run cannot be evaluated as a process",
            hint="pip install ./agent_contracts ./agent_tasks ./agent_eval (or `make dev`), or "
            "build the evaluator image and use --eval-mode image",
        )
    note = None
    if mode == "auto" and engine is not None:
        note = f"evaluator image {image!r} not found: evaluating as a process on this machine"
    return EvalPlan("process", results_dir, None, executable, env, note)


def _new_results(results_dir: Path, before: set[str]) -> list[str]:
    if not results_dir.is_dir():
        return []
    return sorted(p.name for p in results_dir.glob("*.json") if p.name not in before)


def _pump(stream: Any, say: Any) -> None:
    for line in iter(stream.readline, b""):
        say(line.decode("utf-8", "replace").rstrip("\n"))


def evaluate_run(
    plan: EvalPlan,
    run_dir: Path,
    task: str,
    *,
    gpus: GpuSelection,
    client: Any | None,
    say: Any,
) -> EvaluationLink:
    """Run the evaluator on the run folder; return what it did (never raises for exit codes)."""
    results_dir = plan.results_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in results_dir.glob("*.json")}
    message = None
    if plan.mode == "image":
        code, recorded, message = _evaluate_with_image(
            plan, run_dir, task, gpus, client, before, say
        )
    else:
        code, recorded = _evaluate_as_process(plan, run_dir, task, say)
    return EvaluationLink(
        mode=plan.mode,
        image=plan.image,
        exit_code=code,
        results=_new_results(results_dir, before),
        results_dir=str(results_dir),
        recorded=recorded,
        message=message,
    )


def _evaluate_with_image(
    plan: EvalPlan,
    run_dir: Path,
    task: str,
    gpus: GpuSelection,
    client: Any,
    before: set[str],
    say: Any,
) -> tuple[int, bool, str | None]:
    """(exit code, recorded, why it could not run) of the evaluator image on the run folder;
    what it saved is recorded from this side, since its container has no network."""
    assert client is not None and plan.image is not None
    try:
        code = _evaluate_in_image(plan, run_dir, task, gpus, client, say)
    except EvaluatorNotStartedError as exc:  # recorded in run.json like any other outcome
        say(f"error: {exc.message}")
        return int(exc.exit_code), False, exc.message
    recorded = False
    wrote = _new_results(plan.results_dir, before)
    if code in (0, int(ExitCode.EVALUATION_FAILED)) and wrote and plan.executable is not None:
        # A failed evaluation's error result is recorded too (it is linked to the run).
        recorded = _sync(plan, plan.results_dir, wrote, say)
    if code == 0 and not recorded:
        # Saved as JSON but not in the database: the documented exit 6, as in process mode.
        code = int(ExitCode.DATABASE_FAILED)
    return code, recorded, None


def _sync(plan: EvalPlan, results_dir: Path, wrote: list[str], say: Any) -> bool:
    """``agent-eval sync`` of the results folder; True when this run's new results files are
    in the database (another bad file in the folder does not change that)."""
    assert plan.executable is not None
    sync = subprocess.run(
        [plan.executable, "sync", str(results_dir), "--json"],
        env={**os.environ, **plan.environment},
        capture_output=True,
        text=True,
    )
    for line in sync.stderr.strip().splitlines():
        say(line)
    if sync.returncode not in (0, int(ExitCode.USAGE)):  # the database: nothing was recorded
        return False
    try:
        report = json.loads(sync.stdout)
        bad = {Path(b["path"]).resolve() for b in report["bad"]}
    except (ValueError, KeyError, TypeError):
        return False
    say(f"synced into {report.get('database')}: {report.get('added')} added")
    return not any((results_dir / name).resolve() in bad for name in wrote)


def _evaluate_as_process(plan: EvalPlan, run_dir: Path, task: str, say: Any) -> tuple[int, bool]:
    """Exit code of ``agent-eval`` on the run folder, and whether its result reached the
    database (from its ``--report-file``: exit 5 alone does not say)."""
    assert plan.executable is not None
    with tempfile.TemporaryDirectory(prefix="mlrb-handoff-") as private:
        report_file = Path(private) / "report.json"
        argv = [
            plan.executable,
            "--model_args",
            str(run_dir),
            "--task",
            task,
            "--results-dir",
            str(plan.results_dir),
            "--report-file",
            str(report_file),
        ]
        proc = subprocess.Popen(
            argv,
            env={**os.environ, **plan.environment},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert proc.stdout is not None
        pump = threading.Thread(target=_pump, args=(proc.stdout, say), daemon=True)
        pump.start()
        code = proc.wait()
        pump.join(5)
        try:
            report = EvaluationReport.model_validate_json(report_file.read_bytes())
        except (OSError, ValueError):  # no report: it ended before a result existed
            return code, False
        except NewerSchemaError as exc:  # an evaluator newer than this harness
            say(f"evaluation report not read: {exc.message}")
            return code, False
    return code, report.recorded and report.exit_code == code


def _reruns_code(task: str) -> bool:
    """True when the task's evaluator re-runs the agent's code (in its own sandbox)."""
    from agent_tasks.registry import get_task

    return get_task(task).evaluation.code_run is not None


def _evaluate_in_image(
    plan: EvalPlan, run_dir: Path, task: str, gpus: GpuSelection, client: Any, say: Any
) -> int:
    settings: dict[str, Any] = {
        "image": plan.image,
        "command": [
            "--model_args",
            CONTAINER_RUN_DIR,
            "--task",
            task,
            "--results-dir",
            CONTAINER_RESULTS_DIR,
            "--no-db",
        ],
        "volumes": {
            str(run_dir.resolve()): {"bind": CONTAINER_RUN_DIR, "mode": "ro"},
            str(plan.results_dir.resolve()): {"bind": CONTAINER_RESULTS_DIR, "mode": "rw"},
        },
        "network_mode": "none",
        "user": f"{os.getuid()}:{os.getgid()}",
        "labels": {"mlrb.evaluates": run_dir.name},
        "detach": True,
    }
    # The result's conditions name the evaluator image and its id (agent_eval.conditions).
    settings["environment"] = {EVAL_IMAGE_ENV: str(plan.image)}
    with contextlib.suppress(Exception):  # unknown id: recorded as null, never a failure
        settings["environment"][EVAL_IMAGE_ID_ENV] = client.images.get(plan.image).id
    if _reruns_code(task):
        settings["security_opt"] = [CODE_TASK_SECURITY_OPT]
    if gpus.all:
        settings["device_requests"] = [{"count": -1, "capabilities": [["gpu"]]}]
    elif gpus.ids:
        settings["device_requests"] = [{"device_ids": list(gpus.ids), "capabilities": [["gpu"]]}]
    else:
        settings["environment"][NO_GPUS_ENV[0]] = NO_GPUS_ENV[1]
    try:
        container = client.containers.run(**settings)
    except Exception as exc:  # the engine's own errors are many; report the message
        # A container created but refused at start stays behind unless removed here.
        with contextlib.suppress(Exception):
            for left in client.containers.list(
                all=True, filters={"label": f"mlrb.evaluates={run_dir.name}"}
            ):
                left.remove(force=True)
        raise EvaluatorNotStartedError(f"the evaluator container did not start: {exc}") from exc
    try:
        for chunk in container.logs(stream=True, follow=True):
            say(chunk.decode("utf-8", "replace").rstrip("\n"))
        return int(container.wait().get("StatusCode", 1))
    finally:
        with contextlib.suppress(Exception):  # already gone
            container.remove(force=True)
