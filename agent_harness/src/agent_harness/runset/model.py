"""The run-set file (YAML): agents x tasks x trials, validated as a whole, expanded to cells.

Every problem is reported with its place in the file (``agents[1].image: ...``), all of them at
once, so a user fixes the file in one go.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent_harness.config import Grace, RunOptions, SnapshotInterval, TimeLimit
from agent_harness.errors import ConfigError
from agent_harness.option_values import DEFAULT_GRACE, EvalModeChoice

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Agent names become part of cell ids and folder names."""


class RunSetError(ConfigError):
    """A run-set file that cannot be used as written (exit 2); the message lists every place."""


class AgentEntry(RunOptions):
    """One agent of the set: an image (docker) or a command (local runtime), or what another
    registered runtime needs, and the options of its runs (every field of
    :class:`agent_harness.config.RunOptions`, under the same name)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    name: str = Field(pattern=NAME_PATTERN)
    """Short name, unique in the set; part of every cell id (letters, digits, ``_.-``)."""
    image: str | None = Field(default=None, min_length=1)
    """Agent image (docker runtime)."""
    command: str | None = Field(default=None, min_length=1)
    """Shell command run as the agent (local runtime; overrides the image's command in docker)."""
    runtime: str | None = None
    """Where the agent runs: a registered runtime's name; default: docker when an image is
    given, else local."""
    env_file: Path | None = None
    """Dotenv file with credentials, relative to the run-set file; never mounted or copied."""
    harness_args: Any = Field(default=None, exclude=True)
    """Refused: a run set gives each attempt a typed run description, not a command line."""

    @model_validator(mode="after")
    def _image_or_command(self) -> AgentEntry:
        from agent_harness.runtimes.registry import runtime_class

        if self.image is None and self.command is None:
            raise ValueError("give an image (docker) or a command (local runtime)")
        if self.runtime is None:
            return self
        try:
            chosen = runtime_class(self.runtime)
        except ConfigError as exc:
            raise ValueError(exc.message + (f" ({exc.hint})" if exc.hint else "")) from None
        if chosen.needs_image and self.image is None:
            raise ValueError(f"runtime {self.runtime} needs an image")
        if chosen.needs_command and self.command is None:
            raise ValueError(f"runtime {self.runtime} needs a command")
        return self

    @field_validator("harness_args")
    @classmethod
    def _no_command_line(cls, value: Any) -> None:
        if value is not None:
            raise ValueError(
                "the run options are fields of the agent now (user: image, log_limit: 2G, "
                "disk_limit: 20G, pass_env_unsafe: [PATH] ...); docs/run-sets.md lists them"
            )

    @property
    def runtime_used(self) -> str:
        """The runtime this agent's cells run under."""
        from agent_harness.runtimes.registry import default_runtime

        return self.runtime or default_runtime(has_image=self.image is not None)

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
    time_limit: TimeLimit | None = None
    """Time limit of this task's cells in seconds (``2h``, ``90m``; overrides the set's and the
    spec's)."""


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
    time_limit: TimeLimit | None = None
    """Time limit of every cell in seconds (``8h``; a task's own ``time_limit`` wins); None:
    each spec's."""
    grace: Grace = Field(default=DEFAULT_GRACE, validate_default=True)
    """Seconds between SIGTERM and SIGKILL at each cell's deadline (``30s``)."""
    snapshot_every: SnapshotInterval | None = None
    """Seconds between two copies of each cell's output into its run's
    ``snapshots/<elapsed_s>/`` (``1h``; ``agent-harness run --snapshot-every``, for
    ``agent-eval --over-time``); None: none."""
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
    """Time limit the cell runs under, in seconds."""
    time_limit: int | None = None
    """The run set's own limit in seconds, given to the harness (None: the spec's)."""


class LoadedRunSet(BaseModel):
    """A validated run set with its cells, its folder and a digest of what it asks for."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", arbitrary_types_allowed=True, use_attribute_docstrings=True
    )

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


MAX_FILE_BYTES = 1024 * 1024
"""Largest run-set file read (1 MiB: thousands of agents and tasks fit in far less)."""

MAX_DEPTH = 32
"""Deepest nesting of mappings and lists accepted (a run set needs four levels)."""

MAX_VALUES = 100_000
"""Most values a run set may hold once YAML aliases are expanded (aliases repeated inside
aliases grow exponentially)."""


def _too_many_values(data: Any) -> bool:
    """True when ``data``, its aliases expanded, holds more than :data:`MAX_VALUES` values."""
    count, todo = 0, [data]
    while todo:
        item = todo.pop()
        count += 1
        if count > MAX_VALUES:
            return True
        if isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return False


def _loader(text: str) -> Any:
    """A safe YAML loader that refuses nesting deeper than :data:`MAX_DEPTH` (before Python's
    recursion limit is near) and collects keys given twice in one mapping, with both lines."""
    import yaml

    class Loader(yaml.SafeLoader):
        depth = 0
        duplicates: list[str] = []  # noqa: RUF012 - replaced per instance below

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise yaml.composer.ComposerError(
                        None,
                        None,
                        f"nested deeper than {MAX_DEPTH} levels",
                        self.peek_event().start_mark,
                    )
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            first: dict[tuple[str, str], int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                    continue
                key = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                if key in first:
                    self.duplicates.append(
                        f"line {line}: key {key_node.value!r} is given twice (first at line "
                        f"{first[key]}); a key may appear once in a mapping"
                    )
                else:
                    first[key] = line
            return super().construct_mapping(node, deep=deep)

    loader = Loader(text)
    loader.duplicates = []
    return loader


def _read_text(path: Path) -> str:
    """The file's text: at most :data:`MAX_FILE_BYTES`, UTF-8, or a located error (exit 2)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise RunSetError(
            f"cannot read run set {str(path)!r}: {exc.strerror or exc}",
            hint="give the path of a run-set YAML file",
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise _fail(
            path, [f"(file): larger than {MAX_FILE_BYTES >> 20} MiB, the most a run set may be"]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise _fail(
            path,
            [
                f"(file): line {line}, column {column}: byte 0x{data[exc.start]:02x} is not "
                "UTF-8 (save the file as UTF-8)"
            ],
        ) from None


def _pydantic_problems(exc: ValidationError) -> list[str]:
    """Each error at its place; an unknown field says which one was meant; a container's
    length error is left out when its items have errors of their own (the cause)."""
    import difflib

    errors = exc.errors()
    problems = []
    for err in errors:
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
        if err["type"] == "too_short" and any(
            len(o["loc"]) > len(err["loc"]) and tuple(o["loc"][: len(err["loc"])]) == err["loc"]
            for o in errors
        ):
            continue
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" and loc:
            model = _model_at(loc[:-1])
            fields = sorted(model.model_fields) if model is not None else []
            near = difflib.get_close_matches(str(loc[-1]), fields, n=1)
            message = f"unknown field {str(loc[-1])!r}" + (
                f" (did you mean {near[0]!r}?)" if near else ""
            )
        problems.append(f"{place(loc)}: {message}")
    return problems


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model whose fields live at ``loc`` (the file itself, an agent, a task)."""
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return RunSet
    nested: dict[str, type[BaseModel]] = {"agents": AgentEntry, "tasks": TaskEntry}
    return nested.get(names[0])


def parse_runset(path: Path) -> RunSet:
    """Read and validate a run-set file; every problem is named with its place."""
    import yaml

    text = _read_text(path)
    loader = _loader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = str(getattr(exc, "problem", exc))
        what = "too deep" if problem.startswith("nested deeper") else "not valid YAML"
        raise _fail(path, [f"(file): {what}{where}: {problem}"]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise _fail(path, [f"(file): {d}" for d in loader.duplicates])
    if not isinstance(data, dict):
        raise _fail(path, ["(file): a run set is a mapping (agents:, tasks:, trials: ...)"])
    if _too_many_values(data):
        raise _fail(path, [f"(file): more than {MAX_VALUES} values once aliases are expanded"])
    try:
        return RunSet.model_validate(data)
    except ValidationError as exc:
        raise _fail(path, _pydantic_problems(exc)) from None


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
    from agent_tasks.errors import TaskError
    from agent_tasks.registry import list_tasks, resolve_task
    from agent_tasks.spec import TaskSpec

    runset = parse_runset(path)
    problems: list[str] = []
    chosen: list[tuple[TaskSpec, int | None]] = []
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
    unique: list[tuple[TaskSpec, int | None]] = []
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
        limit_s = override or spec.resources.time_limit_s
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
