"""The run record: ``runs/<run_id>/run.json``, written at the start and again at the end."""

from __future__ import annotations

import json
import os
import secrets
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

SCHEMA_VERSION = 1
"""Version of run.json's layout."""

RUN_FILE = "run.json"
LOG_FILE = "agent.log"
OUTPUT_DIR = "output"
TASK_DIR = "task"

Status = Literal["running", "completed", "failed", "timeout", "interrupted", "error"]
"""How a run ended (``running`` while it is under way)."""


class Limits(BaseModel):
    """The limits a run was held to."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    time_limit_s: int
    """Wall-clock limit in seconds."""
    grace_s: int
    """Seconds between SIGTERM and SIGKILL at the deadline."""
    memory_bytes: int | None = None
    """Memory limit of the container (None: not limited)."""
    cpus: float | None = None
    """CPU limit of the container (None: not limited)."""
    budget_tokens: int | None = None
    """Model-API token budget (input plus output; None: not limited)."""
    budget_usd: float | None = None
    """Model-API cost budget in USD (None: not limited)."""
    disk_bytes: int | None = None
    """Disk the agent may fill (output folder plus container layer), watched by the harness
    (None: not limited)."""
    pids_limit: int | None = None
    """Processes and threads the container may hold at once (None: not limited; local runs)."""


class ModelUsage(BaseModel):
    """What a run's model calls used through the harness's proxy (``--credentials proxy``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    calls: int = 0
    """Calls forwarded to the provider (refused ones not included)."""
    refused_calls: int = 0
    """Calls the proxy refused because the budget was spent (answered 429)."""
    input_tokens: int = 0
    """Prompt tokens as the provider reported them, cached ones included."""
    output_tokens: int = 0
    """Output tokens as the provider reported them, reasoning tokens included."""
    cached_input_tokens: int = 0
    """Prompt tokens read from the provider's cache."""
    cache_write_tokens: int = 0
    """Prompt tokens written to the provider's cache (Anthropic)."""
    reasoning_tokens: int = 0
    """Reasoning tokens (part of ``output_tokens``), where the provider reports them."""
    cost_usd: float = 0.0
    """Cost in USD from the pinned price table (calls of unpriced models count 0)."""
    unpriced_calls: int = 0
    """Calls of a model the price table does not list (their cost is unknown)."""
    budget_tokens: int | None = None
    """Token budget of the run (input plus output), None when not limited."""
    budget_usd: float | None = None
    """Cost budget of the run in USD, None when not limited."""
    budget_exhausted: bool = False
    """The budget was spent: later calls were, or would have been, refused."""
    budget_message: str | None = None
    """Which budget was spent, and by how much."""
    price_table: str = ""
    """Date of the price table the cost comes from."""
    calls_file: str = "model_calls.jsonl"
    """One JSON line per call, relative to the run folder."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


StopReason = Literal["deadline", "interrupted", "disk_limit"]
"""Why the harness stopped the agent before it ended on its own."""


class OutputSafety(BaseModel):
    """What the harness did to the output folder before anything on the host read it."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    owner: str
    """``uid:gid`` the output was handed to (the invoking user; under sudo, ``SUDO_UID``)."""
    safe: bool
    """True when everything could be made safe; False leaves the run folder 0700 and rejects
    the deliverable."""
    removed: dict[str, int] = {}
    """How many entries were removed, by reason (``device node``, ``fifo``, ``socket``,
    ``link leaving the folder``, ``hard link to a file outside the folder``, ...)."""
    removed_examples: list[str] = []
    """A few removed paths, relative to the output folder, with the reason."""
    modes_changed: int = 0
    """Files and folders whose setuid, setgid or sticky bits were cleared."""
    mode_examples: list[str] = []
    """A few of them, with the mode before and after."""
    owners_changed: int = 0
    """Entries handed to ``owner``."""
    unsafe_count: int = 0
    """Entries that could not be made safe (a harness that is not root and root's files)."""
    unsafe: list[str] = []
    """A few of them, with the reason."""


class Deliverable(BaseModel):
    """Where the agent's deliverable was found."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    path: str
    """Path relative to the run folder, e.g. ``output/model``."""
    source: Literal["submission.json", "spec"]
    """Found through submission.json's model_path, or at the spec's default path."""


class RunRecord(BaseModel):
    """Everything run.json says about one run; never a credential value."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    schema_version: int = SCHEMA_VERSION
    """Version of this layout."""
    run_id: str
    """``<UTC time>-<task>-<6 hex>``."""
    task: str
    """Task name."""
    benchmark: str
    """Benchmark of the task."""
    task_version: str
    """Version of the task spec."""
    image: str
    """Agent image as given."""
    image_id: str | None = None
    """Image id (``sha256:...``) under the docker runtime."""
    image_digest: str | None = None
    """Registry digest of the image, when it has one."""
    runtime: Literal["docker", "local"]
    """Where the agent ran."""
    command: str | None = None
    """Command run as the agent (credential values redacted), when one was given."""
    provider: str
    """Provider whose key the agent received (``none``: no key)."""
    credentials: list[str] = []
    """Names of the variables passed as credentials (never their values)."""
    credentials_mode: Literal["proxy", "direct"] | None = None
    """``proxy``: the agent got a per-run token for the harness's model-API proxy; ``direct``:
    the real key (None: no provider)."""
    model_usage: ModelUsage | None = None
    """Model calls, tokens and cost through the proxy (proxy mode only)."""
    gpus: str | list[str]
    """``"all"`` or the GPU ids (empty: none)."""
    network: str | None = None
    """Container network mode (docker runtime)."""
    user: str | None = None
    """Container user (docker runtime)."""
    limits: Limits
    """Time, memory and CPU limits."""
    started_at: str
    """Start, ISO 8601 UTC."""
    deadline: float
    """Deadline, Unix seconds (as given to the agent in DEADLINE)."""
    ended_at: str | None = None
    """End, ISO 8601 UTC."""
    duration_s: float | None = None
    """Seconds from start to end."""
    status: Status = "running"
    """How the run ended."""
    exit_code: int | None = None
    """Exit code of the harness for this run (0, 4, 124, 130 ...)."""
    agent_exit_code: int | None = None
    """The agent's own exit status (a signal shows as 128 + its number)."""
    message: str | None = None
    """What went wrong, for status ``error``."""
    stop_reason: StopReason | None = None
    """Why the harness stopped the agent (None: it ended on its own)."""
    output_safety: OutputSafety | None = None
    """What was removed or changed in the output folder to make it safe for the host."""
    deliverable: Deliverable | None = None
    """The deliverable, if one was found inside the output folder."""
    deliverable_rejected: str | None = None
    """Why a path named by submission.json was not accepted."""
    evaluation: dict[str, Any] | None = None
    """How the run was evaluated, when it was handed to the evaluator (--evaluate)."""
    agent_log: str = LOG_FILE
    """The agent's output (credentials redacted), relative to the run folder."""
    output_dir: str = OUTPUT_DIR
    """What the agent left in /app/output, relative to the run folder."""
    harness_version: str = ""
    """Version of the harness."""
    harness_pid: int | None = None
    """Process id of the harness (cleanup leaves runs of live harnesses alone)."""
    host: str = ""
    """Machine the run ran on."""


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 with seconds and a ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_run_id(task: str, moment: datetime | None = None) -> str:
    """A fresh run id such as ``20261122T113000Z-tiny_lm-3fa9c2``."""
    stamp = (moment or utc_now()).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{task}-{secrets.token_hex(3)}"


def hostname() -> str:
    """This machine's name."""
    return socket.gethostname()


def write_record(run_dir: Path, record: RunRecord) -> Path:
    """Write run.json atomically (a temporary file renamed over the old one)."""
    target = run_dir / RUN_FILE
    tmp = run_dir / f".{RUN_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def read_record(run_dir: Path) -> RunRecord | None:
    """The record in ``run_dir``, or None when there is none or it cannot be read."""
    try:
        data: Any = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
        return RunRecord.model_validate(data)
    except (OSError, ValueError, ValidationError):
        return None


def list_records(runs_dir: Path) -> list[tuple[Path, RunRecord]]:
    """Every readable run record under ``runs_dir``, oldest first."""
    if not runs_dir.is_dir():
        return []
    found = []
    for child in sorted(runs_dir.iterdir()):
        if child.is_dir():
            record = read_record(child)
            if record is not None:
                found.append((child, record))
    found.sort(key=lambda item: item[1].started_at)
    return found


def unreadable_records(runs_dir: Path) -> list[str]:
    """Names of run folders whose run.json exists but cannot be read (corrupt, foreign)."""
    if not runs_dir.is_dir():
        return []
    return [
        child.name
        for child in sorted(runs_dir.iterdir())
        if (child / RUN_FILE).is_file() and read_record(child) is None
    ]
