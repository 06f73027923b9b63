"""Size and load time of the page per run on a synthetic day-long run.

    .venv/bin/python benchmarks/run_page.py [--calls 5000] [--log-lines 200000] [--repeat 3]

A run folder is written as the harness leaves it (run.json, agent.log and its arrival times,
transcript.jsonl, a results file with 24 snapshots scored), then ``agent-eval view`` is timed end
to end, and the page is opened in headless Chromium (``/usr/bin/chromium``) ``--repeat`` times:
the load time is the page's own ``performance.now()`` when its script has built the first slice
of the timeline (navigation start to ready), the median reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "agent_eval"))

from run_page_testkit import make_run  # noqa: E402
from test_leaderboard_page import Browser  # noqa: E402

from agent_eval.run_page import write_run_page  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--log-lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        run_dir, results = make_run(root, calls=args.calls, log_lines=args.log_lines)
        folder_bytes = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
        started = time.perf_counter()
        page = write_run_page(run_dir, root / "run.html", [results])
        render_s = time.perf_counter() - started
        loads = []
        for i in range(args.repeat):
            browser = Browser(args.chromium, root / f"profile-{i}")
            try:
                browser.open(page.as_uri())
                loads.append(float(browser.js("document.body.dataset.readyMs")))
            finally:
                browser.close()
        print(f"run: {args.calls} calls, {args.log_lines} log lines, {folder_bytes / 1e6:.1f} MB")
        print(f"agent-eval view: {render_s:.2f} s")
        print(f"page: {page.stat().st_size / 1e6:.1f} MB")
        print(f"load to ready in Chromium: median {statistics.median(loads):.0f} ms "
              f"(runs: {', '.join(f'{x:.0f}' for x in loads)})")  # fmt: skip


if __name__ == "__main__":
    main()
