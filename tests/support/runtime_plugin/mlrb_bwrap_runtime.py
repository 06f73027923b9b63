"""A third runtime, installed as a plugin would be: the local runtime's process inside bubblewrap.

The agent's command runs in new pid, network, IPC and UTS namespaces, with the host's ``/usr``
and ``/etc`` read-only, a private ``/tmp``, and its task and output folders at the paths a
container shows (``/task``, ``/app/output``). It is an example of the runtime interface for
``tests/agent_harness/test_runtime_plugin.py``, not a sandbox the project promises anything about.

It is registered twice over, as a third-party package does it: ``@runtime("bwrap")`` here, and
the ``mlrb.runtimes`` entry point in ``mlrb_bwrap_runtime-0.1.dist-info/entry_points.txt``
beside this file, which any Python with this folder on its path (the harness, its watchdog)
finds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from agent_harness.errors import ConfigError, LaunchError
from agent_harness.runtimes import Launch, runtime
from agent_harness.runtimes.local import LocalRuntime

TASK_DIR = "/task"
OUTPUT_DIR = "/app/output"


@runtime("bwrap")
class BubblewrapRuntime(LocalRuntime):
    """Runs the agent's command on this machine inside bubblewrap's namespaces."""

    auto_rank = None  # only when asked for by name

    def check_proxy(self, euid: int | None = None) -> None:
        """The agent has its own empty network namespace: the proxy's port on the host's
        loopback would not reach it (this example opens none inside)."""
        raise ConfigError(
            "the bwrap runtime gives the agent no network, so no model-API proxy",
            hint="run a scripted agent (--provider none), or use --runtime docker",
        )

    def agent_paths(self, task_dir: Path, output_dir: Path) -> tuple[str, str]:
        """The agent sees its folders where a container shows them."""
        return TASK_DIR, OUTPUT_DIR

    def command_line(self, launch: Launch, user: tuple[int, int] | None) -> list[str]:
        """bwrap around the local runtime's command line (``setpriv`` runs inside it)."""
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise LaunchError("the bwrap runtime needs bubblewrap", hint="apt-get install bwrap")
        links = [
            arg
            for top in ("bin", "lib", "lib64", "sbin")
            if Path("/", top).is_symlink()
            for arg in ("--symlink", str(Path("/", top).readlink()), f"/{top}")
        ]
        return [
            bwrap,  # no --die-with-parent: the agent outlives a dead harness, to its deadline
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--ro-bind", "/usr", "/usr", *links, "--ro-bind", "/etc", "/etc",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "--perms", "0755", "--dir", "/app",  # the agent's user passes through to its output
            "--ro-bind", str(launch.task_dir.resolve()), TASK_DIR,
            "--bind", str(launch.output_dir.resolve()), OUTPUT_DIR,
            "--chdir", OUTPUT_DIR,
            "--", *super().command_line(launch, user),
        ]  # fmt: skip
