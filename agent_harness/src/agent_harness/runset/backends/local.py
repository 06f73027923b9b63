"""Cells on this host: one ``agent-harness run`` process per attempt.

A process per cell, not a call of ``run_agent`` in the scheduler's process: a crash or a hang
of one cell cannot take the others (or the scheduler) with it; each harness keeps every
guarantee it has alone (its own deadline and signal handling, its GPU lock held by its own
process and released by the OS when it dies); and the harness outlives a ``kill -9`` of the
scheduler (its own session, output to a file), so a resumed scheduler adopts it instead of
starting the trial again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass

from agent_harness.liveness import pid_alive
from agent_harness.runset.attempts import HARNESS_LOG, attempt_command
from agent_harness.runset.backends.base import Ended, Job


@dataclass
class LocalHandle:
    """A harness process: started by us, or adopted after a restart (then not our child)."""

    pid: int
    proc: subprocess.Popen[bytes] | None = None


class LocalBackend:
    """Runs each attempt as a harness subprocess on this host."""

    name = "local"
    picks_gpus = False

    def submit(self, job: Job) -> LocalHandle:
        """Start the harness in its own session, its output to the attempt's harness.log."""
        argv = attempt_command(job.folder, job.config.model_dump(mode="json"))
        with (job.folder / HARNESS_LOG).open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **job.env},
                start_new_session=True,  # Ctrl-C on the terminal reaches the scheduler only
            )
        return LocalHandle(pid=proc.pid, proc=proc)

    def adopt(self, pid: int) -> LocalHandle:
        """A handle on a harness a previous scheduler started."""
        return LocalHandle(pid=pid)

    def poll(self, handle: LocalHandle) -> Ended | None:
        """The exit code once the harness has ended (unknown for an adopted one)."""
        if handle.proc is not None:
            code = handle.proc.poll()
            if code is None:
                return None
            return Ended(exit_code=128 - code if code < 0 else code)
        return None if pid_alive(handle.pid) else Ended(exit_code=None)

    def cancel(self, handle: LocalHandle) -> None:
        """SIGINT to the harness: it stops the agent (grace, then kill) and records it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(handle.pid, signal.SIGINT)

    def pid(self, handle: LocalHandle) -> int | None:
        """The harness's process id."""
        return handle.pid

    def close(self) -> None:
        """Nothing to release."""
