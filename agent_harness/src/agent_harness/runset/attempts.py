"""One attempt of a cell: its folder, the harness command line, and how it ended.

Each attempt gets a folder of its own, ``<set>/runs/<cell_id>/a<N>/``, given to the harness as
``--runs-dir``: the run folder the harness makes inside it belongs to that attempt and no other,
so the scheduler can always tell, even after its own crash, whether an attempt ran and how it
ended (the run folder's ``run.json`` is the truth; the ledger only points at it).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from agent_harness.records import RunRecord, read_record
from agent_harness.runset.model import Cell, LoadedRunSet, env_file_of

HARNESS_LOG = "harness.log"
"""The harness's own console output (stdout and stderr) of one attempt."""

RESULT_STATUSES = ("completed", "failed", "timeout")
"""run.json statuses that are results of the agent: never retried."""

GPU_BUSY = re.compile(r"GPU.{0,80}\b(busy|held|holds|in use|locked)\b", re.IGNORECASE)
"""How a refusal for a GPU held by another run reads (exit 3): the cell waits and retries."""

GPUS_PLACEHOLDER = "{gpus}"
"""Stands for the GPU ids in a command line built before the GPUs are known (Ray)."""


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


def harness_argv(
    loaded: LoadedRunSet, cell: Cell, gpus: list[str] | str, folder: Path
) -> list[str]:
    """The ``agent-harness run`` command line of one attempt (no credential value in it)."""
    rs = loaded.runset
    agent = loaded.agent(cell.agent)
    argv = [
        *harness_command(),
        "run",
        agent.image_label,
        "--agent-label",
        agent.name,
        "--task",
        cell.task,
        "--benchmark",
        cell.benchmark,
        "--provider",
        agent.provider,
        "--gpus",
        gpus if isinstance(gpus, str) else (",".join(gpus) or "none"),
        "--runtime",
        agent.runtime_used,
        "--runs-dir",
        str(folder),
        "--grace",
        rs.grace,
        "--network",
        agent.network,
        "--user",
        agent.user,
        "--quiet",
    ]
    if cell.time_limit:
        argv += ["--time-limit", cell.time_limit]
    if agent.command:
        argv += ["--command", agent.command]
    env_file = env_file_of(loaded, agent)
    if env_file is not None:
        argv += ["--env-file", str(env_file)]
    for name in agent.pass_env:
        argv += ["--pass-env", name]
    if agent.provider != "none":
        argv += ["--credentials", agent.credentials]
    if agent.budget_tokens is not None:
        argv += ["--budget-tokens", str(agent.budget_tokens)]
    if agent.budget_usd is not None:
        argv += ["--budget-usd", repr(agent.budget_usd)]
    if rs.evaluate:
        argv += ["--evaluate", "--eval-mode", rs.eval_mode]
        argv += ["--results-dir", str(loaded.folder / "results")]
        if rs.eval_image:
            argv += ["--eval-image", rs.eval_image]
    argv += list(agent.harness_args)
    return argv


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

    Found by their command line (``--runs-dir FOLDER``): unique per attempt, and unlike a
    recorded pid it cannot point at an unrelated process that reused the number.
    """
    needle = f"\0--runs-dir\0{folder}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if needle in b"\0" + cmdline and not _zombie(entry):
                found.append(int(entry.name))
    return [p for p in found if p != os.getpid()]


def _zombie(proc: Path) -> bool:
    try:
        stat = (proc / "stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"
