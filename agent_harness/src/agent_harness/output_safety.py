"""Copy a run's output out of the agent's reach: the host reads a fresh tree the harness wrote.

The agent writes into ``runs/<id>/staging/`` (mounted at ``/app/output``), inside a run folder
that is ``0700`` while it runs. Once the agent has stopped, :func:`secure_output` builds
``runs/<id>/output/`` itself and removes the staging folder:

- only regular files and folders are copied; symbolic links, FIFOs, sockets and device nodes
  are left out, and so are a file hard-linked from outside the staging folder (its copy is
  dropped) and a file named ``run.json`` (only the harness writes run records);
- file contents are copied byte for byte (holes stay holes: a sparse file stays sparse); no
  owner, mode bit, ACL or extended attribute is copied: every entry is created by the harness,
  owned by :func:`output_owner`, mode ``0644``/``0755`` (files: executable when the agent's
  was; group and other write, setuid, setgid and sticky bits never set);
- the walk is iterative (no recursion), follows no link (``O_NOFOLLOW``, descriptor-relative
  calls), stays on the staging folder's file system and is bounded: :data:`MAX_DEPTH` levels,
  :data:`MAX_ENTRIES` entries, :data:`MAX_BYTES` bytes of data. Whatever goes wrong (a bound,
  a file the harness cannot read, any OS error) leaves ``output/`` empty, and the report says
  why; the caller then records no deliverable.

The staging folder is removed by :func:`remove_tree` (iterative, descriptor-relative, any
depth); when it is a file system of the disk limit's size (:mod:`agent_harness.disk_limit`), it
is unmounted and its image deleted instead. The harness and its watchdog (the harness died) both
end a run through :func:`secure_output`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent_harness.run_json import OutputSafety

STAGING_DIR = "staging"
"""The agent's own output folder inside the run folder (``/app/output``); gone after the run."""
PARTIAL_DIR = ".output.partial"
"""Where the copy is built before it is renamed to ``output``."""

MAX_DEPTH = 128
"""Folders deeper than this below the output folder stop the copy (a model or code folder is
a few levels deep)."""
MAX_ENTRIES = 1_000_000
"""Entries (files, folders, anything) the copy looks at before it stops."""
MAX_BYTES = 4 * 1024**4
"""Bytes of file data (holes not counted) the copy writes before it stops: 4 TiB. With a disk
limit under a root harness, the staging file system bounds the output far below this."""

EXAMPLES = 10
"""How many example paths of each kind are kept for run.json."""

RUN_RECORD_NAME = "run.json"

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20
_SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


def output_owner() -> tuple[int, int]:
    """Who the output is handed to: the user who invoked the harness.

    Under ``sudo`` (effective uid 0 with ``SUDO_UID``/``SUDO_GID`` set) that is the user who ran
    sudo, so the output is theirs to read and delete; otherwise the harness's own uid and gid.
    """
    if os.geteuid() == 0:
        uid, gid = os.environ.get("SUDO_UID", ""), os.environ.get("SUDO_GID", "")
        if uid.isascii() and uid.isdigit() and gid.isascii() and gid.isdigit():
            return int(uid), int(gid)
    return os.getuid(), os.getgid()


def parse_owner(text: str | None) -> tuple[int, int] | None:
    """``uid:gid`` back to numbers (None when absent or malformed)."""
    if not text or text.count(":") != 1:
        return None
    uid, gid = text.split(":")
    if uid.isascii() and uid.isdigit() and gid.isascii() and gid.isdigit():
        return int(uid), int(gid)
    return None


def _shown(rel: str) -> str:
    """A path for run.json and the console: undecodable bytes and controls escaped."""
    raw = os.fsencode(rel).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in raw)[:300]


class CopyStopped(Exception):
    """The copy cannot go on; the message says why (recorded in run.json)."""


@dataclass
class CopyReport:
    """What :func:`secure_output` copied, left out and could not do."""

    owner: tuple[int, int]
    """Who every copied entry belongs to."""
    copied: bool = False
    """The fresh output folder is complete."""
    files: int = 0
    """Regular files copied."""
    folders: int = 0
    """Folders copied (the top one not counted)."""
    bytes: int = 0
    """Bytes of file data copied (holes not counted)."""
    left_out: dict[str, int] = field(default_factory=dict)
    """Entries not copied, by reason."""
    left_out_examples: list[str] = field(default_factory=list)
    """A few of them, with the reason."""
    modes_changed: int = 0
    """Entries whose copy lost set-id or sticky bits, or write for group and others."""
    mode_examples: list[str] = field(default_factory=list)
    """A few of them, modes before and after."""
    attributes_dropped: int = 0
    """Entries that carried extended attributes (ACLs included), none copied."""
    failure: str | None = None
    """Why the copy did not complete (None: it did)."""
    staging_left: str | None = None
    """Why the staging folder could not be removed (None: it was)."""
    filesystem: bool = False
    """The staging folder was a file system of the disk limit's size."""

    @property
    def safe(self) -> bool:
        """True when the output folder is a complete copy (a deliverable may be taken from it)."""
        return self.copied and self.failure is None

    def as_record(self) -> OutputSafety:
        """The report as run.json records it."""
        from agent_harness.run_json import OutputSafety

        return OutputSafety(
            owner=f"{self.owner[0]}:{self.owner[1]}",
            safe=self.safe,
            copied=self.copied,
            removed=dict(self.left_out),
            removed_examples=list(self.left_out_examples),
            modes_changed=self.modes_changed,
            mode_examples=list(self.mode_examples),
            files_copied=self.files,
            folders_copied=self.folders,
            bytes_copied=self.bytes,
            attributes_dropped=self.attributes_dropped,
            failure=self.failure,
            staging_left=self.staging_left,
            staging_filesystem=self.filesystem,
        )

    def rejection(self) -> str:
        """Why no deliverable is taken when the copy did not complete."""
        return (
            f"the output was not copied out of the agent's folder: {self.failure}; "
            "nothing the agent left is handed on"
        )

    def leave_out(self, rel: str, why: str) -> None:
        """Count an entry that is not copied."""
        self.left_out[why] = self.left_out.get(why, 0) + 1
        if len(self.left_out_examples) < EXAMPLES:
            self.left_out_examples.append(f"{_shown(rel)} ({why})")

    def mode(self, rel: str, old: int, new: int) -> None:
        """Count an entry whose copy lost privilege bits or write permission for others."""
        self.modes_changed += 1
        if len(self.mode_examples) < EXAMPLES:
            change = f"{stat.filemode(old)} -> {stat.filemode(new)}"
            self.mode_examples.append(f"{_shown(rel)} ({change})")


def _kind(mode: int) -> str:
    """The name of an entry's kind, for what is left out."""
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device node"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _copied_mode(mode: int, folder: bool) -> int:
    """The mode the harness gives a copy: read and execute bits kept, owner may write."""
    if folder:
        return (stat.S_IMODE(mode) & 0o755) | 0o700
    return (stat.S_IMODE(mode) & 0o755) | 0o600


def _has_attributes(fd: int) -> bool:
    with contextlib.suppress(OSError):
        return bool(os.listxattr(fd))
    return False


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done


@dataclass
class _Frame:
    """One folder of the walk: its descriptors on both sides and the names left to copy."""

    src: int
    dst: int
    rel: str
    depth: int
    names: list[str]
    ident: tuple[int, int]


class _Copier:
    def __init__(self, report: CopyReport, root_dev: int) -> None:
        self.report = report
        self.root_dev = root_dev
        self.entries = 0
        self.linked: dict[tuple[int, int], tuple[int, list[str]]] = {}

    def _names(self, fd: int) -> list[str]:
        names = []
        with os.scandir(fd) as it:
            for entry in it:
                self.entries += 1
                if self.entries > MAX_ENTRIES:
                    raise CopyStopped(f"more than {MAX_ENTRIES:,} entries")
                names.append(entry.name)
        return sorted(names, reverse=True)

    def _data(self, src: int, dst: int, size: int, rel: str) -> None:
        """Copy ``size`` bytes, keeping holes (SEEK_DATA/SEEK_HOLE where the file system can)."""
        pos = 0
        while pos < size:
            try:
                start = os.lseek(src, pos, os.SEEK_DATA)
                end = os.lseek(src, start, os.SEEK_HOLE)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    break  # nothing but a hole up to the end
                if exc.errno != errno.EINVAL:
                    raise
                start, end = pos, size  # no hole detection here: copy it all
            end = min(end, size)
            while start < end:
                chunk = os.pread(src, min(_CHUNK, end - start), start)
                if not chunk:
                    raise CopyStopped(f"{_shown(rel)} shrank while being copied")
                self.report.bytes += len(chunk)
                if self.report.bytes > MAX_BYTES:
                    raise CopyStopped(f"more than {MAX_BYTES:,} bytes of file data")
                _write_all(dst, chunk, start)
                start += len(chunk)
            pos = end
        os.ftruncate(dst, size)

    def _file(self, frame: _Frame, name: str, rel: str, st: os.stat_result) -> None:
        try:
            src = os.open(name, _READ_FLAGS, dir_fd=frame.src)
        except OSError as exc:
            raise CopyStopped(f"{_shown(rel)} cannot be read ({exc.strerror})") from None
        try:
            now = os.fstat(src)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
                raise CopyStopped(f"{_shown(rel)} changed while being copied")
            wanted = _copied_mode(now.st_mode, folder=False)
            dst = os.open(name, _CREATE_FLAGS, 0o600, dir_fd=frame.dst)
            try:
                self._data(src, dst, now.st_size, rel)
                os.fchown(dst, *self.report.owner)
                os.fchmod(dst, wanted)
            finally:
                os.close(dst)
            if _has_attributes(src):
                self.report.attributes_dropped += 1
        finally:
            os.close(src)
        if now.st_mode & _SPECIAL_BITS or now.st_mode & 0o022:
            self.report.mode(rel, now.st_mode, stat.S_IFREG | wanted)
        self.report.files += 1
        if now.st_nlink > 1:
            self.linked.setdefault((now.st_dev, now.st_ino), (now.st_nlink, []))[1].append(rel)

    def _folder(self, frame: _Frame, name: str, rel: str, st: os.stat_result) -> _Frame:
        if frame.depth + 1 > MAX_DEPTH:
            raise CopyStopped(f"folders nested deeper than {MAX_DEPTH} levels (at {_shown(rel)})")
        src = os.open(name, _DIR_FLAGS, dir_fd=frame.src)
        try:
            now = os.fstat(src)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                raise CopyStopped(f"{_shown(rel)} changed while being copied")
            if _has_attributes(src):
                self.report.attributes_dropped += 1
            wanted = _copied_mode(now.st_mode, folder=True)
            os.mkdir(name, 0o700, dir_fd=frame.dst)
            dst = os.open(name, _DIR_FLAGS, dir_fd=frame.dst)
        except BaseException:
            os.close(src)
            raise
        try:
            os.fchown(dst, *self.report.owner)
            os.fchmod(dst, wanted)
            names = self._names(src)
        except BaseException:
            os.close(src)
            os.close(dst)
            raise
        if now.st_mode & _SPECIAL_BITS or now.st_mode & 0o022:
            self.report.mode(rel, now.st_mode, stat.S_IFDIR | wanted)
        self.report.folders += 1
        return _Frame(src, dst, rel + "/", frame.depth + 1, names, (now.st_dev, now.st_ino))

    def walk(self, root: _Frame) -> None:
        """Copy everything under ``root``; every descriptor of the walk is closed at the end."""
        stack = [root]
        try:
            root.names = self._names(root.src)
            if _has_attributes(root.src):
                self.report.attributes_dropped += 1
            while stack:
                frame = stack[-1]
                if not frame.names:
                    stack.pop()
                    os.close(frame.src)
                    os.close(frame.dst)
                    continue
                name = frame.names.pop()  # held in reverse order: sorted as it goes
                rel = frame.rel + name
                try:
                    st = os.stat(name, dir_fd=frame.src, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if st.st_dev != self.root_dev:
                        self.report.leave_out(rel, "another file system mounted inside")
                    elif any(f.ident == (st.st_dev, st.st_ino) for f in stack):
                        raise CopyStopped(f"{_shown(rel)} is a folder loop")
                    else:
                        stack.append(self._folder(frame, name, rel, st))
                elif stat.S_ISREG(st.st_mode):
                    if name == RUN_RECORD_NAME:
                        self.report.leave_out(rel, "run.json: only the harness writes run records")
                    else:
                        self._file(frame, name, rel, st)
                else:
                    self.report.leave_out(rel, _kind(st.st_mode))
        finally:
            for frame in stack:
                os.close(frame.src)
                os.close(frame.dst)

    def outside_links(self, partial: Path) -> None:
        """Drop the copies of files that have names outside the staging folder too."""
        for nlink, names in self.linked.values():
            if len(names) >= nlink:
                continue
            for rel in names:
                (partial / rel).unlink()  # our own tree, closed to everyone else
                self.report.files -= 1
                self.report.leave_out(rel, "hard link to a file outside the folder")


def copy_out(staging: Path, output: Path, owner: tuple[int, int]) -> CopyReport:
    """Build ``output`` as a fresh copy of ``staging`` (see the module's docstring).

    ``output`` must not exist. On any failure ``output`` is an empty folder of the owner's and
    the report's ``failure`` says why. Never raises for what it finds in ``staging``.
    """
    report = CopyReport(owner=owner)
    partial = output.parent / PARTIAL_DIR
    try:
        problem = remove_tree(partial)  # a copy an earlier harness did not finish
        if problem is not None:
            raise CopyStopped(problem)
        src = os.open(staging, _DIR_FLAGS)
    except CopyStopped as exc:
        report.failure = str(exc)
        _empty_output(output, owner)
        return report
    except OSError as exc:
        report.failure = f"the agent's output folder cannot be opened ({exc.strerror or exc})"
        _empty_output(output, owner)
        return report
    try:
        top = os.fstat(src)
        copier = _Copier(report, top.st_dev)
        partial.mkdir(0o700)
        dst = os.open(partial, _DIR_FLAGS)
    except OSError as exc:
        os.close(src)
        report.failure = f"the copy cannot start ({exc.strerror or exc})"
        _empty_output(output, owner)
        return report
    root = _Frame(src, dst, "", 0, [], (top.st_dev, top.st_ino))
    try:
        copier.walk(root)  # closes every descriptor of the walk, these two included
        copier.outside_links(partial)
        os.chown(partial, *owner)
        partial.chmod(0o755)
        partial.rename(output)
        report.copied = True
    except (CopyStopped, OSError, MemoryError) as exc:
        if isinstance(exc, OSError):
            report.failure = f"the copy stopped: {exc.strerror or exc}"
        else:
            report.failure = str(exc) or type(exc).__name__
        report.files = report.folders = report.bytes = 0
        remove_tree(partial)
        _empty_output(output, owner)
    return report


def _empty_output(output: Path, owner: tuple[int, int]) -> None:
    with contextlib.suppress(OSError):
        output.mkdir(0o755)
        os.chown(output, *owner)


def remove_tree(path: Path) -> str | None:
    """Remove ``path`` and everything under it, following no link, at any depth.

    Iterative and descriptor-relative: at most two folders are open at a time, whatever the
    depth (it climbs back through ``..`` and checks it reached the folder it came from). A
    folder of the harness's own user that denies it access is opened up first. What cannot be
    removed (root's files under a harness that is not root) is skipped and the rest removed.
    Returns None when ``path`` is gone, else why not.
    """
    try:
        parent = os.open(path.parent, _DIR_FLAGS)
    except OSError as exc:
        return f"{path.parent} cannot be opened ({exc.strerror or exc})"
    try:
        try:
            st = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(path.name, dir_fd=parent)
            return None
        problem = _empty_folder(parent, path.name)
        if problem is None:
            os.rmdir(path.name, dir_fd=parent)
    except OSError as exc:
        problem = exc.strerror or str(exc)
    finally:
        os.close(parent)
    if problem is not None:
        return f"{str(path)!r} could not be removed entirely ({problem})"
    return None


def _open_folder(dfd: int, name: str) -> int:
    fd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
    st = os.fstat(fd)
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & 0o700 != 0o700:
        os.fchmod(fd, 0o700)  # ours but closed to us (an agent's chmod 000)
    return fd


def _empty_folder(parent: int, name: str) -> str | None:
    """Remove what is under ``name`` (in the folder ``parent``); the first problem, if any."""
    fd = _open_folder(parent, name)
    trail: list[tuple[str, tuple[int, int], tuple[int, int]]] = []  # name, its id, parent's id
    stuck: set[tuple[int, int]] = set()  # folders that cannot be emptied: not entered again
    problem: str | None = None
    try:
        while True:
            sub = None
            with os.scandir(fd) as it:
                for entry in it:
                    info = entry.stat(follow_symlinks=False)
                    if stat.S_ISDIR(info.st_mode):
                        if (info.st_dev, info.st_ino) not in stuck:
                            sub = (entry.name, (info.st_dev, info.st_ino))
                            break
                        continue
                    try:
                        os.unlink(entry.name, dir_fd=fd)
                    except FileNotFoundError:
                        pass
                    except OSError as exc:
                        problem = problem or f"{entry.name}: {exc.strerror or exc}"
            if sub is not None:
                here = os.fstat(fd)
                try:
                    child = _open_folder(fd, sub[0])
                except OSError as exc:
                    stuck.add(sub[1])
                    problem = problem or f"{sub[0]}: {exc.strerror or exc}"
                    continue
                trail.append((sub[0], sub[1], (here.st_dev, here.st_ino)))
                os.close(fd)
                fd = child
                continue
            if not trail:
                return problem
            done, done_id, parent_id = trail.pop()
            up = os.open("..", _DIR_FLAGS, dir_fd=fd)
            seen = os.fstat(up)
            os.close(fd)
            fd = up
            if (seen.st_dev, seen.st_ino) != parent_id:
                raise OSError(errno.EXDEV, "a folder moved while being removed")
            try:
                os.rmdir(done, dir_fd=fd)
            except OSError as exc:
                stuck.add(done_id)
                problem = problem or f"{done}: {exc.strerror or exc}"
    finally:
        os.close(fd)


def close_run_folder(run_dir: Path) -> int:
    """Make ``run_dir`` 0700 while the agent runs (no other user reaches what it leaves);
    returns the mode to give back once the output is copied out."""
    mode = stat.S_IMODE(run_dir.stat().st_mode)
    run_dir.chmod(0o700)
    return mode


def secure_output(run_dir: Path, owner: tuple[int, int]) -> CopyReport:
    """End a run's output: copy ``staging/`` to a fresh ``output/``, then remove the staging
    folder (unmounting its file system first when it has one). Never raises.

    Safe to call again after a harness died half-way: an ``output/`` already renamed into place
    is a complete copy; a partial one is rebuilt.
    """
    from agent_harness.disk_limit import release_filesystem
    from agent_harness.run_json import OUTPUT_DIR

    staging = run_dir / STAGING_DIR
    output = run_dir / OUTPUT_DIR
    report = CopyReport(owner=owner)
    try:
        if os.path.lexists(output):
            report.copied = True  # renamed into place by an earlier call: complete
        elif not os.path.lexists(staging):
            report.failure = "the agent's output folder is missing"
            _empty_output(output, owner)
        else:
            report = copy_out(staging, output, owner)
        report.filesystem, left = release_filesystem(run_dir, staging)
        if left is None:
            left = remove_tree(staging)
        report.staging_left = left
    except Exception as exc:  # the end of a run must not crash; the record says why
        report.copied = False
        report.failure = f"the output could not be secured: {type(exc).__name__}: {exc}"
    return report
