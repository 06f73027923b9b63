"""Fixtures of the end-to-end tests: a tiny trained-looking model, agent images that deliver it."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCRUBBED = (
    "OPENAI_API_KEY",
    "OPENAI",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC",
    "HF_TOKEN",
    "DATABASE_URL",
    "DB_USER",
    "DB_PASSWORD",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
)
DELIVERING_IMAGE = "mlrb-test/e2e-delivering-agent:latest"
FAKE_KEY = "sk-test-FAKE-e2e-4242424242"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without credentials or database settings, plus ``extra``."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(extra)
    return env


def cli(
    name: str,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run one of the product's console scripts for real."""
    return subprocess.run(
        [str(BIN / name), *args],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        cwd=cwd,
        timeout=timeout,
    )


def evaluation_rows(results_dir: Path) -> list[tuple[Any, ...]]:
    """(evaluation_id, run_id, task, status) of every row in the embedded SQLite database."""
    db = results_dir / "mlrb.sqlite"
    with sqlite3.connect(db) as conn:
        return list(
            conn.execute(
                "SELECT evaluation_id, run_id, task, status FROM evaluations ORDER BY started_at"
            )
        )


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GPT-2 with its own byte-level BPE tokenizer, in Hugging Face layout."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    text = (REPO / "agent_tasks/src/agent_tasks/tasks/tiny_lm/starter/train.txt").read_text()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        [text[:20000]],
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=128)
    )
    folder = tmp_path_factory.mktemp("tiny-model") / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
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


STAND_IN_EVAL_IMAGE = "mlrb-test/e2e-stand-in-evaluator:latest"
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
