"""A TCP port on loopback, in the agent's own network namespace, that leads to the proxy's socket.

The container keeps ``network_mode none``: it has only its loopback interface. The harness (as
root) binds a listening socket inside the container's network namespace: a throwaway thread
enters the namespace with ``setns(2)``, creates and binds the socket, and leaves. A socket stays
in the namespace it was created in, so connections the agent makes to ``127.0.0.1:PORT`` arrive
at that socket, and the harness relays each one to the proxy's Unix socket on the host. No
network interface, route or Docker network is added: the agent can reach the proxy and nothing
else. Under the local runtime the same forwarder binds an ephemeral port on the host's loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import threading
from pathlib import Path

from agent_harness.errors import LaunchError

CLONE_NEWNET = 0x40000000
"""``setns(2)`` flag for a network namespace."""

MAX_CONNECTIONS = 64
"""Connections the forwarder relays at once; more are closed at once (bounds harness threads
and file descriptors whatever the agent does)."""

_CHUNK = 65536


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def bind_loopback(netns: str | None = None, port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` in the network namespace at ``netns``.

    ``netns`` is a path such as ``/proc/<pid>/ns/net`` (None: this process's namespace). The
    namespace is entered by a throwaway thread, so no thread of the harness ever changes its own.
    """
    if netns is None:
        return _listen(port)
    found: dict[str, object] = {}

    def work() -> None:
        try:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            target = os.open(netns, os.O_RDONLY)
            try:
                _setns(target)
                try:
                    found["socket"] = _listen(port)
                finally:
                    _setns(own)  # should this fail, the thread ends here anyway
            finally:
                os.close(own)
                os.close(target)
        except OSError as exc:
            found["error"] = exc

    thread = threading.Thread(target=work, name="mlrb-proxy-netns")
    thread.start()
    thread.join()
    if "error" in found:
        exc = found["error"]
        assert isinstance(exc, OSError)
        raise LaunchError(
            f"cannot open the proxy's port in the agent's network namespace ({netns}): "
            f"{exc.strerror or exc}",
            hint="the proxy needs a root harness under the docker runtime; run as root, or "
            "pass --credentials direct",
        )
    sock = found["socket"]
    assert isinstance(sock, socket.socket)
    return sock


def _listen(port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and a
    # relay that waits for delayed ACKs adds 40 ms to a small answer.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(MAX_CONNECTIONS)
    sock.setblocking(False)
    return sock


class Forwarder:
    """Relays every connection accepted on ``listener`` to the Unix socket ``target``."""

    def __init__(self, listener: socket.socket, target: Path) -> None:
        self.listener = listener
        self.port: int = listener.getsockname()[1]
        self._target = str(target)
        self._loop = asyncio.new_event_loop()
        self._stopped: asyncio.Event | None = None
        self._active = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlrb-proxy-forward", daemon=True)

    def start(self) -> Forwarder:
        """Start relaying (returns once the listener accepts)."""
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._relay, sock=self.listener)
        self._ready.set()
        async with server:
            await self._stopped.wait()
            server.close()
            # Connections still open (a stream in progress at the run's end) are cut.
            for writer in list(self._writers):
                writer.close()
            if self._tasks:
                _, late = await asyncio.wait(self._tasks, timeout=2)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._active >= MAX_CONNECTIONS:
            writer.close()
            return
        self._active += 1
        self._writers.add(writer)
        accepted = writer.get_extra_info("socket")
        if accepted is not None:
            with contextlib.suppress(OSError):
                accepted.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            try:
                up_reader, up_writer = await asyncio.open_unix_connection(self._target)
            except OSError:
                return
            self._writers.add(up_writer)
            try:
                await asyncio.gather(
                    self._pipe(reader, up_writer),
                    self._pipe(up_reader, writer),
                    return_exceptions=True,
                )
            finally:
                self._writers.discard(up_writer)
                up_writer.close()
        finally:
            self._active -= 1
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(_CHUNK):
                sink.write(data)
                await sink.drain()
            if sink.can_write_eof():
                sink.write_eof()
        except OSError:
            sink.close()

    def stop(self) -> None:
        """Stop accepting and cut open connections; the port is gone afterwards."""
        if self._stopped is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self.listener.close()
