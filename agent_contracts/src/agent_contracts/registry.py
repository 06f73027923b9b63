"""One registry for everything the packages let a lab add without a fork: tasks and metrics.

A :class:`Registry` holds *contributions*: zero-argument builders, each registered by a decorator
in the module that defines it (``@task`` in ``agent_tasks``, ``@metric`` in ``agent_eval``). It is
loaded once, lazily: the built-in modules are imported and their builders run, then every
installed package that declares an entry point in the registry's group is loaded. An entry point
names either a module whose import registers builders with the same decorator, or an object that
is one item, or a function returning one item or several.

Loading never crashes on a lab's package: a plugin that cannot be imported, or whose builder
raises, becomes a *plugin error* naming the entry point and the package to fix, raised at the
first lookup; a name registered twice is a *problem* (the first one stays). An unknown name gets
the one "did you mean" of :mod:`agent_contracts.suggestions`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from agent_contracts.errors import MLRBError
from agent_contracts.suggestions import closest, did_you_mean

T = TypeVar("T")

Builder = Callable[[], Any]
"""A contribution: called once per load, it returns one item (or raises)."""


@dataclass(frozen=True)
class Contribution:
    """One registered builder and where it comes from."""

    module: str
    """The module that registered it: a plugin's builders count only while its entry point
    is installed, the built-in ones always."""
    origin: str
    """How problems name it (``module.function``)."""
    build: Builder
    source: Any = None
    """What the decorator was applied to (an entry point may name it directly); None: ``build``."""


@dataclass
class Loaded(Generic[T]):
    """Every item by name, plus what went wrong while loading."""

    items: dict[str, T] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    """Other names of an item -> its name."""
    problems: list[str] = field(default_factory=list)
    """Every problem, plugin errors included, as one line each."""
    plugin_errors: list[MLRBError] = field(default_factory=list)


class Registry(Generic[T]):
    """Items of type ``T`` by name: built-in modules plus installed entry-point plugins."""

    def __init__(
        self,
        *,
        kind: str,
        item_type: type[T],
        builtin_modules: tuple[str, ...],
        group: str,
        name_of: Callable[[T], str],
        aliases_of: Callable[[T], Iterable[str]] = lambda _item: (),
        unknown: Callable[[str, str], MLRBError],
        plugin_error: Callable[[str, str], MLRBError],
        list_hint: str,
        build_errors: tuple[type[Exception], ...] = (OSError, ValueError),
    ) -> None:
        """``unknown(message, hint)`` and ``plugin_error(message, hint)`` make the errors raised;
        ``list_hint`` is the hint for an unknown name nothing resembles; ``build_errors`` are
        what a built-in builder may raise for a bad item (recorded as a problem, not a crash)."""
        self.kind = kind
        self.item_type = item_type
        self.builtin_modules = builtin_modules
        self.group = group
        self.name_of = name_of
        self.aliases_of = aliases_of
        self._unknown = unknown
        self._plugin_error = plugin_error
        self.list_hint = list_hint
        self.build_errors = build_errors
        self._contributions: list[Contribution] = []
        self._plugin_modules: set[str] = set()
        """Modules any entry point of the group has named, in any load."""
        self._claimed: dict[str, set[str]] = {}
        """Entry-point module -> other modules whose builders its import registered (a plugin
        may keep its ``@task`` functions in a module its entry point only imports)."""
        self._loaded: Loaded[T] | None = None

    # ------------------------------------------------------------------ registering

    def contribute(
        self, build: Builder, *, module: str, origin: str, source: Any = None
    ) -> Contribution:
        """Register one builder (called by the decorators; the registry runs it when it loads);
        ``source`` is the decorated object when it is not ``build`` itself."""
        contribution = Contribution(module=module, origin=origin, build=build, source=source)
        self._contributions.append(contribution)
        self._loaded = None  # a module imported after loading adds to the next load
        return contribution

    def withdraw(self, contribution: Contribution) -> None:
        """Forget one builder (a script's or test's own registration, when it is done)."""
        self._contributions.remove(contribution)
        self._loaded = None

    # ------------------------------------------------------------------ loading

    def load(self, *, refresh: bool = False) -> Loaded[T]:
        """Load (once) the built-in items and every installed plugin's."""
        if self._loaded is not None and not refresh:
            return self._loaded
        loaded: Loaded[T] = Loaded()
        for module in self.builtin_modules:
            importlib.import_module(module)
        plugins = list(entry_points(group=self.group))
        self._plugin_modules.update(ep.module for ep in plugins)
        # Built-in builders, then those a script registered itself; a plugin's builders stay
        # registered after its module was imported once, and count only while it is installed.
        builtin = [c for c in self._contributions if self._builtin(c.module)]
        local = [
            c
            for c in self._contributions
            if not self._builtin(c.module)
            and not any(_within(c.module, m) for m in self._plugin_modules)
            and not self._claimed_by_plugin(c.module)
        ]
        for c in [*builtin, *local]:
            self._build(c, loaded, label=None)
        for ep in plugins:
            self._load_plugin(ep, loaded)
        loaded.problems.extend(str(e) for e in loaded.plugin_errors)
        self._loaded = loaded
        return loaded

    def _builtin(self, module: str) -> bool:
        return any(_within(module, m) for m in self.builtin_modules)

    def _claimed_by_plugin(self, module: str) -> bool:
        return any(module in claimed for claimed in self._claimed.values())

    def _load_plugin(self, ep: Any, loaded: Loaded[T]) -> None:
        label = f"{self.kind} plugin {ep.name!r} ({ep.value})"
        before = {id(c) for c in self._contributions}
        try:
            obj = ep.load()
            claimed = self._claimed.setdefault(ep.module, set())
            claimed.update(  # registered by its import, from a module outside the entry point
                c.module
                for c in self._contributions
                if id(c) not in before and not self._builtin(c.module)
            )
            own = [
                c
                for c in self._contributions
                if _within(c.module, ep.module) or c.module in claimed
            ]
            named = any(obj is c.build or obj is c.source for c in own)
            made = [] if named else self._items_of(obj)
        except (Exception, SystemExit) as exc:  # a plugin may fail in any way: name it
            loaded.plugin_errors.append(self._plugin_failure(label, ep.name, exc))
            return
        made_here = [Contribution(ep.module, label, _constant(item)) for item in made]
        for c in [*own, *made_here]:
            try:
                self._build(c, loaded, label=label)
            except (Exception, SystemExit) as exc:  # same: a plugin's builder may do anything
                loaded.plugin_errors.append(self._plugin_failure(label, ep.name, exc))

    def _items_of(self, obj: Any) -> list[T]:
        """Items an entry point yields when it is not a module of decorated builders."""
        if isinstance(obj, self.item_type):
            return [obj]
        if callable(obj) and not isinstance(obj, type):
            result = obj()
            if isinstance(result, self.item_type):
                return [result]
            if isinstance(result, list | tuple | set | frozenset):
                return list(result)
            raise TypeError(
                f"returned {type(result).__name__}, not a {self.item_type.__name__} or a list "
                "of them"
            )
        return []

    def _build(self, c: Contribution, loaded: Loaded[T], *, label: str | None) -> None:
        origin = c.origin if label is None or c.origin == label else f"{label} {c.origin}"
        try:
            item = c.build()
        except self.build_errors as exc:
            if label is not None:
                raise
            loaded.problems.append(f"{origin}: {exc}")
            return
        if not isinstance(item, self.item_type):
            wrong = f"returned {type(item).__name__}, not a {self.item_type.__name__}"
            if label is not None:
                raise TypeError(wrong)  # a plugin's: a plugin error naming it
            loaded.problems.append(f"{origin}: {wrong}")
            return
        self.add(loaded, item, origin)

    def add(self, loaded: Loaded[T], item: T, origin: str) -> None:
        """Add one item, recording a clash of names instead of overwriting."""
        taken = {*loaded.items, *loaded.aliases}
        name = self.name_of(item)
        for key in (name, *self.aliases_of(item)):
            if key in taken:
                loaded.problems.append(f"{origin}: {self.kind} name {key!r} is already registered")
                return
        loaded.items[name] = item
        for alias in self.aliases_of(item):
            loaded.aliases[alias] = name

    def _plugin_failure(self, label: str, ep_name: str, exc: BaseException) -> MLRBError:
        return self._plugin_error(
            f"{label} cannot be loaded: {type(exc).__name__}: {exc}",
            f"fix or uninstall the package that declares the '{self.group}' entry point "
            f"{ep_name!r}",
        )

    # ------------------------------------------------------------------ lookup

    def ready(self) -> Loaded[T]:
        """The loaded registry; the first plugin error is raised (a broken lab package is a
        usage error to fix, not something to half-ignore)."""
        loaded = self.load()
        if loaded.plugin_errors:
            raise loaded.plugin_errors[0]
        return loaded

    def all(self) -> dict[str, T]:
        """Every item by name, in registration order."""
        return dict(self.ready().items)

    def find(self, name: str) -> T | None:
        """The item registered under this name or alias, or None."""
        loaded = self.ready()
        if name in loaded.items:
            return loaded.items[name]
        if name in loaded.aliases:
            return loaded.items[loaded.aliases[name]]
        return None

    def get(self, name: str) -> T:
        """The item registered under this name or alias; an unknown name suggests close ones."""
        item = self.find(name)
        if item is not None:
            return item
        loaded = self.ready()
        close = closest(name, [*loaded.items, *loaded.aliases])
        hint = did_you_mean(name, close) if close else self.list_hint
        raise self._unknown(f"unknown {self.kind} {name!r}", hint)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _constant(item: Any) -> Builder:
    return lambda: item
