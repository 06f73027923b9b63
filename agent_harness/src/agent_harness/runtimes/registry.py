"""Runtimes by name: the built-in ``docker`` and ``local``, plus installed plugins.

A runtime is a :class:`~agent_harness.runtimes.base.Runtime` subclass registered with
``@runtime("name")`` in the module that defines it; a package adds its own through the
:data:`ENTRY_POINT_GROUP` entry point group (naming the module, or the class). The registry is
the shared one of :mod:`agent_contracts.registry`: loaded lazily, on the first lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from agent_contracts.registry import Registry
from agent_contracts.suggestions import closest, did_you_mean
from agent_harness.errors import (
    ConfigError,
    EngineNotReadyError,
    RuntimePluginError,
    UnknownRuntimeError,
)
from agent_harness.runtimes.base import Runtime

if TYPE_CHECKING:
    from agent_harness.config import RunConfig

ENTRY_POINT_GROUP = "mlrb.runtimes"
"""The entry point group of third-party runtimes."""

BUILTIN_MODULES = ("agent_harness.runtimes.container", "agent_harness.runtimes.local")

AUTO = "auto"
"""``--runtime auto``: the first runtime (by ``auto_rank``) that can serve the run."""

R = TypeVar("R", bound=type[Runtime])

RUNTIMES: Registry[type[Runtime]] = Registry(
    kind="runtime",
    item_type=cast(Any, type),  # the items are classes: isinstance(item, type)
    builtin_modules=BUILTIN_MODULES,
    group=ENTRY_POINT_GROUP,
    name_of=lambda cls: cls.name,
    unknown=lambda message, hint: UnknownRuntimeError(message, hint=hint),
    plugin_error=lambda message, hint: RuntimePluginError(message, hint=hint),
    list_hint="",
    build_errors=(TypeError, ValueError),
)
"""Every runtime class by name."""


def runtime(name: str) -> Callable[[R], R]:
    """Register a :class:`Runtime` subclass under ``name`` (``@runtime("docker")``)."""

    def register(cls: R) -> R:
        if not (isinstance(cls, type) and issubclass(cls, Runtime)):
            raise TypeError(f"@runtime({name!r}) decorates a Runtime subclass, not {cls!r}")
        cls.name = name

        def build() -> type[Runtime]:
            return cls

        RUNTIMES.contribute(
            build, module=cls.__module__, origin=f"{cls.__module__}.{cls.__qualname__}", source=cls
        )
        return cls

    return register


def runtimes() -> dict[str, type[Runtime]]:
    """Every registered runtime class by name, built-in first."""
    return {name: cls for name, cls in RUNTIMES.all().items() if _is_runtime(cls)}


def _ranked() -> list[type[Runtime]]:
    """The runtimes ``--runtime auto`` tries, in order."""
    return sorted(
        (cls for cls in runtimes().values() if cls.auto_rank is not None),
        key=lambda cls: cls.auto_rank or 0,
    )


def _is_runtime(cls: object) -> bool:
    return isinstance(cls, type) and issubclass(cls, Runtime)


def _known() -> str:
    return "known runtimes: " + ", ".join([*runtimes(), AUTO])


def runtime_class(name: str) -> type[Runtime]:
    """The runtime registered under ``name``; an unknown name is a usage error (exit 2) that
    lists the known ones."""
    found = RUNTIMES.find(name)
    if found is not None and _is_runtime(found):
        return found
    close = closest(name, [*runtimes(), AUTO])
    hint = f"{did_you_mean(name, close)} ({_known()})" if close else _known()
    raise UnknownRuntimeError(f"unknown runtime {name!r}", hint=hint)


def default_runtime(*, has_image: bool) -> str:
    """The runtime a run-set agent runs under when it names none: the first (by ``auto_rank``)
    whose agent is an image when one is given, else the first whose agent is a command
    (docker, local)."""
    for cls in _ranked():
        if cls.needs_image if has_image else cls.needs_command:
            return cls.name
    raise ConfigError("no registered runtime runs this agent", hint=_known())


def open_runtime(config: RunConfig) -> Runtime:
    """The runtime of one run: the one named by ``--runtime``, or with ``auto`` the first that
    can serve it; exit 2 or 3 (with every runtime's reason) when none can."""
    if config.runtime != AUTO:
        return runtime_class(config.runtime).open(config)
    ranked = _ranked()
    reasons: list[str] = []
    hint: str | None = None
    for cls in ranked:
        found = cls.probe(config)
        if isinstance(found, Runtime):
            return found
        reasons.append(found)
        hint = hint or cls.unavailable_hint
    if not reasons:
        raise ConfigError("no runtime takes part in --runtime auto", hint=_known())
    raise EngineNotReadyError(" and ".join(reasons), hint=hint)
