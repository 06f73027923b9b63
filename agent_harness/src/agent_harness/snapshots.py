"""Snapshots of the output while the agent runs (``--snapshot-every DURATION``).

Every DURATION a thread of the harness copies the agent's output folder (the staging folder)
into ``runs/<id>/snapshots/<elapsed seconds>/`` with :func:`agent_harness.output_safety.copy_out`,
the same copy that builds ``output/`` at the end: regular files and folders only, no link,
device, FIFO or socket, no owner or mode bit of the agent's, nothing hard-linked from outside,
bounded in depth, entries and bytes, built aside and renamed into place. The agent keeps
writing while a copy runs, so a snapshot may hold a file half-written (it is what the folder
held at that moment, file by file).

Bounds: the snapshots together hold at most ``--snapshot-limit`` bytes of file data; the copy
that passes it is removed and no later snapshot is taken (so the disk holds at most the limit
plus one copy of the output for a moment). The thread never touches the agent's deadline: the
harness supervises and stops the agent as always; a copy in progress when the agent ends is
finished before the final copy-out starts (it delays the record, never the deadline).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from agent_harness.output_safety import copy_out, remove_tree
from agent_harness.run_json import SNAPSHOTS_DIR, Snapshots

DEFAULT_SNAPSHOT_LIMIT = "20G"
"""Default of ``--snapshot-limit``: bytes of file data all snapshots of a run may hold."""

MAX_PROBLEMS = 10
"""Problems kept for run.json."""


class Snapshotter:
    """Takes a run's snapshots in a thread, from :meth:`start` to :meth:`stop`."""

    def __init__(
        self,
        staging: Path,
        run_dir: Path,
        owner: tuple[int, int],
        every_s: int,
        limit_bytes: int,
        started: float,
    ) -> None:
        self._staging = staging
        self.folder = run_dir / SNAPSHOTS_DIR
        self._owner = owner
        self.every_s = every_s
        self.limit_bytes = limit_bytes
        self._started = started
        """``time.monotonic()`` at the run's start (elapsed seconds count from it)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlrb-snapshots", daemon=True)
        self.taken: list[int] = []
        self.bytes = 0
        self.problems: list[str] = []

    def start(self) -> Snapshotter:
        """Make the snapshots folder (the owner's, ``0755``) and start the thread."""
        self.folder.mkdir(0o755)
        os.chown(self.folder, *self._owner)
        self._thread.start()
        return self

    def _problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    def _run(self) -> None:
        due = self._started + self.every_s
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due += self.every_s
            if not self.take():
                return

    def take(self) -> bool:
        """Take one snapshot now; False once the limit is reached (take no more)."""
        elapsed = int(time.monotonic() - self._started)
        target = self.folder / str(elapsed)
        if os.path.lexists(target):
            return True  # two snapshots in one second: the first stands
        report = copy_out(self._staging, target, self._owner)
        if not report.copied:
            remove_tree(target)
            self._problem(f"{elapsed} s: not kept: {report.failure}")
            return True
        if self.bytes + report.bytes > self.limit_bytes:
            remove_tree(target)
            self._problem(
                f"{elapsed} s: not kept: the snapshots would hold {self.bytes + report.bytes} "
                f"bytes, over --snapshot-limit ({self.limit_bytes}); no more snapshots"
            )
            return False
        self.bytes += report.bytes
        self.taken.append(elapsed)
        return True

    def stop(self) -> Snapshots:
        """Take no more (a copy in progress is finished); what run.json records."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return Snapshots(
            every_s=self.every_s,
            limit_bytes=self.limit_bytes,
            taken=list(self.taken),
            bytes=self.bytes,
            problems=list(self.problems),
        )
