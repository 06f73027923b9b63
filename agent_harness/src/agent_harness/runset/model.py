"""The run-set file (YAML): agents x tasks x trials, validated as a whole, expanded to cells.

Every problem is reported with its place in the file (``agents[1].image: ...``), all of them at
once, so a user fixes the file in one go.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent_harness.choices import (
    DEFAULT_GRACE,
    CredentialsMode,
    EvalModeChoice,
    Network,
    Provider,
)
from agent_harness.errors import ConfigError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Agent names become part of cell ids and folder names."""

RESERVED_HARNESS_ARGS = frozenset(
    {
        "--task",
        "-t",
        "--benchmark",
        "-b",
        "--gpus",
        "--runs-dir",
        "--json",
        "--quiet",
        "-q",
        "--runtime",
        "--command",
        "--time-limit",
        "--results-dir",
        "--evaluate",
        "--agent-label",
        "--credentials",
        "--budget-tokens",
        "--budget-usd",
    }
)
"""Options of ``agent-harness run`` the scheduler sets itself; ``harness_args`` may not."""


class RunSetError(ConfigError):
    """A run-set file that cannot be used as written (exit 2); the message lists every place."""


def _check_duration(value: str | None, *, grace: bool = False) -> str | None:
    from agent_harness.errors import TimeLimitError
    from agent_harness.timelimit import parse_grace, parse_time_limit

    if value is None:
        return None
    try:
        (parse_grace if grace else parse_time_limit)(value)
    except TimeLimitError as exc:
        raise ValueError(exc.message + (f" ({exc.hint})" if exc.hint else "")) from None
    return value


class AgentEntry(BaseModel):
    """One agent of the set: an image (docker) or a command (local runtime), and its options."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    name: str = Field(pattern=NAME_PATTERN)
    """Short name, unique in the set; part of every cell id (letters, digits, ``_.-``)."""
    image: str | None = Field(default=None, min_length=1)
    """Agent image (docker runtime)."""
    command: str | None = Field(default=None, min_length=1)
    """Shell command run as the agent (local runtime; overrides the image's command in docker)."""
    runtime: Literal["docker", "local"] | None = None
    """Where the agent runs; default: docker when an image is given, else local."""
    provider: Provider = "none"
    """Provider whose key the agent receives."""
    credentials: CredentialsMode = "proxy"
    """With a provider: ``proxy`` (a per-run token for the harness's model-API proxy; the key
    stays on the host) or ``direct`` (the real key), as ``agent-harness run --credentials``."""
    budget_tokens: int | None = Field(default=None, ge=1)
    """Model-API token budget of each run of this agent (proxy only; None: not limited)."""
    budget_usd: float | None = Field(default=None, gt=0)
    """Model-API cost budget of each run of this agent in USD (proxy only; None: not limited)."""
    env_file: Path | None = None
    """Dotenv file with credentials, relative to the run-set file; never mounted or copied."""
    pass_env: tuple[str, ...] = ()
    """More variable names to pass to the agent."""
    network: Network = "auto"
    """Container network mode."""
    user: str = "host"
    """Container user: ``host``, ``image`` or ``UID[:GID]``."""
    harness_args: tuple[str, ...] = ()
    """More options for ``agent-harness run``, passed as given; the ones the scheduler sets
    itself (``--gpus``, ``--runs-dir``, ``--task``, the budgets ...) are refused."""

    @model_validator(mode="after")
    def _image_or_command(self) -> AgentEntry:
        if self.image is None and self.command is None:
            raise ValueError("give an image (docker) or a command (local runtime)")
        if self.runtime == "docker" and self.image is None:
            raise ValueError("runtime docker needs an image")
        if self.runtime == "local" and self.command is None:
            raise ValueError("runtime local needs a command")
        return self

    @field_validator("harness_args")
    @classmethod
    def _not_reserved(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        taken = [a for a in value if a.split("=", 1)[0] in RESERVED_HARNESS_ARGS]
        if taken:
            raise ValueError(
                f"{', '.join(taken)} is set by the scheduler; use the run set's own fields"
            )
        return value

    @property
    def runtime_used(self) -> Literal["docker", "local"]:
        """The runtime this agent's cells run under."""
        return self.runtime or ("docker" if self.image is not None else "local")

    @property
    def image_label(self) -> str:
        """What ``agent-harness run`` gets as IMAGE (the agent's name under the local runtime)."""
        return self.image if self.image is not None else self.name


class TaskEntry(BaseModel):
    """One task of the set, with an optional time-limit override."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    name: str = Field(min_length=1)
    """Task name (or alias)."""
    benchmark: str | None = None
    """Benchmark the task is asked under (``mini_benchmark`` selects the mini variant)."""
    time_limit: str | None = None
    """Time limit of this task's cells (overrides the set's and the spec's)."""

    @field_validator("time_limit")
    @classmethod
    def _time_limit(cls, value: str | None) -> str | None:
        return _check_duration(value)


class RunSet(BaseModel):
    """A run-set file: which agents run which tasks, how often, on which GPUs."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    name: str = Field(default="runset", pattern=NAME_PATTERN)
    """Name of the set (shown in progress and status)."""
    agents: tuple[AgentEntry, ...] = Field(min_length=1)
    """The agents; each runs every task."""
    tasks: tuple[TaskEntry, ...] = ()
    """Tasks by name (a plain string or ``{name, benchmark, time_limit}``)."""
    benchmarks: tuple[str, ...] = ()
    """Whole benchmarks: every task of each one."""
    trials: int = Field(default=1, ge=1, le=1000)
    """Trials per agent and task."""
    time_limit: str | None = None
    """Time limit of every cell (a task's own ``time_limit`` wins); None: each spec's."""
    grace: str = DEFAULT_GRACE
    """Time between SIGTERM and SIGKILL at each cell's deadline."""
    gpus: str = "none"
    """GPUs the set may use: ``none``, ``all`` (every GPU visible when the set starts) or ids
    such as ``0,1,2,3``."""
    simulate_gpus: bool = False
    """TEST ONLY: treat the ids in ``gpus`` as present without a device (scheduler tests and
    benchmarks on machines without GPUs). Nothing measured on a GPU may use it."""
    concurrency: int | None = Field(default=None, ge=1, le=1024)
    """Most cells running at once; default: the number of GPUs (at least 1)."""
    retries: int = Field(default=2, ge=0, le=20)
    """Extra attempts of a cell after an infrastructure failure (never after the agent's own
    failure or timeout)."""
    evaluate: bool = False
    """Evaluate each cell's deliverable through the harness's hand-off (``--evaluate``)."""
    eval_mode: EvalModeChoice = "auto"
    """Where the evaluator runs: its image, a process, or auto."""
    eval_image: str | None = None
    """Evaluator image (default: the harness's)."""
    folder: Path | None = None
    """The set's folder (ledger, run folders, results), relative to the file; default: a folder
    named after the file, beside it."""

    @field_validator("tasks", mode="before")
    @classmethod
    def _plain_names(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("time_limit")
    @classmethod
    def _time_limit(cls, value: str | None) -> str | None:
        return _check_duration(value)

    @field_validator("grace")
    @classmethod
    def _grace(cls, value: str) -> str:
        _check_duration(value, grace=True)
        return value

    @field_validator("gpus")
    @classmethod
    def _gpus(cls, value: str) -> str:
        from agent_harness.gpus import parse_gpus

        try:
            ids = parse_gpus(value).ids
        except ConfigError as exc:
            raise ValueError(f"{exc.message} ({exc.hint})") from None
        if len(set(ids)) != len(ids):
            raise ValueError(f"GPU ids named twice in {value!r}")
        return value

    @model_validator(mode="after")
    def _whole(self) -> RunSet:
        names = [a.name for a in self.agents]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"agent names must be unique: {', '.join(twice)} more than once")
        if not self.tasks and not self.benchmarks:
            raise ValueError("name at least one task (tasks) or benchmark (benchmarks)")
        return self


class Cell(BaseModel):
    """One run of the set: an agent, a task, a trial; its id is stable across restarts."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    cell_id: str
    """``<agent>--<task>--<trial>``."""
    agent: str
    """Agent name."""
    task: str
    """Resolved task name (the mini variant under mini_benchmark)."""
    benchmark: str
    """The task's benchmark."""
    trial: int
    """Trial number, from 1."""
    gpus: int
    """GPUs the task's spec asks for."""
    time_limit_s: int
    """Time limit the cell runs under."""
    time_limit: str | None = None
    """The override given to the harness (None: the spec's)."""


class LoadedRunSet(BaseModel):
    """A validated run set with its cells, its folder and a digest of what it asks for."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    path: Path
    """The run-set file."""
    runset: RunSet
    """Its content."""
    cells: tuple[Cell, ...]
    """Every cell, in scheduling order."""
    folder: Path
    """The set's folder."""
    gpu_ids: tuple[str, ...]
    """The GPU ids the set may use (empty: none)."""
    digest: str
    """sha256 of the validated content: a set is resumed only with the same file."""

    def agent(self, name: str) -> AgentEntry:
        """The agent entry called ``name``."""
        return next(a for a in self.runset.agents if a.name == name)


def place(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as it is written in the file: ``agents[1].image``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(file)"


def _fail(path: Path, problems: list[str]) -> RunSetError:
    listing = "\n".join(f"  {p}" for p in problems)
    return RunSetError(
        f"run set {str(path)!r} has {len(problems)} problem(s):\n{listing}",
        hint="fix the places named above; docs/run-sets.md describes every field",
    )


def parse_runset(path: Path) -> RunSet:
    """Read and validate a run-set file; every problem is named with its place."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunSetError(
            f"cannot read run set {str(path)!r}: {exc.strerror or exc}",
            hint="give the path of a run-set YAML file",
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise _fail(
            path, [f"(file): not valid YAML{where}: {getattr(exc, 'problem', exc)}"]
        ) from None
    if not isinstance(data, dict):
        raise _fail(path, ["(file): a run set is a mapping (agents:, tasks:, trials: ...)"])
    try:
        return RunSet.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if p not in ("function-after[_image_or_command()]",))
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{place(loc)}: {message}")
        raise _fail(path, problems) from None


def _folder(path: Path, runset: RunSet) -> Path:
    base = path.resolve().parent
    if runset.folder is None:
        return base / path.stem
    return runset.folder if runset.folder.is_absolute() else base / runset.folder


def _gpu_pool(runset: RunSet) -> tuple[str, ...]:
    from agent_harness.gpus import parse_gpus, visible_gpus

    chosen = parse_gpus(runset.gpus)
    if chosen.all:
        return tuple(visible_gpus())
    return chosen.ids


def load_runset(path: Path, *, local_gpus: bool = True) -> LoadedRunSet:
    """Validate the file, resolve every task against the catalogue, expand to cells.

    ``local_gpus``: the set runs on this host's GPUs (the ``gpus`` field); a backend that
    places cells on GPUs of its own (Ray) checks the cells' needs against its nodes instead.
    """
    from agent_harness.timelimit import parse_time_limit
    from agent_tasks.errors import TaskError
    from agent_tasks.registry import list_tasks, resolve_task
    from agent_tasks.spec import TaskSpec

    runset = parse_runset(path)
    problems: list[str] = []
    chosen: list[tuple[TaskSpec, str | None]] = []
    for i, entry in enumerate(runset.tasks):
        try:
            chosen.append((resolve_task(entry.name, entry.benchmark), entry.time_limit))
        except TaskError as exc:
            problems.append(f"tasks[{i}]: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
    for i, bench in enumerate(runset.benchmarks):
        try:
            chosen.extend((spec, None) for spec in list_tasks(bench))
        except TaskError as exc:
            problems.append(
                f"benchmarks[{i}]: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
            )
    pool = _gpu_pool(runset) if local_gpus else ()
    if local_gpus and runset.simulate_gpus and runset.gpus.strip().lower() in ("all", "none"):
        problems.append("simulate_gpus: needs explicit GPU ids in gpus, such as 0,1,2,3")
    seen: dict[str, int] = {}
    unique: list[tuple[TaskSpec, str | None]] = []
    for spec, limit in chosen:
        if spec.name in seen:
            continue  # a task named twice (by name and through its benchmark) runs once
        seen[spec.name] = len(unique)
        unique.append((spec, limit))
        if local_gpus and spec.resources.gpus > len(pool):
            problems.append(
                f"gpus: task {spec.name!r} needs {spec.resources.gpus} GPU(s) but the set may "
                f"use {len(pool)} ({runset.gpus!r})"
            )
    for i, agent in enumerate(runset.agents):
        if agent.env_file is not None and not _resolve(path, agent.env_file).is_file():
            problems.append(f"agents[{i}].env_file: {str(agent.env_file)!r} does not exist")
    if problems:
        raise _fail(path, problems)
    cells = []
    for spec, limit in unique:
        override = limit or runset.time_limit
        limit_s = parse_time_limit(override) if override else spec.resources.time_limit_s
        for agent in runset.agents:
            for trial in range(1, runset.trials + 1):
                cells.append(
                    Cell(
                        cell_id=f"{agent.name}--{spec.name}--{trial}",
                        agent=agent.name,
                        task=spec.name,
                        benchmark=spec.benchmark,
                        trial=trial,
                        gpus=spec.resources.gpus,
                        time_limit_s=limit_s,
                        time_limit=override,
                    )
                )
    # The widest cells first: they are the hardest to place once GPUs fragment.
    cells.sort(key=lambda c: (-c.gpus, c.trial))
    canonical = json.dumps(
        {"runset": runset.model_dump(mode="json"), "cells": [c.model_dump() for c in cells]},
        sort_keys=True,
    )
    return LoadedRunSet(
        path=path.resolve(),
        runset=runset,
        cells=tuple(cells),
        folder=_folder(path, runset),
        gpu_ids=pool,
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def _resolve(path: Path, target: Path) -> Path:
    return target if target.is_absolute() else path.resolve().parent / target


def env_file_of(loaded: LoadedRunSet, agent: AgentEntry) -> Path | None:
    """The agent's env file as an absolute path (relative paths are the run-set file's)."""
    return None if agent.env_file is None else _resolve(loaded.path, agent.env_file)
