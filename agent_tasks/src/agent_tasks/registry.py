"""The task registry: built-in catalogue plus installed plugins, loaded once, lazily.

A task is contributed by a zero-argument function decorated with :func:`task` that returns a
:class:`TaskSpec`. The built-in catalogue lives in ``agent_tasks.catalogue``; a lab adds private
tasks without forking by installing a package that declares an entry point in the group
``agent_tasks.tasks`` pointing at a module of such functions (or at a function returning specs).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from agent_contracts.names import closest, did_you_mean
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

_factories: list[tuple[str, TaskFactory]] = []


def task(factory: TaskFactory) -> TaskFactory:
    """Register a function that builds one task spec (called when the registry first loads)."""
    _factories.append((f"{factory.__module__}.{factory.__qualname__}", factory))
    return factory


@dataclass
class Catalogue:
    """Every registered spec by name, plus what went wrong while loading."""

    specs: dict[str, TaskSpec] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    plugin_errors: list[PluginError] = field(default_factory=list)

    def add(self, spec: TaskSpec, origin: str) -> None:
        """Add one spec, recording a clash instead of overwriting."""
        taken = {**self.specs, **{a: self.specs[n] for a, n in self.aliases.items()}}
        for key in (spec.name, *spec.aliases):
            if key in taken:
                self.problems.append(f"{origin}: task name {key!r} is already registered")
                return
        self.specs[spec.name] = spec
        for alias in spec.aliases:
            self.aliases[alias] = spec.name


_catalogue: Catalogue | None = None


def _build(factory: TaskFactory, origin: str, catalogue: Catalogue) -> None:
    try:
        spec = factory()
    except ValidationError as exc:
        catalogue.problems.append(f"{origin}: invalid spec: {exc}")
        return
    except (OSError, ValueError, SpecError) as exc:
        catalogue.problems.append(f"{origin}: {exc}")
        return
    if not isinstance(spec, TaskSpec):
        catalogue.problems.append(f"{origin}: returned {type(spec).__name__}, not a TaskSpec")
        return
    catalogue.add(spec, origin)


def _specs_from_plugin(obj: Any) -> Iterable[TaskSpec] | None:
    """Specs returned by a plugin object that is not a module of @task functions."""
    if isinstance(obj, TaskSpec):
        return [obj]
    if callable(obj) and not isinstance(obj, type):
        result = obj()
        return [result] if isinstance(result, TaskSpec) else list(result)
    return None


def _constant(spec: TaskSpec) -> TaskFactory:
    return lambda: spec


def _in_module(factory: TaskFactory, module: str) -> bool:
    return factory.__module__ == module or factory.__module__.startswith(module + ".")


def _plugin_error(label: str, ep_name: str, exc: Exception) -> PluginError:
    return PluginError(
        f"task {label} cannot be loaded: {type(exc).__name__}: {exc}",
        hint=f"fix or uninstall the package that declares the '{ENTRY_POINT_GROUP}' "
        f"entry point {ep_name!r}",
    )


def load(*, refresh: bool = False) -> Catalogue:
    """Load (once) the built-in catalogue and every installed plugin."""
    global _catalogue
    if _catalogue is not None and not refresh:
        return _catalogue
    catalogue = Catalogue()
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    # Only the built-in modules' factories here: a plugin's @task functions stay registered
    # after its module was imported once, and must count only while its entry point exists.
    for origin, factory in list(_factories):
        if any(_in_module(factory, module) for module in BUILTIN_MODULES):
            _build(factory, origin, catalogue)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        label = f"plugin {ep.name!r} ({ep.value})"
        try:
            obj = ep.load()
            own = [(o, f) for o, f in _factories if _in_module(f, ep.module)]
            made = [] if any(f is obj for _, f in own) else list(_specs_from_plugin(obj) or ())
        except Exception as exc:  # a plugin may fail in any way; name it, never crash
            catalogue.plugin_errors.append(_plugin_error(label, ep.name, exc))
            continue
        for origin, factory in [*own, *((label, _constant(spec)) for spec in made)]:
            try:
                _build(factory, origin if origin == label else f"{label} {origin}", catalogue)
            except Exception as exc:  # same: a plugin's spec function may raise anything
                catalogue.plugin_errors.append(_plugin_error(label, ep.name, exc))
    catalogue.problems.extend(str(e) for e in catalogue.plugin_errors)
    _catalogue = catalogue
    return catalogue


def _ready() -> Catalogue:
    catalogue = load()
    if catalogue.plugin_errors:
        raise catalogue.plugin_errors[0]
    return catalogue


def get_task(name: str) -> TaskSpec:
    """The spec registered under this name or alias; an unknown name suggests close ones."""
    catalogue = _ready()
    if name in catalogue.specs:
        return catalogue.specs[name]
    if name in catalogue.aliases:
        return catalogue.specs[catalogue.aliases[name]]
    close = closest(name, [*catalogue.specs, *catalogue.aliases])
    hint = did_you_mean(name, close) if close else "run 'agent-tasks list' to see every task"
    raise UnknownTaskError(f"unknown task {name!r}", hint=hint)


def benchmarks() -> list[str]:
    """Names of every benchmark that has at least one task, sorted."""
    return sorted({s.benchmark for s in _ready().specs.values()})


def list_tasks(benchmark: str | None = None) -> list[TaskSpec]:
    """Every registered spec, or those of one benchmark, in catalogue order."""
    specs = list(_ready().specs.values())
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
    catalogue = _ready()
    mini = catalogue.specs.get(MINI_PREFIX + spec.name)
    if mini is not None and mini.benchmark == benchmark:
        return mini
    related = [s.name for s in list_tasks(benchmark) if spec.name in s.name]
    suggestion = f"did you mean {', '.join(repr(r) for r in related)}? " if related else ""
    raise UnknownTaskError(
        f"task {spec.name!r} is not part of benchmark {benchmark!r}",
        hint=f"{suggestion}{spec.name!r} belongs to {spec.benchmark!r}; "
        f"run 'agent-tasks list --benchmark {benchmark}' for that benchmark's tasks",
    )
