"""Cells across machines on a Ray cluster (the ``[ray]`` extra).

GPUs are Ray resources: each attempt is a Ray task asking for as many GPUs as its task's spec,
placed by Ray on a node with that many free, where it sees its own ``CUDA_VISIBLE_DEVICES``.
On the node the task starts the same ``agent-harness run`` as the local backend, with every
guarantee of the harness (its own deadline; the container stopped and recorded when Ray cancels
the task, or when the worker dies: the harness gets SIGINT through the parent-death signal).

Results and run folders: the set's folder must be on a filesystem every node shares (the nodes
write their run folders into it; the driver checks that it can see each one and fails the
attempt otherwise). The ledger lives with the driver only.

Token authentication: whenever the cluster address is not loopback, the driver refuses to
connect without a token (``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH``) and connects with
``RAY_AUTH_MODE=token``; the cluster must have been started the same way.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_harness.errors import ConfigError, EngineNotReadyError
from agent_harness.runset.attempts import HARNESS_LOG, attempt_command, run_folder
from agent_harness.runset.backends.base import Ended, Job

TOKEN_ENV = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
"""Where the driver (and Ray itself) reads the cluster's authentication token."""

_PR_SET_PDEATHSIG = 1

STOP_FILE = "stop-requested"
"""Written into the attempt folder by the driver to stop a running attempt: the shared folder
is a channel that works whatever Ray does with signals in its workers."""


def address_host(address: str) -> str:
    """The host part of a Ray address (``ray://host:port``, ``host:port``, ``[v6]:port``)."""
    rest = address.split("://", 1)[-1]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest


def is_loopback(host: str) -> bool:
    """True when ``host`` names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_address(address: str | None, environ: dict[str, str] | None = None) -> str:
    """The address to connect to; refuses none, and a non-loopback one without a token."""
    env = os.environ if environ is None else environ
    if not address:
        raise ConfigError(
            "the ray backend needs the cluster's address",
            hint="pass --address HOST:PORT (the head node's, e.g. 127.0.0.1:6379)",
        )
    host = address_host(address)
    if not is_loopback(host) and not any(env.get(name) for name in TOKEN_ENV):
        raise ConfigError(
            f"the Ray cluster at {address!r} is reachable beyond this machine, and no "
            "authentication token is set",
            hint="start the cluster with RAY_AUTH_MODE=token and give the driver the same "
            "token in RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH (never on the command line)",
        )
    return address


def _die_with_parent() -> None:
    """In the harness child: default signal handling, its own session, and SIGINT when the Ray
    worker dies (force cancel, node shutdown)."""
    import ctypes

    # A Ray worker blocks (and may ignore) signals in the thread that runs the task; the mask
    # and ignored dispositions survive exec, and the harness must hear the stop request.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    os.setsid()  # signals for the worker's group do not reach the harness twice
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


def run_attempt(
    description: dict[str, Any], env: dict[str, str], folder: str, simulate: bool
) -> dict[str, Any]:
    """The Ray task: run the harness for one attempt on this node and report how it ended."""
    import ray

    from agent_harness.gpu_lock import LOCK_DIR_ENV, lock_dir
    from agent_harness.gpus import SIMULATED_GPUS_ENV

    ids = [str(g) for g in ray.get_gpu_ids()]
    description = {**description, "gpus": ",".join(ids) or "none"}  # Ray's choice on this node
    environ = {**os.environ, **env}
    if simulate:
        environ[SIMULATED_GPUS_ENV] = ",".join(ids)
        # Simulated nodes share one host, and each numbers its GPUs from 0: each gets a lock
        # folder of its own, as separate machines would have.
        node = ray.get_runtime_context().get_node_id()
        environ[LOCK_DIR_ENV] = str(lock_dir() / f"node-{node}")
    path = Path(folder)
    argv = attempt_command(path, description)
    with (path / HARNESS_LOG).open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environ,
            preexec_fn=_die_with_parent,
        )
    stop = path / STOP_FILE
    asked = False
    try:
        while proc.poll() is None:
            if not asked and stop.exists():
                # The driver asked through the shared folder: the harness stops its agent
                # (grace, then kill), removes the container and records ``interrupted``.
                proc.send_signal(signal.SIGINT)
                asked = True
            time.sleep(0.2)
    except BaseException:
        # Ray cancelled the task: the harness stops its agent within its grace and records it.
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=600)
        raise
    code = proc.returncode
    found = run_folder(path)
    return {
        "exit_code": 128 - code if code < 0 else code,
        "gpus": ids,
        "node": socket.gethostname(),
        "node_id": ray.get_runtime_context().get_node_id(),
        "run_dir": str(found) if found is not None else None,
    }


@dataclass
class RayHandle:
    """A submitted attempt."""

    ref: Any
    folder: Path
    cancelled: bool = False


class RayBackend:
    """Submits attempts as Ray tasks with ``num_gpus`` of their cell."""

    name = "ray"
    picks_gpus = True

    def __init__(self, address: str | None = None, token: str | None = None) -> None:
        self.address = address
        self.token = token
        self._remote: Any = None
        self.simulate = False
        self.gpu_capacity = 0
        self.gpus_per_node: list[int] = []

    def prepare(self, loaded: Any) -> None:
        """Connect to the cluster; check that every cell fits on some node."""
        env = dict(os.environ)
        if self.token:
            env["RAY_AUTH_TOKEN"] = self.token
        address = check_address(self.address, env)
        try:
            import ray
        except ImportError:
            raise EngineNotReadyError(
                "the ray backend needs Ray", hint="pip install 'mlrbench-harness[ray]'"
            ) from None
        if any(env.get(name) for name in TOKEN_ENV):
            os.environ.setdefault("RAY_AUTH_MODE", "token")
            if self.token:
                os.environ["RAY_AUTH_TOKEN"] = self.token
        # The workers' output is not copied to the driver (each harness writes its own log).
        options: dict[str, Any] = {
            "address": address,
            "logging_level": "warning",
            "log_to_driver": False,
        }
        if is_loopback(address_host(address)):
            options["_node_ip_address"] = "127.0.0.1"
        try:
            ray.init(**options)
        except Exception as exc:  # Ray raises many kinds (connection, auth, version)
            raise EngineNotReadyError(
                f"cannot connect to the Ray cluster at {address!r}: {exc}".split("\n")[0],
                hint="check the address, that the cluster runs, and the token",
            ) from None
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        self.gpus_per_node = [int(n.get("Resources", {}).get("GPU", 0)) for n in nodes]
        self.gpu_capacity = sum(self.gpus_per_node)
        widest = max(self.gpus_per_node, default=0)
        too_wide = sorted({c.task for c in loaded.cells if c.gpus > widest})
        if too_wide:
            raise ConfigError(
                f"task(s) {', '.join(too_wide)} need more GPUs than any node of the cluster "
                f"has (at most {widest})",
                hint="add a node with enough GPUs, or leave those tasks out of the set",
            )
        self.simulate = bool(loaded.runset.simulate_gpus)
        self._remote = ray.remote(max_retries=0)(run_attempt)

    def submit(self, job: Job) -> RayHandle:
        """Submit the attempt as a task asking for the cell's GPUs."""
        ref = self._remote.options(num_gpus=job.gpu_count, num_cpus=0).remote(
            job.config.model_dump(mode="json"), job.env, str(job.folder), self.simulate
        )
        return RayHandle(ref=ref, folder=job.folder)

    def poll(self, handle: RayHandle) -> Ended | None:
        """How the task ended, once it has (node loss and cancellation included)."""
        import ray

        ready, _ = ray.wait([handle.ref], timeout=0)
        if not ready:
            return None
        try:
            out = ray.get(handle.ref)
        except ray.exceptions.TaskCancelledError:
            return Ended(exit_code=None, note="cancelled")
        except ray.exceptions.RayError as exc:
            note = f"the Ray task failed ({type(exc).__name__}): {exc}".split("\n")[0]
            return Ended(exit_code=None, note=note[:300])
        run_dir = out.get("run_dir")
        if run_dir and not Path(run_dir).is_dir():
            return Ended(
                exit_code=None,
                gpus=out["gpus"],
                note=f"run folder {run_dir} written on node {out['node']} is not visible to "
                "the driver: the set's folder must be on a filesystem shared by every node",
            )
        return Ended(exit_code=int(out["exit_code"]), gpus=list(out["gpus"]), node=out["node_id"])

    def cancel(self, handle: RayHandle) -> None:
        """Cancel the task: the harness on the node gets SIGINT and records ``interrupted``."""
        import ray

        handle.cancelled = True
        with contextlib.suppress(OSError):
            (handle.folder / STOP_FILE).write_text("stop\n")
        with contextlib.suppress(Exception):
            ray.cancel(handle.ref, force=False)  # a task still queued never starts

    def pid(self, handle: RayHandle) -> int | None:
        """No local process."""
        return None

    def close(self) -> None:
        """Disconnect from the cluster."""
        with contextlib.suppress(Exception):
            import ray

            if ray.is_initialized():
                ray.shutdown()
