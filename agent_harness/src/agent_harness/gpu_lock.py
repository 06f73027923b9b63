"""GPU tenancy on one host: a run holds its GPUs with locks the operating system releases.

One lock file per GPU id in :func:`lock_dir` (``$MLRB_GPU_LOCK_DIR``, else
``$XDG_RUNTIME_DIR/mlrb-gpu-locks``, else ``/tmp/mlrb-gpu-locks``), held with ``fcntl.flock``
for as long as the run lasts. The kernel drops the lock when the holder's file is closed, so a
harness that dies (even by SIGKILL) frees its GPUs at once; there is nothing to clean up. The
holder writes its run id, pid and host into the file so a refused run can say who holds it.

Public API (also used by run sets)::

    with acquire_gpus(["0", "1"], run_id) as lease:   # GpuBusyError (exit 3) when busy
        ...
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from agent_harness.errors import GPUError

LOCK_DIR_ENV = "MLRB_GPU_LOCK_DIR"
"""Environment variable that overrides the folder of the lock files."""


class GpuBusyError(GPUError):
    """A GPU asked for is held by another run on this host (exit 3)."""


def lock_dir() -> Path:
    """The folder of the per-GPU lock files."""
    given = os.environ.get(LOCK_DIR_ENV)
    if given:
        return Path(given)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "mlrb-gpu-locks"
    return Path("/tmp/mlrb-gpu-locks")


def holder(gpu_id: str) -> dict[str, str]:
    """What the lock file of ``gpu_id`` says about its (last) holder; empty when unknown."""
    try:
        data = json.loads((lock_dir() / f"gpu-{gpu_id}.lock").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


class GpuLease:
    """The locks of the GPUs one run holds; released by :meth:`release` or on exit."""

    def __init__(self, ids: tuple[str, ...], files: list[int]) -> None:
        self.ids = ids
        """The GPU ids held."""
        self._fds = files

    @property
    def fds(self) -> tuple[int, ...]:
        """The open lock files; a process that inherits them holds the GPUs too."""
        return tuple(self._fds)

    def release(self) -> None:
        """Drop every lock (safe to call twice)."""
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the file drops its flock
        self._fds = []

    def __enter__(self) -> GpuLease:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def acquire_gpus(
    ids: Iterable[str], run_id: str, *, share: bool = False, host: str | None = None
) -> GpuLease:
    """Lock every GPU in ``ids`` for ``run_id``; :class:`GpuBusyError` naming the holder.

    All or nothing: when one GPU is busy, the ones already taken are released. ``share``
    takes no lock at all (the user asked to share). Usable as a context manager.
    """
    from agent_harness.records import hostname

    wanted = tuple(dict.fromkeys(ids))
    if share or not wanted:
        return GpuLease(wanted, [])
    folder = lock_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            folder.chmod(0o1777)  # shared by every user of the host, like /tmp
    except OSError as exc:
        raise GPUError(
            f"cannot create the GPU lock folder {str(folder)!r}: {exc.strerror or exc}",
            hint=f"set {LOCK_DIR_ENV} to a writable folder shared by the host's users",
        ) from None
    taken: list[int] = []
    lease = GpuLease(wanted, taken)
    for gpu in wanted:
        path = folder / f"gpu-{gpu}.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            lease.release()
            raise GPUError(
                f"cannot open the lock file {str(path)!r} of GPU {gpu}: {exc.strerror or exc}",
                hint=f"set {LOCK_DIR_ENV} to a writable folder shared by the host's users",
            ) from None
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o666)  # any user's run may lock it; it holds no secret
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            lease.release()
            who = holder(gpu)
            named = (
                f"run {who.get('run_id', '?')} (pid {who.get('pid', '?')} on "
                f"{who.get('host', '?')})"
                if who
                else "another process"
            )
            raise GpuBusyError(
                f"GPU {gpu} is in use by {named}",
                hint="wait for that run to end, choose other GPUs with --gpus, or share them "
                "knowingly with --share-gpus",
            ) from None
        taken.append(fd)
        note = json.dumps({"run_id": run_id, "pid": os.getpid(), "host": host or hostname()})
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, note.encode() + b"\n", 0)
    return lease
