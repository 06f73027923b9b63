"""Code tasks score through every documented evaluation path.

The demo's reference agent solves each code smoke task through the harness with
``--evaluate`` (with the images under their default tags, the evaluation runs in the evaluator
image); then the same run folder is scored again as a process (``agent-eval --model_args
runs/<id>``) and with the ``docker run`` line of README step 4, word for word (as root, and as
a caller who is neither root nor the image's user). Every path must give the same accuracy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.e2e import BIN, REPO, clean_env, evaluation_rows

EXPECTED_ACCURACY = {
    "digit_sums": ("twe_accuracy", 0.42),
    "digit_method": ("predictions_accuracy", 0.8525),
}
"""The reference agent's test accuracy (deterministic: seeded training, exact labels)."""
CALLER = 4242
"""A host user who is neither root nor the image's own user (1000)."""


def _not_ready(reason: str) -> None:
    # tests/conftest.py's rule: a missing precondition skips here and fails in CI
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (in CI this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def _tag() -> str:
    """The images' tag: ``MLRB_IMAGE_TAG`` (docs/images.md), else the default."""
    return os.environ.get("MLRB_IMAGE_TAG") or "latest"


def _image_env() -> dict[str, str]:
    """With another tag than the default, the harness is pointed at that evaluator image."""
    tag = _tag()
    return {} if tag == "latest" else {"AGENT_EVAL_IMAGE": f"mlrb/agent-eval:{tag}"}


def _image_present(name: str) -> bool:
    if shutil.which("docker") is None:
        return False
    shown = subprocess.run(["docker", "image", "inspect", name], capture_output=True)
    return shown.returncode == 0


@dataclass(frozen=True)
class Solved:
    """One run of the reference agent on a code task, evaluated by the harness."""

    task: str
    root: Path
    """The folder holding runs/ and results/ (the README's $PWD)."""
    run_dir: Path


@pytest.fixture(scope="module", params=sorted(EXPECTED_ACCURACY))
def solved(request: pytest.FixtureRequest) -> Iterator[Solved]:
    """The demo on one code task: harness run with ``--evaluate`` (default evaluation mode)."""
    if os.geteuid() != 0:
        _not_ready("the code sandbox tests run as root (run folders owned by root)")
    task = str(request.param)
    root = Path(tempfile.mkdtemp(prefix=f"mlrb-code-e2e-{task}-"))
    root.chmod(0o755)
    runs, results = root / "runs", root / "results"
    demo = [
        *(str(BIN / "python"), str(REPO / "scripts" / "demo.py"), "--task", task),
        *("--time-limit", "3m", "--runs-dir", str(runs), "--results-dir", str(results)),
    ]
    done = subprocess.run(
        demo, capture_output=True, text=True, env=clean_env(**_image_env()), timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = runs.iterdir()
    try:
        yield Solved(task, root, run_dir)
    finally:
        shutil.rmtree(root)


def _check(result: dict[str, Any], task: str) -> None:
    assert result["task"] == task and result["status"] == "ok", result.get("errors")
    assert result["model"]["format"] == "code"
    name, accuracy = EXPECTED_ACCURACY[task]
    values = {m["name"]: m["value"] for m in result["metrics"]}
    assert values[name] == pytest.approx(accuracy, abs=1e-4)
    assert result["score"]["normalised"] is not None


def test_harness_evaluate_scores_the_code_task(solved: Solved) -> None:
    record = json.loads((solved.run_dir / "run.json").read_text())
    link = record["evaluation"]
    agent_image = "mlrb/reference-agent:latest"
    evaluator = f"mlrb/agent-eval:{_tag()}"
    if _image_present(agent_image) and _image_present(evaluator):
        # the docker runtime, and the evaluator image chosen by default (not a process)
        assert (link["mode"], link["image"]) == ("image", evaluator), link
    elif os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI builds {agent_image} and {evaluator}: both must be here")
    assert link["exit_code"] == 0 and link["recorded"], link
    (name,) = link["results"]
    _check(json.loads((Path(link["results_dir"]) / name).read_text()), solved.task)
    rows = evaluation_rows(Path(link["results_dir"]))
    assert [(r[1], r[2], r[3]) for r in rows] == [(solved.run_dir.name, solved.task, "ok")]


def test_the_evaluator_as_a_process_scores_the_run(solved: Solved, tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = subprocess.run(
        [
            *(str(BIN / "agent-eval"), "--model_args", str(solved.run_dir)),
            *("--task", solved.task, "--results-dir", str(results), "--no-db"),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (saved,) = results.glob("*.json")
    result = json.loads(saved.read_text())
    _check(result, solved.task)
    assert result["run_id"] == solved.run_dir.name


def readme_docker_run() -> str:
    """The ``docker run`` command of README step 4, continuation lines joined."""
    readme = (REPO / "README.md").read_text()
    step = readme[readme.index("4. **Evaluate**") :]
    block = re.search(r"```bash\n(.*?)```", step, re.S)
    assert block is not None, "README step 4 has no bash block"
    command = re.sub(r"\\\n\s*", "", block.group(1)).strip()
    assert command.startswith("docker run "), command
    return command


def _as_readme(
    solved: Solved, root: Path, user: str | None, *, drop: str = "", code: int = 0
) -> dict[str, Any] | str:
    """Run README step 4's line (less ``drop``) in ``root`` (its $PWD) for the solved run; the
    result JSON, or the output when ``code`` (the exit code expected) is not 0."""
    command = readme_docker_run().replace(drop, "")
    command = command.replace("<run_id>", solved.run_dir.name)
    command = command.replace("--task edge_llm_training", f"--task {solved.task}")
    command = command.replace("mlrb/agent-eval:latest", f"mlrb/agent-eval:{_tag()}")
    if user is not None:  # the caller: what `$(id -u):$(id -g)` is for them
        command = command.replace('"$(id -u):$(id -g)"', user)
    done = subprocess.run(
        ["bash", "-c", command], cwd=root, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == code, command + "\n" + done.stdout[-3000:] + done.stderr[-3000:]
    if code != 0:
        return done.stdout + done.stderr
    (saved,) = (root / "results").glob("*.json")
    result: dict[str, Any] = json.loads(saved.read_text())
    return result


@pytest.fixture
def evaluator_image() -> str:
    name = f"mlrb/agent-eval:{_tag()}"
    if not _image_present(name):
        _not_ready(f"{name} is not built (python scripts/build_images.py, docs/images.md)")
    return name


@pytest.mark.docker
def test_readme_docker_run_scores_the_run_as_root(
    solved: Solved, evaluator_image: str, tmp_path: Path
) -> None:
    root = tmp_path / "here"
    (root / "runs").mkdir(parents=True)
    shutil.copytree(solved.run_dir, root / "runs" / solved.run_dir.name, symlinks=True)
    (root / "results").mkdir()
    result = _as_readme(solved, root, None)
    assert isinstance(result, dict)
    _check(result, solved.task)
    assert result["run_id"] == solved.run_dir.name


@pytest.mark.docker
def test_readme_docker_run_scores_the_run_as_a_caller(solved: Solved, evaluator_image: str) -> None:
    with tempfile.TemporaryDirectory(prefix="mlrb-caller-") as folder:
        root = Path(folder)
        root.chmod(0o755)
        (root / "runs").mkdir()
        shutil.copytree(solved.run_dir, root / "runs" / solved.run_dir.name, symlinks=True)
        (root / "results").mkdir()
        for path in [root / "runs", root / "results", *(root / "runs").rglob("*")]:
            os.chown(path, CALLER, CALLER, follow_symlinks=False)
        result = _as_readme(solved, root, f"{CALLER}:{CALLER}")
    assert isinstance(result, dict)
    _check(result, solved.task)


@pytest.mark.docker
def test_the_evaluator_image_without_the_flag_names_it(
    solved: Solved, evaluator_image: str, tmp_path: Path
) -> None:
    root = tmp_path / "here"
    (root / "runs").mkdir(parents=True)
    shutil.copytree(solved.run_dir, root / "runs" / solved.run_dir.name, symlinks=True)
    (root / "results").mkdir()
    flag = "--security-opt seccomp=unconfined"
    said = _as_readme(solved, root, None, drop=flag + " ", code=3)
    assert isinstance(said, str)
    assert flag in " ".join(said.split()), said  # the message wraps on the console
    assert list((root / "results").glob("*.json")) == []
