"""The proxy's server: uvicorn on a Unix socket in a private folder, in a thread of the harness.

A Unix socket in a folder only the harness's user can enter is reachable by nothing else on the
host; the agent reaches it only through a forwarder (:mod:`agent_harness.proxy.forwarder`).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from agent_harness.errors import LaunchError
from agent_harness.proxy.app import Grants, create_app

SOCKET_NAME = "proxy.sock"


class ProxyServer:
    """A running proxy serving the grants in :attr:`grants`."""

    def __init__(self) -> None:
        # /tmp keeps the socket path short (a Unix socket path is limited to 107 bytes);
        # mkdtemp makes the folder 0700.
        self.folder = Path(tempfile.mkdtemp(prefix="mlrb-proxy-"))
        self.socket_path = self.folder / SOCKET_NAME
        self.grants = Grants()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 15.0) -> None:
        """Start serving; :class:`LaunchError` (exit 3) when it does not come up."""
        import uvicorn

        config = uvicorn.Config(
            create_app(self.grants),
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
        shutil.rmtree(self.folder, ignore_errors=True)
