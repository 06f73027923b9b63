"""The disk limit of a run: parsed from ``--disk-limit`` or the spec's ``disk_gb``, and watched.

This engine stores containers with overlay2 on ext4 (cgroup v1), where ``--storage-opt size=``
is refused (it needs xfs with project quotas), so the limit cannot be handed to the engine. A
:class:`DiskWatcher` thread measures instead what the agent has written (the output folder, and
under docker the container's writable layer) every few seconds and stops the agent as soon as the
total passes the limit. What the agent writes between two measurements can overshoot the limit:
see docs/harness.md for the measured delay.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent_harness.errors import ConfigError

SIZE_FORMS = "500M, 20GB, 1.5G, 2T, a plain number of bytes, or none"
"""The accepted forms, as shown in error messages."""

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"([0-9]{1,15})(?:\.([0-9]{1,6}))?\s*([kmgt]?)(?:i?b)?")

INTERVAL_S = 2.0
"""Seconds between two measurements (longer when one measurement takes long)."""


def parse_size(text: str) -> int | None:
    """Bytes meant by ``text`` (binary units: ``1G`` is 1024**3); ``none`` is no limit."""
    value = text.strip().lower()
    if value == "none":
        return None
    match = _SIZE.fullmatch(value) if len(value) <= 32 else None
    if match is None:
        raise ConfigError(f"invalid disk limit {text[:32]!r}", hint=f"accepted forms: {SIZE_FORMS}")
    whole, fraction, unit = match.groups()
    scale = _UNITS[unit]
    size = int(whole) * scale + (int(fraction) * scale // 10 ** len(fraction) if fraction else 0)
    if size <= 0:
        raise ConfigError(f"invalid disk limit {text!r}: it must be positive", hint=SIZE_FORMS)
    return size


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


class DiskWatcher:
    """Measures what an agent has written and calls ``on_exceeded`` once it passes the limit."""

    def __init__(
        self,
        limit_bytes: int,
        output_dir: Path,
        on_exceeded: Callable[[], None],
        layer_bytes: Callable[[], int | None] | None = None,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.limit_bytes = limit_bytes
        self._output_dir = output_dir
        self._on_exceeded = on_exceeded
        self._layer_bytes = layer_bytes
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.exceeded = threading.Event()
        self.used_bytes = 0
        """The last measurement (output folder plus writable layer)."""
        self.measurements = 0
        self._thread = threading.Thread(target=self._watch, name="disk-limit", daemon=True)

    def measure(self) -> int:
        """Bytes the agent has written now."""
        used = folder_bytes(self._output_dir)
        if self._layer_bytes is not None:
            used += self._layer_bytes() or 0
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
            f"(output folder and container layer) of {_mib(self.limit_bytes)} allowed"
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
