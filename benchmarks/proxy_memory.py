"""Measure the harness's extra memory while an agent sends the model-API proxy hostile bodies.

    .venv/bin/python benchmarks/proxy_memory.py [--gib 1] [--connections 64] [--out mem.json]

A child process plays the harness: it runs one run's proxy (the local runtime's forwarder on a
loopback port, the proxy on its Unix socket) in front of a scripted upstream on 127.0.0.1, and
nothing else. This process plays the agent and sends, through the forwarder:

1. a body declared by ``Content-Length`` as ``--gib`` GiB, then its bytes;
2. a chunked body of ``--gib`` GiB (no declared size);
3. ``--connections`` connections at once, each a chunked body of up to ``--gib`` GiB;
4. a 31 MiB JSON body of empty objects (``[{},{},...]``: 25 bytes of parsed objects per byte);
5. ``--connections`` connections at once, each a valid 30 MiB chat request (big prompts);
6. one ordinary call, which must still be answered.

Each sender stops when the proxy answers or closes the connection (or after its bytes are
sent). After each step it reads the child's peak resident memory (``VmHWM`` in
``/proc/<pid>/status``) and prints it with the answers seen. Everything is on 127.0.0.1 and
ends by itself (each connection gives up after 60 s).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

KEY = "sk-bench-real-key-0000"
MIB = 1024 * 1024
CONNECTION_LIMIT_S = 60.0


def _serve(upstream_url: str) -> None:
    """The child: one run's proxy; prints its port and token, serves until stdin closes."""
    import tempfile

    from agent_harness.proxy import Budget, ProxyPlan, ProxySession
    from agent_harness.runtimes.local import LocalRuntime

    folder = Path(tempfile.mkdtemp(prefix="mlrb-bench-mem-"))
    session = ProxySession(ProxyPlan("openai", KEY, upstream_url, Budget()), folder)
    env = session.start(LocalRuntime().proxy_port)
    assert session.forwarder is not None
    print(json.dumps({"port": session.forwarder.port, "token": env["OPENAI_API_KEY"]}), flush=True)
    sys.stdin.read()
    session.close()
    shutil.rmtree(folder, ignore_errors=True)


def _peak_kib(pid: int) -> tuple[int, int]:
    """VmRSS and VmHWM of ``pid``, KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def _headers(token: str, extra: str) -> bytes:
    return (
        "POST /openai/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n{extra}\r\n"
    ).encode()


def _send(port: int, head: bytes, chunks: Any, chunked: bool) -> tuple[str, int]:
    """Send ``head`` then ``chunks``; stop at the first answer byte or a closed connection.

    Returns the answer's status (or ``reset``/``closed``/``timeout``) and the bytes sent.
    """
    sent = 0
    end = time.monotonic() + CONNECTION_LIMIT_S
    with socket.create_connection(("127.0.0.1", port), timeout=CONNECTION_LIMIT_S) as sock:
        try:
            sock.sendall(head)
            for chunk in chunks:
                if time.monotonic() > end:
                    return "timeout", sent
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                data = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
                sock.sendall(data)
                sent += len(chunk)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
            answer = sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            return "reset", sent
        except TimeoutError:
            return "timeout", sent
    if not answer:
        return "closed", sent
    return answer.split(b" ", 2)[1].decode(), sent


def _filler(total: int, block: bytes) -> Any:
    left = total
    while left > 0:
        yield block[: min(left, len(block))]
        left -= len(block)


def _step(name: str, pid: int, senders: list[Any]) -> dict[str, Any]:
    results: list[tuple[str, int]] = []
    lock = threading.Lock()

    def run(sender: Any) -> None:
        outcome = sender()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(s,)) for s in senders]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rss, hwm = _peak_kib(pid)
    row = {
        "step": name,
        "answers": dict(Counter(status for status, _ in results)),
        "sent_mib": round(sum(n for _, n in results) / MIB, 1),
        "seconds": round(time.monotonic() - t0, 2),
        "rss_mib": round(rss / 1024, 1),
        "peak_rss_mib": round(hwm / 1024, 1),
    }
    print(json.dumps(row), flush=True)
    return row


def measure(gib: float, connections: int) -> dict[str, Any]:
    """Run the six steps against a fresh proxy child; its memory after each."""
    from scripted_upstream import ScriptedUpstream

    upstream = ScriptedUpstream(KEY).start()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", f"{upstream.url}/v1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert child.stdout is not None
        started = json.loads(child.stdout.readline())
        port, token = started["port"], started["token"]
        total = int(gib * 1024 * MIB)
        block = b"x" * MIB
        rows = []
        ordinary = json.dumps(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        ).encode()

        def call() -> tuple[str, int]:
            head = _headers(token, f"Content-Length: {len(ordinary)}\r\n")
            return _send(port, head + ordinary, [], chunked=False)

        rows.append(_step("baseline: one ordinary call", child.pid, [call]))
        declared = _headers(token, f"Content-Length: {total}\r\n")
        chunked = _headers(token, "Transfer-Encoding: chunked\r\n")
        bomb = b"[" + b"{}," * (31 * MIB // 3 - 1) + b"{}]"
        bomb_body = b'{"model":"gpt-4o-mini","messages":' + bomb + b"}"
        bomb_head = _headers(token, f"Content-Length: {len(bomb_body)}\r\n")

        def declared_body() -> tuple[str, int]:
            return _send(port, declared, _filler(total, block), chunked=False)

        def chunked_body() -> tuple[str, int]:
            return _send(port, chunked, _filler(total, block), chunked=True)

        rows.append(_step(f"Content-Length {gib} GiB", child.pid, [declared_body]))
        rows.append(_step(f"chunked {gib} GiB", child.pid, [chunked_body]))
        rows.append(
            _step(f"{connections} connections x chunked {gib} GiB", child.pid,
                  [chunked_body] * connections)
        )  # fmt: skip
        rows.append(
            _step("31 MiB of [{},{},...]", child.pid,
                  [lambda: _send(port, bomb_head + bomb_body, [], chunked=False)])
        )  # fmt: skip
        prompt = "Say hello in five words. " * (30 * MIB // 25)
        big = json.dumps({"model": "gpt-4o-mini", "max_completion_tokens": 16,
                          "messages": [{"role": "user", "content": prompt}]}).encode()  # fmt: skip
        big_head = _headers(token, f"Content-Length: {len(big)}\r\n")
        rows.append(_step(f"{connections} connections x 30 MiB chat request", child.pid,
                          [lambda: _send(port, big_head, _filler(len(big), big), False)]
                          * connections))  # fmt: skip
        rows.append(_step("one ordinary call afterwards", child.pid, [call]))
        return {"rows": rows, "base_rss_mib": rows[0]["rss_mib"],
                "peak_rss_mib": max(r["peak_rss_mib"] for r in rows)}  # fmt: skip
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
        upstream.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=1.0, help="size of each hostile body")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--out", type=Path, help="also write the results here as JSON")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve)
        return
    result = measure(args.gib, args.connections)
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
