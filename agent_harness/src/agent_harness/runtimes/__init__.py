"""Where an agent runs: a Docker container, a local process, or an installed runtime's place,
behind one class (:class:`Runtime`) and one registry (``@runtime("name")``)."""

from agent_harness.runtimes.base import (
    AgentProcess,
    Launch,
    Leftover,
    LogSink,
    Placement,
    Runtime,
    RuntimeUnreachableError,
    Wanted,
    WatchedAgent,
)
from agent_harness.runtimes.registry import (
    ENTRY_POINT_GROUP,
    open_runtime,
    runtime,
    runtime_class,
    runtimes,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AgentProcess",
    "Launch",
    "Leftover",
    "LogSink",
    "Placement",
    "Runtime",
    "RuntimeUnreachableError",
    "Wanted",
    "WatchOrder",
    "WatchedAgent",
    "open_runtime",
    "runtime",
    "runtime_class",
    "runtimes",
]
