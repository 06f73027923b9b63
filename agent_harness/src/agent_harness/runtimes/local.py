"""The local runtime: the agent is a shell command in a prepared folder, in its own process group.

It is not a sandbox: the command runs on this machine with the invoking user's rights. The task
folder is made read-only (files 0444, folders 0555) and the whole process group is stopped at
the deadline. Under root the agent never runs as root: ``setpriv`` (util-linux) starts it as an
unprivileged user (``nobody``, or the ``--user UID[:GID]`` given) with every capability
dropped (bounding, ambient, inheritable, so none effective or permitted), no supplementary
groups and ``no_new_privs``; the task folder stays root's, the output folder is handed to that
user, and the run folder lets that user's group through (0710) while the agent runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from agent_harness.errors import ConfigError, LaunchError
from agent_harness.runtimes.base import Launch, LogSink, Placement, Runtime, Wanted
from agent_harness.runtimes.registry import runtime

if TYPE_CHECKING:
    from agent_harness.config import RunConfig

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

NOBODY = (65534, 65534)
"""Who a local agent runs as under a root harness, unless ``--user UID[:GID]`` says otherwise."""

_USER_HINT = (
    "under root the local runtime runs the agent as nobody (65534:65534) or as --user UID[:GID] "
    "(not 0); as a normal user it runs the agent as you: leave --user out"
)


def agent_user(choice: str, euid: int | None = None) -> tuple[int, int] | None:
    """The uid and gid a local agent runs as, from ``--user``; None: the harness's own user.

    Under root: ``host`` (the default) is ``nobody``, ``UID[:GID]`` is that (GID defaults to
    UID); a root harness never runs a local agent as root. As a normal user the agent runs as
    that user (``host``); anything else is a usage error (exit 2).
    """
    root = (os.geteuid() if euid is None else euid) == 0
    match = re.fullmatch(r"(\d+)(?::(\d+))?", choice)
    if choice == "host":
        return NOBODY if root else None
    if match is None or not root:
        what = "needs a root harness" if match else "is not accepted by the local runtime"
        raise ConfigError(f"--user {choice!r} {what}", hint=_USER_HINT)
    uid = int(match.group(1))
    gid = int(match.group(2)) if match.group(2) is not None else uid
    if uid == 0 or gid == 0 or max(uid, gid) >= 2**32 - 1:
        raise ConfigError(
            f"--user {choice!r} would give the agent root's uid or gid", hint=_USER_HINT
        )
    return uid, gid


def check_reachable(folder: Path, user: tuple[int, int] | None) -> None:
    """Refuse (exit 3) when ``user`` could not reach ``folder`` (every folder above it must let
    that user through); nothing is created first."""
    if user is None:
        return
    uid, gid = user
    here = folder.resolve()
    for above in [*reversed(here.parents), here]:
        with contextlib.suppress(FileNotFoundError):
            info = above.stat()
            bit = (
                stat.S_IXUSR
                if info.st_uid == uid
                else stat.S_IXGRP
                if info.st_gid == gid
                else stat.S_IXOTH
            )
            if not info.st_mode & bit:
                raise LaunchError(
                    f"the local agent runs as {uid}:{gid} under root, and {str(above)!r} does "
                    f"not let that user through (mode {stat.S_IMODE(info.st_mode):04o}), so it "
                    f"could not reach its run folder under {str(folder)!r}",
                    hint=f"choose a --runs-dir that every user can pass through (chmod o+x "
                    f"{str(above)!r}, or a folder under /tmp), pass --user with a user that can, "
                    "run the harness as a normal user, or use --runtime docker",
                )


def setpriv_path() -> str:
    """The ``setpriv`` program (util-linux) a root harness starts a local agent with; exit 3
    without it."""
    found = shutil.which("setpriv")
    if found is None:
        raise LaunchError(
            "a root harness starts a local agent through setpriv (util-linux), which is missing",
            hint="install util-linux (apt-get install util-linux), run the harness as a normal "
            "user, or use --runtime docker",
        )
    return found


def python_command(user: tuple[int, int] | None) -> str:
    """How a local agent's shell command runs this environment's Python as ``user``.

    This interpreter when ``user`` is None (the harness's own) or can run it; otherwise (root's
    0700 home holds it, as a pyenv build does) the system's Python of the same version, given
    this environment's packages through ``PYTHONPATH``. Exit 3 when ``user`` can run neither.
    """
    import site
    import sys

    if user is None or _runs(sys.executable, user):
        return sys.executable
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if not _runs(system, user):
        raise LaunchError(
            f"the local agent's user {user[0]}:{user[1]} can run neither {sys.executable} nor "
            f"{system}",
            hint="install Python where every user can run it, or use --runtime docker",
        )
    packages = ":".join(site.getsitepackages())
    return f'PYTHONPATH="{packages}${{PYTHONPATH:+:$PYTHONPATH}}" {system}'


def _runs(python: str, user: tuple[int, int]) -> bool:
    # Through a shell, as the agent's command runs (setpriv's own exec may reach further).
    probe = [setpriv_path(), f"--reuid={user[0]}", f"--regid={user[1]}", "--clear-groups",
             "/bin/sh", "-c", f"{python} -c 0"]  # fmt: skip
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def _walk(root: Path) -> list[Path]:
    return [root, *sorted(root.rglob("*"), reverse=True)]


def protect(folder: Path) -> None:
    """Make ``folder`` read-only for the agent (files 0444, folders 0555, owned by the harness's
    user: under root the agent is another user, so it cannot give itself write permission)."""
    for path in _walk(folder):
        if path.is_symlink():
            continue
        path.chmod(0o555 if path.is_dir() else 0o444)
        if os.geteuid() == 0:
            os.chown(path, 0, 0)


def open_to(user: tuple[int, int], task_dir: Path, output_dir: Path) -> None:
    """Let the agent's ``user`` reach its folders: the output folder is handed to it (0700), the
    run folder above lets its group through (0710, nothing else)."""
    uid, gid = user
    os.chown(output_dir, uid, gid)
    output_dir.chmod(0o700)
    for run_dir in {task_dir.parent, output_dir.parent}:
        os.chown(run_dir, os.getuid(), gid)
        run_dir.chmod(0o710)


def release(folder: Path) -> None:
    """Give the task ``folder`` back to the harness's user with write permission, and close the
    run folder above it again (0700, the harness's group) after the run."""
    if not folder.exists():
        return
    for path in _walk(folder):
        if path.is_symlink():
            continue
        with contextlib.suppress(OSError):
            if os.geteuid() == 0:
                os.chown(path, 0, 0)
            path.chmod(0o755 if path.is_dir() else 0o644)
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.chown(folder.parent, os.getuid(), os.getgid())
            folder.parent.chmod(0o700)


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


@runtime("local")
class LocalRuntime(Runtime):
    """Runs the agent as a shell command on this machine."""

    needs_command = True
    auto_rank = 1

    @classmethod
    def open(cls, config: RunConfig) -> LocalRuntime:
        """The local runtime; exit 2 without ``--command``."""
        if not config.command:
            raise ConfigError(
                "the local runtime needs the agent's command",
                hint="pass --command '...' (run by /bin/sh in the run's output folder)",
            )
        return cls()

    @classmethod
    def probe(cls, config: RunConfig) -> LocalRuntime | str:
        """The local runtime when a command is given."""
        return cls() if config.command else "no --command was given for a local run"

    def place(self, config: RunConfig, wanted: Wanted) -> Placement:
        """No limit on memory or CPUs (a local process is not limited); under root the agent's
        user (never root, docs/threat-model.md), who must reach the runs folder (exit 3)."""
        local_user = agent_user(config.user)
        if local_user is None:
            return Placement()
        setpriv_path()
        check_reachable(config.runs_dir, local_user)
        return Placement(user=f"{local_user[0]}:{local_user[1]}")

    @classmethod
    def release_run(cls, run_dir: Path) -> None:
        """Give the task folder back (see :func:`release`)."""
        from agent_harness.run_json import TASK_DIR

        release(run_dir / TASK_DIR)

    def command_line(self, launch: Launch, user: tuple[int, int] | None) -> list[str]:
        """What starts the agent: ``/bin/sh -c COMMAND``, through ``setpriv`` as ``user`` (every
        capability dropped) when one is given. A runtime that wraps the process (in a
        namespace, say) extends this."""
        assert launch.command is not None  # start() refused a launch without one
        argv = ["/bin/sh", "-c", launch.command]
        if user is None:
            return argv
        return [
            setpriv_path(), f"--reuid={user[0]}", f"--regid={user[1]}", "--clear-groups",
            "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all",
            "--no-new-privs", "--", *argv,
        ]  # fmt: skip

    def start(self, launch: Launch, sink: LogSink) -> LocalProcess:
        """Start ``/bin/sh -c COMMAND`` in the output folder, in a new session."""
        if not launch.command:
            raise ConfigError(
                "the local runtime needs the agent's command",
                hint="pass --command '...' (run by /bin/sh in the run's output folder)",
            )
        user = agent_user(launch.user or "host")
        argv = self.command_line(launch, user)
        protect(launch.task_dir)
        if user is not None:
            open_to(user, launch.task_dir, launch.output_dir)
        try:
            proc = subprocess.Popen(
                argv,
                cwd=launch.output_dir,
                env=local_environment(launch),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            release(launch.task_dir)
            raise LaunchError(f"cannot start the local command: {exc}") from None
        return LocalProcess(proc, sink)
