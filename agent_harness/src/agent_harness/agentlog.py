"""agent.log: the agent's whole output (credentials redacted) up to a size cap, whatever the
console does.

The runtime's reader thread calls :class:`AgentLog` with each chunk; it redacts, writes the file
and hands the text to the console, which never blocks it (see :mod:`agent_harness.console`).
Past the cap a marker line is written and the rest is read to the end (so the agent never
blocks on a full pipe) and counted, not kept. agent.log keeps the agent's bytes as they came
(bytes that are not UTF-8 included) except two things: every control character is written as
inert text (ESC as ``\x1b``; a lone carriage return as a line end), so nothing in the file acts
on a terminal; and every stretch that shows a credential, in that form or with the control
sequences removed, is ``[REDACTED]`` (see :mod:`agent_harness.terminal` and
:meth:`agent_harness.secrets.Redactor.output`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from agent_contracts.run_record import LOG_TIMES_FILE
from agent_harness.console import Progress
from agent_harness.logclock import LogClock
from agent_harness.secrets import Redactor, Shown, StreamRedactor


@dataclass(frozen=True)
class LogSummary:
    """What agent.log holds at the end of a run."""

    kept_bytes: int
    """Bytes of agent output written to agent.log (markers not counted)."""
    dropped_bytes: int
    """Bytes of agent output read but not kept (past the cap, or arriving after the end)."""
    truncated: bool
    """True when agent.log does not hold all of the agent's output."""


class AgentLog:
    """Writes the agent's output to agent.log (redacted, capped) and to the console."""

    def __init__(
        self, path: Path, redactor: Redactor, progress: Progress, limit_bytes: int
    ) -> None:
        self._file: BinaryIO = path.open("wb")
        self._stream = StreamRedactor(redactor)
        self._progress = progress
        self._limit = limit_bytes
        self._kept = 0
        self._dropped = 0
        self._truncated = False
        self._closed = False
        self._lock = threading.Lock()
        self._clock = LogClock(path.with_name(LOG_TIMES_FILE))

    def __call__(self, chunk: bytes) -> None:
        """Take one chunk of the agent's output (from the runtime's reader thread)."""
        with self._lock:
            if self._closed:  # the run has ended; the stream was still delivering
                self._dropped += len(chunk)
                return
            self._emit(self._stream.feed(chunk))

    def _emit(self, shown: Shown) -> None:
        if not shown.log:
            return
        data = shown.log.encode("utf-8", "surrogateescape")
        self._clock.mark(self._file.tell())
        room = self._limit - self._kept
        if len(data) <= room:
            self._file.write(data)
            self._kept += len(data)
        else:
            if room > 0:
                cut = data.rfind(b"\n", 0, room)
                keep = data[: cut + 1] if cut >= 0 else data[:room]
                self._file.write(keep)
                self._kept += len(keep)
                self._dropped += len(data) - len(keep)
            else:
                self._dropped += len(data)
            if not self._truncated:
                self._truncated = True
                self._progress.log_incomplete(
                    f"it reached its limit of {self._limit} bytes (--log-limit) and kept "
                    "nothing after that (run.json: log_dropped_bytes)"
                )
                self._file.write(
                    f"\n[agent-harness: agent.log reached its limit of {self._limit} bytes "
                    "(--log-limit); the rest of the agent's output is read but not kept "
                    "(run.json: log_truncated, log_dropped_bytes)]\n".encode()
                )
        self._file.flush()
        self._progress.agent_output(shown.console)

    def close(self, *, stream_complete: bool = True) -> LogSummary:
        """Write what is left and close the file; later chunks are counted as dropped.

        ``stream_complete`` False says the runtime stopped waiting for the output stream (it
        was still delivering after the agent had ended): agent.log then says so in a last line.
        """
        with self._lock:
            if not self._closed:
                rest = self._stream.flush()
                if rest.log and not rest.log.endswith("\n"):
                    rest = Shown(rest.log + "\n", rest.console + "\n")
                self._emit(rest)
                if not stream_complete:
                    self._truncated = True
                    self._progress.log_incomplete(
                        "output still arriving after the agent had ended is not in it"
                    )
                    self._file.write(
                        b"[agent-harness: the agent's output was still arriving after the agent "
                        b"had ended; the rest is not in agent.log]\n"
                    )
                self._file.close()
                self._clock.close()
                self._closed = True
            return self.summary()

    def summary(self) -> LogSummary:
        """What agent.log holds so far."""
        return LogSummary(self._kept, self._dropped, self._truncated or self._dropped > 0)
