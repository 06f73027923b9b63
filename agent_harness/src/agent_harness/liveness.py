"""Processes on this machine: whether one is still alive, which ones match a test of their
``/proc`` entry (cleanup, run sets, cancel, the watchdog, the disk watcher), and the members of
a process group (a local agent's)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path


def processes(where: Callable[[Path], bool]) -> list[int]:
    """Ids of the processes (this one excluded) whose ``/proc/<pid>`` entry passes ``where``.

    An entry that vanishes or may not be read while ``where`` looks at it (``OSError``) is
    skipped: processes come and go during the walk.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if where(entry):
                    found.append(int(entry.name))
    return found


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
    return True


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid`` (from /proc)."""

    def member(entry: Path) -> bool:
        stat = (entry / "stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is the state, fields[2] the process group
        return fields[0] not in ("Z", "X") and int(fields[2]) == pgid

    return processes(member)
