"""The disk limit of a run (``--disk-limit`` or the spec's ``disk_gb``): enforced.

Two layers:

- Under a root harness the agent's output folder is a file system of the limit's size
  (:func:`make_filesystem`: a sparse ext4 image, loop-mounted ``nosuid,nodev``), so the kernel
  refuses writes past it, deleted-but-open files included; it is unmounted and its image
  deleted when the output has been copied out (:func:`release_filesystem`). Without root, or
  where loop devices are missing, the folder is plain and the watcher below is the only bound.
- This engine stores containers with overlay2 on ext4 (cgroup v1), where ``--storage-opt size=``
  is refused (it needs xfs with project quotas), so the container's writable layer cannot be
  bounded by the engine. A :class:`DiskWatcher` thread measures what the agent has written
  (the output: the file system's used blocks, or the folder's files; the writable layer's
  ``SizeRw``; and the deleted files the agent's processes still hold open, read from
  ``/proc/<pid>/fd``) every few seconds and stops the agent as soon as the total passes the
  limit. What the agent writes between two measurements can overshoot the limit in the layer:
  see docs/harness.md for the measured delay.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent_harness.liveness import processes

INTERVAL_S = 2.0
"""Seconds between two measurements (longer when one measurement takes long)."""


def gb_to_bytes(gb: float) -> int:
    """Bytes of a spec's ``disk_gb`` (GB counted as GiB, as ``ram_gb`` is)."""
    return int(gb * 1024**3)


def folder_bytes(root: Path) -> int:
    """Disk space used by the files under ``root`` (allocated blocks; no link followed)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if st.st_nlink > 1:
                        key = (st.st_dev, st.st_ino)
                        if key in seen:
                            continue
                        seen.add(key)
                    total += st.st_blocks * 512
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
        except OSError:
            continue  # a folder the harness may not read, or gone meanwhile
    return total


IMAGE_FILE = "staging.img"
"""The staging file system's image, in the run folder (sparse; deleted at the end)."""

MARGIN_BYTES = 16 * 1024**2
"""Room the staging file system has beyond the limit, so the watcher sees the limit passed
(and records ``disk_limit``) before the kernel's own refusal (ENOSPC) is all the agent gets."""

_TOOL_S = 60


def _run_tool(*argv: str) -> str | None:
    """Run a system tool; None when it succeeded, else what it said."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_TOOL_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{argv[0]}: {exc}"
    if done.returncode != 0:
        return f"{argv[0]} failed: {(done.stderr or done.stdout).strip()[:300]}"
    return None


def make_filesystem(run_dir: Path, staging: Path, limit_bytes: int) -> str | None:
    """Mount a fresh ext4 file system of ``limit_bytes`` (plus :data:`MARGIN_BYTES`) on the
    empty folder ``staging``; None when it is mounted, else why not (nothing is left behind).

    Needs root, ``mkfs.ext4`` and a free loop device (``mount -o loop``).
    """
    if os.geteuid() != 0:
        return "the harness is not root (mounting a file system needs root)"
    for tool in ("mkfs.ext4", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: e2fsprogs, mount)"
    image = run_dir / IMAGE_FILE
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(image, flags, 0o600)
        try:
            os.ftruncate(fd, limit_bytes + MARGIN_BYTES)
        finally:
            os.close(fd)
    except OSError as exc:
        return f"the image {str(image)!r} cannot be made ({exc.strerror or exc})"
    problem = _run_tool(
        "mkfs.ext4",
        "-q",
        "-F",
        "-m",
        "0",
        "-b",
        "4096",
        "-i",
        "16384",
        "-O",
        "^has_journal",
        "-E",
        "nodiscard",
        str(image),
    ) or _run_tool("mount", "-o", "loop,nosuid,nodev", str(image), str(staging))
    if problem is not None:
        with contextlib.suppress(OSError):
            image.unlink()
        return problem
    with contextlib.suppress(OSError):
        (staging / "lost+found").rmdir()
    return None


_MNT_DETACH = 2
_UMOUNT_NOFOLLOW = 8


def _unmount(path: Path, flags: int = 0) -> str | None:
    """``umount2(path, UMOUNT_NOFOLLOW | flags)``: a link put in place of the folder is never
    followed to another mount. None when done, else why not."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(os.fsencode(path), _UMOUNT_NOFOLLOW | flags) == 0:
        return None
    return os.strerror(ctypes.get_errno())


def release_filesystem(run_dir: Path, staging: Path) -> tuple[bool, str | None]:
    """Unmount the staging file system and delete its image, when the run had one.

    Returns whether it had one, and why it could not be released (None: released, or none).
    """
    image = run_dir / IMAGE_FILE
    if not os.path.lexists(image):
        return False, None
    if os.path.ismount(staging):  # False for a link
        problem = _unmount(staging)
        if problem is not None:
            # A process still holds it (a local agent that left its group): detach it now;
            # the kernel frees it when the last holder is gone.
            lazy = _unmount(staging, _MNT_DETACH)
            if lazy is not None:
                return True, f"the staging file system cannot be unmounted: {problem}"
    try:
        image.unlink()
    except OSError as exc:
        return True, f"the image {str(image)!r} cannot be removed ({exc.strerror or exc})"
    return True, None


def filesystem_used(path: Path) -> int:
    """Bytes in use on the file system mounted at ``path`` (deleted but open files included)."""
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def held_deleted_bytes(pids: list[int], skip_dev: int | None = None) -> int:
    """Disk held by deleted files the processes ``pids`` still have open (``/proc/<pid>/fd``).

    Each file counts once (allocated blocks); files on ``skip_dev`` (counted elsewhere), memfd
    files and ``/dev/shm`` (memory, not disk) are not counted. Processes the harness may not
    inspect are skipped.
    """
    total = 0
    seen: set[tuple[int, int]] = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for path in fds:
            try:
                st = path.stat()  # the open file itself (the /proc link is followed)
                if not stat.S_ISREG(st.st_mode) or st.st_nlink != 0:
                    continue
                target = str(path.readlink())
            except OSError:
                continue
            if target.startswith(("/memfd:", "/dev/shm/")) or st.st_dev == skip_dev:
                continue
            key = (st.st_dev, st.st_ino)
            if key not in seen:
                seen.add(key)
                total += st.st_blocks * 512
    return total


class DiskWatcher:
    """Measures what an agent has written and calls ``on_exceeded`` once it passes the limit."""

    def __init__(
        self,
        limit_bytes: int,
        output_dir: Path,
        on_exceeded: Callable[[], None],
        layer_bytes: Callable[[], int | None] | None = None,
        interval_s: float = INTERVAL_S,
        pids: Callable[[], list[int]] | None = None,
        filesystem: bool = False,
    ) -> None:
        self.limit_bytes = limit_bytes
        self._output_dir = output_dir
        self._on_exceeded = on_exceeded
        self._layer_bytes = layer_bytes
        self._pids = pids
        self._filesystem = filesystem
        self._output_dev = output_dir.stat().st_dev if filesystem else None
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.exceeded = threading.Event()
        self.used_bytes = 0
        """The last measurement (output folder plus writable layer)."""
        self.measurements = 0
        self._thread = threading.Thread(target=self._watch, name="disk-limit", daemon=True)

    def measure(self) -> int:
        """Bytes the agent has written now."""
        if self._filesystem:
            used = filesystem_used(self._output_dir)  # an empty one uses a few KiB
        else:
            used = folder_bytes(self._output_dir)
        if self._layer_bytes is not None:
            used += self._layer_bytes() or 0
        if self._pids is not None:
            used += held_deleted_bytes(self._pids(), skip_dev=self._output_dev)
        return used

    def _watch(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self.used_bytes = self.measure()
            self.measurements += 1
            if self.used_bytes > self.limit_bytes:
                self.exceeded.set()
                self._on_exceeded()
                return
            # A slow measurement (a huge folder) is not repeated back to back.
            cost = time.monotonic() - began
            self._stop.wait(max(self._interval_s, 5 * cost))

    def reason(self) -> str:
        """What run.json says when the limit stopped the run."""
        return (
            f"disk limit exceeded: the agent had written {_mib(self.used_bytes)} "
            "(output folder, container layer and deleted files still open) of "
            f"{_mib(self.limit_bytes)} allowed"
        )

    def start(self) -> DiskWatcher:
        """Start measuring in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop measuring (waits for a measurement under way)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)


def _mib(size: int) -> str:
    return f"{size / 1024**2:.1f} MiB"


def pid_namespace_members(init_pid: int) -> list[int]:
    """Host process ids of every process in the pid namespace of ``init_pid`` (a container's
    processes); empty when it is gone or may not be inspected."""
    try:
        wanted = Path(f"/proc/{init_pid}/ns/pid").readlink()
    except OSError:
        return []
    return processes(lambda entry: (entry / "ns" / "pid").readlink() == wanted)
