"""Remove what a crashed harness left behind: what each runtime still holds for a run (the docker
runtime's labelled containers) and runs stuck at ``running``.

Only what is provably abandoned is touched: a run whose harness is gone on THIS host (its pid
is dead and the host name is ours), or whose deadline plus grace (and :data:`MARGIN_S`) has
passed. A live run of another host is left alone. By default only runs under ``--runs-dir``
are considered (a container whose ``mlrb.run_dir`` label is elsewhere is not touched unless
``all_runs_dirs``). A run cleanup ends is recorded as ``error`` with ``ended_by`` ``cleanup``,
never as the agent's own failure.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent_harness.liveness import pid_alive
from agent_harness.run_json import (
    RunRecord,
    hostname,
    iso,
    list_records,
    read_record,
    utc_now,
    write_record,
)

ABANDONED = "the harness ended without recording how the run ended; marked by cleanup"

MARGIN_S = 30.0
"""Seconds past deadline + grace before cleanup calls a run of a live (or unknown) harness
abandoned: time for a harness that is finishing to record the run itself."""


@dataclass(frozen=True)
class Cleaned:
    """One thing cleanup handled."""

    run_id: str
    container: str | None
    action: str
    """``removed``, ``marked`` (run.json set to error), ``skipped`` (not provably abandoned),
    or ``engine-unreachable`` (a runtime could not look for its leftovers: no Docker engine
    answered, so containers were not checked)."""
    reason: str = ""
    """Why it was (or was not) touched; for ``engine-unreachable`` what was not checked."""
    folder: str | None = None
    """A proxy folder removed (its proxy is gone); no run id nor container then."""


def _harness_alive(pid: str | int | None, host: str | None) -> bool:
    if pid is None or host != hostname():
        return False
    try:
        return pid_alive(int(pid))
    except ValueError:
        return False


def abandoned(
    pid: str | int | None, host: str | None, record: RunRecord | None, now: float | None = None
) -> str | None:
    """Why a run is provably abandoned, or None when it may still be alive."""
    if host == hostname() and pid is not None and not _harness_alive(pid, host):
        return f"its harness (pid {pid}) is gone on this host"
    if record is not None:
        ends = record.deadline + record.limits.grace_s + MARGIN_S
        if (now if now is not None else time.time()) > ends:
            return "its deadline and grace period have passed"
    return None


def _mark(run_dir: Path, reason: str) -> bool:
    return close_abandoned(run_dir, f"{ABANDONED} ({reason})")


def close_abandoned(run_dir: Path, message: str) -> bool:
    """Close a record left ``running`` whose harness and watchdog are both gone: ``error``,
    ended by ``cleanup``, with the spend the proxy wrote call by call (its calls file) folded
    into ``model_usage``, and the run's proxy folder removed. False when there was nothing to
    close. Used by ``agent-harness cleanup`` and by a run set's fence; once the agent is gone,
    :func:`secure_abandoned` copies its output out."""
    from agent_harness.proxy.account import usage_on_file
    from agent_harness.proxy.server import remove_folder
    from agent_harness.runtimes.base import WatchOrder
    from agent_harness.watchdog import WATCH_STATE

    record = read_record(run_dir)
    if record is None or record.status != "running":
        return False
    write_record(
        run_dir,
        record.model_copy(
            update={
                "status": "error",
                "ended_at": iso(utc_now()),
                "ended_by": "cleanup",
                "message": message,
                "model_usage": usage_on_file(run_dir, record),  # the proxy's calls file
            }
        ),
    )
    with contextlib.suppress(OSError, ValueError):
        order = WatchOrder.model_validate_json((run_dir / WATCH_STATE).read_text("utf-8"))
        if order.proxy_dir is not None:
            remove_folder(Path(order.proxy_dir))  # only a folder of ours named mlrb-proxy-*
    return True


def secure_abandoned(run_dir: Path) -> None:
    """Copy out the output of a run cleanup ended, once its agent is gone: only for a run of
    this host whose harness is dead (a live harness, or its watchdog, does it itself). No
    deliverable is taken: nobody saw the run end."""
    from agent_harness.output_safety import STAGING_DIR, output_owner, secure_output

    record = read_record(run_dir)
    if (
        record is None
        or record.ended_by != "cleanup"
        or record.host != hostname()
        or _harness_alive(record.harness_pid, record.host)
        or not (run_dir / STAGING_DIR).exists()
    ):
        return
    safety = secure_output(run_dir, output_owner())
    update = {
        "output_safety": safety.as_record(),
        "deliverable_rejected": "the run was abandoned: no deliverable is taken",
    }
    write_record(run_dir, record.model_copy(update=update))


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def cleanup(runs_dir: Path, *, force: bool = False, all_runs_dirs: bool = False) -> list[Cleaned]:
    """Remove what every runtime holds for abandoned runs (every run's with ``force``, such as a
    labelled container); mark their runs."""
    from agent_harness.runtimes.base import RuntimeUnreachableError
    from agent_harness.runtimes.registry import runtimes

    root = runs_dir.resolve()
    done: list[Cleaned] = []
    handled: set[str] = set()
    for runtime in runtimes().values():
        try:
            leftovers = runtime.leftovers()
        except RuntimeUnreachableError as exc:
            # Runs of other runtimes are still marked; say what was not checked, so a leftover
            # of this one is not believed gone.
            done.append(Cleaned("", None, "engine-unreachable", str(exc)))
            continue
        for leftover in leftovers:
            run_id = leftover.run_id
            run_dir = leftover.run_dir or runs_dir / run_id
            if not all_runs_dirs and not _under(run_dir.resolve(), root):
                continue  # another runs folder's run: not ours to judge
            handled.add(run_id)
            record = read_record(run_dir)
            reason = abandoned(leftover.harness_pid, leftover.host, record)
            if reason is None and not force:
                host = leftover.host or "?"
                why = "its harness is alive" if host == hostname() else f"it runs on host {host}"
                done.append(
                    Cleaned(run_id, leftover.name, "skipped", f"{why}, before its deadline")
                )
                continue
            reason = reason or "--force"
            # Recorded first, so a harness still watching reads that cleanup, not the agent,
            # ended it.
            with contextlib.suppress(OSError):
                _mark(run_dir, reason)
            runtime.remove_leftover(leftover)
            with contextlib.suppress(OSError):
                secure_abandoned(run_dir)
            done.append(Cleaned(run_id, leftover.name, "removed", reason))
    for run_dir, record in list_records(runs_dir):
        if record.status != "running" or record.run_id in handled:
            continue
        reason = abandoned(record.harness_pid, record.host, record)
        if reason is None and not force:
            continue
        with contextlib.suppress(OSError):
            if _mark(run_dir, reason or "--force"):
                secure_abandoned(run_dir)
                done.append(Cleaned(record.run_id, None, "marked", reason or "--force"))
    from agent_harness.proxy.server import remove_folder, stale_folders

    for folder in stale_folders():
        remove_folder(folder)
        done.append(Cleaned("", None, "removed", "its proxy is gone", folder=str(folder)))
    return done


def as_json(items: list[Cleaned]) -> list[dict[str, Any]]:
    """JSON-ready form of cleanup's report."""
    return [asdict(i) for i in items]
