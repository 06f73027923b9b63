"""The class every runtime derives from, and what a launch needs.

A runtime is registered with :func:`agent_harness.runtimes.registry.runtime` under its name
(``--runtime NAME``, run.json's ``runtime``). Everything that differs between runtimes is a
method here; the rest of the harness calls these and never compares a runtime's name. The
defaults suit a runtime that starts a host process and leaves nothing behind a dead harness
cannot clean (docs/adding-a-runtime.md walks through a new one).

Two kinds of method: the *class* methods work from a run's record alone (the watchdog after the
harness died, a run set's fence, ``agent-harness cleanup``), in another process than the one
that started the agent; the *instance* methods serve the one run the instance was opened for.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from agent_harness.gpus import GpuSelection

if TYPE_CHECKING:
    from agent_harness.config import RunConfig
    from agent_harness.proxy.session import ProxySession
    from agent_harness.run_json import RunRecord

DEFAULT_PIDS_LIMIT = 4096
"""Processes and threads one agent may have at once (the task spec has no field for it): ample
for data loader workers and tokenizer threads, and a fork bomb stops there."""

LogSink = Callable[[bytes], None]
"""Receives the agent's output (stdout and stderr together) chunk by chunk."""


@dataclass(frozen=True)
class Launch:
    """Everything a runtime needs to start one agent."""

    run_id: str
    image: str
    task_dir: Path
    output_dir: Path
    environment: Mapping[str, str] = field(repr=False)
    command: str | None = None
    gpus: GpuSelection = field(default_factory=GpuSelection)
    memory_bytes: int | None = None
    cpus: float | None = None
    network: str = "none"
    user: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    pids_limit: int | None = DEFAULT_PIDS_LIMIT
    proxy: ProxySession | None = field(default=None, repr=False, compare=False)
    """The run's model-API proxy, for a runtime that opens its port where the agent is (see
    :meth:`Runtime.proxy_port`); None: the run has no proxy."""


@dataclass(frozen=True)
class Placement:
    """What a runtime settled for one run in preflight: recorded in run.json, used by the launch."""

    network: str | None = None
    """The agent's network mode (None: the runtime has no network setting)."""
    user: str | None = None
    """Who the agent runs as, ``UID:GID`` or the runtime's own spelling (None: unchanged)."""
    memory_bytes: int | None = None
    """Memory limit the runtime enforces (None: none)."""
    cpus: float | None = None
    """CPU limit the runtime enforces (None: none)."""
    pids_limit: int | None = None
    """Process limit the runtime enforces (None: none)."""
    image_id: str | None = None
    """The image's id, when the agent runs from an image."""
    image_digest: str | None = None
    """The image's repository digest, when it has one."""
    notes: tuple[str, ...] = ()
    """Lines the harness prints before the run (a limit lowered, say)."""


@dataclass(frozen=True)
class Wanted:
    """What the task and the user ask of the runtime, before it settles a :class:`Placement`."""

    memory_bytes: int | None
    cpus: float | None
    proxied: bool
    """The agent reaches its provider through the harness's proxy."""
    announce: Callable[[str], None] | None = None
    """Where to say something slow is under way (an image pull)."""


class WatchOrder(BaseModel):
    """What the watchdog (:mod:`agent_harness.watchdog`) watches, given on its command line as
    JSON (never a credential); the runtime fills what finds its agent again (``watch_fields``)
    and reads it back (``reattach``, ``agent_left``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    run_dir: str
    """The run folder (run.json is updated there)."""
    deadline: float
    """The agent's deadline, Unix seconds."""
    grace_s: int
    """Seconds between SIGTERM and SIGKILL."""
    harness_pid: int
    """The harness's process id (for the record)."""
    runtime: str
    """Where the agent runs: the runtime's registered name (it finds the agent again,
    :meth:`~agent_harness.runtimes.base.Runtime.reattach`)."""
    container: str | None = None
    """The container's name (a container runtime)."""
    proxy_dir: str | None = None
    """The run's model-API proxy folder (``/tmp/mlrb-proxy-*``), removed once the agent is gone
    when the harness died."""
    network_holder: str | None = None
    """The name of the run's network holder container (a container runtime with the proxy),
    removed with the agent's container."""
    pgid: int | None = None
    """The agent's process group (a process runtime; its own session, so also the session id). The
    harness starts the watchdog before the agent and sends ``pgid N`` on the pipe once the
    group exists."""
    owner: str | None = None
    """``uid:gid`` the copied output is handed to (the harness's :func:`output_owner`, which
    reads ``SUDO_UID``: the watchdog's environment does not carry it)."""
    output_alias: str | None = None
    """The output folder's path as the agent saw it (``/app/output``, or the local staging
    path), for submission.json's absolute ``model_path``."""
    run_dir_mode: int | None = None
    """The run folder's mode, given back once the output is copied out (0700 until then)."""


class AgentProcess(Protocol):
    """A started agent."""

    def wait(self, timeout: float) -> int | None:
        """The exit status once the agent has ended, or None after ``timeout`` seconds."""
        ...

    def terminate(self) -> None:
        """Ask the agent to stop (SIGTERM)."""
        ...

    def kill(self) -> None:
        """Stop the agent now (SIGKILL)."""
        ...

    def close(self) -> None:
        """Release everything the agent left (container, processes); safe to call twice."""
        ...


class WatchedAgent(Protocol):
    """An agent found again from its run's :class:`WatchOrder` (by the
    watchdog, in another process than the harness that started it)."""

    exit_code: int | None
    """Its exit status once known."""

    def alive(self) -> bool:
        """True while any of its processes runs."""
        ...

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to all of it."""
        ...

    def remove(self) -> None:
        """Remove what the runtime made for it (a container); the agent is stopped."""
        ...


@dataclass(frozen=True)
class Leftover:
    """Something a runtime made for a run and still holds (a container), for cleanup."""

    run_id: str
    name: str
    """How cleanup's report names it."""
    run_dir: Path | None
    """The run's folder, when the leftover says (None: ``<runs dir>/<run id>``)."""
    harness_pid: str | None
    """The pid of the harness that made it, when the leftover says."""
    host: str | None
    """The host of that harness, when the leftover says."""
    handle: Any = field(default=None, repr=False, compare=False)
    """What :meth:`Runtime.remove_leftover` needs (the runtime's own)."""


class RuntimeUnreachableError(Exception):
    """A runtime cannot list its leftovers now; the message says what was not checked and what
    to do (``no Docker engine answers, so containers were not checked (...)``)."""


class Runtime:
    """Starts agents in one kind of place. Subclass it, override what differs, register it."""

    name: ClassVar[str] = ""
    """The runtime's name (``--runtime NAME``, run.json's ``runtime``); set by the decorator."""
    needs_image: ClassVar[bool] = False
    """The agent is an image (a run-set agent for this runtime must name one)."""
    needs_command: ClassVar[bool] = False
    """The agent is a shell command (``--command`` must be given)."""
    auto_rank: ClassVar[int | None] = None
    """Order in which ``--runtime auto`` tries it (lowest first); None: auto never picks it."""
    unavailable_hint: ClassVar[str | None] = None
    """The hint when ``--runtime auto`` found no runtime and this one said why not first."""
    confines_gpus: ClassVar[bool] = False
    """The agent can use only the GPUs it was given (a container given them as devices); the
    harness then records their memory while it runs (run.json's ``gpu_memory``)."""

    # ------------------------------------------------------------------ choosing

    @classmethod
    def open(cls, config: RunConfig) -> Runtime:
        """The runtime for one run, asked for by name; exit 2 or 3 when it cannot serve it."""
        return cls()

    @classmethod
    def probe(cls, config: RunConfig) -> Runtime | str:
        """For ``--runtime auto``: the runtime when it can serve this run, else why not (a
        clause such as ``no Docker engine answers``)."""
        return cls.open(config)

    # ------------------------------------------------------------------ one run

    def place(self, config: RunConfig, wanted: Wanted) -> Placement:
        """Settle the run's network, user, limits and image before anything starts (preflight:
        raise the first problem, exit 2 or 3)."""
        return Placement()

    def check_proxy(self, euid: int | None = None) -> None:
        """Refuse (exit 2) when the model-API proxy cannot be given to this runtime's agent."""

    def proxy_port(self, session: ProxySession) -> int:
        """The loopback port where the agent reaches the proxy. By default a port on the host's
        loopback (the agent shares the host's network)."""
        return session.listen_on_host()

    def agent_paths(self, task_dir: Path, output_dir: Path) -> tuple[str, str]:
        """TASK_DIR and OUTPUT_DIR as the agent sees them (by default the host's paths)."""
        return str(task_dir.resolve()), str(output_dir.resolve())

    def prepare_output(self, staging: Path, user: str | None) -> None:
        """Make the empty output folder writable by the agent's user (by default the harness's
        own user runs the agent: nothing to do)."""

    def start(self, launch: Launch, sink: LogSink) -> AgentProcess:
        """Start the agent and stream its output to ``sink`` from a background thread."""
        raise NotImplementedError

    def watch_fields(self, run_id: str, proxied: bool) -> dict[str, Any]:
        """Fields of the watchdog's order that let :meth:`reattach` find the agent (a process
        group reaches the watchdog by itself, from the process's ``pgid``)."""
        return {}

    @property
    def engine(self) -> Any | None:
        """A container engine client that can run the evaluator's image after the run, or None
        (the evaluation then runs as a process)."""
        return None

    # ------------------------------------------------------------------ from a record

    @classmethod
    def reattach(cls, order: WatchOrder) -> WatchedAgent:
        """The agent of a run whose harness died, found from the watchdog's order. By default
        its process group (``order.pgid``)."""
        return ProcessGroup(order.pgid)

    @classmethod
    def release_run(cls, run_dir: Path) -> None:
        """Undo what :meth:`start` changed in the run folder once the agent is gone."""

    @classmethod
    def agent_left(
        cls, run_dir: Path, record: RunRecord, order: WatchOrder | None
    ) -> list[str] | None:
        """What is left of a run's agent on this host, in words (empty: nothing; None: cannot
        tell now). By default the process group the watchdog recorded, and any process whose
        environment names the run's output folder."""
        from agent_harness.liveness import group_members

        pids = set(group_members(order.pgid)) if order is not None and order.pgid else set()
        pids |= set(processes_naming(run_dir.resolve()))
        return [f"process {pid}" for pid in sorted(pids)]

    @classmethod
    def kill_left(cls, run_dir: Path, record: RunRecord, order: WatchOrder | None) -> None:
        """SIGKILL whatever :meth:`agent_left` finds."""
        if order is not None and order.pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(order.pgid, signal.SIGKILL)
        for pid in processes_naming(run_dir.resolve()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    @classmethod
    def gone_proof(cls, run_id: str) -> str:
        """What :meth:`agent_left` finding nothing proves, in words (for the run set's ledger)."""
        return "the agent's process group is empty"

    @classmethod
    def leftovers(cls) -> list[Leftover]:
        """What this runtime holds for runs on this host, abandoned or not (cleanup judges);
        :class:`RuntimeUnreachableError` when it cannot look now. By default nothing: a
        process group dies with its watchdog's kill."""
        return []

    @classmethod
    def remove_leftover(cls, leftover: Leftover) -> None:
        """Remove one leftover (gone already is fine)."""


class ProcessGroup:
    """An agent that is a process group (and session) of this host, as the watchdog sees it."""

    def __init__(self, pgid: int | None) -> None:
        self.pgid = pgid
        self.exit_code: int | None = None
        """Unknown: the group's leader is not the watchdog's child."""

    def alive(self) -> bool:
        """True while any process of the group runs."""
        from agent_harness.liveness import group_members

        return self.pgid is not None and bool(group_members(self.pgid))

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the whole group."""
        if self.pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, sig)

    def remove(self) -> None:
        """Nothing to remove: the group is gone once its processes are."""


def processes_naming(run_dir: Path) -> list[int]:
    """Processes whose environment names this run's folder for the agent's output (a local agent
    that left its process group keeps it): the staging folder it writes into, or ``output/``."""
    from agent_harness.liveness import pid_alive, processes
    from agent_harness.output_safety import STAGING_DIR
    from agent_harness.run_json import OUTPUT_DIR

    needles = [f"\0OUTPUT_DIR={run_dir / name}\0".encode() for name in (STAGING_DIR, OUTPUT_DIR)]

    def names_it(entry: Path) -> bool:
        environ = b"\0" + (entry / "environ").read_bytes()
        return any(n in environ for n in needles)

    return [pid for pid in processes(names_it) if pid_alive(pid)]
