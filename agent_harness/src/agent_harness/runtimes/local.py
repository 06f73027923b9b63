"""The local runtime: the agent is a shell command in a prepared folder, in its own process group.

It is not a sandbox: the command runs on this machine with the invoking user's rights. The task
folder is made read-only (for root, ownership is handed to ``nobody`` and the capabilities that
bypass file permissions are dropped), and the whole process group is stopped at the deadline.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
from pathlib import Path

from agent_harness.errors import ConfigError, LaunchError
from agent_harness.runtimes.base import Launch, LogSink

PASSED_THROUGH = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "TERM",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "HF_HOME",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "TOKENIZERS_PARALLELISM",
    "CUDA_HOME",
    "LD_LIBRARY_PATH",
)
"""Non-secret variables of the harness's environment that a local agent keeps (nothing else)."""

OUTPUT_WAIT_S = 2.0
"""How long the end of a run waits for the agent's output once its process group is killed."""

_NOBODY = 65534
_PR_CAPBSET_DROP = 24
# CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_LINUX_IMMUTABLE
_FILE_CAPS = (0, 1, 2, 3, 9)


def _drop_file_capabilities() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in _FILE_CAPS:
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)


def _walk(root: Path) -> list[Path]:
    return [root, *sorted(root.rglob("*"), reverse=True)]


def protect(folder: Path) -> None:
    """Make ``folder`` read-only for the agent (files 0444, folders 0555; root: owned by nobody)."""
    for path in _walk(folder):
        if path.is_symlink():
            continue
        path.chmod(0o555 if path.is_dir() else 0o444)
        if os.geteuid() == 0:
            os.chown(path, _NOBODY, _NOBODY)


def release(folder: Path) -> None:
    """Give ``folder`` back to the harness's user with write permission (after the run)."""
    if not folder.exists():
        return
    for path in _walk(folder):
        if path.is_symlink():
            continue
        with contextlib.suppress(OSError):
            if os.geteuid() == 0:
                os.chown(path, 0, 0)
            path.chmod(0o755 if path.is_dir() else 0o644)


def local_environment(launch: Launch, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The agent's environment: a few harmless variables of ours, plus the launch's."""
    source = os.environ if environ is None else environ
    env = {k: source[k] for k in PASSED_THROUGH if k in source}
    if launch.gpus.all:
        pass  # every GPU stays visible
    else:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(launch.gpus.ids)
    env.update(launch.environment)
    return env


class LocalProcess:
    """A started local agent: a process group whose output is streamed by a background thread."""

    def __init__(self, proc: subprocess.Popen[bytes], sink: LogSink) -> None:
        self._proc = proc
        self._pgid = proc.pid  # start_new_session: the group id is the leader's pid
        self._status: int | None = None
        self.output_complete = True
        """False when the run's end stopped waiting for the output (a process that left the
        group still holds the pipe)."""
        self._reader = threading.Thread(target=self._stream, args=(sink,), daemon=True)
        self._reader.start()

    def _stream(self, sink: LogSink) -> None:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            sink(chunk)

    @property
    def pgid(self) -> int:
        """The agent's process group (and session) id."""
        return self._pgid

    def wait(self, timeout: float) -> int | None:
        """The exit status once the command has ended, or None after ``timeout``."""
        try:
            code = self._proc.wait(timeout=max(timeout, 0))
        except subprocess.TimeoutExpired:
            return None
        self._status = 128 - code if code < 0 else code  # -N (killed by signal N) -> 128 + N
        return self._status

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pgid, sig)

    def terminate(self) -> None:
        """SIGTERM to the whole process group."""
        self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the whole process group."""
        self._signal_group(signal.SIGKILL)

    def close(self) -> None:
        """Kill whatever is left of the group and wait for the output to end."""
        self.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=10)
        self._reader.join(timeout=OUTPUT_WAIT_S)
        if self._reader.is_alive():
            self.output_complete = False  # left to the daemon thread; the fd stays open for it
        elif self._proc.stdout is not None:
            self._proc.stdout.close()


class LocalRuntime:
    """Runs the agent as a shell command on this machine."""

    name = "local"

    def container_paths(self, launch_dirs: tuple[Path, Path]) -> tuple[str, str]:
        """The agent sees the real folders."""
        task_dir, output_dir = launch_dirs
        return str(task_dir.resolve()), str(output_dir.resolve())

    def start(self, launch: Launch, sink: LogSink) -> LocalProcess:
        """Start ``/bin/sh -c COMMAND`` in the output folder, in a new session."""
        if not launch.command:
            raise ConfigError(
                "the local runtime needs the agent's command",
                hint="pass --command '...' (run by /bin/sh in the run's output folder)",
            )
        protect(launch.task_dir)
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", launch.command],
                cwd=launch.output_dir,
                env=local_environment(launch),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_drop_file_capabilities if os.geteuid() == 0 else None,
            )
        except OSError as exc:
            release(launch.task_dir)
            raise LaunchError(f"cannot start the local command: {exc}") from None
        return LocalProcess(proc, sink)
