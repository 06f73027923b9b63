"""The boundary between the scheduler and whatever runs a cell: submit, poll, cancel.

A backend starts ``agent-harness run`` for one attempt (its run description is the scheduler's),
reports when it has ended and with which exit code, and stops it on request. Everything else
(which cell next, the ledger, retries, how an attempt ended) stays in the scheduler, so a new
backend (Slurm: ``sbatch``, ``squeue``/``sacct``, ``scancel``) is these three calls and nothing
more; see docs/run-sets.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent_harness.config import RunConfig


@dataclass(frozen=True)
class Job:
    """One attempt of one cell, ready to start."""

    cell_id: str
    """The cell."""
    attempt: int
    """Attempt number, from 1."""
    folder: Path
    """The attempt's folder (its description's ``runs_dir``); its run folder appears inside."""
    config: RunConfig
    """The attempt's run description (``gpus`` None when the backend picks the ids: it fills
    them in); :func:`~agent_harness.runset.attempts.attempt_command` writes it and gives the
    command that runs it."""
    env: dict[str, str] = field(default_factory=dict)
    """Variables added to the harness's environment."""
    gpus: list[str] = field(default_factory=list)
    """GPU ids the scheduler gave the cell (backends that pick GPUs themselves get none)."""
    gpu_count: int = 0
    """How many GPUs the cell needs."""


@dataclass
class Ended:
    """An attempt whose harness has ended."""

    exit_code: int | None
    """The harness's exit code (None: unknown, e.g. an adopted process)."""
    gpus: list[str] = field(default_factory=list)
    """GPU ids the cell ran on, when the backend picked them."""
    note: str = ""
    """What the backend knows about the end (e.g. the node was lost)."""
    node: str = ""
    """Where it ran, when the backend places cells on several machines."""


class Backend(Protocol):
    """Runs attempts somewhere: the three calls a scheduler needs."""

    name: str
    """Short name recorded in the ledger."""
    picks_gpus: bool
    """True when the backend chooses GPU ids itself (the scheduler then only counts them)."""

    def submit(self, job: Job) -> Any:
        """Start the attempt; return a handle for :meth:`poll` and :meth:`cancel`."""
        ...

    def poll(self, handle: Any) -> Ended | None:
        """None while the attempt runs; how it ended once it has."""
        ...

    def cancel(self, handle: Any) -> None:
        """Ask the attempt to stop cleanly (the harness records ``interrupted``)."""
        ...

    def pid(self, handle: Any) -> int | None:
        """The harness's process id on this host, when there is one (for the ledger)."""
        ...

    def close(self) -> None:
        """Release what the backend holds (connections)."""
        ...
