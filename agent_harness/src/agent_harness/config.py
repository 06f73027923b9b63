"""What a user asks of one run, as frozen typed data: parsed once at the edge, then passed as is.

A :class:`RunConfig` is built from ``agent-harness run``'s options, or read from a file with
:func:`read_run_config` (``agent-harness run --config attempt.json``, the file a run set writes
for each attempt); :func:`agent_harness.run.run_agent` takes it as it is. Durations are whole
seconds and sizes bytes. Text is read by the one parser of its unit
(:mod:`agent_harness.timelimit`, :mod:`agent_harness.sizes`), whether it comes from an option,
a run-set file or a run description, so all of them accept and refuse the same texts; a number
in a file is seconds or bytes and is held to the same bounds. A value that cannot be used is a
:class:`RunConfigError` (exit 2), never pydantic's own error.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from agent_contracts.errors import MLRBError
from agent_harness.errors import ConfigError
from agent_harness.gpus import GpuSelection, parse_gpus
from agent_harness.option_values import (
    DEFAULT_GRACE,
    DEFAULT_LOG_LIMIT,
    DEFAULT_SNAPSHOT_LIMIT,
    CredentialsMode,
    EvalModeChoice,
    Network,
    Provider,
    Runtime,
)
from agent_harness.sizes import parse_size
from agent_harness.timelimit import describe, parse_grace, parse_interval, parse_time_limit


def _read_with(parse: Callable[[str], Any], *, seconds: bool = False) -> BeforeValidator:
    """A validator that reads a field's text with ``parse``; a whole number (from a file) is
    read by the same parser, written in the unit's own form (``5400`` seconds as ``1h30m``)."""

    def read(value: object) -> object:
        if value is None or isinstance(value, GpuSelection):
            return value
        if seconds and type(value) is int and value >= 0:
            text = describe(value)
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
        try:
            return parse(text)
        except MLRBError as exc:
            raise ValueError(exc.message + (f" ({exc.hint})" if exc.hint else "")) from exc

    return BeforeValidator(read)


def _disk_limit(text: str) -> int | Literal["none"]:
    if text.strip().lower() == "none":
        return "none"
    try:
        return parse_size(text, what="disk limit")
    except ConfigError as exc:
        raise ConfigError(exc.message, hint=f"{exc.hint}; or none for no limit") from None


def _gpus(text: str) -> GpuSelection | None:
    return None if text == "" else parse_gpus(text)  # an empty --gpus is the task's default


TimeLimit = Annotated[int, _read_with(parse_time_limit, seconds=True)]
"""A run's time limit in seconds (``24h``, ``90m``, ``1h30m``, ``45s``, or seconds from 60)."""
Grace = Annotated[int, _read_with(parse_grace, seconds=True)]
"""Seconds between SIGTERM and SIGKILL at a deadline (0 kills at once)."""
SnapshotInterval = Annotated[int, _read_with(parse_interval, seconds=True)]
"""Seconds between two snapshots of a run's output."""
LogLimit = Annotated[int, _read_with(lambda text: parse_size(text, what="log limit"))]
"""The cap of agent.log in bytes."""
SnapshotLimit = Annotated[int, _read_with(lambda text: parse_size(text, what="snapshot limit"))]
"""The bound of all snapshots of a run together, in bytes."""
DiskLimit = Annotated[int | Literal["none"], _read_with(_disk_limit)]
"""Disk the agent may fill, in bytes, or ``"none"`` for no limit."""
Gpus = Annotated[
    GpuSelection | None,
    _read_with(_gpus),
    PlainSerializer(lambda s: None if s is None else s.describe(), when_used="json"),
]
"""The GPUs a run gets (written ``none``, ``all``, ``0`` or ``0,1``)."""


class RunOptions(BaseModel):
    """The options of a run that a run-set file may also set for each of its agents."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    provider: Provider = "none"
    """Provider whose key the agent receives."""
    credentials: CredentialsMode = "proxy"
    """With a provider: ``proxy`` (a per-run token for the harness's model-API proxy, which holds
    the key, counts usage and cost and enforces the budget) or ``direct`` (the real key)."""
    budget_tokens: int | None = Field(default=None, gt=0)
    """Model-API token budget of a run, input plus output (proxy only; None: no limit)."""
    budget_usd: float | None = Field(default=None, gt=0)
    """Model-API cost budget of a run in USD, from the pinned price table (proxy only)."""
    pass_env: tuple[str, ...] = ()
    """More variable names to pass to the agent (from the environment or the env file)."""
    pass_env_unsafe: tuple[str, ...] = ()
    """Names passed although they replace the image's own (``PATH``, ``LD_*``, ``PYTHON*``)."""
    network: Network = "auto"
    """Container network mode."""
    user: str = "host"
    """Container user: ``host`` (the invoking uid:gid), ``image`` (the image's own), or
    ``UID[:GID]``."""
    disk_limit: DiskLimit | None = None
    """Bytes of disk the agent may fill, or ``"none"`` (read from ``500M``, ``20G``, ``none``);
    None: the task spec's ``disk_gb``."""
    snapshot_limit: SnapshotLimit = Field(default=DEFAULT_SNAPSHOT_LIMIT, validate_default=True)
    """Most bytes of file data all snapshots of a run together may hold (from ``500M``,
    ``20G``)."""
    log_limit: LogLimit = Field(default=DEFAULT_LOG_LIMIT, validate_default=True)
    """Cap of agent.log in bytes (from ``100M``, ``2G``); output past it is read and counted,
    not kept."""
    share_gpus: bool = False
    """Run even when another run on this host holds one of the GPUs (no GPU lock is taken)."""


class RunConfig(RunOptions):
    """One run as the user asked for it; what is left out takes the task spec's values."""

    image: str = Field(min_length=1)
    """Agent image (docker runtime); a label for the agent under the local runtime."""
    agent_label: str | None = None
    """Name of the agent on the leaderboard (None: derived from the image, see run.json)."""
    task: str = Field(min_length=1)
    """Task name (or alias)."""
    benchmark: str | None = None
    """Benchmark the task is asked for under (``mini_benchmark`` selects mini variants)."""
    gpus: Gpus = None
    """The GPUs the agent gets (from ``none``, ``all``, ``0``, ``0,1``); None: as many as the
    task spec asks for."""
    time_limit: TimeLimit | None = None
    """Time limit in seconds (from ``24h``, ``90m``, ``1h30m``, ``45s`` or seconds from 60);
    None: the task spec's limit."""
    grace: Grace = Field(default=DEFAULT_GRACE, validate_default=True)
    """Seconds between SIGTERM and SIGKILL at the deadline (from ``30s``, ``2m``, ``0``)."""
    snapshot_every: SnapshotInterval | None = None
    """Seconds between two copies of the output into ``snapshots/<elapsed seconds>/`` (from
    ``30m``, ``2h``); None: no snapshots."""
    env_file: Path | None = None
    """Dotenv file with credentials; never mounted or copied."""
    runtime: Runtime = "auto"
    """Where the agent runs: a registered runtime's name, or ``auto`` (checked against the
    runtime registry when the run starts, before anything is created: exit 2)."""
    runs_dir: Path = Path("runs")
    """Folder that receives ``<run_id>/``."""
    command: str | None = None
    """Shell command run as the agent (local runtime; overrides the image's command in docker)."""
    echo: bool = True
    """Copy the agent's (redacted) output to the console."""
    evaluate: bool = False
    """Evaluate the deliverable right after the run (also after a timeout)."""
    eval_mode: EvalModeChoice = "auto"
    """Where the evaluator runs: its image (docker runtime), a process, or auto (the image when
    the run used docker and the image exists, else a process)."""
    eval_image: str | None = None
    """Evaluator image (default: $AGENT_EVAL_IMAGE, else mlrb/agent-eval:latest)."""
    results_dir: Path = Path("results")
    """Folder that receives the evaluation's results JSON."""

    @model_validator(mode="wrap")
    @classmethod
    def _as_usage_error(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            raise RunConfigError.from_validation(exc, cls) from None


class RunConfigError(ConfigError):
    """A run description with values that cannot be used (exit 2); ``problems`` names each
    field (``time_limit: invalid time limit '24' ...``)."""

    problems: tuple[str, ...] = ()

    @classmethod
    def from_validation(cls, exc: ValidationError, model: type[BaseModel]) -> RunConfigError:
        """The error for pydantic's findings: a single finding of one of the harness's parsers
        keeps its own message and hint (what the option's user reads); others list each field."""
        problems, causes = [], []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(description)"
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                near = difflib.get_close_matches(field, sorted(model.model_fields), n=1)
                message = "unknown field" + (f" (did you mean {near[0]!r}?)" if near else "")
            problems.append(f"{field}: {message}")
            cause = getattr(err.get("ctx", {}).get("error"), "__cause__", None)
            causes.append(cause if isinstance(cause, MLRBError) else None)
        if len(problems) == 1 and causes[0] is not None:
            error = cls(causes[0].message, hint=causes[0].hint)
        else:
            error = cls(
                "invalid run description: " + "; ".join(problems),
                hint="docs/cli/agent-harness.md lists every option of agent-harness run",
            )
        error.problems = tuple(problems)
        return error


MAX_FILE_BYTES = 1024 * 1024
"""Largest run description read (one is a few hundred bytes)."""


def read_run_config(path: Path) -> RunConfig:
    """The run described by a JSON file (``agent-harness run --config``); exit 2 with every
    problem named by its field when it cannot be used."""
    hint = (
        "give a JSON object of RunConfig's fields (a run set writes one per attempt as "
        "attempt.json; docs/harness.md, 'Run descriptions'), or the options instead of --config"
    )
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"cannot read run description {str(path)!r}: {exc.strerror or exc}", hint=hint
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"run description {str(path)!r} is larger than 1 MiB", hint=hint)
    try:
        content = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"run description {str(path)!r} is not JSON: {exc}", hint=hint) from None
    if not isinstance(content, dict):
        raise ConfigError(f"run description {str(path)!r} is not a JSON object", hint=hint)
    try:
        return RunConfig.model_validate(content)
    except RunConfigError as exc:
        listing = "\n".join(f"  {p}" for p in exc.problems)
        raise ConfigError(
            f"run description {str(path)!r} has {len(exc.problems)} problem(s):\n{listing}",
            hint=f"fix the fields named above; {hint}",
        ) from None
