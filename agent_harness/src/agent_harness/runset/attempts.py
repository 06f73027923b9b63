"""One attempt of a cell: its folder, its run description, and how it ended.

Each attempt gets a folder of its own, ``<set>/runs/<cell_id>/a<N>/``, which is its run
description's ``runs_dir``: the run folder the harness makes inside it belongs to that attempt
and no other, so the scheduler can always tell, even after its own crash, whether an attempt ran
and how it ended (the run folder's ``run.json`` is the truth; the ledger only points at it).
The attempt's :class:`~agent_harness.config.RunConfig` is written there as ``attempt.json`` and
the harness started as ``agent-harness run --config <folder>/attempt.json``.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_harness.config import RunConfig, RunOptions
from agent_harness.gpus import GpuSelection
from agent_harness.liveness import processes
from agent_harness.run_json import RunRecord, read_record
from agent_harness.runset.model import Cell, LoadedRunSet, env_file_of

HARNESS_LOG = "harness.log"
"""The harness's own console output (stdout and stderr) of one attempt."""

RESULT_STATUSES = ("completed", "failed", "timeout")
"""run.json statuses that are results of the agent: never retried."""

GPU_BUSY = re.compile(r"GPU.{0,80}\b(busy|held|holds|in use|locked)\b", re.IGNORECASE)
"""How a refusal for a GPU held by another run reads (exit 3): the cell waits and retries."""

ATTEMPT_FILE = "attempt.json"
"""An attempt's run description, in its folder (``agent-harness run --config``)."""


@dataclass(frozen=True)
class Verdict:
    """How an attempt ended, in the scheduler's terms."""

    outcome: str
    """An outcome of :data:`agent_harness.runset.ledger.Outcome`, or ``busy``."""
    exit_code: int | None
    """The harness's exit code, when known."""
    record: RunRecord | None
    """The attempt's run.json, when it has one."""
    run_dir: Path | None
    """The attempt's run folder, when there is one."""
    message: str = ""
    """What went wrong (last lines of the harness's output), for infrastructure failures."""


def attempt_folder(loaded: LoadedRunSet, cell_id: str, attempt: int) -> Path:
    """``<set>/runs/<cell_id>/a<attempt>``."""
    return loaded.folder / "runs" / cell_id / f"a{attempt}"


def harness_command() -> list[str]:
    """How to start the harness with this interpreter (works from a source tree too)."""
    return [sys.executable, "-m", "agent_harness"]


def attempt_config(
    loaded: LoadedRunSet, cell: Cell, gpus: GpuSelection | None, folder: Path
) -> RunConfig:
    """The run description of one attempt (no credential value in it; ``gpus`` None where the
    backend picks the ids and fills them in)."""
    rs = loaded.runset
    agent = loaded.agent(cell.agent)
    return RunConfig(
        **agent.model_dump(include=set(RunOptions.model_fields)),
        image=agent.image_label,
        agent_label=agent.name,
        task=cell.task,
        benchmark=cell.benchmark,
        gpus=gpus,
        time_limit=cell.time_limit,
        grace=rs.grace,
        snapshot_every=rs.snapshot_every,
        env_file=env_file_of(loaded, agent),
        runtime=agent.runtime_used,
        runs_dir=folder,
        command=agent.command,
        echo=False,
        evaluate=rs.evaluate,
        eval_mode=rs.eval_mode,
        eval_image=rs.eval_image,
        results_dir=loaded.folder / "results",
    )


def attempt_command(folder: Path, description: dict[str, Any]) -> list[str]:
    """Write an attempt's run description (a RunConfig as JSON) into its folder; return the
    command that runs it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ATTEMPT_FILE
    partial = path.with_name(f".{ATTEMPT_FILE}.partial")
    partial.write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return [*harness_command(), "run", "--config", str(path)]


def harness_environment(loaded: LoadedRunSet, gpu_ids: list[str] | None = None) -> dict[str, str]:
    """The variables an attempt's harness gets on top of the scheduler's own environment."""
    from agent_harness.gpus import SIMULATED_GPUS_ENV

    if not loaded.runset.simulate_gpus:
        return {}
    ids = gpu_ids if gpu_ids is not None else list(loaded.gpu_ids)
    return {SIMULATED_GPUS_ENV: ",".join(ids)}


def run_folder(folder: Path) -> Path | None:
    """The run folder the harness made inside an attempt folder, if it made one."""
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if p.is_dir() and (p / "run.json").is_file())
    return found[-1] if found else None


def log_tail(folder: Path, limit: int = 2000) -> str:
    """The end of the harness's own output for this attempt."""
    try:
        data = (folder / HARNESS_LOG).read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace").strip()


def judge(folder: Path, exit_code: int | None, *, stopping: bool = False) -> Verdict:
    """How an attempt ended, from its run folder (the truth) and the harness's exit code."""
    run_dir = run_folder(folder)
    record = read_record(run_dir) if run_dir is not None else None
    tail = log_tail(folder)
    errors = "\n".join(line for line in tail.splitlines() if line.startswith(("error:", "hint:")))
    if record is not None and record.status in RESULT_STATUSES:
        return Verdict(record.status, exit_code, record, run_dir)
    if record is not None and record.status == "interrupted":
        # Stopped by Ctrl-C or cancel: the cell was never given its full chance; run it again.
        return Verdict("interrupted", exit_code, record, run_dir)
    if stopping and record is None and (exit_code is None or exit_code >= 128):
        return Verdict("interrupted", exit_code, None, None)
    if exit_code == 2 and record is None:
        # A usage error is the set's own mistake: every further attempt would fail the same way.
        return Verdict("error", exit_code, None, None, errors or tail[-500:])
    if exit_code == 3 and GPU_BUSY.search(errors or tail):
        return Verdict("busy", exit_code, record, run_dir, errors or tail[-500:])
    if exit_code is None and record is None:
        return Verdict("lost", None, None, None, "the attempt left no run folder")
    reason = errors or (record.message if record is not None and record.message else "")
    if record is not None and record.status == "running":
        reason = reason or "the harness ended without finishing its record (harness or node lost)"
    return Verdict("infra", exit_code, record, run_dir, reason or tail[-500:])


def harness_pids(folder: Path) -> list[int]:
    """Live processes on this host that are the harness of this attempt folder.

    Found by their command line (``--config FOLDER/attempt.json``): unique per attempt, and
    unlike a recorded pid it cannot point at an unrelated process that reused the number.
    """
    needle = f"\0--config\0{folder / ATTEMPT_FILE}\0".encode()
    return processes(
        lambda entry: needle in b"\0" + (entry / "cmdline").read_bytes() and not _zombie(entry)
    )


def _zombie(proc: Path) -> bool:
    try:
        stat = (proc / "stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"
