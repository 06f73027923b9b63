"""What the user sees during a run: a live status line on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from agent_harness.timelimit import format_seconds


class Progress:
    """Announcements, the agent's (redacted) output, and elapsed time against the limit."""

    def __init__(self, stream: TextIO | None = None, *, echo: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.echo = echo
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._lock = threading.Lock()
        self._status: Any = None
        self._console: Any = None
        self._label = ""
        self._limit_s = 0.0
        self._started = 0.0
        self._next_beat = 0.0

    def say(self, text: str) -> None:
        """A line from the harness itself."""
        self._write(f"agent-harness: {text}\n")

    def agent_output(self, text: str) -> None:
        """Redacted text from the agent (already split at line ends)."""
        if self.echo and text:
            self._write(text)

    def _write(self, text: str) -> None:
        with self._lock:
            if self._console is not None:
                self._console.out(text, end="", highlight=False)
            else:
                self.stream.write(text)
                self.stream.flush()

    def start(self, label: str, limit_s: float) -> None:
        """Begin showing elapsed time against ``limit_s``."""
        self._label, self._limit_s, self._started = label, limit_s, time.monotonic()
        self._next_beat = self._started + self._beat_every()
        if self.live:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
            self._status = self._console.status(self._line(0))
            self._status.start()

    def _beat_every(self) -> float:
        return max(60.0, self._limit_s / 10)

    def _line(self, elapsed: float) -> str:
        return f"{self._label}  {format_seconds(elapsed)} / {format_seconds(self._limit_s)}"

    def tick(self) -> None:
        """Refresh the live line, or print a plain progress line now and then."""
        elapsed = time.monotonic() - self._started
        if self._status is not None:
            self._status.update(self._line(elapsed))
        elif time.monotonic() >= self._next_beat:
            self._next_beat += self._beat_every()
            self.say(f"elapsed {self._line(elapsed)}")

    def stop(self) -> None:
        """Remove the live line."""
        if self._status is not None:
            self._status.stop()
            self._status = None
        self._console = None
