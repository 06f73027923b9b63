"""The deadline without the harness: a detached process that stops the agent if the harness dies.

Just before the agent starts, the harness starts ``python -m agent_harness.watchdog ORDER``
(ORDER: a JSON :class:`WatchOrder`, no credential in it) in a session of its own, with a pipe
on its stdin whose only writer is the harness. Three endings:

- the harness writes ``done`` (it has recorded the run): the watchdog exits at once;
- the pipe ends without ``done`` (the harness died, even by SIGKILL, since the kernel closes
  its end): the watchdog lets the agent run to its deadline, then SIGTERM, the grace period,
  SIGKILL (through the run's runtime: a container is killed and removed, a process group
  killed), copies the agent's output out exactly as the harness does
  (:func:`agent_harness.output_safety.secure_output`; no deliverable when that fails), and
  records in run.json status ``error``, ``ended_by`` ``watchdog``, ``output_safety``, the
  deliverable and a message saying when the harness died and how the agent ended,
  ``duration_s`` (from the start to the moment it saw the agent gone) and, with the proxy,
  ``model_usage`` from the calls file and ``working_time_s``
  (:func:`agent_contracts.run_record.working_time`, as the harness computes it; the network
  holder container and the proxy's folder are removed);
- the harness is alive but has not stopped the agent :data:`BACKSTOP_S` seconds after deadline
  plus grace: the watchdog kills the agent itself (the harness records the run).

Fencing: once the harness is gone, a :data:`FENCE_FILE` in the run folder (written by a run
set's scheduler that is about to start a new attempt of the same cell, possibly from another
machine through the shared folder) makes the watchdog kill the agent at once (SIGKILL; the
container removed) instead of at its deadline, and record that. The watchdog keeps what it
watches in :data:`WATCH_STATE` (the order, with the local agent's process group once known) so
that the scheduler can check for itself that the agent is gone.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_harness.runtimes.base import WatchOrder

if TYPE_CHECKING:
    from agent_harness.runtimes.base import WatchedAgent

BACKSTOP_S = 10.0
"""Seconds after deadline + grace when the watchdog stops an agent a live harness has not."""

_POLL_S = 0.2
WATCHDOG_LOG = "watchdog.log"
"""The watchdog's own notes, in the run folder."""
WATCH_STATE = "watchdog.json"
"""What the watchdog watches (its :class:`WatchOrder`, process group included), in the run
folder."""
FENCE_FILE = "fence-requested"
"""Written into the run folder to have the agent of a run whose harness is gone killed now."""

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


def note(text: str) -> None:
    """One line of the watchdog's own log (stderr), time-stamped."""
    now = time.time()
    stamp = time.strftime("%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    sys.stderr.write(f"{stamp} watchdog: {text}\n")
    sys.stderr.flush()


def kill_now(agent: WatchedAgent) -> str:
    """SIGKILL, the container removed; waits (at most 10 s) for the agent to be gone."""
    agent.signal(signal.SIGKILL)
    agent.remove()  # docker: gone at once, whatever the engine's state
    end = time.monotonic() + 10
    while agent.alive() and time.monotonic() < end:
        time.sleep(_POLL_S)
        agent.signal(signal.SIGKILL)  # a forking agent may have started more since
    return "it was killed (SIGKILL)"


def stop(agent: WatchedAgent, grace_s: int) -> str:
    """SIGTERM, up to ``grace_s`` to end, SIGKILL; how it ended, in words."""
    note("deadline: SIGTERM")
    agent.signal(signal.SIGTERM)
    end = time.monotonic() + grace_s
    while time.monotonic() < end:
        if not agent.alive():
            return "it ended after SIGTERM"
        time.sleep(min(_POLL_S, max(end - time.monotonic(), 0)))
    note("grace over: SIGKILL")
    kill_now(agent)
    return "it was killed (SIGKILL) after the grace period"


class _Pipe:
    """The harness's messages on stdin: ``pgid N`` (local runs), then ``done``."""

    def __init__(self, on_pgid: Any = None) -> None:
        self.pgid: int | None = None
        self.on_pgid = on_pgid or (lambda pgid: None)
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
                if line.startswith(b"pgid ") and self.pgid is None:
                    self.pgid = int(line.split()[1])
                    self.on_pgid(self.pgid)
            if b"done\n" in self._received:
                return "done"
            if not data:
                return "gone"


def _record(
    order: WatchOrder, died_at: float, how: str, exit_code: int | None, gone_at: float
) -> None:
    """Record the end of a run whose harness died: the agent gone at ``gone_at`` (Unix time),
    its output copied out, its model use and working time from the proxy's files."""
    from agent_harness.output_safety import output_owner, parse_owner, secure_output
    from agent_harness.run_json import (
        OUTPUT_DIR,
        hostname,
        iso,
        read_record,
        utc_now,
        write_record,
    )

    run_dir = Path(order.run_dir)
    record = read_record(run_dir)
    if record is not None and record.status != "running":
        return  # the harness (or cleanup) recorded the end
    safety = secure_output(run_dir, parse_owner(order.owner) or output_owner())
    note("output copied out" if safety.safe else f"output not copied out: {safety.failure}")
    if record is None:
        return
    from agent_harness.runtimes.registry import runtime_class

    runtime_class(order.runtime).release_run(run_dir)
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
        "output_safety": safety.as_record(),
    }
    if safety.safe:
        update.update(_deliverable(record, run_dir / OUTPUT_DIR, order.output_alias))
    else:
        update["deliverable_rejected"] = safety.rejection()
    from agent_contracts.run_record import working_time
    from agent_harness.proxy.account import usage_on_file

    # Every call the proxy settled is in the calls file (fsynced as it ended): its totals.
    usage = usage_on_file(run_dir, record)
    started = datetime.fromisoformat(record.started_at.replace("Z", "+00:00")).timestamp()
    duration = round(max(gone_at - started, 0.0), 3)
    update.update(
        model_usage=usage, duration_s=duration, working_time_s=working_time(duration, usage)
    )
    write_record(run_dir, record.model_copy(update=update))
    if safety.staging_left is None and order.run_dir_mode is not None:
        with contextlib.suppress(OSError):
            run_dir.chmod(order.run_dir_mode)


def _deliverable(record: Any, output: Path, alias: str | None) -> dict[str, Any]:
    """run.json's ``deliverable`` and ``deliverable_rejected`` for a copied-out output."""
    from agent_harness.deliverable import find_deliverable
    from agent_harness.run_json import OUTPUT_DIR, DeliverableRecord
    from agent_tasks.registry import resolve_task

    try:
        spec = resolve_task(record.task, record.benchmark)
        found = find_deliverable(
            output, spec.deliverable.path, output_alias=alias, kind=spec.deliverable.kind
        )
    except Exception as exc:  # whatever the agent left, the record is written
        return {"deliverable_rejected": f"the deliverable could not be looked for: {exc}"[:500]}
    if found.relative is None:
        return {"deliverable_rejected": found.rejected}
    return {
        "deliverable": DeliverableRecord(
            path=f"{OUTPUT_DIR}/{found.relative}",
            source="submission.json" if found.source == "submission.json" else "spec",
        ),
        "deliverable_rejected": found.rejected,
    }


def _keep_state(order: WatchOrder) -> None:
    """Write what is watched into the run folder (atomically), for the scheduler's fence."""
    run_dir = Path(order.run_dir)
    tmp = run_dir / f".{WATCH_STATE}.{os.getpid()}.tmp"
    with contextlib.suppress(OSError):
        tmp.write_text(order.model_dump_json() + "\n", encoding="utf-8")
        tmp.replace(run_dir / WATCH_STATE)


def fence_requested(order: WatchOrder) -> bool:
    """True when a new attempt of this run's cell waits for this agent to be gone."""
    return (Path(order.run_dir) / FENCE_FILE).exists()


def watch(order: WatchOrder) -> int:
    """Watch one run until the harness says done, or enforce its deadline; the exit status."""
    from agent_harness.runtimes.registry import runtime_class

    _keep_state(order)
    pipe = _Pipe(lambda pgid: _keep_state(order.model_copy(update={"pgid": pgid})))
    backstop = order.deadline + order.grace_s + BACKSTOP_S - time.time()
    outcome = pipe.wait(max(backstop, 0.0))
    if outcome == "done":
        return 0
    if pipe.pgid is not None:
        order = order.model_copy(update={"pgid": pipe.pgid})
    agent = runtime_class(order.runtime).reattach(order)
    if outcome == "timeout":
        note("the harness is alive but the agent is past deadline + grace: killing it")
        agent.signal(signal.SIGKILL)
        agent.remove()
        outcome = pipe.wait(None)
        if outcome == "done":
            return 0
    died_at = time.time()
    note(f"the harness (pid {order.harness_pid}) is gone; enforcing the deadline")
    how = "it ended on its own before the deadline"
    while agent.alive():
        if fence_requested(order):
            note("fence requested (a new attempt of the cell is waiting): SIGKILL now")
            how = "fenced (a new attempt of its cell was waiting) " + kill_now(agent)
            break
        if time.time() >= order.deadline:
            how = "at the deadline " + stop(agent, order.grace_s)
            break
        time.sleep(_POLL_S)
    agent.alive()  # the exit code, when the container shows one
    gone_at = time.time()
    agent.remove()
    note(f"agent gone: {how}")
    _record(order, died_at, how, agent.exit_code, gone_at)
    if order.proxy_dir is not None:
        from agent_harness.proxy.server import remove_folder

        remove_folder(Path(order.proxy_dir))
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
