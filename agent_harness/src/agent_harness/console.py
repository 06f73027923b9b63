"""What the user sees during a run: a live status line on a terminal, plain lines otherwise.

The console is best effort. Every write happens on one background thread fed by a queue, so a
slow terminal or a closed pipe (``agent-harness run ... | head -3``) never blocks the harness's
watch loop or the reader of the agent's output: when the queue of agent output is full, new
output is dropped from the console (never from agent.log) and counted; a broken pipe is
swallowed once and the console goes quiet. The agent's text is stripped of terminal control
sequences and every agent line carries :data:`AGENT_PREFIX`, so it cannot clear the screen, set
the window title or the clipboard, or pass for a line of the harness.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from agent_harness.terminal import strip_controls
from agent_harness.timelimit import format_seconds

if TYPE_CHECKING:
    from agent_harness.secrets import Redactor

AGENT_PREFIX = "agent| "
"""Start of every line of the agent's output on the console (the harness's own say
``agent-harness: ``)."""

CONSOLE_QUEUE_CHARS = 1024 * 1024
"""Agent output waiting for the console beyond this many characters is dropped (and counted)."""

DRAIN_TIMEOUT_S = 2.0
"""How long the end of a run waits for the console to take what is queued."""


class Progress:
    """Announcements, the agent's (redacted) output, and elapsed time against the limit."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        echo: bool = True,
        queue_chars: int = CONSOLE_QUEUE_CHARS,
    ) -> None:
        self.stream = stream or sys.stderr
        self.echo = echo
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.dropped_chars = 0
        """Characters of agent output left off the console because it could not keep up."""
        self.broken = False
        """True once writing to the console failed (closed pipe): nothing more is written."""
        self._queue_limit = queue_chars
        self._log_gap: str | None = None
        self._redactor: Redactor | None = None
        self._queued_agent = 0
        self._items: collections.deque[tuple[str | Callable[[], None], int]] = collections.deque()
        self._cond = threading.Condition()
        self._busy = False
        self._at_line_start = True
        self._writer: threading.Thread | None = None
        self._status: Any = None
        self._console: Any = None
        self._label = ""
        self._limit_s = 0.0
        self._started = 0.0
        self._next_beat = 0.0

    def hide(self, redactor: Redactor) -> None:
        """Redact the harness's own lines from now on, as the agent's output is (they may
        quote what the agent chose)."""
        self._redactor = redactor

    def say(self, text: str) -> None:
        """A line from the harness itself (never dropped, written in order).

        Stripped of control sequences too, and redacted once :meth:`hide` has been called: it
        may quote what the agent chose (a path in submission.json, the evaluator's output about
        the agent's model).
        """
        shown = self._redactor.output(text).console if self._redactor else strip_controls(text)
        self._post(f"agent-harness: {shown}\n", 0)

    def agent_output(self, text: str) -> None:
        """Redacted text from the agent: control sequences stripped, each line prefixed.

        Never blocks: when the console is behind by :data:`CONSOLE_QUEUE_CHARS`, the text is
        dropped from the console and counted in :attr:`dropped_chars`.
        """
        if not self.echo or not text or self.broken:
            return
        clean = strip_controls(text)
        if not clean:
            return
        with self._cond:
            if self._queued_agent + len(clean) > self._queue_limit:
                self.dropped_chars += len(clean)
                self._at_line_start = True  # what follows starts with the prefix again
                return
            lines = clean.split("\n")
            out = []
            for i, line in enumerate(lines):
                last = i == len(lines) - 1
                if line and self._at_line_start:
                    out.append(AGENT_PREFIX)
                out.append(line)
                if not last:
                    out.append("\n")
                self._at_line_start = (not last) or (self._at_line_start and not line)
            self._queued_agent += len(clean)
            self._items.append(("".join(out), len(clean)))
            self._ensure_writer()
            self._cond.notify()

    def _post(self, item: str | Callable[[], None], agent_chars: int) -> None:
        with self._cond:
            if self.broken:
                return
            if isinstance(item, str) and not self._at_line_start:
                item = "\n" + item  # the harness's line starts on a line of its own
                self._at_line_start = True
            self._items.append((item, agent_chars))
            self._ensure_writer()
            self._cond.notify()

    def _ensure_writer(self) -> None:
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(target=self._write_loop, daemon=True)
            self._writer.start()

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._items:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait()
                item, agent_chars = self._items.popleft()
                self._busy = True
            try:
                if callable(item):
                    item()
                else:
                    self._write(item)
            except (OSError, ValueError):
                # A closed pipe or a closed stream: swallowed once; the console goes quiet and
                # the run goes on (agent.log is the record).
                with self._cond:
                    self.broken = True
                    self._items.clear()
                    self._queued_agent = 0
            with self._cond:
                self._queued_agent = max(0, self._queued_agent - agent_chars)

    def _write(self, text: str) -> None:
        if self._console is not None:
            self._console.out(text, end="", highlight=False)
        else:
            self.stream.write(text)
            self.stream.flush()

    def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> bool:
        """Wait up to ``timeout_s`` for the console to take what is queued; True when it did."""
        end = time.monotonic() + timeout_s
        with self._cond:
            while self._items or self._busy:
                left = end - time.monotonic()
                if left <= 0 or self.broken:
                    return not self._items
                self._cond.wait(left)
        return True

    def log_incomplete(self, why: str) -> None:
        """agent.log does not hold all of the agent's output either (``why``: its cap, or
        output that came after the end); what :meth:`note_dropped` says then."""
        self._log_gap = why

    def note_dropped(self) -> None:
        """Say how much agent output the console left out, if any, and where it is."""
        if self.dropped_chars:
            where = (
                "agent.log has them"
                if self._log_gap is None
                else f"agent.log may lack some of them too: {self._log_gap}"
            )
            self.say(
                f"the console could not keep up: {self.dropped_chars} characters of the "
                f"agent's output were not shown here ({where})"
            )
            self.dropped_chars = 0

    def start(self, label: str, limit_s: float) -> None:
        """Begin showing elapsed time against ``limit_s``."""
        self._label, self._limit_s, self._started = label, limit_s, time.monotonic()
        self._next_beat = self._started + self._beat_every()
        if self.live and not self.broken:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
            self._status = self._console.status(self._line(0))
            self._post(self._status.start, 0)

    def _beat_every(self) -> float:
        return max(60.0, self._limit_s / 10)

    def _line(self, elapsed: float) -> str:
        return f"{self._label}  {format_seconds(elapsed)} / {format_seconds(self._limit_s)}"

    def tick(self) -> None:
        """Refresh the live line, or print a plain progress line now and then (never blocks)."""
        elapsed = time.monotonic() - self._started
        status = self._status
        if status is not None:
            with self._cond:
                idle = not self._items and not self._busy
            if idle:  # a terminal that is behind gets no more refreshes
                line = self._line(elapsed)
                self._post(lambda: status.update(line), 0)
        elif time.monotonic() >= self._next_beat:
            self._next_beat += self._beat_every()
            self.say(f"elapsed {self._line(elapsed)}")

    def stop(self) -> None:
        """Remove the live line."""
        status = self._status
        if status is not None:
            self._status = None
            self._post(status.stop, 0)
            self.drain()
        self._post(self._detach_console, 0)

    def _detach_console(self) -> None:
        self._console = None
