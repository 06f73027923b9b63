"""The evaluator and reference-agent images, built here without a registry, run for real.

The images come from ``scripts/build_images.py`` (docs/images.md): with ``MLRB_IMAGE_TAG`` set
(CI builds them in its image lane first) the tests use ``mlrb/agent-eval:<tag>`` and
``mlrb/reference-agent:<tag>``; otherwise they build them once under a tag of their own and
remove them at the end.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.e2e import REPO, cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CALLER = os.getuid() if os.getuid() != 0 else 4242
"""The host user who runs the evaluator: as root, the tests play a user who is neither root nor
the image's own user (1000), to see what such a user would see."""


def _not_ready(reason: str) -> None:
    # tests/conftest.py's rule: a missing precondition skips here and fails in CI
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (in CI this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def images(docker_client: Any) -> Iterator[dict[str, str]]:
    """Names of the built evaluator (``eval``) and reference-agent images."""
    given = os.environ.get("MLRB_IMAGE_TAG")
    tag = given or f"test-{os.getpid()}"
    names = {"eval": f"mlrb/agent-eval:{tag}", "reference-agent": f"mlrb/reference-agent:{tag}"}
    if given:
        for name in names.values():
            if not docker_client.images.list(name=name):
                _not_ready(f"MLRB_IMAGE_TAG={given} but {name} was not built")
        yield names
        return
    built = subprocess.run(
        [sys.executable, str(REPO / "scripts/build_images.py"), "--tag", tag, "--prune-stages"],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    try:
        if built.returncode == 3:
            _not_ready(built.stderr[-2000:])
        assert built.returncode == 0, built.stderr[-4000:]
        yield names
    finally:
        for name in names.values():
            subprocess.run(["docker", "rmi", "-f", name], capture_output=True)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A temporary folder other users can reach (pytest's tmp_path is 0700 root's)."""
    folder = Path(tempfile.mkdtemp(prefix="mlrb-images-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def results_folder(parent: Path, mode: int) -> Path:
    """A results folder owned by the caller, as one they made and mounted would be."""
    folder = parent / "results"
    folder.mkdir()
    folder.chmod(mode)
    if os.getuid() == 0:
        os.chown(folder, CALLER, CALLER)
    return folder


def callers_model(tiny_model: Path, parent: Path) -> Path:
    """The tiny model as the caller's own files (transformers writes its weights 0600)."""
    model = parent / "model"
    shutil.copytree(tiny_model, model)
    if os.getuid() == 0:
        for path in [model, *model.rglob("*")]:
            os.chown(path, CALLER, CALLER)
    return model


def read_as_caller(path: Path) -> dict[str, Any]:
    """The JSON as the caller reads it (``cat`` under the caller's uid when the tests are root)."""
    who = {"user": CALLER, "group": CALLER} if os.getuid() == 0 else {}
    shown = subprocess.run(["cat", str(path)], capture_output=True, text=True, **who)  # type: ignore[call-overload]
    assert shown.returncode == 0, f"the caller cannot read {path}: {shown.stderr}"
    data: dict[str, Any] = json.loads(shown.stdout)
    return data


def evaluate_in_image(image: str, model: Path, results: Path, *docker_options: str) -> str:
    """The documented command: docker run --network none -v MODEL:/model:ro -v RESULTS:/results."""
    done = subprocess.run(
        [
            *("docker", "run", "--rm", "--network", "none", *docker_options),
            *("-v", f"{model}:/model:ro", "-v", f"{results}:/results"),
            *(image, "--model_args", "/model", "--task", "tiny_lm"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def bits_per_byte(result: dict[str, Any]) -> float:
    """The primary metric's value in a results JSON."""
    (value,) = [m["value"] for m in result["metrics"] if m["name"] == "bits_per_byte"]
    return float(value)


def test_evaluator_image_run_as_the_caller_scores_like_the_host_evaluator(
    images: dict[str, str], tiny_model: Path, open_dir: Path, tmp_path: Path
) -> None:
    results = results_folder(open_dir, 0o755)
    model = callers_model(tiny_model, open_dir)
    evaluate_in_image(images["eval"], model, results, "--user", f"{CALLER}:{CALLER}")
    (path,) = results.glob("*.json")
    info = path.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (CALLER, 0o644)
    result = read_as_caller(path)
    assert result["status"] == "ok" and result["score"] is not None
    assert result["environment"]["sample_limit"] is None

    host = cli("agent-eval", "--model_args", str(tiny_model), "--task", "tiny_lm", "--no-db",
               "--results-dir", str(tmp_path / "host"), "--device", "cpu")  # fmt: skip
    assert host.returncode == 0, host.stderr[-3000:]
    (on_host,) = (json.loads(p.read_text()) for p in (tmp_path / "host").glob("*.json"))
    assert math.isclose(bits_per_byte(result), bits_per_byte(on_host), rel_tol=1e-6)
    assert result["score"]["raw"] == pytest.approx(on_host["score"]["raw"], rel=1e-6)


def test_evaluator_image_as_its_own_user_leaves_results_the_caller_can_read(
    images: dict[str, str], tiny_model: Path, open_dir: Path
) -> None:
    # no --user: the image's user 1000 reads a model the caller opened to everyone and writes
    # into a folder the caller opened to everyone
    results = results_folder(open_dir, 0o777)
    model = callers_model(tiny_model, open_dir)
    for path in [model, *model.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    evaluate_in_image(images["eval"], model, results)
    (path,) = results.glob("*.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # was 0600: unreadable to the caller
    result = read_as_caller(path)
    assert result["status"] == "ok" and bits_per_byte(result) > 0


def test_reference_agent_image_runs_through_the_harness_and_its_model_is_scored_in_the_image(
    images: dict[str, str], tmp_path: Path
) -> None:
    runs, results = tmp_path / "runs", tmp_path / "results"
    done = cli(
        "agent-harness", "run", images["reference-agent"], "--task", "tiny_lm",
        "--benchmark", "smoke", "--runtime", "docker", "--network", "none",
        "--time-limit", "90s", "--runs-dir", str(runs), "--results-dir", str(results),
        "--evaluate", "--eval-mode", "image", "--eval-image", images["eval"],
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = [p for p in runs.iterdir() if (p / "run.json").is_file()]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["deliverable"]["path"] == "output/model"
    model = run_dir / "output" / "model"
    assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()
    link = record["evaluation"]
    assert (link["mode"], link["image"], link["exit_code"]) == ("image", images["eval"], 0)
    (name,) = link["results"]
    result = json.loads((results / name).read_text())
    assert result["run_id"] == record["run_id"] and result["status"] == "ok"
    assert result["score"] is not None and bits_per_byte(result) > 0
    # The result names the evaluator image that scored it, by tag and by id.
    image_id = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", images["eval"]],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    conditions = result["conditions"]
    assert (conditions["evaluator_image"], conditions["evaluator_image_id"]) == (
        images["eval"],
        image_id,
    )
