"""Names and small tools shared by the harness tests (images, the real CLI, one run)."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from support.images import session_image

from agent_harness.config import RunConfig
from agent_harness.console import Progress
from agent_harness.run import run_agent
from agent_harness.run_json import RunRecord

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = session_image("harness-busybox")
AGENT_IMAGE = session_image("harness-agent")
MISSING_IMAGE = "mlrb-test/harness-never-built:latest"
FAKE_KEY = "sk-test-FAKE-0000111122223333"
FAKE_HF = "hf_FAKE_test_token_5555"
DB_SECRET = "db-FAKE-secret-9999"
TASK = "tiny_lm"
BENCHMARK = "smoke"
SCRUBBED = ("OPENAI_API_KEY", "OPENAI", "ANTHROPIC_API_KEY", "ANTHROPIC", "HF_TOKEN")
HARNESS = Path(sys.executable).parent / "agent-harness"

AGENT_SCRIPT = (
    "mkdir -p /app/output/model && echo weights > /app/output/model/weights.bin && echo agent done"
)
"""What the test agent image does by default: leave a deliverable and exit 0."""


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without provider keys, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(extra)
    return env


def harness(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    """Run the real ``agent-harness`` console script."""
    return subprocess.run(
        [str(HARNESS), *args],
        capture_output=True,
        text=True,
        env=env if env is not None else clean_environ(),
        timeout=timeout,
    )


def wait_for_line(runs_dir: Path, text: str, timeout: float = 60) -> Path:
    """The run folder under ``runs_dir`` once its agent.log holds ``text``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for log in runs_dir.glob("*/agent.log"):
            with contextlib.suppress(OSError):
                if text in log.read_text(errors="replace"):
                    return log.parent
        time.sleep(0.1)
    raise AssertionError(f"no agent.log under {runs_dir} showed {text!r} in {timeout}s")


def run_sh(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
    """Run ``bash run.sh`` of this repository."""
    return subprocess.run(
        ["bash", str(REPO / "run.sh"), *args],
        capture_output=True,
        text=True,
        env=env if env is not None else clean_environ(),
        cwd=cwd,
        timeout=120,
    )


def run_once(
    runtime: str, runs_dir: Path, command: str | None, **options: Any
) -> tuple[RunRecord, Path, str]:
    """One run through the library; returns the record, the run folder and the console text."""
    console = io.StringIO()
    settings: dict[str, Any] = {
        "image": BASE_IMAGE,
        "task": TASK,
        "benchmark": BENCHMARK,
        "runtime": runtime,
        "runs_dir": runs_dir,
        "command": command,
        "network": "none",
        "time_limit": "60",
        "grace": "2s",
    }
    settings.update(options)
    record, run_dir = run_agent(RunConfig(**settings), Progress(stream=console))
    return record, run_dir, console.getvalue()


@functools.cache
def agent_python() -> str:
    """How a local agent's shell command runs this environment's Python (under a root harness
    the agent is nobody, who may not reach this interpreter)."""
    from agent_harness.runtimes.local import NOBODY, python_command

    return python_command(NOBODY if os.geteuid() == 0 else None)
