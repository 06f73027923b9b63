"""``agent.log.times``: when the agent's output was written, so a page can place each line of
agent.log among the run's model calls (``agent-eval view``).

One text line ``<byte offset> <unix seconds>`` per mark: the agent's output from that offset of
agent.log on arrived at that time or later. A mark is written at most once per
:data:`MARK_EVERY_S` (so at most 86,400 lines, about 2 MB, a day), when output arrives.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

MARK_EVERY_S = 1.0
"""Seconds between two marks at most once output flows (the placement's precision)."""


class LogClock:
    """Writes the marks of one agent.log."""

    def __init__(self, path: Path) -> None:
        self._file: TextIO = path.open("w", encoding="ascii")
        self._last = float("-inf")

    def mark(self, offset: int) -> None:
        """Output starting at ``offset`` arrives now (kept only if the last mark is old)."""
        now = time.time()
        if now - self._last < MARK_EVERY_S or self._file.closed:
            return
        self._last = now
        self._file.write(f"{offset} {now:.3f}\n")
        self._file.flush()

    def close(self) -> None:
        """No more marks."""
        self._file.close()
