"""The task registry: built-in catalogue plus installed plugins, loaded once, lazily.

A task is contributed by a zero-argument function decorated with :func:`task` that returns a
:class:`TaskSpec`. The built-in catalogue lives in ``agent_tasks.catalogue``; a lab adds private
tasks without forking by installing a package that declares an entry point in the group
``agent_tasks.tasks`` pointing at a module of such functions (or at a function returning specs).
"""

from __future__ import annotations

from collections.abc import Callable

from agent_contracts.names import closest, did_you_mean
from agent_contracts.registry import Loaded, Registry
from agent_tasks.errors import (
    PluginError,
    SpecError,
    UnknownBenchmarkError,
    UnknownTaskError,
)
from agent_tasks.spec import TaskSpec

ENTRY_POINT_GROUP = "agent_tasks.tasks"
"""Entry-point group through which installed packages add tasks."""

BUILTIN_MODULES = (
    "agent_tasks.catalogue.full_benchmark",
    "agent_tasks.catalogue.mini_benchmark",
    "agent_tasks.catalogue.smoke",
    "agent_tasks.catalogue.mlrc_bench",
)

TaskFactory = Callable[[], TaskSpec]

TASKS: Registry[TaskSpec] = Registry(
    kind="task",
    item_type=TaskSpec,
    builtin_modules=BUILTIN_MODULES,
    group=ENTRY_POINT_GROUP,
    name_of=lambda spec: spec.name,
    aliases_of=lambda spec: spec.aliases,
    unknown=lambda message, hint: UnknownTaskError(message, hint=hint),
    plugin_error=lambda message, hint: PluginError(message, hint=hint),
    list_hint="run 'agent-tasks list' to see every task",
    build_errors=(OSError, ValueError, SpecError),  # pydantic's ValidationError is a ValueError
)
"""Every task: the built-in catalogue plus installed plugins."""


def task(factory: TaskFactory) -> TaskFactory:
    """Register a function that builds one task spec (called when the registry first loads)."""
    TASKS.contribute(
        factory, module=factory.__module__, origin=f"{factory.__module__}.{factory.__qualname__}"
    )
    return factory


def load(*, refresh: bool = False) -> Loaded[TaskSpec]:
    """Load (once) the built-in catalogue and every installed plugin."""
    return TASKS.load(refresh=refresh)


def get_task(name: str) -> TaskSpec:
    """The spec registered under this name or alias; an unknown name suggests close ones."""
    return TASKS.get(name)


def benchmarks() -> list[str]:
    """Names of every benchmark that has at least one task, sorted."""
    return sorted({s.benchmark for s in TASKS.all().values()})


def list_tasks(benchmark: str | None = None) -> list[TaskSpec]:
    """Every registered spec, or those of one benchmark, in catalogue order."""
    specs = list(TASKS.all().values())
    if benchmark is None:
        return specs
    chosen = [s for s in specs if s.benchmark == benchmark]
    if not chosen:
        hint = did_you_mean(benchmark, benchmarks(), known="known benchmarks")
        raise UnknownBenchmarkError(f"unknown benchmark {benchmark!r}", hint=hint)
    return chosen


MINI_PREFIX = "mini_"


def resolve_task(name: str, benchmark: str | None = None) -> TaskSpec:
    """The task a command line means by TASK under BENCHMARK.

    ``run.sh IMAGE mini_benchmark ... llm_efficiency ...`` means ``mini_llm_efficiency``: under
    ``mini_benchmark`` a full task's name selects its mini variant. Any other task asked for under
    a benchmark it does not belong to is a usage error.
    """
    if benchmark is not None:
        list_tasks(benchmark)  # an unknown benchmark gets its own error first
    spec = get_task(name)
    if benchmark is None or spec.benchmark == benchmark:
        return spec
    mini = TASKS.find(MINI_PREFIX + spec.name)
    if mini is not None and mini.benchmark == benchmark:
        return mini
    names = [s.name for s in list_tasks(benchmark)]
    # That benchmark's own variants of the task first (mlrc_llm_merging), else close spellings.
    related = [n for n in names if spec.name in n] or closest(spec.name, names)
    suggestion = f"{did_you_mean(spec.name, related)} " if related else ""
    raise UnknownTaskError(
        f"task {spec.name!r} is not part of benchmark {benchmark!r}",
        hint=f"{suggestion}{spec.name!r} belongs to {spec.benchmark!r}; "
        f"run 'agent-tasks list --benchmark {benchmark}' for that benchmark's tasks",
    )
