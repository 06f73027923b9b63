"""The docker runtime: container settings from a pure function, applied through the SDK.

Every container is named ``mlrb-<run_id>`` and labelled with its run id, so one left behind by
a crashed harness can be found and removed later (``agent-harness cleanup``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import re
import signal
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_harness.errors import ConfigError, EngineNotReadyError, ImageError, LaunchError
from agent_harness.gpus import NO_GPUS_ENV
from agent_harness.runtimes.base import (
    DEFAULT_PIDS_LIMIT,
    Launch,
    Leftover,
    LogSink,
    Placement,
    Runtime,
    RuntimeUnreachableError,
    Wanted,
    WatchOrder,
)
from agent_harness.runtimes.registry import runtime

if TYPE_CHECKING:
    from agent_harness.config import RunConfig
    from agent_harness.proxy.session import ProxySession
    from agent_harness.run_json import RunRecord

CONTAINER_TASK_DIR = "/task"
CONTAINER_OUTPUT_DIR = "/app/output"
NAME_PREFIX = "mlrb-"
LABEL_RUN_ID = "mlrb.run_id"
LABEL_TASK = "mlrb.task"
LABEL_BENCHMARK = "mlrb.benchmark"
LABEL_RUN_DIR = "mlrb.run_dir"
LABEL_HARNESS_PID = "mlrb.harness_pid"
LABEL_HOST = "mlrb.host"
LABEL_ROLE = "mlrb.role"
"""``network`` on a run's network holder (the agent's own container has no role label)."""

START_ENGINE_HINT = (
    "start Docker (e.g. `sudo systemctl start docker`, or `make services-start` in this "
    "repository), or run a local command with --runtime local --command '...'"
)

_SHM_DEFAULT = 2 * 1024**3

ROOT_CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL")
"""Capabilities kept when the agent may run as root in its container (every other one is
dropped): enough to install packages and manage its own files and processes as root does
(apt and pip change owners, switch users and signal their children). Never ``MKNOD`` (device
nodes), ``FSETID``/``SETFCAP`` (privilege bits and file capabilities), ``NET_RAW``, ``SYS_*``."""

LOG_MAX_SIZE = "512m"
LOG_MAX_FILES = 2
"""The engine's own copy of the agent's output is bounded (json-file, at most 2 x 512 MiB); the
harness streams it into agent.log as it comes. Rotation loses what the harness has not read yet
(measured: with 4 x 64 MiB a 200 MB flood reached the reader as 113 MB), so a file is large
enough that an agent printing less than about 512 MiB is never rotated."""


def container_name(run_id: str) -> str:
    """The container's name for a run."""
    return f"{NAME_PREFIX}{run_id}"


def holder_name(run_id: str) -> str:
    """The name of a run's network holder (see :func:`hold_network`)."""
    return f"{container_name(run_id)}-net"


def container_settings(launch: Launch) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create`` (pure: no engine needed).

    ``/task`` is mounted read-only and the output folder at ``/app/output``; the container runs
    under an init process so SIGTERM reaches the agent even when it is PID 1's child. Every
    capability is dropped; a container whose user may be root (``0``, ``0:GID``, or the image's
    own user) gets back :data:`ROOT_CAPABILITIES` only. ``no-new-privileges`` keeps setuid
    binaries from raising anyone; the process count and the engine's log are bounded.
    """
    settings: dict[str, Any] = {
        "image": launch.image,
        "name": container_name(launch.run_id),
        "labels": {LABEL_RUN_ID: launch.run_id, **launch.labels},
        "environment": dict(launch.environment),
        "volumes": {
            str(launch.task_dir.resolve()): {"bind": CONTAINER_TASK_DIR, "mode": "ro"},
            str(launch.output_dir.resolve()): {"bind": CONTAINER_OUTPUT_DIR, "mode": "rw"},
        },
        "network_mode": launch.network,
        "init": True,
        "security_opt": ["no-new-privileges"],
        "cap_drop": ["ALL"],
        "pids_limit": launch.pids_limit,
        "log_config": {
            "type": "json-file",
            "config": {"max-size": LOG_MAX_SIZE, "max-file": str(LOG_MAX_FILES)},
        },
        "shm_size": min(launch.memory_bytes // 4, _SHM_DEFAULT)
        if launch.memory_bytes
        else _SHM_DEFAULT,
    }
    if launch.command is not None:
        settings["command"] = ["/bin/sh", "-c", launch.command]
    if launch.user:
        settings["user"] = launch.user
    if may_be_root(launch.user):
        settings["cap_add"] = list(ROOT_CAPABILITIES)
    if launch.memory_bytes:
        settings["mem_limit"] = launch.memory_bytes
    if launch.cpus:
        settings["nano_cpus"] = int(launch.cpus * 1e9)
    if launch.gpus.all:
        settings["device_requests"] = [{"count": -1, "capabilities": [["gpu"]]}]
    elif launch.gpus.ids:
        settings["device_requests"] = [
            {"device_ids": list(launch.gpus.ids), "capabilities": [["gpu"]]}
        ]
    else:  # an image's own NVIDIA_VISIBLE_DEVICES must not reach GPUs on an nvidia runtime
        settings["environment"][NO_GPUS_ENV[0]] = NO_GPUS_ENV[1]
    return settings


def may_be_root(user: str | None) -> bool:
    """True when the container's user is root, or the image's own user (which may be root)."""
    return user is None or user.split(":", 1)[0] in {"0", "root"}


def connect(timeout: int = 60) -> Any:
    """A client of the local Docker engine, or :class:`EngineNotReadyError` (exit 3)."""
    from docker.client import from_env
    from docker.errors import DockerException

    try:
        # from_env asks the engine for its API version: that request is the liveness check.
        client = from_env(timeout=timeout)
    except DockerException as exc:
        raise EngineNotReadyError(
            f"no Docker engine answers: {exc}".split("\n")[0], hint=START_ENGINE_HINT
        ) from None
    return client


def engine_answers() -> Any | None:
    """A client when an engine answers, else None."""
    try:
        return connect(timeout=10)
    except EngineNotReadyError:
        return None


@dataclass(frozen=True)
class ImageInfo:
    """The image a run used."""

    id: str
    digest: str | None


def ensure_image(client: Any, image: str, *, announce: Any = None) -> ImageInfo:
    """The image, pulled first when absent; :class:`ImageError` (exit 3) when it cannot be."""
    from docker.errors import APIError, ImageNotFound

    try:
        found = client.images.get(image)
    except ImageNotFound:
        if announce is not None:
            announce(f"image {image!r} is not present; pulling it")
        try:
            found = client.images.pull(image)
        except (APIError, ValueError) as exc:
            reason = getattr(exc, "explanation", None) or str(exc)
            raise ImageError(
                f"image {image!r} is not present and cannot be pulled: {reason}",
                hint=f"build it (docker build -t {image} .), or check its name and your "
                "registry login (docker login)",
            ) from None
    except APIError as exc:
        reason = str(exc.explanation or exc)
        if "invalid reference format" in reason:
            detail = reason[reason.index("invalid reference format") :]
            raise ConfigError(
                f"{image!r} is not a valid image name ({detail})",
                hint="image names are lowercase, such as my/agent:latest or "
                "my/agent@sha256:<64 hex digits>",
            ) from None
        raise ImageError(
            f"cannot inspect image {image!r}: {reason}",
            hint="check that the Docker engine is healthy (docker image inspect IMAGE)",
        ) from None
    digests = found.attrs.get("RepoDigests") or []
    return ImageInfo(id=found.id, digest=digests[0] if digests else None)


OUTPUT_WAIT_S = 2.0
"""How long the end of a run waits for the agent's output stream once the container is gone."""

_READ_BYTES = 1 << 20


def _demultiplex(buffer: bytearray) -> bytes:
    """Take the complete frames of Docker's attach stream off ``buffer``; their payload, joined.

    Each frame is an 8-byte header (stream type, 3 zero bytes, big-endian payload size) and
    the payload; stdout and stderr are kept together, in order.
    """
    parts = []
    pos = 0
    while len(buffer) - pos >= 8:
        size = int.from_bytes(buffer[pos + 4 : pos + 8], "big")
        if len(buffer) - pos - 8 < size:
            break
        parts.append(bytes(buffer[pos + 8 : pos + 8 + size]))
        pos += 8 + size
    del buffer[:pos]
    return b"".join(parts)


def _shut(attached: Any) -> None:
    """Close an attach socket, waking a thread blocked reading it."""
    import socket

    raw = getattr(attached, "_sock", attached)
    with contextlib.suppress(OSError, AttributeError):
        raw.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        attached.close()


class ContainerProcess:
    """A started container: its exit is watched and its output read by background threads.

    The output is read from an attach socket opened before the container starts (no line is
    missed, and it is three times faster than following the engine's log for a flood of short
    lines), in blocks of up to 1 MiB.
    """

    def __init__(
        self, container: Any, socket: Any, sink: LogSink, holder: NetworkHolder | None = None
    ) -> None:
        self._container = container
        self._socket = socket
        self._holder = holder
        self._exited = threading.Event()
        self._status: int | None = None
        self._closed = False
        self._init_pid: int | None = None
        self.output_complete = True
        """False when the run's end stopped waiting for the output stream."""
        self._logs = threading.Thread(target=self._stream, args=(sink,), daemon=True)
        self._waiter = threading.Thread(target=self._watch, daemon=True)
        self._logs.start()
        self._waiter.start()

    def _stream(self, sink: LogSink) -> None:
        from docker.utils.socket import read

        buffer = bytearray()
        try:
            while True:
                data = read(self._socket, _READ_BYTES)
                if not data:
                    break
                buffer += data
                payload = _demultiplex(buffer)
                if payload:
                    sink(payload)
        except (OSError, ValueError):
            pass  # the socket was closed by close(); the exit status tells the rest

    def _watch(self) -> None:
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        for _ in range(5):
            try:
                result = self._container.wait()
                self._status = int(result.get("StatusCode", -1))
                break
            except (DockerException, RequestException, OSError):
                if self._closed:
                    break
        else:
            self._status = -1
        self._exited.set()

    def wait(self, timeout: float) -> int | None:
        """The exit status once the container has stopped, or None after ``timeout``."""
        if self._exited.wait(max(timeout, 0)):
            return self._status if self._status is not None else -1
        return None

    def writable_layer_bytes(self) -> int | None:
        """Bytes written to the container's own filesystem (its writable layer), if known."""
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        try:
            # The SDK's inspect cannot ask for sizes; the listing can (one container, by id).
            found = self._container.client.api.containers(
                all=True, size=True, filters={"id": self._container.id}
            )
        except (DockerException, RequestException, OSError):
            return None  # gone
        size = found[0].get("SizeRw") if found else None
        return int(size) if isinstance(size, int) else None

    def pids(self) -> list[int]:
        """Host process ids of the container's processes (empty once it is gone)."""
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        from agent_harness.disk_limit import pid_namespace_members

        if self._init_pid is None:
            try:
                info = self._container.client.api.inspect_container(self._container.id)
            except (DockerException, RequestException, OSError):
                return []
            self._init_pid = int(info.get("State", {}).get("Pid") or 0) or None
        return pid_namespace_members(self._init_pid) if self._init_pid else []

    def _signal(self, signal: str) -> None:
        from docker.errors import DockerException

        with contextlib.suppress(DockerException):  # already stopped
            self._container.kill(signal=signal)

    def terminate(self) -> None:
        """Send SIGTERM to the container's init, which passes it to the agent."""
        self._signal("SIGTERM")

    def kill(self) -> None:
        """Send SIGKILL: the container stops at once."""
        self._signal("SIGKILL")

    def close(self) -> None:
        """Stop and remove the container; wait briefly (:data:`OUTPUT_WAIT_S`) for its output."""
        from docker.errors import DockerException

        if self._closed:
            return
        if not self._exited.is_set():
            self.kill()
            self._exited.wait(10)
        self._logs.join(timeout=OUTPUT_WAIT_S)
        if self._logs.is_alive():
            self.output_complete = False
        self._closed = True
        _shut(self._socket)
        with contextlib.suppress(DockerException):  # already removed
            self._container.remove(force=True)
        if self._holder is not None:
            remove_container(self._container.client, self._holder.id)


HOLDER_PROGRAM = "/mlrb-netns-holder"
"""Where the holder's program is mounted in the holder container."""

_HOLDER_CODE = {
    # x86-64: loop { pause() }     mov eax, 34; syscall; jmp -9
    "x86_64": (0x3E, bytes.fromhex("b8220000000f05ebf7")),
    # aarch64 (no pause): loop { ppoll(NULL, 0, NULL, NULL) }
    #   mov x0..x3, #0; mov x8, #73; svc #0; b -24
    "aarch64": (
        0xB7,
        struct.pack(
            "<7I", 0xD2800000, 0xD2800001, 0xD2800002, 0xD2800003, 0xD2800928, 0xD4000001,
            0x17FFFFFA,
        ),
    ),
}  # fmt: skip


def holder_program(machine: str | None = None) -> bytes:
    """A static Linux executable that waits forever doing nothing (a "pause" program).

    129 or 148 bytes: an ELF header, one loadable segment, and a two-instruction loop that asks
    the kernel to sleep until a signal ends it. It needs nothing from the image it runs in, so
    the holder can be created from the agent's own image (always present, never pulled).
    :class:`LaunchError` (exit 3) on a machine other than x86-64 or aarch64.
    """
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(
        machine or platform.machine(), machine or platform.machine()
    )
    if arch not in _HOLDER_CODE:
        raise LaunchError(
            f"the proxy's network holder has no program for this machine ({arch})",
            hint="pass --credentials direct, or run on an x86-64 or aarch64 host",
        )
    e_machine, code = _HOLDER_CODE[arch]
    base, headers = 0x400000, 64 + 56
    size = headers + len(code)
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)  # 64-bit, little-endian, version 1, System V
    elf = struct.pack(
        "<16sHHIQQQIHHHHHH", ident, 2, e_machine, 1, base + headers, 64, 0, 0, 64, 56, 1, 0, 0, 0
    )
    segment = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x10000)  # R+X
    return elf + segment + code


@dataclass(frozen=True)
class NetworkHolder:
    """A run's network holder: a container that only keeps a network namespace alive.

    The agent's container joins its namespace (``network_mode container:<id>``), so the
    namespace, and the proxy's port in it, exist before any agent code runs.
    """

    id: str
    name: str
    netns: str
    """``/proc/<pid>/ns/net`` of the holder's process."""


HOLDER_ATTEMPTS = 2
"""Starts of the network holder tried before the run fails (exit 3): the engine's start can fail
once on a loaded host ("container process is already dead"), before any agent code ran."""


def holder_settings(launch: Launch, program: Path) -> dict[str, Any]:
    """Keyword arguments for the holder container of ``launch`` (pure: no engine needed).

    The agent's image (present: preflight checked it) with the entrypoint replaced by the
    mounted pause program; the run's network, labels and run id label (so cleanup finds it), no
    capability, nobody's user, a read-only root, 16 processes, 64 MiB, no log. (The pause
    program needs neither; the limits leave room for the engine's own start-up inside the
    container, ``runc init``, whose threads and memory count against them until it execs.)
    """
    return {
        "image": launch.image,
        "name": holder_name(launch.run_id),
        "labels": {LABEL_RUN_ID: launch.run_id, **launch.labels, LABEL_ROLE: "network"},
        "entrypoint": [HOLDER_PROGRAM],
        "command": [],
        "volumes": {str(program): {"bind": HOLDER_PROGRAM, "mode": "ro"}},
        "network_mode": launch.network,
        "user": "65534:65534",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "pids_limit": 16,
        "mem_limit": 64 * 1024**2,
        "log_config": {"type": "none", "config": {}},
    }


def container_user(choice: str) -> str | None:
    """The container's user from ``--user``: ``host`` is the harness's uid:gid, ``image`` the
    image's own (None), ``UID[:GID]`` as given; anything else is a usage error (exit 2)."""
    if choice == "host":
        return f"{os.getuid()}:{os.getgid()}"
    if choice == "image":
        return None
    if re.fullmatch(r"\d+(:\d+)?", choice):
        return choice
    raise ConfigError(f"invalid --user {choice!r}", hint="use host (default), image, or UID[:GID]")


def prepare_staging(staging: Path, user: str | None) -> None:
    """Make the (empty) staging folder writable by the user the agent's container runs as.

    ``--user UID[:GID]`` under a root harness: the folder is handed to that user (0700);
    a user the harness cannot hand it to (``--user image``, or a harness that is not root):
    0777. Either way only the agent reaches it: the run folder around it is 0700.
    """
    uid_gid = user.split(":") if user else None
    if uid_gid is not None and uid_gid[0] == str(os.getuid()):
        return  # the harness's own user (--user host)
    if uid_gid is not None and os.geteuid() == 0:
        uid = int(uid_gid[0])
        gid = int(uid_gid[1]) if len(uid_gid) > 1 else uid
        os.chown(staging, uid, gid)
        staging.chmod(0o700)
        return
    staging.chmod(0o777)


@runtime("docker")
class DockerRuntime(Runtime):
    """Runs agents in Docker containers."""

    needs_image = True
    confines_gpus = True
    auto_rank = 0
    unavailable_hint = START_ENGINE_HINT

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def open(cls, config: RunConfig) -> DockerRuntime:
        """A client of the engine; exit 2 for a bad ``--user``, exit 3 when no engine answers."""
        container_user(config.user)
        return cls(connect())

    @classmethod
    def probe(cls, config: RunConfig) -> DockerRuntime | str:
        """The runtime when an engine answers, else why not."""
        container_user(config.user)
        client = engine_answers()
        return cls(client) if client is not None else "no Docker engine answers"

    @property
    def engine(self) -> Any:
        """The engine's client: the evaluator's image can run on it."""
        return self.client

    def place(self, config: RunConfig, wanted: Wanted) -> Placement:
        """The container's network (``auto``: none without a provider or with the proxy, else
        bridge), user, memory, CPUs (at most this machine's), processes; the image, pulled when
        absent (exit 3 when it cannot be)."""
        notes: list[str] = []
        cpus = wanted.cpus
        if cpus is not None and cpus > cpus_available():
            notes.append(f"the task asks for {cpus:g} CPUs; this machine has {cpus_available()}")
            cpus = float(cpus_available())
        network = (
            config.network
            if config.network != "auto"
            else ("none" if config.provider == "none" or wanted.proxied else "bridge")
        )
        info = ensure_image(self.client, config.image, announce=wanted.announce)
        return Placement(
            network=network,
            user=container_user(config.user),
            memory_bytes=wanted.memory_bytes,
            cpus=cpus,
            pids_limit=DEFAULT_PIDS_LIMIT,
            image_id=info.id,
            image_digest=info.digest,
            notes=tuple(notes),
        )

    def check_proxy(self, euid: int | None = None) -> None:
        """The proxy's port is opened inside the container's network namespace: root only."""
        if (os.geteuid() if euid is None else euid) != 0:
            raise ConfigError(
                "--credentials proxy needs a root harness under the docker runtime: it opens the "
                "proxy's port inside the container's own network namespace",
                hint="run the harness as root, or pass --credentials direct (the agent then gets "
                "the real key and a network; no budget or accounting)",
            )

    def proxy_port(self, session: ProxySession) -> int:
        """The port on the container's own loopback; :meth:`start` opens it in the network
        holder's namespace before the agent's container starts."""
        from agent_harness.proxy.session import CONTAINER_PORT

        return CONTAINER_PORT

    def agent_paths(self, task_dir: Path, output_dir: Path) -> tuple[str, str]:
        """The agent sees its folders at /task and /app/output."""
        return CONTAINER_TASK_DIR, CONTAINER_OUTPUT_DIR

    def prepare_output(self, staging: Path, user: str | None) -> None:
        """Hand the staging folder to the container's user (see :func:`prepare_staging`)."""
        prepare_staging(staging, user)

    def watch_fields(self, run_id: str, proxied: bool) -> dict[str, Any]:
        """The container's name, and the network holder's with the proxy."""
        return {
            "container": container_name(run_id),
            "network_holder": holder_name(run_id) if proxied else None,
        }

    def start(self, launch: Launch, sink: LogSink) -> ContainerProcess:
        """Create and start the container; :class:`LaunchError` (exit 3) when the engine refuses.

        With the proxy (``launch.proxy``) the proxy's port exists before any agent code runs:
        it is opened in a network holder's namespace, which the agent's container then joins
        (docs/proxy.md); the holder is removed with the container."""
        from docker.errors import APIError
        from docker.types import DeviceRequest

        holder = None
        if launch.proxy is not None:
            holder = self.hold_network(launch, launch.proxy.server.folder)
            try:
                launch.proxy.attach(holder.netns)
            except BaseException:
                remove_container(self.client, holder.id)
                raise
            launch = dataclasses.replace(launch, network=f"container:{holder.id}")
        settings = container_settings(launch)
        if "device_requests" in settings:
            settings["device_requests"] = [DeviceRequest(**r) for r in settings["device_requests"]]
        container = attached = None
        try:
            container = self.client.containers.create(**settings)
            # Attached before the start, so the first line is not missed.
            attached = self.client.api.attach_socket(
                container.id, params={"stdout": 1, "stderr": 1, "stream": 1}
            )
            container.start()
        except APIError as exc:
            if attached is not None:
                _shut(attached)
            if container is not None:
                with contextlib.suppress(APIError):
                    container.remove(force=True)
            if holder is not None:
                remove_container(self.client, holder.id)
            raise LaunchError(
                f"the engine refused to start the container: {exc.explanation or exc}",
                hint="check the image, --network, --user and the GPU runtime (nvidia "
                "container toolkit)",
            ) from None
        except BaseException:
            if holder is not None:
                remove_container(self.client, holder.id)
            raise
        return ContainerProcess(container, attached, sink, holder=holder)

    def hold_network(self, launch: Launch, folder: Path) -> NetworkHolder:
        """Start the run's network holder (its program is written into ``folder``, a private
        folder that outlives the holder's start); :class:`LaunchError` (exit 3) when it fails."""
        from docker.errors import APIError

        program = folder / "netns-holder"
        program.write_bytes(holder_program())
        program.chmod(0o555)
        container = None
        for attempt in range(HOLDER_ATTEMPTS):
            try:
                container = self.client.containers.create(**holder_settings(launch, program))
                container.start()
                pid = int(self.client.api.inspect_container(container.id)["State"]["Pid"])
                if pid <= 0:
                    raise LaunchError("the proxy's network holder stopped as soon as it started")
                break
            except (APIError, LaunchError) as exc:
                if container is not None:
                    remove_container(self.client, container.id)
                    container = None
                if attempt + 1 < HOLDER_ATTEMPTS:
                    continue  # the engine's start can fail once under load; nothing ran yet
                raise LaunchError(
                    "cannot start the run's network holder: "
                    + str(getattr(exc, "explanation", None) or exc),
                    hint="check the image and --network; or pass --credentials direct",
                ) from None
        assert container is not None
        return NetworkHolder(container.id, holder_name(launch.run_id), f"/proc/{pid}/ns/net")

    # ------------------------------------------------------------------ from a record

    @classmethod
    def reattach(cls, order: WatchOrder) -> WatchedContainer:
        """The run's container, by name (retried while the engine is busy)."""
        return WatchedContainer(order)

    @classmethod
    def agent_left(
        cls, run_dir: Path, record: RunRecord, order: WatchOrder | None
    ) -> list[str] | None:
        """Every container labelled with the run's id; None when the engine does not answer."""
        containers = _run_containers(record.run_id)
        if containers is None:
            return None
        return [f"container {getattr(c, 'name', '?')}" for c in containers]

    @classmethod
    def kill_left(cls, run_dir: Path, record: RunRecord, order: WatchOrder | None) -> None:
        """Kill and remove every container labelled with the run's id."""
        from docker.errors import DockerException

        for container in _run_containers(record.run_id) or []:
            with contextlib.suppress(DockerException):
                container.remove(force=True)

    @classmethod
    def gone_proof(cls, run_id: str) -> str:
        """No container is left."""
        return f"no container labelled with run id {run_id}"

    @classmethod
    def leftovers(cls) -> list[Leftover]:
        """Every container, running or not, that carries a run id label;
        :class:`RuntimeUnreachableError` when no engine answers."""
        try:
            client = connect()
        except EngineNotReadyError:
            raise RuntimeUnreachableError(
                "no Docker engine answers, so containers were not checked (start the engine "
                "and run cleanup again to remove any)"
            ) from None
        found = []
        for c in leftover_containers(client):
            labels = c.labels
            found.append(
                Leftover(
                    run_id=labels.get(LABEL_RUN_ID, ""),
                    name=c.name,
                    run_dir=Path(labels[LABEL_RUN_DIR]) if LABEL_RUN_DIR in labels else None,
                    harness_pid=labels.get(LABEL_HARNESS_PID),
                    host=labels.get(LABEL_HOST),
                    handle=(client, c.id),
                )
            )
        return found

    @classmethod
    def remove_leftover(cls, leftover: Leftover) -> None:
        """Remove the container (running or not)."""
        client, container_id = leftover.handle
        remove_container(client, container_id)


def _run_containers(run_id: str) -> list[Any] | None:
    """A run's containers (by its run-id label); None when the engine does not answer."""
    from docker.errors import DockerException

    try:
        found: list[Any] = connect().containers.list(
            all=True, filters={"label": f"{LABEL_RUN_ID}={run_id}"}
        )
    except (EngineNotReadyError, DockerException):
        return None
    return found


class WatchedContainer:
    """A run's container as the watchdog sees it: alive or not, signalled, removed (with the
    run's network holder)."""

    def __init__(self, order: WatchOrder) -> None:
        self.order = order
        self.exit_code: int | None = None
        self._container = _find_container(order)

    def alive(self) -> bool:
        """True while the container runs (or is about to)."""
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
        """Send ``sig`` to the container."""
        from docker.errors import DockerException

        if self._container is not None:
            with contextlib.suppress(DockerException):
                self._container.kill(signal=sig.name)

    def remove(self) -> None:
        """Remove the container and the run's network holder."""
        from docker.errors import DockerException

        if self._container is not None:
            if self.exit_code is None:
                self.alive()  # its exit code, for the record, while it exists
            with contextlib.suppress(DockerException):
                self._container.remove(force=True)
            self._container = None
        if self.order.network_holder is not None:
            with contextlib.suppress(EngineNotReadyError):  # cleanup removes it later
                remove_container(connect(), self.order.network_holder)


def _find_container(order: WatchOrder) -> Any:
    """The run's container (None when it no longer exists); retried while the engine is busy."""
    from docker.errors import DockerException, NotFound

    from agent_harness.watchdog import BACKSTOP_S, note

    give_up = order.deadline + order.grace_s + BACKSTOP_S
    while True:
        try:
            return connect().containers.get(order.container)
        except NotFound:
            return None
        except (EngineNotReadyError, DockerException) as exc:
            if time.time() > give_up:
                note(f"the engine does not answer; giving up on the container: {exc}")
                return None
            time.sleep(1)


@dataclass(frozen=True)
class LabelledContainer:
    """A container that carries a run id label."""

    id: str
    name: str
    labels: dict[str, str]


def leftover_containers(client: Any) -> list[LabelledContainer]:
    """Every container, running or not, that carries a run id label.

    The listing is sparse (no inspect per container), so a container removed meanwhile by
    another harness cannot make it fail.
    """
    found = client.containers.list(all=True, sparse=True, filters={"label": LABEL_RUN_ID})
    return [
        LabelledContainer(
            id=c.id,
            name=(c.attrs.get("Names") or ["/" + c.id[:12]])[0].lstrip("/"),
            labels=dict(c.attrs.get("Labels") or {}),
        )
        for c in found
    ]


def remove_container(client: Any, container_id: str) -> None:
    """Remove a container, running or not; one already gone is fine."""
    from docker.errors import DockerException

    with contextlib.suppress(DockerException):
        client.api.remove_container(container_id, force=True)


def cpus_available() -> int:
    """CPU cores the engine can give one container (this machine's count)."""
    return os.cpu_count() or 1
