"""What the ``batch`` commands do: run or resume a set, tell where it stands, cancel it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agent_harness.liveness import pid_alive
from agent_harness.run_json import hostname
from agent_harness.runset.attempts import harness_pids
from agent_harness.runset.backends.base import Backend
from agent_harness.runset.ledger import Ledger
from agent_harness.runset.model import LoadedRunSet, RunSetError, load_runset
from agent_harness.runset.scheduler import Scheduler, Summary, lock_holder


def make_backend(kind: str, address: str | None = None, token: str | None = None) -> Backend:
    """The backend named ``kind`` (``local`` or ``ray``)."""
    if kind == "ray":
        from agent_harness.runset.backends.ray import RayBackend

        return RayBackend(address=address, token=token)
    from agent_harness.runset.backends.local import LocalBackend

    return LocalBackend()


def run_set(
    path: Path, backend: Backend, view: Any = None, *, resume: bool = False, fresh: bool = False
) -> tuple[LoadedRunSet, Summary]:
    """Run the set in ``path`` (or resume it); return it and where it ended."""
    loaded = load_runset(path, local_gpus=not backend.picks_gpus)
    try:
        if hasattr(backend, "prepare"):
            backend.prepare(loaded)  # its address, token and capacity first: cheap to refuse
        started = Ledger(loaded.folder).exists()
        if resume and not started:
            raise RunSetError(
                f"the set in {str(loaded.folder)!r} has not been started",
                hint=f"start it with `agent-harness batch run {path}`",
            )
        if fresh and started:
            raise RunSetError(
                f"the set in {str(loaded.folder)!r} was already started",
                hint=f"continue it with `agent-harness batch resume {path}`, or see its state "
                "with `agent-harness batch status`",
            )
        scheduler = Scheduler(loaded, backend, view)
        if view is not None:
            view.start()
        try:
            summary = scheduler.run()
        finally:
            if view is not None:
                view.stop()
    finally:
        backend.close()
    return loaded, summary


def status_rows(loaded: LoadedRunSet) -> list[dict[str, Any]]:
    """One row per cell: its state, attempts, and result (read-only; no lock taken)."""
    _, states = Ledger(loaded.folder).replay()
    rows = []
    for cell in loaded.cells:
        state = states.get(cell.cell_id)
        result = state.result if state is not None else None
        attempt = state.open_attempt if state is not None else None
        if result is not None:
            where = "finished"
            outcome = str(result.get("outcome"))
        elif attempt is not None:
            folder = loaded.folder / attempt.folder
            alive = attempt.host == hostname() and bool(harness_pids(folder))
            where = "running" if alive else "unsettled"
            outcome = ""
        else:
            where, outcome = "queued", ""
        rows.append(
            {
                "cell": cell.cell_id,
                "agent": cell.agent,
                "task": cell.task,
                "trial": cell.trial,
                "gpus": cell.gpus,
                "state": where,
                "outcome": outcome,
                "attempts": len(state.attempts) if state is not None else 0,
                "exit_code": result.get("exit_code") if result else None,
                "run_dir": result.get("run_dir") if result else None,
                "duration_s": result.get("duration_s") if result else None,
                "evaluation_exit": result.get("evaluation_exit") if result else None,
            }
        )
    return rows


def cancel_set(path: Path, *, wait_s: float = 120.0, say: Any = None) -> dict[str, Any]:
    """Stop the set: its scheduler (which stops and records every cell), or orphaned harnesses."""
    loaded = load_runset(path, local_gpus=False)
    holder = lock_holder(loaded.folder)
    if holder is not None and holder > 0:
        os.kill(holder, signal.SIGTERM)
        end = time.monotonic() + wait_s
        while lock_holder(loaded.folder) is not None and time.monotonic() < end:
            time.sleep(0.2)
        return {"scheduler": holder, "stopped": lock_holder(loaded.folder) is None, "harnesses": []}
    if not Ledger(loaded.folder).exists():
        return {"scheduler": None, "stopped": True, "harnesses": []}  # never started
    # No scheduler (it was killed): stop the harnesses it left, then record them as a resume would.
    _, states = Ledger(loaded.folder).replay()
    pids: list[int] = []
    for state in states.values():
        attempt = state.open_attempt
        if attempt is not None and attempt.host == hostname():
            pids += harness_pids(loaded.folder / attempt.folder)
    for pid in pids:
        if say is not None:
            say(f"asking harness {pid} to stop")
        os.kill(pid, signal.SIGINT)
    end = time.monotonic() + wait_s
    while any(pid_alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.2)
    from agent_harness.runset.backends.local import LocalBackend
    from agent_harness.runset.scheduler import set_lock

    scheduler = Scheduler(loaded, LocalBackend(), None)
    with set_lock(loaded.folder):
        scheduler._open()
        scheduler._reconcile()
    return {"scheduler": None, "stopped": not any(pid_alive(p) for p in pids), "harnesses": pids}


def results_table(loaded: LoadedRunSet, rows: list[dict[str, Any]]) -> Any:
    """The set's per-cell table (rich)."""
    from rich.table import Table

    from agent_harness.timelimit import format_seconds

    table = Table(title=f"run set {loaded.runset.name}: {len(rows)} cells", header_style="bold")
    for column in ("cell", "state", "outcome", "exit", "eval", "attempts", "duration", "run"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["cell"],
            row["state"],
            row["outcome"],
            "" if row["exit_code"] is None else str(row["exit_code"]),
            "" if row["evaluation_exit"] is None else str(row["evaluation_exit"]),
            str(row["attempts"]),
            "" if row["duration_s"] is None else format_seconds(int(row["duration_s"])),
            row["run_dir"] or "",
        )
    return table


def evaluator_leaderboard(loaded: LoadedRunSet) -> subprocess.CompletedProcess[str] | None:
    """The set's leaderboard from ``agent-eval leaderboard`` (a separate program; the harness
    never imports the evaluator), or None when it is not installed or nothing was evaluated."""
    if not loaded.runset.evaluate:
        return None
    sibling = Path(sys.executable).parent / "agent-eval"
    program = str(sibling) if sibling.is_file() else shutil.which("agent-eval")
    if program is None:
        return None
    tasks = sorted({c.task for c in loaded.cells})
    argv = [program, "leaderboard", "--results-dir", str(loaded.folder / "results")]
    for task in tasks:
        argv += ["--task", task]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)
