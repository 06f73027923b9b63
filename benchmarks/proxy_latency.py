"""Measure the model-API proxy: added latency per call, and how far past a budget a run gets.

    .venv/bin/python benchmarks/proxy_latency.py [--calls 200] [--out proxy.json]

1. Added latency: the same chat completion sent ``--calls`` times straight to a scripted
   OpenAI-compatible upstream on 127.0.0.1, and through the proxy (loopback forwarder, Unix
   socket, proxy, upstream), alternating; non-streamed and streamed (time to the last byte).
   Median and p95 of each, and of the difference.
2. Budget overshoot: an agent that calls until it gets 429, sequential and with 8 threads at
   once, under a token budget and under a cost budget; how many calls were answered after the
   budget was crossed, and how many tokens / dollars past it the run ended.

3. With ``--docker-reps N`` (root, a Docker engine, a static busybox): how long before the
   agent's container starts the proxy's port is open in the network namespace it joins, and
   how many calls of an agent retrying every 2 ms fail (0: the port is there first).

Needs no provider and no network (everything on 127.0.0.1); no engine without ``--docker-reps``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

KEY = "sk-bench-real-key-0000"
BODY = {
    "model": "gpt-4o-mini",
    "max_completion_tokens": 64,
    "messages": [{"role": "user", "content": "Say hello in five words. " * 20}],
}


def _p95(values: list[float]) -> float:
    return sorted(values)[max(int(len(values) * 0.95) - 1, 0)]


def _summary(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {"median_ms": round(statistics.median(ms), 3), "p95_ms": round(_p95(ms), 3)}


def latency(calls: int) -> dict[str, Any]:
    """Median and p95 per call, direct and proxied, streamed or not."""
    import httpx
    from scripted_upstream import ScriptedUpstream

    from agent_harness.proxy import Budget, ProxyPlan, ProxySession
    from agent_harness.runtimes.local import LocalRuntime

    upstream = ScriptedUpstream(KEY).start()
    folder = Path(tempfile.mkdtemp())
    session = ProxySession(ProxyPlan("openai", KEY, f"{upstream.url}/v1", Budget()), folder)
    env = session.start(LocalRuntime().proxy_port)
    out: dict[str, Any] = {}
    try:
        with httpx.Client(timeout=30) as client:
            routes = {
                "direct": (f"{upstream.url}/v1", KEY),
                "proxied": (env["OPENAI_BASE_URL"], env["OPENAI_API_KEY"]),
            }
            for stream in (False, True):
                times: dict[str, list[float]] = {"direct": [], "proxied": []}
                body = {**BODY, "stream": stream}
                if stream:
                    body["stream_options"] = {"include_usage": True}  # same bytes both ways
                for i in range(calls + 10):
                    for name, (base, key) in routes.items():
                        t0 = time.perf_counter()
                        with client.stream(
                            "POST",
                            f"{base}/chat/completions",
                            json=body,
                            headers={"Authorization": f"Bearer {key}"},
                        ) as answer:
                            answer.read()
                            assert answer.status_code == 200, answer.text
                        if i >= 10:  # warm-up: connections, imports
                            times[name].append(time.perf_counter() - t0)
                added = [p - d for p, d in zip(times["proxied"], times["direct"], strict=True)]
                out["stream" if stream else "plain"] = {
                    "direct": _summary(times["direct"]),
                    "proxied": _summary(times["proxied"]),
                    "added": _summary(added),
                    "calls": calls,
                }
    finally:
        session.close()
        upstream.stop()
    return out


def overshoot(threads: int, budget: dict[str, Any], uncapped_output: int = 0) -> dict[str, Any]:
    """Call until refused; how far past the budget the run's totals end.

    ``uncapped_output``: the calls set no output cap and each answer is that many tokens, so
    a call's reservation (its request bytes / 4) falls far short of what it uses.
    """
    import httpx
    from scripted_upstream import ScriptedUpstream

    from agent_harness.proxy import Budget, ProxyPlan, ProxySession
    from agent_harness.runtimes.local import LocalRuntime

    upstream = ScriptedUpstream(KEY, delay_s=0.05)  # a call takes time: calls overlap
    body = dict(BODY)
    if uncapped_output:
        upstream.output_tokens = uncapped_output
        del body["max_completion_tokens"]
    upstream.start()
    folder = Path(tempfile.mkdtemp())
    session = ProxySession(ProxyPlan("openai", KEY, f"{upstream.url}/v1", Budget(**budget)), folder)
    env = session.start(LocalRuntime().proxy_port)
    answered = [0]
    lock = threading.Lock()

    def agent() -> None:
        with httpx.Client(timeout=30) as client:
            while True:
                answer = client.post(
                    f"{env['OPENAI_BASE_URL']}/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {env['OPENAI_API_KEY']}"},
                )
                if answer.status_code == 429:
                    return
                with lock:
                    answered[0] += 1

    workers = [threading.Thread(target=agent) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    totals = session.close()
    upstream.stop()
    lines = [json.loads(x) for x in (folder / "model_calls.jsonl").read_text().splitlines()]
    done = [x for x in lines if "refused" not in x]
    # Calls answered after the running total had already reached the budget.
    spent_tokens = spent_usd = 0.0
    after = 0
    for x in done:
        crossed = (budget.get("tokens") and spent_tokens >= budget["tokens"]) or (
            budget.get("usd") and spent_usd >= budget["usd"]
        )
        after += 1 if crossed else 0
        spent_tokens += x["input_tokens"] + x["output_tokens"]
        spent_usd += x["cost_usd"] or 0.0
    per_call = totals.total_tokens / max(totals.calls, 1)
    return {
        "threads": threads,
        "budget": budget,
        "output_cap": None if uncapped_output else BODY["max_completion_tokens"],
        "calls_answered": totals.calls,
        "calls_refused": totals.refused_calls,
        "tokens_per_call": round(per_call, 1),
        "tokens": totals.total_tokens,
        "cost_usd": round(totals.cost_usd, 8),
        "tokens_past_budget": totals.total_tokens - budget["tokens"]
        if "tokens" in budget
        else None,
        "usd_past_budget": round(totals.cost_usd - budget["usd"], 8) if "usd" in budget else None,
        "calls_answered_after_budget_crossed": after,
    }


def port_delay(reps: int, busybox: Path) -> dict[str, Any]:
    """Docker: how long before the agent's container starts the proxy's port is open.

    The agent (busybox) retries a call every 2 ms until one succeeds and prints how many failed;
    the harness side records the time from the port being bound (in the network holder's
    namespace) to the agent's container start returning.
    """
    import io

    sys.path.insert(0, str(REPO / "benchmarks"))
    from harness_overhead import BASE, build_images  # type: ignore[import-not-found]
    from scripted_upstream import ScriptedUpstream

    from agent_harness.config import RunConfig
    from agent_harness.console import Progress
    from agent_harness.proxy.session import ProxySession
    from agent_harness.run import run_agent
    from agent_harness.runtimes.container import DockerRuntime, connect

    build_images(connect(), busybox)
    upstream = ScriptedUpstream(KEY).start()
    marks: dict[str, float] = {}
    start, attach = DockerRuntime.start, ProxySession.attach

    def timed_start(self: Any, *args: Any) -> Any:
        proc = start(self, *args)
        marks["started"] = time.perf_counter()
        return proc

    def timed_attach(self: Any, netns: str) -> None:
        attach(self, netns)
        marks["bound"] = time.perf_counter()

    DockerRuntime.start = timed_start  # type: ignore[method-assign]
    ProxySession.attach = timed_attach  # type: ignore[method-assign]
    body = json.dumps(BODY)
    command = (
        "i=0; until wget -q -O /dev/null --header 'Content-Type: application/json' "
        f"--header \"Authorization: Bearer $OPENAI_API_KEY\" --post-data '{body}' "
        "$OPENAI_BASE_URL/chat/completions 2>/dev/null; do i=$((i+1)); usleep 2000; done; "
        "echo failed-attempts=$i"
    )
    import os

    os.environ["OPENAI_API_KEY"] = KEY
    os.environ["MLRB_OPENAI_UPSTREAM"] = f"{upstream.url}/v1"
    bound_ms: list[float] = []
    attempts: list[int] = []
    try:
        with tempfile.TemporaryDirectory() as runs:
            for _ in range(reps):
                config = RunConfig(
                    image=BASE, task="tiny_lm", benchmark="smoke", runtime="docker",
                    runs_dir=Path(runs), command=command, provider="openai",
                    time_limit="60", grace="2s", gpus="none",
                )  # fmt: skip
                record, run_dir = run_agent(config, Progress(stream=io.StringIO(), echo=False))
                log = (run_dir / "agent.log").read_text()
                assert record.status == "completed", log
                attempts.append(int(log.split("failed-attempts=")[1].split()[0]))
                bound_ms.append((marks["started"] - marks["bound"]) * 1000)
    finally:
        DockerRuntime.start, ProxySession.attach = start, attach  # type: ignore[method-assign]
        upstream.stop()
    return {
        "runs": reps,
        "port_bound_before_start_ms": {
            "median": round(statistics.median(bound_ms), 2), "max": round(max(bound_ms), 2)
        },
        "agent_failed_attempts_2ms_apart": {"median": statistics.median(attempts),
                                            "max": max(attempts)},
    }  # fmt: skip


def main() -> int:
    """Run both measurements and print (or save) them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--docker-reps", type=int, default=0, help="also time the port's opening (docker, root)"
    )
    parser.add_argument("--busybox", type=Path, default=Path("/bin/busybox"))
    args = parser.parse_args()
    report = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "latency": latency(args.calls),
        "overshoot": [
            overshoot(1, {"tokens": 5000}),
            overshoot(8, {"tokens": 5000}),
            overshoot(1, {"usd": 0.002}),
            overshoot(8, {"usd": 0.002}),
            overshoot(1, {"tokens": 5000}, uncapped_output=1000),
            overshoot(8, {"tokens": 5000}, uncapped_output=1000),
        ],
    }
    if args.docker_reps:
        report["port_delay"] = port_delay(args.docker_reps, args.busybox)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
