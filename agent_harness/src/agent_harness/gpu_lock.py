"""GPU tenancy on one host: a run holds its GPUs with locks the operating system releases.

One lock file per GPU id in :func:`lock_dir` (``$MLRB_GPU_LOCK_DIR``, else
``$XDG_RUNTIME_DIR/mlrb-gpu-locks``, else ``/tmp/mlrb-gpu-locks``), held with ``fcntl.flock``
for as long as the run lasts. The kernel drops the lock when the holder's file is closed, so a
harness that dies (even by SIGKILL) frees its GPUs at once; there is nothing to clean up.

The folder is shared by the host's users, so nothing in it is trusted blindly: the folder must
be a real folder (not a link) owned by root or this user, sticky when others may write in it;
a lock file is created with ``O_EXCL`` or opened read-only with ``O_NOFOLLOW`` (a flock needs no
write access), and must be a plain file with one name, owned by root or this user. A planted
link or file is refused with a :class:`GPUError` naming it, and never modified: the harness
never writes, truncates or chmods a lock file. Who holds a GPU is said in a note of the
holder's own (``gpu-<id>.held-by-<pid>-<random>``, created with ``O_EXCL``), so a refused run
can name the run that holds it.

Public API (also used by run sets)::

    with acquire_gpus(["0", "1"], run_id) as lease:   # GpuBusyError (exit 3) when busy
        ...
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import stat
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


HOLDER_MAX_BYTES = 4096
"""A holder note larger than this is not read."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_LOCK_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NOTE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FOLDER_HINT = (
    f"remove it as root if nobody uses it (it is re-created safely), or set {LOCK_DIR_ENV} to a "
    "folder owned by root or by you, not writable by others (or sticky, like /tmp)"
)


def _trusted_owner(uid: int) -> bool:
    return uid in (0, os.geteuid())


def _open_folder(folder: Path) -> int:
    """The lock folder, created if absent, opened without following a link, and checked: a
    folder (not a link), owned by root or this user, and, when others may write in it,
    sticky (so nobody removes or replaces another user's lock file)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
            # A folder this user created is shared like /tmp: any user's run may lock in it.
            fd = os.open(folder, _DIR_FLAGS)
            try:
                if _trusted_owner(os.fstat(fd).st_uid):
                    os.fchmod(fd, 0o1777)
            finally:
                os.close(fd)
        fd = os.open(folder, _DIR_FLAGS)
    except OSError as exc:
        raise GPUError(
            f"cannot use the GPU lock folder {str(folder)!r}: {exc.strerror or exc}"
            + (" (it is a link)" if exc.errno == errno.ELOOP else ""),
            hint=_FOLDER_HINT,
        ) from None
    st = os.fstat(fd)
    problem = None
    if not _trusted_owner(st.st_uid):
        problem = f"it belongs to uid {st.st_uid}, neither root nor you"
    elif st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
        problem = "others may write in it and it is not sticky"
    if problem is not None:
        os.close(fd)
        raise GPUError(
            f"refusing the GPU lock folder {str(folder)!r}: {problem}", hint=_FOLDER_HINT
        )
    return fd


def _check_lock_file(fd: int, path: Path) -> None:
    """A lock file is a plain file of root's or this user's, with one name."""
    st = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(st.st_mode):
        problem = "it is not a regular file"
    elif st.st_nlink != 1:
        problem = f"it has {st.st_nlink} names (a hard link)"
    elif not _trusted_owner(st.st_uid):
        problem = f"it belongs to uid {st.st_uid}, neither root nor you"
    if problem is not None:
        raise GPUError(
            f"refusing the GPU lock file {str(path)!r}: {problem}",
            hint="another user may have planted it: remove it as root (sudo rm -- "
            f"{str(path)!r}) if no run of yours holds the GPU, or set {LOCK_DIR_ENV} to a "
            "folder of your own",
        )


def _open_lock(dfd: int, folder: Path, gpu: str) -> int:
    """The lock file of ``gpu``: created (empty, 0644) when absent, else opened read-only (a
    flock needs no write access); never followed through a link, never modified."""
    name = f"gpu-{gpu}.lock"
    path = folder / name
    for _ in range(3):
        try:
            fd = os.open(name, _NOTE_FLAGS, 0o644, dir_fd=dfd)
        except FileExistsError:
            pass
        except OSError as exc:
            raise GPUError(
                f"cannot create the lock file {str(path)!r} of GPU {gpu}: {exc.strerror or exc}",
                hint=_FOLDER_HINT,
            ) from None
        else:
            os.close(fd)
        try:
            fd = os.open(name, _LOCK_FLAGS, dir_fd=dfd)
        except FileNotFoundError:
            continue  # removed in between: create it again
        except OSError as exc:
            raise GPUError(
                f"refusing the GPU lock file {str(path)!r} of GPU {gpu}: "
                + ("it is a link" if exc.errno == errno.ELOOP else str(exc.strerror or exc)),
                hint="another user may have planted it: remove it as root (sudo rm -- "
                f"{str(path)!r}) if no run holds the GPU, or set {LOCK_DIR_ENV} to a folder "
                "of your own",
            ) from None
        try:
            _check_lock_file(fd, path)
        except GPUError:
            os.close(fd)
            raise
        return fd
    raise GPUError(f"the lock file {str(path)!r} of GPU {gpu} keeps disappearing")


def _notes(dfd: int, gpu: str) -> list[str]:
    prefix = f"gpu-{gpu}.held-by-"
    with os.scandir(dfd) as it:
        return [e.name for e in it if e.name.startswith(prefix)]


def _read_note(dfd: int, name: str) -> dict[str, str]:
    """A holder note, read only when it is a small plain file of root's or this user's."""
    try:
        fd = os.open(name, _LOCK_FLAGS, dir_fd=dfd)
    except OSError:
        return {}
    try:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_nlink != 1
            or not _trusted_owner(st.st_uid)
            or st.st_size > HOLDER_MAX_BYTES
        ):
            return {}
        data = json.loads(os.read(fd, HOLDER_MAX_BYTES).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    finally:
        os.close(fd)
    if not isinstance(data, dict):
        return {}
    return {
        str(k): "".join(c for c in str(v) if c.isprintable())[:200]
        for k, v in data.items()
        if k in ("run_id", "pid", "host")
    }


def holder(gpu_id: str) -> dict[str, str]:
    """What the newest holder note of ``gpu_id`` says (run id, pid, host); empty when unknown."""
    try:
        dfd = os.open(lock_dir(), _DIR_FLAGS)
    except OSError:
        return {}
    try:
        found: list[tuple[float, dict[str, str]]] = []
        for name in _notes(dfd, gpu_id):
            with contextlib.suppress(OSError):
                note = _read_note(dfd, name)
                if note:
                    found.append((os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mtime, note))
        return max(found, key=lambda item: item[0])[1] if found else {}
    except OSError:
        return {}
    finally:
        os.close(dfd)


def _write_note(dfd: int, gpu: str, run_id: str, host: str) -> None:
    """Say who holds ``gpu``: a fresh note of this run's own (``O_EXCL``); notes of earlier
    holders (the lock is ours, so they are gone) are removed first."""
    for name in _notes(dfd, gpu):
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=dfd)  # unlink never follows a link
    name = f"gpu-{gpu}.held-by-{os.getpid()}-{secrets.token_hex(4)}"
    note = json.dumps({"run_id": run_id, "pid": os.getpid(), "host": host})
    with contextlib.suppress(OSError):
        fd = os.open(name, _NOTE_FLAGS, 0o644, dir_fd=dfd)
        try:
            os.write(fd, note.encode() + b"\n")
        finally:
            os.close(fd)


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
    from agent_harness.run_json import hostname

    wanted = tuple(dict.fromkeys(ids))
    if share or not wanted:
        return GpuLease(wanted, [])
    folder = lock_dir()
    dfd = _open_folder(folder)
    taken: list[int] = []
    lease = GpuLease(wanted, taken)
    try:
        for gpu in wanted:
            fd = _open_lock(dfd, folder, gpu)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                who = holder(gpu)
                named = (
                    f"run {who.get('run_id', '?')} (pid {who.get('pid', '?')} on "
                    f"{who.get('host', '?')})"
                    if who
                    else "another process"
                )
                raise GpuBusyError(
                    f"GPU {gpu} is in use by {named}",
                    hint="wait for that run to end, choose other GPUs with --gpus, or share "
                    "them knowingly with --share-gpus",
                ) from None
            taken.append(fd)
            _write_note(dfd, gpu, run_id, host or hostname())
    except BaseException:
        lease.release()
        raise
    finally:
        os.close(dfd)
    return lease
