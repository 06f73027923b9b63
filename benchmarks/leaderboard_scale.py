"""Time the leaderboard over 10,000 recorded evaluations: terminal table and HTML page.

    .venv/bin/python benchmarks/leaderboard_scale.py [--evaluations 10000] [--agents 40]

A fresh SQLite store is filled through the store's bulk path (``record_many``), the MLRC-Bench
paper table is imported, then each view is timed end to end as the command runs it: open the
store, read every evaluation, aggregate (with the bootstrap of the average's interval, rank
stability and ties; the page also carries the paired comparisons), render. Target: under 2 s for
each view. Beside the wall time, the CPU time of the process is printed: on a shared, loaded
machine it is the steadier figure.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from agent_contracts.results import AgentInfo, Environment, EvaluationResult, MetricValue, ModelInfo
from agent_eval.leaderboard.importing import builtin_path, read_reference_file
from agent_eval.leaderboard.page import write_page
from agent_eval.leaderboard.query import import_batch, load_boards
from agent_eval.leaderboard.views import render_board
from agent_eval.scores import score
from agent_eval.store import Store
from agent_tasks.registry import list_tasks
from agent_tasks.spec import TaskSpec


def _evaluations(specs: list[TaskSpec], count: int, agents: int) -> list[EvaluationResult]:
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i in range(count):
        spec = specs[i % len(specs)]
        agent = f"agent-{(i // len(specs)) % agents:02d}"
        base = spec.anchors.baseline if spec.anchors.baseline is not None else 0.3
        ref = spec.anchors.reference_value or (base + 1.0)
        raw = base + rng.uniform(-0.2, 0.6) * (ref - base)
        status = "error" if rng.random() < 0.03 else "ok"
        when = start + timedelta(seconds=i)
        out.append(
            EvaluationResult(
                evaluation_id=uuid.uuid4().hex,
                run_id=f"run-{i}",
                task=spec.name,
                benchmark=spec.benchmark,
                task_version=spec.version,
                agent=AgentInfo(label=agent, provider="openai", model="gpt-4o"),
                model=ModelInfo(path="/model", format="hf_model"),
                status=status,
                metrics=()
                if status == "error"
                else (
                    MetricValue(
                        name=spec.primary_metric,
                        value=raw,
                        direction=spec.primary.direction,
                        source=spec.primary_metric,
                    ),
                ),
                primary_metric=spec.primary_metric,
                score=None if status == "error" else score(spec, raw),
                environment=Environment(
                    evaluator_version="0.1.0", python_version="3.11", platform="linux", device="cpu"
                ),
                started_at=when,
                finished_at=when + timedelta(seconds=60),
                duration_s=60.0,
            )
        )
    return out


def main() -> int:
    """Fill a store, time both views, print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--keep-page", type=Path, help="Copy the page written to this path.")
    args = parser.parse_args()

    specs = list_tasks()
    benchmark = "mlrc_bench" if any(s.benchmark == "mlrc_bench" for s in specs) else None
    chosen = [s for s in specs if benchmark is None or s.benchmark == benchmark]
    if benchmark is None:
        benchmark = chosen[0].benchmark
        chosen = [s for s in chosen if s.benchmark == benchmark]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        evs = _evaluations(chosen, args.evaluations, args.agents)
        with Store.open(results_dir=folder) as store:
            for i in range(0, len(evs), 1000):
                store.record_many(evs[i : i + 1000])
            if benchmark == "mlrc_bench":
                import_batch(store, read_reference_file(builtin_path("mlrc_bench_paper"), specs))
        setup = time.perf_counter() - t0

        t0, c0 = time.perf_counter(), time.process_time()
        with Store.open(results_dir=folder) as store:
            boards = load_boards(store, benchmark)
        console = Console(file=io.StringIO(), width=200)
        for board in boards:
            render_board(board, console)
        terminal, terminal_cpu = time.perf_counter() - t0, time.process_time() - c0

        t0, c0 = time.perf_counter(), time.process_time()
        with Store.open(results_dir=folder) as store:
            boards = load_boards(store, benchmark)
        page = write_page(boards, folder / "leaderboard.html")
        html, html_cpu = time.perf_counter() - t0, time.process_time() - c0
        size = page.stat().st_size
        if args.keep_page is not None:
            args.keep_page.write_bytes(page.read_bytes())

        t0 = time.perf_counter()
        with Store.open(results_dir=folder) as store:
            read = len(store.evaluations(benchmark=benchmark))
        reading = time.perf_counter() - t0

    rows = sum(len(b.rows) for b in boards)
    print(
        f"benchmark {benchmark}: {args.evaluations} evaluations, {len(chosen)} tasks, {rows} rows"
    )
    print(f"  setup (generate + bulk insert)     {setup:6.2f} s")
    print(f"  store read alone ({read} results) {reading:6.2f} s")
    cpu = "cpu {:.2f} s; target < 2 s"
    print(f"  leaderboard, terminal table        {terminal:6.2f} s  ({cpu.format(terminal_cpu)})")
    print(f"  leaderboard --html                 {html:6.2f} s  ({cpu.format(html_cpu)})")
    print(f"  page size                          {size / 1024:6.1f} KiB")
    return 0 if terminal < 2 and html < 2 else 1


if __name__ == "__main__":
    sys.exit(main())
