"""The proxy's server: uvicorn on a Unix socket in a private folder, in a thread of the harness.

A Unix socket in a folder only the harness's user can enter is reachable by nothing else on the
host; the agent reaches it only through a forwarder (:mod:`agent_harness.proxy.forwarder`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from agent_harness.errors import LaunchError
from agent_harness.proxy.app import Grants, InFlight, create_app

SOCKET_NAME = "proxy.sock"
FOLDER_PREFIX = "mlrb-proxy-"
"""The proxy's private folder under the temporary folder: ``mlrb-proxy-XXXXXXXX`` (mkdtemp)."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_RETURN_FROM_BYTES = 128 * 1024


def return_freed_memory() -> None:
    """Have glibc give memory back to the system as soon as it is freed.

    By default glibc raises its mmap threshold after large blocks are freed and keeps freed heap
    for reuse, so a request body the proxy dropped can stay in the harness's resident memory
    (measured: 226 MiB resident after hostile bodies, 86 MiB with this; peak 286 -> 192 MiB,
    ``benchmarks/proxy_memory.py``). Fixed thresholds of 128 KiB: larger blocks are mapped and
    unmapped, and the heap's free top is trimmed. Nothing happens under another C library.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, _RETURN_FROM_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, _RETURN_FROM_BYTES)


class ProxyServer:
    """A running proxy serving the grants in :attr:`grants`."""

    def __init__(self) -> None:
        # /tmp keeps the socket path short (a Unix socket path is limited to 107 bytes);
        # mkdtemp makes the folder 0700.
        self.folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
        self.socket_path = self.folder / SOCKET_NAME
        self.grants = Grants()
        self.in_flight = InFlight()
        """The request bytes the proxy holds now (at most ``IN_FLIGHT_BYTES``)."""
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 15.0) -> None:
        """Start serving; :class:`LaunchError` (exit 3) when it does not come up."""
        import uvicorn

        return_freed_memory()
        config = uvicorn.Config(
            create_app(self.grants, self.in_flight),
            uds=str(self.socket_path),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="mlrb-proxy", daemon=True)
        self._thread.start()
        end = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > end:
                self.stop()
                raise LaunchError(
                    "the model-API proxy did not start",
                    hint="check that uvicorn, starlette and httpx are installed with the harness",
                )
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and remove the socket's folder."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        remove_folder(self.folder)


STALE_AFTER_S = 60.0
"""A proxy folder this old whose socket answers nobody is left over (a proxy starts in well
under a second)."""


def _ours(folder: Path) -> bool:
    """A real folder (not a link) named ``mlrb-proxy-*``, owned by this user."""
    try:
        info = folder.lstat()
    except FileNotFoundError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and folder.name.startswith(FOLDER_PREFIX)
    )


def stale_folders(temporary: Path | None = None, now: float | None = None) -> list[Path]:
    """This user's proxy folders whose proxy is gone (its harness and watchdog both died):
    older than :data:`STALE_AFTER_S`, and nothing listens on their socket."""
    found = []
    root = Path(temporary or tempfile.gettempdir())
    for folder in root.glob(f"{FOLDER_PREFIX}*"):
        if not _ours(folder):
            continue
        with contextlib.suppress(FileNotFoundError):
            if (now or time.time()) - folder.lstat().st_mtime < STALE_AFTER_S:
                continue
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(folder / SOCKET_NAME))
        except OSError:
            found.append(folder)  # refused, or no socket: no proxy serves it
        finally:
            probe.close()
    return found


def remove_folder(folder: Path) -> None:
    """Remove a proxy's folder (the harness's, or the watchdog's after the harness died).

    Only a real folder (not a link) named ``mlrb-proxy-*`` and owned by this user is touched:
    in the sticky temporary folder nobody else can rename or replace it, and its contents (mode
    0700) are this user's alone. A path someone else planted (a link, or a folder of theirs
    after ours was removed) is left alone; ``shutil.rmtree`` never follows a link inside.
    """
    if _ours(folder):
        shutil.rmtree(folder, ignore_errors=True)
