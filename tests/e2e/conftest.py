"""Fixtures of the end-to-end tests: a tiny trained-looking model, agent images that deliver it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from support.e2e import REPO
from support.images import session_image
from support.tiny_models import save_gpt2, train_tokenizer

DELIVERING_IMAGE = session_image("e2e-delivering-agent")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GPT-2 with its own byte-level BPE tokenizer, in Hugging Face layout."""
    text = (REPO / "agent_tasks/src/agent_tasks/tasks/tiny_lm/starter/train.txt").read_text()
    tokenizer = train_tokenizer([text[:20000]], vocab_size=300)
    folder = save_gpt2(tmp_path_factory.mktemp("tiny-model") / "model", tokenizer)
    # Readable by all: under a root harness a local agent (nobody) copies it.
    for path in (folder.parent, folder, *folder.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


@pytest.fixture(scope="session")
def delivering_image(
    docker_client: Any,
    busybox_path: Path,
    tiny_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """A FROM-scratch busybox agent image that carries the tiny model and copies it out."""
    context = tmp_path_factory.mktemp("e2e-image")
    shutil.copy2(busybox_path, context / "busybox")
    shutil.copytree(tiny_model, context / "model")
    (context / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        "COPY busybox /bin/sh\n"
        "COPY model /model-src\n"
        'CMD ["/bin/sh", "-c", "cp -r /model-src /app/output/model && echo delivered"]\n'
    )
    docker_client.images.build(
        path=str(context), tag=DELIVERING_IMAGE, network_mode="none", rm=True
    )
    return DELIVERING_IMAGE


STAND_IN_EVAL_IMAGE = session_image("e2e-stand-in-evaluator")
STAND_IN_SCRIPT = """\
#!/bin/sh
# Stands in for the evaluator image (which needs a CUDA base image no registry here serves):
# checks what the harness promises the evaluator container, then leaves a results file.
[ -f /run-record/run.json ] || { echo "no run record"; exit 7; }
if touch /run-record/probe 2>/dev/null; then echo "run folder is writable"; exit 8; fi
if [ "$(grep -c ':' /proc/net/dev)" != "1" ]; then echo "has a network"; exit 9; fi
echo "args: $*"
if [ -f /run-record/output/fail-evaluation ]; then
  cp /error-result.json /results/stand-in-error.json; exit 5
fi
cp /result.json /results/stand-in-result.json
"""


@pytest.fixture(scope="session")
def stand_in_eval_image(
    docker_client: Any, busybox_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    """A busybox image in the evaluator image's place, and the evaluation id it reports (an
    agent that leaves ``output/fail-evaluation`` gets an ``error`` result and exit 5 instead).

    It tests the harness's side of the hand-off (mounts, no network, the host-side sync); the
    evaluation itself is covered by the process-mode tests, which run the real evaluator.
    """
    from datetime import UTC, datetime

    from agent_contracts.results import Environment, EvaluationResult, ModelInfo

    now = datetime.now(UTC)
    result = EvaluationResult(
        task="tiny_lm", benchmark="smoke", task_version="1.0.0",
        model=ModelInfo(path="/run-record/output/model", format="hf_model"), status="ok",
        primary_metric="bits_per_byte",
        environment=Environment(evaluator_version="stand-in", python_version="3",
                                platform="busybox", device="cpu"),
        started_at=now, finished_at=now, duration_s=0.0,
    )  # fmt: skip
    failed = result.model_copy(
        update={"evaluation_id": f"{result.evaluation_id}-error", "status": "error"}
    )
    context = tmp_path_factory.mktemp("stand-in-eval")
    (context / "error-result.json").write_text(failed.model_dump_json())
    shutil.copy2(busybox_path, context / "busybox")
    (context / "eval.sh").write_text(STAND_IN_SCRIPT)
    (context / "result.json").write_text(result.model_dump_json())
    (context / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        "COPY busybox /bin/sh\n"
        "COPY eval.sh /eval.sh\n"
        "COPY result.json /result.json\n"
        "COPY error-result.json /error-result.json\n"
        'ENTRYPOINT ["/bin/sh", "/eval.sh"]\n'
    )
    docker_client.images.build(path=str(context), tag=STAND_IN_EVAL_IMAGE, network_mode="none",
                               rm=True)  # fmt: skip
    return STAND_IN_EVAL_IMAGE, result.evaluation_id
