"""Make a run's output folder safe for the host before anything on the host reads it.

An agent may run as root inside its container (``--user host`` when the harness runs as root,
or ``--user image`` with an image whose user is root). What it leaves in ``/app/output`` lands on
the host as it is: a setuid-root binary would give root to any local user who runs it. After the
agent has stopped, and before the deliverable is looked for or evaluated, :func:`make_output_safe`
walks the folder without following any link and

- removes device nodes, FIFOs and sockets;
- removes symbolic links that are absolute or resolve outside the folder;
- removes the name of a file hard-linked from outside the folder (its inode is never changed);
- clears setuid, setgid and sticky bits of files, setuid and setgid of folders, write
  permission for others, and file capabilities (the ``security.capability`` attribute);
- hands everything to the owner the output belongs to (:func:`output_owner`).

Whatever it cannot do (a harness that is not root cannot change root's files) makes the output
*unsafe*: the caller keeps the run folder closed to other users and rejects the deliverable.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent_harness.records import OutputSafety

EXAMPLES = 10
"""How many example paths of each kind are kept for run.json."""

_PRIVILEGE_BITS = stat.S_ISUID | stat.S_ISGID
_CAPABILITY_XATTR = "security.capability"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


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


@dataclass
class SafetyReport:
    """What :func:`make_output_safe` removed, changed and could not fix."""

    owner: tuple[int, int]
    removed: dict[str, int] = field(default_factory=dict)
    removed_examples: list[str] = field(default_factory=list)
    modes_changed: int = 0
    mode_examples: list[str] = field(default_factory=list)
    owners_changed: int = 0
    unsafe: list[str] = field(default_factory=list)
    unsafe_count: int = 0

    @property
    def safe(self) -> bool:
        """True when everything could be made safe."""
        return self.unsafe_count == 0

    def as_record(self) -> OutputSafety:
        """The report as run.json records it."""
        from agent_harness.records import OutputSafety

        return OutputSafety(
            owner=f"{self.owner[0]}:{self.owner[1]}",
            safe=self.safe,
            removed=dict(self.removed),
            removed_examples=list(self.removed_examples),
            modes_changed=self.modes_changed,
            mode_examples=list(self.mode_examples),
            owners_changed=self.owners_changed,
            unsafe_count=self.unsafe_count,
            unsafe=list(self.unsafe),
        )

    def rejection(self, output: Path) -> str:
        """Why the deliverable is not accepted when the output could not be made safe."""
        return (
            f"the output holds {self.unsafe_count} entries the harness cannot make safe "
            f"(e.g. {'; '.join(self.unsafe[:3])}); the run folder stays closed to other users "
            "(0700). An agent running as root left files a harness that is not root cannot "
            f"change: remove them as root (sudo rm -rf {str(output)!r}), and run such images "
            "with --user host, or run the harness as root"
        )

    def _removed(self, rel: str, why: str) -> None:
        self.removed[why] = self.removed.get(why, 0) + 1
        if len(self.removed_examples) < EXAMPLES:
            self.removed_examples.append(f"{rel} ({why})")

    def _mode(self, rel: str, old: int, new: int) -> None:
        self.modes_changed += 1
        if len(self.mode_examples) < EXAMPLES:
            self.mode_examples.append(f"{rel} ({stat.filemode(old)} -> {stat.filemode(new)})")

    def _unsafe(self, rel: str, why: str) -> None:
        self.unsafe_count += 1
        if len(self.unsafe) < EXAMPLES:
            self.unsafe.append(f"{rel}: {why}")


def _kind(mode: int) -> str | None:
    """The name of a special file's kind, or None for files, folders and links."""
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device node"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return None


def _entries(dfd: int) -> Iterator[str]:
    with os.scandir(dfd) as it:
        names = [e.name for e in it]
    yield from sorted(names)


def _hard_link_counts(dfd: int, counts: dict[tuple[int, int], int]) -> None:
    """Count the names each multiply-linked file has inside the folder (no link followed)."""
    for name in _entries(dfd):
        try:
            st = os.lstat(name, dir_fd=dfd)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            counts[key] = counts.get(key, 0) + 1
        elif stat.S_ISDIR(st.st_mode):
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=dfd)
            except OSError:
                continue
            try:
                _hard_link_counts(sub, counts)
            finally:
                os.close(sub)


class _Sanitizer:
    def __init__(self, root: Path, owner: tuple[int, int]) -> None:
        self.root = root.absolute()
        self.real_root = root.resolve()
        self.owner = owner
        self.report = SafetyReport(owner=owner)
        self.links: list[str] = []
        self.counts: dict[tuple[int, int], int] = {}

    def _remove(self, dfd: int, name: str, rel: str, why: str) -> None:
        try:
            os.unlink(name, dir_fd=dfd)
        except OSError as exc:
            self.report._unsafe(rel, f"{why} that cannot be removed ({exc.strerror})")
        else:
            self.report._removed(rel, why)

    def _fix_inode(self, dfd: int, name: str, rel: str, st: os.stat_result) -> str | None:
        """Owner, mode and capabilities of a file or folder; why not, when they cannot be fixed."""
        try:
            fd = os.open(name, _PATH_FLAGS, dir_fd=dfd)
        except OSError as exc:
            return f"cannot be opened ({exc.strerror})"
        try:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                return "changed while being checked"
            # An O_PATH descriptor cannot be chmod-ed directly; its /proc name reaches the same
            # inode without a path lookup an agent could redirect.
            handle = f"/proc/self/fd/{fd}"
            if (now.st_uid, now.st_gid) != self.owner:
                os.chown(handle, *self.owner)
                self.report.owners_changed += 1
            with contextlib.suppress(OSError):  # no attribute, or a filesystem without xattrs
                if _CAPABILITY_XATTR in os.listxattr(handle):
                    os.removexattr(handle, _CAPABILITY_XATTR)
                    self.report._removed(rel, "file capabilities")
            mode = stat.S_IMODE(now.st_mode)
            # Nobody else may change the deliverable before it is evaluated (--user image makes
            # the output folder world-writable for the image's user).
            if stat.S_ISDIR(now.st_mode):
                wanted = (mode & ~(_PRIVILEGE_BITS | stat.S_IWOTH)) | stat.S_IRWXU
            else:
                wanted = mode & ~(_PRIVILEGE_BITS | stat.S_ISVTX | stat.S_IWOTH)
            if stat.S_IMODE(os.fstat(fd).st_mode) != wanted:  # chown may have cleared bits
                Path(handle).chmod(wanted)
            if wanted != mode:
                self.report._mode(rel, now.st_mode, stat.S_IFMT(now.st_mode) | wanted)
        except OSError as exc:
            return f"cannot be made yours ({exc.strerror})"
        finally:
            os.close(fd)
        return None

    def walk(self, dfd: int, prefix: str) -> None:
        for name in _entries(dfd):
            rel = f"{prefix}{name}"
            try:
                st = os.lstat(name, dir_fd=dfd)
            except OSError:
                continue  # gone meanwhile
            mode = st.st_mode
            kind = _kind(mode)
            if kind is not None:
                self._remove(dfd, name, rel, kind)
            elif stat.S_ISLNK(mode):
                self.links.append(rel)
                if st.st_uid != self.owner[0] or st.st_gid != self.owner[1]:
                    try:
                        os.chown(name, *self.owner, dir_fd=dfd, follow_symlinks=False)
                        self.report.owners_changed += 1
                    except OSError as exc:
                        self.report._unsafe(rel, f"link cannot be made yours ({exc.strerror})")
            elif stat.S_ISREG(mode):
                if st.st_nlink > self.counts.get((st.st_dev, st.st_ino), 1):
                    # Another name of this file lives outside the folder (a host file linked in):
                    # changing its owner or mode would change that file too.
                    self._remove(dfd, name, rel, "hard link to a file outside the folder")
                elif (problem := self._fix_inode(dfd, name, rel, st)) is not None:
                    if st.st_mode & _PRIVILEGE_BITS:
                        self._remove(dfd, name, rel, "setuid/setgid file that cannot be fixed")
                    else:
                        self.report._unsafe(rel, problem)
            elif stat.S_ISDIR(mode):
                if (problem := self._fix_inode(dfd, name, rel, st)) is not None:
                    self.report._unsafe(rel, problem)
                    continue
                try:
                    sub = os.open(name, _DIR_FLAGS, dir_fd=dfd)
                except OSError as exc:
                    self.report._unsafe(rel, f"folder cannot be opened ({exc.strerror})")
                    continue
                try:
                    self.walk(sub, rel + "/")
                finally:
                    os.close(sub)

    def escaping(self, rel: str) -> bool:
        """True when the link at ``rel`` is absolute or resolves outside the folder."""
        path = self.root / rel
        try:
            target = path.readlink()
        except OSError:
            return False  # gone
        if target.is_absolute():
            return True
        return not path.resolve().is_relative_to(self.real_root)

    def prune_links(self) -> None:
        # Removing one link can change where another resolves: repeat until nothing changes.
        changed = True
        while changed:
            changed = False
            for rel in list(self.links):
                if self.escaping(rel):
                    self.links.remove(rel)
                    path = self.root / rel
                    dfd = os.open(path.parent, _DIR_FLAGS)
                    try:
                        self._remove(dfd, path.name, rel, "link leaving the folder")
                    finally:
                        os.close(dfd)
                    changed = True


def close_run_folder(run_dir: Path) -> int:
    """Make ``run_dir`` 0700 while the agent runs (no other user reaches what it leaves);
    returns the mode to give back once the output is safe."""
    mode = stat.S_IMODE(run_dir.stat().st_mode)
    run_dir.chmod(0o700)
    return mode


def make_output_safe(output: Path, owner: tuple[int, int] | None = None) -> SafetyReport:
    """Clean ``output`` (see the module's docstring); the report says what was done.

    Call it only once the agent has stopped: the walk follows no link and acts on each entry
    through a descriptor, but an agent still writing could add entries behind it.
    """
    sanitizer = _Sanitizer(output, owner or output_owner())
    report = sanitizer.report
    try:
        root = os.open(output, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the folder itself was replaced by a link
            with contextlib.suppress(OSError):
                output.unlink()
                report._removed(".", "output folder replaced by a link")
                output.mkdir()
                return report
        report._unsafe(".", f"the output folder cannot be opened ({exc.strerror})")
        return report
    try:
        st = os.fstat(root)
        _hard_link_counts(root, sanitizer.counts)
        parent = os.open(output.parent, _DIR_FLAGS)
        try:
            problem = sanitizer._fix_inode(parent, output.name, ".", st)
        finally:
            os.close(parent)
        if problem is not None:
            report._unsafe(".", problem)
        sanitizer.walk(root, "")
        sanitizer.prune_links()
    except OSError as exc:  # whatever could not be walked cannot be called safe
        report._unsafe(".", f"the walk stopped: {exc.strerror or exc}")
    finally:
        os.close(root)
    return report
