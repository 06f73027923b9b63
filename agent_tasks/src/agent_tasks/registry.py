"""The task registry: built-in tasks plus installed plugins, loaded once, lazily.

A task is contributed by a zero-argument function decorated with :func:`task` that returns a
:class:`TaskSpec`. A built-in task is one folder, ``agent_tasks/tasks/<name>/``: its spec
(``task.py``, found here by looking for that file), its prompt (``prompt.md``) and any starter
files; ``agent_tasks.catalogue`` lists each benchmark's tasks in order. A lab adds private tasks
without forking by installing a package that declares an entry point in the group
``agent_tasks.tasks`` pointing at a module of such functions (or at a function returning specs).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files

from agent_contracts.registry import Loaded, Registry
from agent_contracts.suggestions import closest, did_you_mean
from agent_tasks.errors import (
    PluginError,
    SpecError,
    UnknownBenchmarkError,
    UnknownTaskError,
)
from agent_tasks.spec import TaskSpec

ENTRY_POINT_GROUP = "agent_tasks.tasks"
"""Entry-point group through which installed packages add tasks."""

TASKS_PACKAGE = "agent_tasks.tasks"
"""The package whose sub-folders are the built-in tasks."""
SPEC_FILE = "task.py"
"""The file of a task folder that holds its spec (a ``@task`` function)."""


def task_folders() -> list[str]:
    """Names of the built-in task folders (those holding a ``task.py``), sorted."""
    return sorted(
        node.name
        for node in files(TASKS_PACKAGE).iterdir()
        if node.is_dir() and node.joinpath(SPEC_FILE).is_file()
    )


BUILTIN_MODULES = tuple(f"{TASKS_PACKAGE}.{name}.{SPEC_FILE[:-3]}" for name in task_folders())
"""The spec module of every built-in task folder."""

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


def catalogue_order() -> dict[str, int]:
    """Built-in task name -> its place in the catalogue (benchmark by benchmark, as listed)."""
    from agent_tasks.catalogue import BENCHMARKS

    listed = (name for names in BENCHMARKS.values() for name in names)
    return {name: place for place, name in enumerate(listed)}


def list_tasks(benchmark: str | None = None) -> list[TaskSpec]:
    """Every registered spec, or those of one benchmark: built-in tasks in catalogue order,
    then the others (plugins) in the order they were registered."""
    order = catalogue_order()
    specs = sorted(TASKS.all().values(), key=lambda s: order.get(s.name, len(order)))
    if benchmark is None:
        return specs
    chosen = [s for s in specs if s.benchmark == benchmark]
    if not chosen:
        hint = did_you_mean(benchmark, benchmarks(), known="known benchmarks")
        raise UnknownBenchmarkError(f"unknown benchmark {benchmark!r}", hint=hint)
    return chosen


def catalogue_problems() -> list[str]:
    """Where the task folders and the benchmarks' lists disagree, one sentence each: a folder
    no benchmark lists, a task listed under another benchmark than its spec names, a listed
    name no folder defines. A broken plugin does not hide them (its error is reported apart)."""
    from agent_tasks.catalogue import BENCHMARKS

    specs = load().items

    problems: list[str] = []
    listed_in = {name: bench for bench, names in BENCHMARKS.items() for name in names}
    folders = task_folders()
    for name in folders:
        where = f"task folder {TASKS_PACKAGE}.{name}"
        spec = specs.get(name)
        if spec is None:
            problems.append(f"{where}: its {SPEC_FILE} registers no task named {name!r}")
        elif name not in listed_in:
            problems.append(
                f"{where}: not listed under its benchmark {spec.benchmark!r} in "
                "agent_tasks.catalogue.BENCHMARKS"
            )
        elif listed_in[name] != spec.benchmark:
            problems.append(
                f"{where}: listed under {listed_in[name]!r} but its spec names benchmark "
                f"{spec.benchmark!r}"
            )
    for name, bench in listed_in.items():
        if name not in folders:
            problems.append(
                f"benchmark {bench!r} lists {name!r}, but no folder {TASKS_PACKAGE}.{name} "
                f"holds a {SPEC_FILE}"
            )
    return problems


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
