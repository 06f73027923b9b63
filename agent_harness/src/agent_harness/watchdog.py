"""The deadline without the harness: a detached process that stops the agent if the harness dies.

Just before the agent starts, the harness starts ``python -m agent_harness.watchdog ORDER``
(ORDER: a JSON :class:`WatchOrder`, no credential in it) in a session of its own, with a pipe
on its stdin whose only writer is the harness. Three endings:

- the harness writes ``done`` (it has recorded the run): the watchdog exits at once;
- the pipe ends without ``done`` (the harness died, even by SIGKILL, since the kernel closes
  its end): the watchdog lets the agent run to its deadline, then SIGTERM, the grace period,
  SIGKILL (docker: the container is killed and removed; local: the process group), and records
  in run.json status ``error``, ``ended_by`` ``watchdog`` and a message saying when the harness
  died and how the agent ended;
- the harness is alive but has not stopped the agent :data:`BACKSTOP_S` seconds after deadline
  plus grace: the watchdog kills the agent itself (the harness records the run).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

BACKSTOP_S = 10.0
"""Seconds after deadline + grace when the watchdog stops an agent a live harness has not."""

_POLL_S = 0.2
WATCHDOG_LOG = "watchdog.log"
"""The watchdog's own notes, in the run folder."""

_ENV_KEPT = (
    "PATH",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "HOME",
    "LANG",
    "TMPDIR",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
)


class WatchOrder(BaseModel):
    """What the watchdog watches (given on its command line as JSON; never a credential)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    run_dir: str
    """The run folder (run.json is updated there)."""
    deadline: float
    """The agent's deadline, Unix seconds."""
    grace_s: int
    """Seconds between SIGTERM and SIGKILL."""
    harness_pid: int
    """The harness's process id (for the record)."""
    runtime: Literal["docker", "local"]
    """Where the agent runs."""
    container: str | None = None
    """The container's name (docker)."""
    pgid: int | None = None
    """The agent's process group (local; its own session, so also the session id). The
    harness starts the watchdog before the agent and sends ``pgid N`` on the pipe once the
    group exists."""


class _Agent:
    """The agent as the watchdog sees it: alive or not, signalled, removed."""

    def __init__(self, order: WatchOrder) -> None:
        self.order = order
        self.exit_code: int | None = None
        self._container: Any = None
        if order.runtime == "docker":
            self._container = _find_container(order)

    def alive(self) -> bool:
        """True while any of the agent's processes (or its container) runs."""
        if self.order.runtime == "docker":
            return self._container_alive()
        return self.order.pgid is not None and bool(group_members(self.order.pgid))

    def _container_alive(self) -> bool:
        from docker.errors import DockerException

        if self._container is None:
            return False
        try:
            self._container.reload()
        except DockerException:
            return False
        state = self._container.attrs.get("State") or {}
        if state.get("Running") or state.get("Restarting") or state.get("Paused"):
            return True
        if state.get("Status") == "created":
            return True
        self.exit_code = state.get("ExitCode")
        return False

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the container or the whole process group."""
        if self.order.runtime == "docker":
            from docker.errors import DockerException

            if self._container is not None:
                with contextlib.suppress(DockerException):
                    self._container.kill(signal=sig.name)
            return
        if self.order.pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.order.pgid, sig)

    def remove(self) -> None:
        """Remove the container (docker); nothing for a local agent."""
        from docker.errors import DockerException

        if self._container is not None:
            if self.exit_code is None:
                self._container_alive()  # its exit code, for the record, while it exists
            with contextlib.suppress(DockerException):
                self._container.remove(force=True)
            self._container = None


def _find_container(order: WatchOrder) -> Any:
    """The run's container (None when it no longer exists); retried while the engine is busy."""
    from docker.errors import DockerException, NotFound

    from agent_harness.errors import EngineNotReadyError
    from agent_harness.runtimes.container import connect

    give_up = order.deadline + order.grace_s + BACKSTOP_S
    while True:
        try:
            return connect().containers.get(order.container)
        except NotFound:
            return None
        except (EngineNotReadyError, DockerException) as exc:
            if time.time() > give_up:
                _note(f"the engine does not answer; giving up on the container: {exc}")
                return None
            time.sleep(1)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is the state, fields[2] the process group
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def _note(text: str) -> None:
    now = time.time()
    stamp = time.strftime("%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    sys.stderr.write(f"{stamp} watchdog: {text}\n")
    sys.stderr.flush()


def stop(agent: _Agent, grace_s: int) -> str:
    """SIGTERM, up to ``grace_s`` to end, SIGKILL; how it ended, in words."""
    _note("deadline: SIGTERM")
    agent.signal(signal.SIGTERM)
    end = time.monotonic() + grace_s
    while time.monotonic() < end:
        if not agent.alive():
            return "it ended after SIGTERM"
        time.sleep(min(_POLL_S, max(end - time.monotonic(), 0)))
    _note("grace over: SIGKILL")
    agent.signal(signal.SIGKILL)
    agent.remove()  # docker: gone at once, whatever the engine's state
    end = time.monotonic() + 10
    while agent.alive() and time.monotonic() < end:
        time.sleep(_POLL_S)
        agent.signal(signal.SIGKILL)  # a forking agent may have started more since
    return "it was killed (SIGKILL) after the grace period"


class _Pipe:
    """The harness's messages on stdin: ``pgid N`` (local runs), then ``done``."""

    def __init__(self) -> None:
        self.pgid: int | None = None
        self._received = b""

    def wait(self, timeout: float | None) -> str:
        """``done``, ``gone`` (the pipe ended without done) or ``timeout``."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if end is None else max(0.0, end - time.monotonic())
            ready, _, _ = select.select([0], [], [], left)
            if not ready:
                return "timeout"
            data = os.read(0, 4096)
            self._received += data
            for line in self._received.split(b"\n")[:-1]:
                if line.startswith(b"pgid "):
                    self.pgid = int(line.split()[1])
            if b"done\n" in self._received:
                return "done"
            if not data:
                return "gone"


def _record(order: WatchOrder, died_at: float, how: str, exit_code: int | None) -> None:
    from agent_harness.deliverable import find_deliverable
    from agent_harness.records import (
        OUTPUT_DIR,
        TASK_DIR,
        Deliverable,
        hostname,
        iso,
        read_record,
        utc_now,
        write_record,
    )

    run_dir = Path(order.run_dir)
    record = read_record(run_dir)
    if record is None or record.status != "running":
        return  # the harness (or cleanup) recorded the end
    if order.runtime == "local":
        from agent_harness.runtimes.local import release

        release(run_dir / TASK_DIR)
    died = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(died_at))
    message = (
        f"the harness (pid {order.harness_pid} on {hostname()}) died at {died} before the run "
        f"ended; the watchdog ended the agent: {how}. Output after the harness died is not in "
        "agent.log"
    )
    update: dict[str, Any] = {
        "status": "error",
        "ended_by": "watchdog",
        "ended_at": iso(utc_now()),
        "agent_exit_code": exit_code,
        "message": message,
    }
    from agent_contracts.errors import MLRBError

    with contextlib.suppress(OSError, ValueError, MLRBError):
        from agent_tasks.registry import resolve_task

        spec = resolve_task(record.task, record.benchmark)
        found = find_deliverable(
            run_dir / OUTPUT_DIR, spec.deliverable.path, kind=spec.deliverable.kind
        )
        if found.relative is not None:
            update["deliverable"] = Deliverable(
                path=f"{OUTPUT_DIR}/{found.relative}",
                source="submission.json" if found.source == "submission.json" else "spec",
            )
        update["deliverable_rejected"] = found.rejected
    write_record(run_dir, record.model_copy(update=update))


def watch(order: WatchOrder) -> int:
    """Watch one run until the harness says done, or enforce its deadline; the exit status."""
    pipe = _Pipe()
    backstop = order.deadline + order.grace_s + BACKSTOP_S - time.time()
    outcome = pipe.wait(max(backstop, 0.0))
    if outcome == "done":
        return 0
    if pipe.pgid is not None:
        order = order.model_copy(update={"pgid": pipe.pgid})
    agent = _Agent(order)
    if outcome == "timeout":
        _note("the harness is alive but the agent is past deadline + grace: killing it")
        agent.signal(signal.SIGKILL)
        agent.remove()
        outcome = pipe.wait(None)
        if outcome == "done":
            return 0
    died_at = time.time()
    _note(f"the harness (pid {order.harness_pid}) is gone; enforcing the deadline")
    how = "it ended on its own before the deadline"
    while agent.alive():
        if time.time() >= order.deadline:
            how = "at the deadline " + stop(agent, order.grace_s)
            break
        time.sleep(_POLL_S)
    agent.alive()  # the exit code, when the container shows one
    agent.remove()
    _note(f"agent gone: {how}")
    _record(order, died_at, how, agent.exit_code)
    return 0


def spawn(
    order: WatchOrder, log_path: Path, *, pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    """Start the watchdog detached (own session); the caller writes ``done`` to its stdin.

    ``pass_fds`` (the GPU locks) are inherited, so the GPUs stay held while an agent whose
    harness died still runs. :class:`LaunchError` (exit 3) when it cannot start.
    """
    from agent_harness.errors import LaunchError

    env = {k: os.environ[k] for k in _ENV_KEPT if k in os.environ}
    try:
        with log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "agent_harness.watchdog", order.model_dump_json()],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
                pass_fds=pass_fds,
                env=env,
            )
    except OSError as exc:
        raise LaunchError(f"cannot start the run's watchdog: {exc}") from None


def tell_pgid(proc: subprocess.Popen[bytes] | None, pgid: int) -> None:
    """Tell the watchdog the local agent's process group."""
    if proc is None or proc.stdin is None:
        return
    with contextlib.suppress(OSError):
        proc.stdin.write(f"pgid {pgid}\n".encode())
        proc.stdin.flush()


def release_watchdog(proc: subprocess.Popen[bytes] | None) -> None:
    """Tell the watchdog the run is recorded: it exits at once."""
    if proc is None or proc.stdin is None:
        return
    with contextlib.suppress(OSError):
        proc.stdin.write(b"done\n")
        proc.stdin.flush()
    with contextlib.suppress(OSError):
        proc.stdin.close()
    # Not waited for: it may still be starting, and it exits on its own; subprocess reaps it
    # at a later Popen (or it is reparented when the harness exits).


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m agent_harness.watchdog ORDER_JSON``."""
    args = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    order = WatchOrder.model_validate_json(args[0])
    return watch(order)


if __name__ == "__main__":
    sys.exit(main())
