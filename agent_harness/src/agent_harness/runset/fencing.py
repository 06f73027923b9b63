"""Fencing: a new attempt of a cell starts only once the previous attempt's agent is gone.

When a harness dies (OOM, ``kill -9``, a lost node), its watchdog rightly keeps the agent to its
deadline; but the scheduler retries the cell. Before it starts the next attempt it fences the
previous one:

1. it writes the watchdog's :data:`~agent_harness.watchdog.FENCE_FILE` into the old run folder
   (a file, so that it reaches a watchdog on another node through the set's shared folder): the
   watchdog kills the agent at once (SIGKILL, the container removed) and records that;
2. on the host the attempt ran on, it then looks for itself: the attempt's harness (by its
   command line), its watchdog (by its command line), the agent (asked of the run's runtime,
   :meth:`~agent_harness.runtimes.base.Runtime.agent_left`: docker looks for any container
   labelled with the run's id; local for the process group the watchdog recorded, and any
   process whose environment names the run's output folder). If the watchdog is gone, or has
   not acted within :data:`DIRECT_KILL_AFTER_S`, the scheduler kills the agent itself the same
   way;
3. the attempt is fenced when none of them is left (the *proof*: container absent, process group
   empty); a record still saying ``running`` is then closed as ``error`` (``ended_by``
   ``cleanup``).

On another host (a Ray node that is not this machine) the scheduler cannot look: the proof is
the run record's end, written by the harness or by the watchdog once the agent is gone; failing
that, the old attempt's deadline plus grace plus :data:`REMOTE_MARGIN_S` (by then its watchdog
has ended it, if its machine still runs at all).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from agent_harness.cleanup import close_abandoned, secure_abandoned
from agent_harness.liveness import pid_alive, processes
from agent_harness.run_json import RunRecord, hostname, read_record
from agent_harness.runset.attempts import harness_pids, run_folder
from agent_harness.runtimes.base import WatchOrder
from agent_harness.runtimes.registry import runtime_class
from agent_harness.watchdog import BACKSTOP_S, FENCE_FILE, WATCH_STATE

DIRECT_KILL_AFTER_S = 15.0
"""How long the scheduler leaves a live watchdog to act on the fence before it kills the agent
itself."""

REMOTE_MARGIN_S = 60.0
"""On another host: seconds past the old attempt's deadline, grace and the watchdog's backstop
after which its agent is taken as gone though nothing recorded it."""

FENCED = (
    "the harness was gone; its agent was fenced by the run set's scheduler before a new "
    "attempt of the cell started"
)


@dataclass(frozen=True)
class Proof:
    """Why the previous attempt's agent is certainly gone."""

    how: str
    """``nothing started``, ``gone`` (checked on this host) or ``recorded`` (another host)."""
    detail: str
    """What was checked, in words (for the ledger)."""
    killed_by: str = ""
    """``watchdog`` or ``scheduler`` when the fence had to kill an agent; empty otherwise."""


class Fence:
    """Fences one attempt; :meth:`check` until it returns a :class:`Proof` (never blocks)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.since = time.monotonic()
        self.killed_by = ""
        self.waiting_for = ""
        """What the fence still waits for, in words (for progress lines)."""
        self.next_check = 0.0
        """When the scheduler looks again (monotonic seconds)."""
        self.announced = False
        """True once the scheduler has said that the next attempt waits."""
        self._requested = False

    def _request(self, run_dir: Path) -> None:
        if self._requested:
            return
        with contextlib.suppress(OSError):
            (run_dir / FENCE_FILE).write_text("a new attempt of this cell is waiting\n")
            self._requested = True

    def check(self) -> Proof | None:
        """The proof once the attempt's agent is certainly gone; None while it may run."""
        if harness_pids(self.folder):
            self.waiting_for = "its harness still runs"
            return None
        run_dir = run_folder(self.folder)
        record = read_record(run_dir) if run_dir is not None else None
        if run_dir is None or record is None:
            # run.json is written before the watchdog and the agent start.
            return Proof("nothing started", "no run record: the agent never started")
        if record.host and record.host != hostname():
            self._request(run_dir)
            return self._remote(record)
        watchdogs = watchdog_pids(run_dir)
        agents = agent_present(run_dir, record)
        self._request(run_dir)  # after looking, so that what the watchdog then kills is seen
        if agents is None:
            self.waiting_for = f"the {record.runtime} runtime to answer"
            return None
        if not watchdogs and not agents:
            detail = runtime_class(record.runtime).gone_proof(record.run_id)
            with contextlib.suppress(OSError):
                if close_abandoned(run_dir, FENCED):  # spend folded in, proxy folder removed
                    secure_abandoned(run_dir)  # the agent is gone: its output copied out
            return Proof("gone", detail + "; no watchdog left", self.killed_by)
        if agents and (not watchdogs or time.monotonic() - self.since > DIRECT_KILL_AFTER_S):
            kill_agent(run_dir, record)
            self.killed_by = "scheduler"
        elif agents:
            self.killed_by = self.killed_by or "watchdog"
        self.waiting_for = ", ".join(agents) if agents else "its watchdog to finish"
        return None

    def _remote(self, record: RunRecord) -> Proof | None:
        fresh = read_record(run_folder(self.folder) or self.folder) or record
        if fresh.status != "running":
            return Proof("recorded", f"its run record on {fresh.host} says {fresh.status}")
        ends = fresh.deadline + fresh.limits.grace_s + BACKSTOP_S + REMOTE_MARGIN_S
        if time.time() > ends:
            return Proof("recorded", f"its deadline on {fresh.host} has long passed")
        self.waiting_for = f"the watchdog on {fresh.host} to record the agent's end"
        return None


def watchdog_pids(run_dir: Path) -> list[int]:
    """Live watchdogs of this run on this host (found by their command line)."""
    needle = f'"run_dir":"{run_dir.resolve()}"'.encode()

    def ours(entry: Path) -> bool:
        cmdline = (entry / "cmdline").read_bytes()
        return b"agent_harness.watchdog" in cmdline and needle in cmdline

    return [pid for pid in processes(ours) if pid_alive(pid)]


def _watched(run_dir: Path) -> WatchOrder | None:
    with contextlib.suppress(OSError, ValueError):
        return WatchOrder.model_validate_json((run_dir / WATCH_STATE).read_text(encoding="utf-8"))
    return None


def agent_present(run_dir: Path, record: RunRecord) -> list[str] | None:
    """What is left of the agent on this host, in words (empty: nothing); None: cannot tell
    (the runtime's :meth:`~agent_harness.runtimes.base.Runtime.agent_left`)."""
    return runtime_class(record.runtime).agent_left(run_dir, record, _watched(run_dir))


def kill_agent(run_dir: Path, record: RunRecord) -> None:
    """SIGKILL what is left of the agent (a container runtime also removes its containers)."""
    runtime_class(record.runtime).kill_left(run_dir, record, _watched(run_dir))
