"""The interface every runtime implements, and what a launch needs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from agent_harness.gpus import GpuSelection

DEFAULT_PIDS_LIMIT = 4096
"""Processes and threads one agent may have at once (the task spec has no field for it): ample
for data loader workers and tokenizer threads, and a fork bomb stops there."""

LogSink = Callable[[bytes], None]
"""Receives the agent's output (stdout and stderr together) chunk by chunk."""


@dataclass(frozen=True)
class Launch:
    """Everything a runtime needs to start one agent."""

    run_id: str
    image: str
    task_dir: Path
    output_dir: Path
    environment: Mapping[str, str] = field(repr=False)
    command: str | None = None
    gpus: GpuSelection = field(default_factory=GpuSelection)
    memory_bytes: int | None = None
    cpus: float | None = None
    network: str = "none"
    user: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    pids_limit: int = DEFAULT_PIDS_LIMIT


class AgentProcess(Protocol):
    """A started agent."""

    def wait(self, timeout: float) -> int | None:
        """The exit status once the agent has ended, or None after ``timeout`` seconds."""
        ...

    def terminate(self) -> None:
        """Ask the agent to stop (SIGTERM)."""
        ...

    def kill(self) -> None:
        """Stop the agent now (SIGKILL)."""
        ...

    def close(self) -> None:
        """Release everything the agent left (container, processes); safe to call twice."""
        ...


class Runtime(Protocol):
    """Starts agents in one kind of place."""

    name: str

    def container_paths(self, launch_dirs: tuple[Path, Path]) -> tuple[str, str]:
        """TASK_DIR and OUTPUT_DIR as the agent sees them."""
        ...

    def start(self, launch: Launch, sink: LogSink) -> AgentProcess:
        """Start the agent and stream its output to ``sink`` from a background thread."""
        ...
