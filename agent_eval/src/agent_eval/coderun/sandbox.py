"""Sandboxes that re-run an agent's code: a container, or an unprivileged process in namespaces.

Both backends promise the same: no network, the code and the inputs read-only, one writable
output folder, a memory and process limit, the task's GPUs and nothing else, a hard time limit
measured here, and no labels (they are never put anywhere the sandbox can see). See
docs/code-deliverables.md for what each one does and leaves open.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agent_eval.errors import CodeEnvironmentError

Backend = Literal["docker", "process"]
"""Where the code runs: a container from the task's image, or a process sandbox."""

SANDBOX_UID = 65534
"""The unprivileged user (``nobody``) the code runs as, in both backends."""
PIDS_LIMIT = 256
"""Processes the code may have at once."""
FILE_SIZE_LIMIT_BYTES = 4 << 30
"""Largest file the process sandbox lets the code write."""
LOG_TAIL_BYTES = 4000
"""How much of the end of the code's output is kept in the result."""
CONTAINER_LABEL = "mlrb.coderun"
"""Label on every re-run container (its value: the sandbox's name)."""
CONTAINER_PATHS = {"work": "/work", "inputs": "/inputs", "output": "/output"}
"""Where the docker backend mounts the three folders."""


@dataclass(frozen=True)
class SandboxRequest:
    """One re-run: what to run, on which folders, under which limits."""

    command: tuple[str, ...]
    """argv; ``{work}``, ``{inputs}``, ``{output}`` and ``{python}`` are filled per backend."""
    work: Path
    """Host folder with the code (read-only inside)."""
    inputs: Path
    """Host folder with the hidden test inputs, never labels (read-only inside)."""
    output: Path
    """Host folder the code writes into (the only writable one)."""
    time_limit_s: float
    """Wall-clock limit; the code is killed when it is reached."""
    memory_gb: float
    """Memory limit."""
    name: str
    """Container name and label value (unique per re-run)."""
    gpus: int = 0
    """GPUs to give the code."""
    image: str | None = None
    """Image for the docker backend."""
    workdir: str | None = None
    """Working directory inside the container (default: the work folder)."""
    extra_mounts: tuple[tuple[Path, str], ...] = ()
    """(host path, container path) mounted read-only, docker backend only."""
    hide: tuple[Path, ...] = ()
    """Host folders the process backend covers with an empty file system (label stores)."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables for the code."""


@dataclass(frozen=True)
class SandboxResult:
    """How a re-run ended, as measured by the evaluator."""

    backend: Backend
    exit_code: int | None
    """The code's exit status (None when it was killed at the time limit)."""
    timed_out: bool
    wall_s: float
    """Seconds from the start of the code to its end, measured here."""
    log_tail: str
    """The last lines of the code's stdout and stderr."""


def _env(request: SandboxRequest, paths: dict[str, str]) -> dict[str, str]:
    """A clean environment: no credentials, offline, temporary files in the output folder."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": paths["output"],
        "TMPDIR": paths["output"],
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(request.gpus)),
        "MLRB_INPUTS": paths["inputs"],
        "MLRB_OUTPUT": paths["output"],
    }
    env.update(request.env)
    return env


def _argv(request: SandboxRequest, paths: dict[str, str], python: str) -> list[str]:
    return [part.format(python=python, **paths) for part in request.command]


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ----------------------------------------------------------------------------- process


def process_sandbox_ready() -> str | None:
    """None when the process sandbox can run here, else why not."""
    if os.geteuid() != 0:
        return "it needs root to create namespaces and drop to an unprivileged user"
    missing = [tool for tool in ("unshare", "setpriv", "mount") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found (util-linux and mount provide them)"
    return None


def _limits(memory_gb: float, gpus: int) -> None:  # pragma: no cover - runs in the child
    import resource

    if gpus == 0:  # CUDA maps far more address space than it uses: no AS limit with GPUs
        size = int(memory_gb * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    resource.setrlimit(resource.RLIMIT_NPROC, (PIDS_LIMIT, PIDS_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT_BYTES, FILE_SIZE_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _namespace_script(request: SandboxRequest, argv: list[str]) -> str:
    """Shell run as root inside fresh mount, network and PID namespaces, ending in the code.

    It makes every mount private, covers the label stores with empty file systems, remounts
    the code and the inputs read-only, then drops to ``nobody`` with no capabilities and
    ``no_new_privs`` and runs the code in the work folder.
    """
    q = shlex.quote
    lines = ["set -e", "mount --make-rprivate /"]
    for hidden in request.hide:
        if hidden.is_dir():
            lines.append(f"mount -t tmpfs -o size=4k,mode=0755 mlrb-hidden {q(str(hidden))}")
    for folder in (request.work, request.inputs):
        lines.append(f"mount --bind {q(str(folder))} {q(str(folder))}")
        lines.append(f"mount -o remount,bind,ro {q(str(folder))}")
    lines.append(f"cd {q(str(request.work))}")
    drop = (
        f"setpriv --reuid={SANDBOX_UID} --regid={SANDBOX_UID} --clear-groups "
        "--no-new-privs --inh-caps=-all --bounding-set=-all"
    )
    lines.append(f"exec {drop} -- {' '.join(q(a) for a in argv)}")
    return "\n".join(lines)


def run_process(request: SandboxRequest, python: str) -> SandboxResult:
    """Run the code as ``nobody`` in new mount, network and PID namespaces (see module doc)."""
    why = process_sandbox_ready()
    if why is not None:
        raise CodeEnvironmentError(
            f"the process sandbox cannot run here: {why}",
            hint="run the evaluator as root in its image, or on a host with a Docker engine "
            "and the task's image",
        )
    paths = {k: str(getattr(request, k)) for k in ("work", "inputs", "output")}
    argv = _argv(request, paths, python)
    script = _namespace_script(request, argv)
    log = request.output.parent / f"{request.output.name}.log"
    outer = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    with log.open("wb") as sink:
        started = time.perf_counter()
        child = subprocess.Popen(
            [*outer, "sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=_env(request, paths),
            start_new_session=True,
            preexec_fn=lambda: _limits(request.memory_gb, request.gpus),
        )
        timed_out = False
        try:
            code: int | None = child.wait(timeout=request.time_limit_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            # Killing unshare kills the namespace's first process, and with it every process
            # the code started, even those that left the process group.
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            code = None
        wall = time.perf_counter() - started
    return SandboxResult(
        backend="process", exit_code=code, timed_out=timed_out, wall_s=wall, log_tail=_tail(log)
    )


# ----------------------------------------------------------------------------- docker


def docker_client() -> object | None:
    """A client of a Docker engine that answers, or None."""
    try:
        from docker.client import from_env

        client = from_env(timeout=30)
        client.ping()
    except Exception:  # no SDK, no socket, engine down: all mean "no engine"
        return None
    return client


def image_present(client: object, image: str) -> bool:
    """True when the engine has ``image`` locally (nothing is ever pulled)."""
    import docker

    try:
        client.images.get(image)  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        return False
    return True


def container_settings(request: SandboxRequest) -> dict[str, object]:
    """Keyword arguments of ``containers.create`` for a re-run (pure; tested without an engine)."""
    paths = dict(CONTAINER_PATHS)
    volumes = {
        str(request.work): {"bind": paths["work"], "mode": "ro"},
        str(request.inputs): {"bind": paths["inputs"], "mode": "ro"},
        str(request.output): {"bind": paths["output"], "mode": "rw"},
    }
    for host, inside in request.extra_mounts:
        volumes[str(host)] = {"bind": inside, "mode": "ro"}
    megabytes = max(int(request.memory_gb * 1024), 6)
    settings: dict[str, object] = {
        "command": _argv(request, paths, "python3"),
        "name": request.name,
        "labels": {CONTAINER_LABEL: request.name},
        "network_mode": "none",
        "user": f"{SANDBOX_UID}:{SANDBOX_UID}",
        "working_dir": request.workdir or paths["work"],
        "volumes": volumes,
        "read_only": True,
        "tmpfs": {"/tmp": "size=256m"},
        "mem_limit": f"{megabytes}m",
        "memswap_limit": f"{megabytes}m",
        "pids_limit": PIDS_LIMIT,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "environment": _env(request, paths),
        "detach": True,
    }
    if request.gpus:
        import docker

        settings["device_requests"] = [
            docker.types.DeviceRequest(count=request.gpus, capabilities=[["gpu"]])
        ]
        settings["environment"] = {
            k: v for k, v in _env(request, paths).items() if k != "CUDA_VISIBLE_DEVICES"
        }
    return settings


def run_docker(request: SandboxRequest, client: object) -> SandboxResult:
    """Run the code in a container of ``request.image``; the container is removed afterwards."""
    import requests

    import docker

    if request.image is None:
        raise CodeEnvironmentError("the docker sandbox needs the task's image")
    if not image_present(client, request.image):
        raise CodeEnvironmentError(
            f"the task's environment image {request.image!r} is not on this Docker engine",
            hint="build or load it first (nothing is ever pulled)",
        )
    try:  # the code's files must be writable by nobody in the output folder
        os.chown(request.output, SANDBOX_UID, SANDBOX_UID)
    except PermissionError:
        request.output.chmod(0o777)
    container = client.containers.create(request.image, **container_settings(request))  # type: ignore[attr-defined]
    timed_out = False
    code: int | None = None
    try:
        started = time.perf_counter()
        container.start()
        try:
            status = container.wait(timeout=request.time_limit_s)
            code = int(status.get("StatusCode", -1))
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            timed_out = True
            with contextlib.suppress(docker.errors.APIError):  # it may have just ended
                container.kill()
            container.wait(timeout=30)
        wall = time.perf_counter() - started
        raw = container.logs(stdout=True, stderr=True, tail=200)
        tail = raw.decode("utf-8", "replace")[-LOG_TAIL_BYTES:]
    finally:
        with contextlib.suppress(docker.errors.APIError):  # already gone
            container.remove(force=True)
    return SandboxResult(
        backend="docker",
        exit_code=None if timed_out else code,
        timed_out=timed_out,
        wall_s=wall,
        log_tail=tail,
    )
