"""The docker runtime: container settings from a pure function, applied through the SDK.

Every container is named ``mlrb-<run_id>`` and labelled with its run id, so one left behind by
a crashed harness can be found and removed later (``agent-harness cleanup``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_harness.errors import ConfigError, EngineNotReadyError, ImageError, LaunchError
from agent_harness.runtimes.base import Launch, LogSink

CONTAINER_TASK_DIR = "/task"
CONTAINER_OUTPUT_DIR = "/app/output"
NAME_PREFIX = "mlrb-"
LABEL_RUN_ID = "mlrb.run_id"
LABEL_TASK = "mlrb.task"
LABEL_BENCHMARK = "mlrb.benchmark"
LABEL_RUN_DIR = "mlrb.run_dir"
LABEL_HARNESS_PID = "mlrb.harness_pid"
LABEL_HOST = "mlrb.host"

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


class ContainerProcess:
    """A started container: its exit is watched and its logs streamed by background threads."""

    def __init__(self, container: Any, sink: LogSink) -> None:
        self._container = container
        self._exited = threading.Event()
        self._status: int | None = None
        self._closed = False
        self._logs = threading.Thread(target=self._stream, args=(sink,), daemon=True)
        self._waiter = threading.Thread(target=self._watch, daemon=True)
        self._logs.start()
        self._waiter.start()

    def _stream(self, sink: LogSink) -> None:
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        try:
            for chunk in self._container.logs(stream=True, follow=True):
                sink(chunk)
        except (DockerException, RequestException, OSError):
            pass  # the container is gone; its exit status tells the rest

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
        """Stop and remove the container; wait for the log stream to end."""
        from docker.errors import DockerException

        if self._closed:
            return
        if not self._exited.is_set():
            self.kill()
            self._exited.wait(10)
        self._logs.join(timeout=10)
        self._closed = True
        with contextlib.suppress(DockerException):  # already removed
            self._container.remove(force=True)


class DockerRuntime:
    """Runs agents in Docker containers."""

    name = "docker"

    def __init__(self, client: Any) -> None:
        self.client = client

    def container_paths(self, launch_dirs: tuple[Path, Path]) -> tuple[str, str]:
        """The agent sees its folders at /task and /app/output."""
        return CONTAINER_TASK_DIR, CONTAINER_OUTPUT_DIR

    def start(self, launch: Launch, sink: LogSink) -> ContainerProcess:
        """Create and start the container; :class:`LaunchError` (exit 3) when the engine refuses."""
        from docker.errors import APIError
        from docker.types import DeviceRequest

        settings = container_settings(launch)
        if "device_requests" in settings:
            settings["device_requests"] = [DeviceRequest(**r) for r in settings["device_requests"]]
        container = None
        try:
            container = self.client.containers.create(**settings)
            container.start()
        except APIError as exc:
            if container is not None:
                with contextlib.suppress(APIError):
                    container.remove(force=True)
            raise LaunchError(
                f"the engine refused to start the container: {exc.explanation or exc}",
                hint="check the image, --network, --user and the GPU runtime (nvidia "
                "container toolkit)",
            ) from None
        return ContainerProcess(container, sink)


@dataclass(frozen=True)
class Leftover:
    """A container that carries a run id label."""

    id: str
    name: str
    labels: dict[str, str]


def leftover_containers(client: Any) -> list[Leftover]:
    """Every container, running or not, that carries a run id label.

    The listing is sparse (no inspect per container), so a container removed meanwhile by
    another harness cannot make it fail.
    """
    found = client.containers.list(all=True, sparse=True, filters={"label": LABEL_RUN_ID})
    return [
        Leftover(
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
