"""The set's ledger: an append-only JSON-lines file, each line fsynced before anything follows.

It is the scheduler's memory across crashes. A line is written *before* the step it announces
(``launch`` before the harness starts), so after ``kill -9`` the ledger never knows less than
what happened; what it cannot know (how a running cell ended) is read back from the cell's run
folder (see :mod:`agent_harness.runset.reconcile`). A torn last line (a crash mid-write) is
ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent_harness.run_json import iso, utc_now

LEDGER_FILE = "ledger.jsonl"

Outcome = Literal["completed", "failed", "timeout", "error", "interrupted", "infra", "lost"]
"""How an attempt ended: the first four are final results of the cell (``error``: retries used
up, or a configuration problem); ``interrupted`` (Ctrl-C, cancel), ``infra`` (engine error,
missing image, node lost) and ``lost`` (never started) put the cell back in the queue."""

RESULTS: frozenset[str] = frozenset({"completed", "failed", "timeout", "error"})
"""Outcomes that finish a cell: it is never run again."""


@dataclass
class Attempt:
    """One try of a cell, as the ledger knows it."""

    number: int
    folder: str
    gpus: list[str]
    backend: str
    host: str
    pid: int | None = None
    outcome: str | None = None
    counted: bool = True
    end: dict[str, Any] = field(default_factory=dict)
    fenced: bool = False
    """True once its agent was proven gone (a ``fenced`` event): the next attempt may start."""


@dataclass
class CellState:
    """Everything the ledger says about one cell."""

    cell_id: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def result(self) -> dict[str, Any] | None:
        """The final end event, when the cell is finished."""
        for attempt in self.attempts:
            if attempt.outcome in RESULTS:
                return attempt.end
        return None

    @property
    def open_attempt(self) -> Attempt | None:
        """The attempt that was launched and never ended (after a crash of the scheduler)."""
        if self.attempts and self.attempts[-1].outcome is None:
            return self.attempts[-1]
        return None

    @property
    def infra_failures(self) -> int:
        """Attempts that count against the retry bound."""
        return sum(1 for a in self.attempts if a.outcome == "infra" and a.counted)


class Ledger:
    """Append events to ``<set>/ledger.jsonl`` durably; replay them into cell states."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LEDGER_FILE

    def exists(self) -> bool:
        """True when the set has been started before."""
        return self.path.is_file() and self.path.stat().st_size > 0

    def append(self, event: str, **data: Any) -> dict[str, Any]:
        """Write one event and fsync it before returning."""
        line = {"event": event, "at": iso(utc_now()), **data}
        encoded = (json.dumps(line, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size and not _ends_with_newline(fd):
                os.write(fd, b"\n")  # a torn line from a crash stays a line of its own
            os.write(fd, encoded)
            os.fsync(fd)
        finally:
            os.close(fd)
        return line

    def events(self) -> list[dict[str, Any]]:
        """Every complete event, in order (a torn line is skipped)."""
        if not self.path.is_file():
            return []
        found = []
        for raw in self.path.read_bytes().splitlines():
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict) and "event" in event:
                found.append(event)
        return found

    def replay(self) -> tuple[dict[str, Any] | None, dict[str, CellState]]:
        """The latest ``open`` event and the state of every cell named in the ledger."""
        opened: dict[str, Any] | None = None
        cells: dict[str, CellState] = {}
        for event in self.events():
            kind = event["event"]
            if kind == "open":
                opened = event
                continue
            cell_id = event.get("cell")
            if not isinstance(cell_id, str):
                continue
            state = cells.setdefault(cell_id, CellState(cell_id))
            if kind == "launch":
                state.attempts.append(
                    Attempt(
                        number=int(event["attempt"]),
                        folder=str(event["folder"]),
                        gpus=list(event.get("gpus", [])),
                        backend=str(event.get("backend", "local")),
                        host=str(event.get("host", "")),
                    )
                )
            elif kind == "started" and state.attempts:
                state.attempts[-1].pid = event.get("pid")
            elif kind == "fenced" and state.attempts:
                for attempt in state.attempts:
                    if attempt.number == event.get("attempt"):
                        attempt.fenced = True
            elif kind == "end" and state.attempts:
                last = state.attempts[-1]
                last.outcome = str(event["outcome"])
                last.counted = bool(event.get("counted", True))
                last.end = event
        return opened, cells


def _ends_with_newline(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size == 0 or os.pread(fd, 1, size - 1) == b"\n"
