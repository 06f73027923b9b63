"""Measure how long after an agent crosses its disk limit it is stopped.

    .venv/bin/python benchmarks/disk_limit_latency.py [--reps 3] [--limit 20M] [--out disk.json]

A busybox agent writes 1 MiB files into its output folder every 0.05 s (about 20 MiB/s) until it
is stopped by ``--disk-limit``. From the files' modification times on the host: the moment the
total first passed the limit (crossing), the last write (so the agent kept writing for
``last_write - crossing`` seconds, within one write period), the overshoot past the limit, and
when the harness returned. Docker and local runtimes; the engine and busybox as for the tests.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BASE = "mlrb-bench/harness-busybox:latest"
WRITER = (
    "i=0; while true; do dd if=/dev/zero of=$OUTPUT_DIR/f$i bs=1048576 count=1 2>/dev/null;"
    " i=$((i+1)); sleep 0.05; done"
)


def build_image(client: Any, busybox: Path) -> None:
    """The busybox base image."""
    with tempfile.TemporaryDirectory() as ctx:
        shutil.copy(REPO / "docker" / "test-images" / "busybox" / "Dockerfile", ctx)
        shutil.copy(busybox, Path(ctx) / "busybox")
        client.images.build(path=ctx, tag=BASE, network_mode="none", rm=True)


def one_run(runtime: str, limit: str, runs_dir: Path) -> dict[str, Any]:
    """One run stopped by the disk limit, measured from its files."""
    from agent_harness.config import RunConfig
    from agent_harness.console import Progress
    from agent_harness.run import run_agent

    config = RunConfig(
        image=BASE,
        task="tiny_lm",
        benchmark="smoke",
        runtime=runtime,  # type: ignore[arg-type]
        runs_dir=runs_dir,
        command=WRITER,
        network="none",
        time_limit="120",
        grace="2s",
        disk_limit=limit,
    )
    record, run_dir = run_agent(config, Progress(stream=io.StringIO()))
    returned = time.time()
    if record.stop_reason != "disk_limit":
        raise SystemExit(f"the run was not stopped by the disk limit: {record.status}")
    limit_bytes = config.disk_limit if isinstance(config.disk_limit, int) else 0
    files = sorted(
        (p.stat() for p in (run_dir / "output").glob("f*")), key=lambda st: st.st_mtime_ns
    )
    total, crossing = 0, None
    for st in files:
        total += st.st_blocks * 512
        if crossing is None and total > limit_bytes:
            crossing = st.st_mtime_ns / 1e9
    assert crossing is not None
    last = files[-1].st_mtime_ns / 1e9
    return {
        "written_after_crossing_s": round(last - crossing, 3),
        "harness_returned_after_crossing_s": round(returned - crossing, 3),
        "overshoot_mib": round((total - limit_bytes) / 1024**2, 1),
    }


def main() -> None:
    """Measure and print (and optionally save) the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--limit", default="20M")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import docker
    from agent_harness.disk_limit import INTERVAL_S

    build_image(docker.from_env(), Path("/bin/busybox"))
    result: dict[str, Any] = {
        "machine": platform.platform(),
        "limit": args.limit,
        "interval_s": INTERVAL_S,
        "write_rate_mib_s": "about 20 (1 MiB every 0.05 s)",
    }
    with tempfile.TemporaryDirectory() as tmp:
        for runtime in ("docker", "local"):
            runs = [one_run(runtime, args.limit, Path(tmp) / runtime) for _ in range(args.reps)]
            result[runtime] = {
                "runs": runs,
                "median": {key: statistics.median(r[key] for r in runs) for key in runs[0]},
            }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
