"""The run record, ``runs/<run_id>/run.json``: written by the harness, read by the evaluator.

One model, here, for both sides: the harness writes run.json with :class:`RunRecord` and the
evaluator reads it with the same class (no key guessing). Fields are only ever added, with
defaults, so an older run.json still reads; see docs/contracts.md.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent_contracts.gpu import GpuMemoryPeak
from agent_contracts.versions import refuse_newer

SCHEMA_VERSION = 1
"""Version of run.json's layout (new optional fields keep it; a change of meaning bumps it)."""

RUN_FILE = "run.json"
LOG_FILE = "agent.log"
LOG_TIMES_FILE = "agent.log.times"
"""Beside agent.log: ``<byte offset> <unix seconds>`` lines, when its output arrived."""
OUTPUT_DIR = "output"
SNAPSHOTS_DIR = "snapshots"
"""``snapshots/<elapsed seconds>/``: copies of the output taken while the run lasted
(``--snapshot-every``), each made like ``output/``."""
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
    transcript_file: str | None = None
    """Each call's request and answer, one JSON line per call (``TranscriptCall``), relative to
    the run folder (None: not recorded, runs before transcripts)."""
    transcript_cut_calls: int = 0
    """Calls whose recorded request or answer was cut to its bound (marked in place)."""
    transcript_omitted_calls: int = 0
    """Calls recorded without bodies: the transcript had reached its size bound."""
    transcript_lost_calls: int = 0
    """Calls whose line could not be written (the disk full or failing); their usage is still
    in the calls file."""
    provider_stall_s: float = 0.0
    """Seconds the provider kept the agent waiting for nothing: the union of the upstream waits
    of the calls it refused or failed (429, 5xx, unreachable)."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


def working_time(duration_s: float | None, usage: ModelUsage | None) -> float | None:
    """Seconds the agent could work: the run's wall time less the time the provider stalled it
    (``usage.provider_stall_s``); None without the proxy's usage or without a duration. What
    run.json's ``working_time_s`` holds, whoever records the end (the harness or its
    watchdog)."""
    if duration_s is None or usage is None:
        return None
    return round(max(duration_s - usage.provider_stall_s, 0.0), 3)


StopReason = Literal["deadline", "interrupted", "disk_limit"]
"""Why the harness stopped the agent before it ended on its own."""


class OutputSafety(BaseModel):
    """What the harness did to the agent's output before anything on the host read it.

    Harnesses since the copy-out write ``copied: true``: ``output/`` is a fresh tree the harness
    wrote itself from the agent's staging folder (regular files and folders only, no link,
    no set-id bit, no ACL or extended attribute, owner and modes set by the harness). Records
    of older harnesses (output cleaned in place) read with ``copied: false``; the evaluator
    refuses to score a run whose record does not say ``copied`` and ``safe``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    owner: str
    """``uid:gid`` the output was handed to (the invoking user; under sudo, ``SUDO_UID``)."""
    safe: bool
    """True when the output is a complete copy (a deliverable may be taken from it); False
    means ``failure`` says why, ``output/`` is empty and no deliverable is recorded."""
    copied: bool = False
    """True when ``output/`` was built by the harness as a fresh copy (False in records of
    harnesses that cleaned the folder in place)."""
    removed: dict[str, int] = {}
    """How many entries were left out of the copy, by reason (``symbolic link``, ``fifo``,
    ``socket``, ``device node``, ``hard link to a file outside the folder``, ``run.json: only
    the harness writes run records``, ...)."""
    removed_examples: list[str] = []
    """A few entries left out, relative to the output folder, with the reason."""
    modes_changed: int = 0
    """Entries whose copy lost setuid, setgid or sticky bits, or write permission for group
    and others."""
    mode_examples: list[str] = []
    """A few of them, with the mode before and after."""
    owners_changed: int = 0
    """Entries handed to ``owner`` in place (older harnesses only; a copy is created as the
    owner's)."""
    unsafe_count: int = 0
    """Entries that could not be made safe in place (older harnesses only)."""
    unsafe: list[str] = []
    """A few of them, with the reason (older harnesses only)."""
    files_copied: int = 0
    """Regular files in the copy."""
    folders_copied: int = 0
    """Folders in the copy (the top one not counted)."""
    bytes_copied: int = 0
    """Bytes of file data copied (holes of sparse files are not data: they stay holes)."""
    attributes_dropped: int = 0
    """Files and folders that carried extended attributes (POSIX ACLs, file capabilities,
    user attributes), none of which was copied."""
    failure: str | None = None
    """Why the copy did not complete (a bound passed, a file the harness cannot read, ...);
    None when it did."""
    staging_left: str | None = None
    """Why the agent's own folder (``staging/``) could not be removed after the copy; the run
    folder then stays closed (0700). None when it was removed."""
    staging_filesystem: bool = False
    """True when the agent wrote into a file system of the disk limit's size (a loop-mounted
    image, root harness only), unmounted and deleted after the copy."""


class Snapshots(BaseModel):
    """The copies of the output taken while the agent ran (``--snapshot-every``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    every_s: int
    """Seconds between two snapshots."""
    limit_bytes: int
    """Most bytes of file data all snapshots together may hold (``--snapshot-limit``)."""
    taken: list[int] = []
    """Elapsed seconds of each snapshot kept: ``snapshots/<elapsed>/`` in the run folder."""
    bytes: int = 0
    """Bytes of file data the kept snapshots hold."""
    problems: list[str] = []
    """Snapshots not kept, and why (a copy refused, the limit reached), a few at most."""


class DeliverableRecord(BaseModel):
    """Where the agent's deliverable was found."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    path: str
    """Path relative to the run folder, e.g. ``output/model``."""
    source: Literal["submission.json", "spec"]
    """Found through submission.json's model_path, or at the spec's default path."""


class EvaluationLink(BaseModel):
    """How the run was evaluated (``agent-harness run --evaluate``), recorded in run.json."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    mode: Literal["image", "process"]
    """Where the evaluator ran."""
    image: str | None = None
    """Evaluator image, in image mode."""
    exit_code: int
    """Exit code of ``agent-eval`` (0 ok, 5 evaluation failed, 6 saved but not recorded)."""
    results: list[str] = []
    """Results files it wrote (relative to the results folder)."""
    results_dir: str
    """Folder the results went to."""
    recorded: bool
    """Whether the result reached the database."""
    message: str | None = None
    """Why the evaluator could not run at all (its container refused), else None."""


class RunRecord(BaseModel):
    """Everything run.json says about one run; never a credential value."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    schema_version: int = SCHEMA_VERSION
    """Version of this layout; a newer one than this model's is refused on read."""
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
    agent_label: str | None = None
    """Name of the agent on the leaderboard (``--agent-label``; by default the image argument's
    name without its registry and tag, under either runtime)."""
    image_id: str | None = None
    """Image id (``sha256:...``) when the agent ran from an image (the docker runtime); None:
    ``image`` is only the agent's label (the local runtime)."""
    image_digest: str | None = None
    """Registry digest of the image, when it has one."""
    runtime: str = Field(min_length=1)
    """Where the agent ran: the name of the runtime that started it (``docker``, ``local``, or
    an installed runtime's), as a record; nothing branches on it."""
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
    gpu_models: list[str] = []
    """Model of each GPU the run was given, as the driver names it (``NVIDIA A100-SXM4-80GB``),
    in id order; empty: none given, or not known (no ``nvidia-smi``)."""
    gpu_memory: GpuMemoryPeak | None = None
    """The given GPUs' memory while the agent ran, sampled by the harness (None: no GPU
    given, or a record from before it was sampled)."""
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
    working_time_s: float | None = None
    """Seconds the agent could work: ``duration_s`` less ``model_usage.provider_stall_s``
    (:func:`working_time`; None without the proxy, or when ``agent-harness cleanup`` recorded
    the end)."""
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
    deliverable: DeliverableRecord | None = None
    """The deliverable, if one was found inside the output folder."""
    deliverable_rejected: str | None = None
    """Why a path named by submission.json was not accepted."""
    evaluation: EvaluationLink | None = None
    """How the run was evaluated, when it was handed to the evaluator (--evaluate)."""
    agent_log: str = LOG_FILE
    """The agent's output (credentials redacted), relative to the run folder."""
    output_dir: str = OUTPUT_DIR
    """What the agent left in /app/output, relative to the run folder."""
    snapshots: Snapshots | None = None
    """The output's snapshots taken while the run lasted (None: not asked for)."""
    harness_version: str = ""
    """Version of the harness."""
    harness_pid: int | None = None
    """Process id of the harness (cleanup leaves runs of live harnesses alone)."""
    host: str = ""
    """Machine the run ran on."""
    # Integrity of the record (deadline watchdog, log cap).
    ended_by: Literal["harness", "watchdog", "cleanup"] | None = None
    """Who recorded the end: the harness; its watchdog (the harness died, the watchdog enforced
    the deadline); or ``agent-harness cleanup`` (an abandoned run)."""
    log_truncated: bool = False
    """True when agent.log does not hold all of the agent's output (size cap, or the stream was
    still arriving after the agent had ended); agent.log says so in a marker line."""
    log_dropped_bytes: int = 0
    """Bytes of the agent's output read but not kept in agent.log."""

    @model_validator(mode="before")
    @classmethod
    def _version(cls, data: Any) -> Any:
        return refuse_newer(data, newest=SCHEMA_VERSION, what="run.json")
