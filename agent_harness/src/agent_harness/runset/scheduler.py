"""Run a set's cells: place each on free GPUs, start it, record how it ended, resume after a crash.

The scheduler keeps its own allocation (a GPU is given to one cell at a time) and, on top of it,
each cell's harness takes the OS-released GPU lock: a cell refused because a run outside the set
holds one of its GPUs (exit 3, "GPU ... busy") waits and tries again, without using up a retry.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from agent_contracts.errors import ExitCode
from agent_harness.errors import HarnessError
from agent_harness.gpus import GpuSelection
from agent_harness.run_json import hostname, read_record
from agent_harness.runset.attempts import (
    RESULT_STATUSES,
    Verdict,
    attempt_config,
    attempt_folder,
    harness_environment,
    harness_pids,
    judge,
    run_folder,
)
from agent_harness.runset.backends.base import Backend, Ended, Job
from agent_harness.runset.fencing import Fence
from agent_harness.runset.ledger import RESULTS, CellState, Ledger
from agent_harness.runset.model import Cell, LoadedRunSet, RunSetError

LOCK_FILE = "scheduler.lock"
BUSY_WAIT_S = 5.0
"""How long a cell refused for a busy GPU waits before it is tried again."""
RETRY_BASE_S = 2.0
"""Wait before the first retry after an infrastructure failure; doubled after each further
failure of the same cell, up to :data:`RETRY_CAP_S`."""
RETRY_CAP_S = 120.0
"""Longest wait before a retry."""


def retry_delay(failures: int) -> float:
    """Seconds before the next attempt of a cell after its ``failures``-th counted failure."""
    return min(RETRY_CAP_S, RETRY_BASE_S * 2 ** max(0, failures - 1))


_TICK_S = 0.1
FENCE_POLL_S = 0.3
"""How often a cell waiting for its previous attempt's agent to be gone checks again."""


class SetBusyError(HarnessError):
    """Another scheduler is running this set (exit 3)."""

    exit_code = ExitCode.ENVIRONMENT


@dataclass
class Running:
    """A cell under way."""

    cell: Cell
    attempt: int
    gpus: list[str]
    handle: Any
    started: float
    adopted: bool = False


@dataclass
class Summary:
    """Where a set stands: counts per state and the exit code of the command."""

    total: int
    finished: dict[str, int] = field(default_factory=dict)
    queued: int = 0
    running: int = 0
    interrupted: bool = False
    launched: int = 0
    adopted: int = 0
    reconciled: int = 0

    @property
    def exit_code(self) -> int:
        """130 when stopped; 3 when a cell gave up after infrastructure failures; else 0."""
        if self.interrupted:
            return int(ExitCode.INTERRUPTED)
        if self.finished.get("error"):
            return int(ExitCode.ENVIRONMENT)
        return 0


_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC


def _open_lock(path: Path) -> IO[str]:
    """The lock file, never through a link planted in its place (a scheduler run as root would
    otherwise truncate and write the file the link names)."""
    try:
        fd = os.open(path, _LOCK_FLAGS, 0o644)
    except OSError as exc:
        raise SetBusyError(
            f"the set's lock {str(path)!r} cannot be opened: {exc.strerror}",
            hint="it must be a regular file (remove a link or folder planted in its place)",
        ) from None
    found = os.fstat(fd)
    if not stat.S_ISREG(found.st_mode) or found.st_nlink != 1:
        os.close(fd)
        raise SetBusyError(
            f"the set's lock {str(path)!r} is not a regular file of one name",
            hint="remove what was put in its place and start the set again",
        )
    return os.fdopen(fd, "a+")


@contextlib.contextmanager
def set_lock(folder: Any) -> Iterator[IO[str]]:
    """Hold the set's scheduler lock (released by the OS if the scheduler dies)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = _open_lock(Path(folder) / LOCK_FILE)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise SetBusyError(
            f"another scheduler (pid {holder}) is running the set in {str(folder)!r}",
            hint="wait for it, or stop it with `agent-harness batch cancel RUNSET`",
        ) from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield handle
    finally:
        handle.close()


def lock_holder(folder: Any) -> int | None:
    """The pid of the scheduler running the set, or None when none is."""
    path = Path(folder) / LOCK_FILE
    if path.is_symlink() or not path.is_file():
        return None
    with _open_lock(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


class Scheduler:
    """Places the cells of one set onto GPUs through a backend, with the ledger as memory."""

    def __init__(self, loaded: LoadedRunSet, backend: Backend, view: Any = None) -> None:
        self.loaded = loaded
        self.backend = backend
        self.view = view
        self.ledger = Ledger(loaded.folder)
        self.states: dict[str, CellState] = {}
        self.running: dict[str, Running] = {}
        self.free: list[str] = list(loaded.gpu_ids)
        self.not_before: dict[str, float] = {}
        self.fences: dict[str, Fence] = {}
        self.fence_gpus: dict[str, list[str]] = {}
        self.fence_width: dict[str, int] = {}
        self.durations: dict[str, list[float]] = {}
        self.stops = 0
        self.stops_passed = 0
        self.summary = Summary(total=len(loaded.cells))
        self.started = time.monotonic()
        rs = loaded.runset
        # A backend that picks GPUs itself (Ray) knows how many its cluster has.
        self.capacity_gpus = (
            int(getattr(backend, "gpu_capacity", 0)) if backend.picks_gpus else len(self.free)
        )
        self.concurrency = rs.concurrency or max(1, self.capacity_gpus)

    # -- the set's life --------------------------------------------------------------------

    def run(self) -> Summary:
        """Run (or resume) the set until every cell has a result, or until stopped."""
        with set_lock(self.loaded.folder), self._signals():
            self._open()
            self._reconcile()
            self._loop()
        self._count()
        return self.summary

    def _open(self) -> None:
        opened, self.states = self.ledger.replay()
        if opened is None:
            self.ledger.append(
                "open",
                set=self.loaded.runset.name,
                digest=self.loaded.digest,
                file=str(self.loaded.path),
                cells=[c.cell_id for c in self.loaded.cells],
            )
        elif opened.get("digest") != self.loaded.digest:
            raise RunSetError(
                f"the run-set file {str(self.loaded.path)!r} has changed since the set in "
                f"{str(self.loaded.folder)!r} was started",
                hint="restore the file as it was, or give the changed set its own folder",
            )
        for cell in self.loaded.cells:
            self.states.setdefault(cell.cell_id, CellState(cell.cell_id))

    def _reconcile(self) -> None:
        """Settle attempts a crashed scheduler left open: adopt live harnesses, judge the rest."""
        by_id = {c.cell_id: c for c in self.loaded.cells}
        for cell_id, state in self.states.items():
            attempt = state.open_attempt
            if attempt is None or cell_id not in by_id:
                continue
            folder = self.loaded.folder / attempt.folder
            live = harness_pids(folder) if attempt.host == hostname() else []
            handle: Any = None
            if live and self.backend.name == "local":
                handle = getattr(self.backend, "adopt")(live[0])  # noqa: B009 - local only
            elif live or _may_still_run(folder):
                # Started elsewhere (a Ray node) and maybe still running: watch its record
                # rather than start the trial a second time.
                handle = Watch(folder, live)
            if handle is not None:
                held = [g for g in attempt.gpus if g in self.free]
                for gpu in held:
                    self.free.remove(gpu)
                self.running[cell_id] = Running(
                    by_id[cell_id], attempt.number, held, handle, time.monotonic(), True
                )
                self.summary.adopted += 1
                self._say(f"{cell_id}: attempt {attempt.number} is still running; adopted")
                continue
            verdict = judge(folder, None)
            self._record(by_id[cell_id], attempt.number, verdict, reconciled=True)
            self.summary.reconciled += 1
            if verdict.outcome not in RESULT_STATUSES:
                # Its harness is gone, its agent maybe not: fenced now, holding its GPUs.
                held = [g for g in attempt.gpus if g in self.free]
                for gpu in held:
                    self.free.remove(gpu)
                self._start_fence(by_id[cell_id], held)

    def _loop(self) -> None:
        while True:
            self._pass_stops_on()
            if self.stops and not self.running:
                self.summary.interrupted = True
                return
            self._poll_fences()
            if not self.stops:
                self._start_what_fits()
            self._collect()
            self._show()
            if not self.running and not self._pending():
                return
            if not self.running and self._pending() and not self.stops:
                # Everything left waits (a busy GPU outside the set): sleep until the earliest.
                wake = min(self.not_before.get(c.cell_id, 0.0) for c in self._pending())
                time.sleep(max(0.0, min(wake - time.monotonic(), 1.0)))
                continue
            time.sleep(_TICK_S)

    # -- placing cells -----------------------------------------------------------------------

    def _pending(self) -> list[Cell]:
        return [
            c
            for c in self.loaded.cells
            if c.cell_id not in self.running and self.states[c.cell_id].result is None
        ]

    def _start_what_fits(self) -> None:
        now = time.monotonic()
        for cell in self._pending():
            if len(self.running) >= self.concurrency:
                return
            if self.not_before.get(cell.cell_id, 0.0) > now:
                continue
            if self.backend.picks_gpus:
                # A cell being fenced still occupies its GPUs on its node (its agent may run).
                used = sum(r.cell.gpus for r in self.running.values())
                used += sum(self.fence_width.values())
                if self.capacity_gpus and used + cell.gpus > self.capacity_gpus:
                    continue
                gpus: list[str] = []
            else:
                if cell.gpus > len(self.free):
                    continue
                gpus = sorted(self.free, key=_gpu_order)[: cell.gpus]
            if not self._fenced(cell):
                continue
            self._launch(cell, gpus)

    def _fenced(self, cell: Cell) -> bool:
        """True once the cell's previous attempt (if any) is proven gone; the proof is written
        to the ledger (``fenced``) before the next attempt may start. Never blocks."""
        state = self.states[cell.cell_id]
        last = state.attempts[-1] if state.attempts else None
        if last is None or last.fenced:
            return True
        if cell.cell_id not in self.fences:
            # An attempt a previous scheduler left (resume): fenced before the next starts.
            self._start_fence(cell, [])
        return self._check_fence(cell.cell_id)

    def _start_fence(self, cell: Cell, gpus: list[str]) -> None:
        """Fence the cell's last attempt; its GPUs stay taken until the proof. The first look
        (which asks the watchdog to kill the agent) is at once, so that the request stands even
        if this scheduler ends first."""
        last = self.states[cell.cell_id].attempts[-1]
        self.fences[cell.cell_id] = Fence(self.loaded.folder / last.folder)
        self.fence_gpus[cell.cell_id] = gpus
        self.fence_width[cell.cell_id] = cell.gpus if self.backend.picks_gpus else 0
        self._check_fence(cell.cell_id)

    def _poll_fences(self) -> None:
        for cell_id in list(self.fences):
            self._check_fence(cell_id)

    def _check_fence(self, cell_id: str) -> bool:
        """Look at one fence (at most every :data:`FENCE_POLL_S`); True once proven."""
        fence = self.fences.get(cell_id)
        if fence is None:
            return True
        if time.monotonic() < fence.next_check:
            return False
        last = self.states[cell_id].attempts[-1]
        proof = fence.check()
        if proof is None:
            if not fence.announced:
                fence.announced = True
                self._say(
                    f"{cell_id}: waiting until attempt {last.number}'s agent is gone "
                    f"({fence.waiting_for})"
                )
            fence.next_check = time.monotonic() + FENCE_POLL_S
            return False
        self.ledger.append(
            "fenced",
            cell=cell_id,
            attempt=last.number,
            proof=proof.how,
            detail=proof.detail,
            killed_by=proof.killed_by or None,
            waited_s=round(time.monotonic() - fence.since, 3),
        )
        last.fenced = True
        del self.fences[cell_id]
        self._release(self.fence_gpus.pop(cell_id, []))
        self.fence_width.pop(cell_id, None)
        if proof.killed_by:
            self._say(
                f"{cell_id}: attempt {last.number}'s agent was still running; killed by the "
                f"{proof.killed_by} ({proof.detail})"
            )
        return True

    def _launch(self, cell: Cell, gpus: list[str]) -> None:
        state = self.states[cell.cell_id]
        number = (state.attempts[-1].number + 1) if state.attempts else 1
        folder = attempt_folder(self.loaded, cell.cell_id, number)
        picks = self.backend.picks_gpus
        job = Job(
            cell_id=cell.cell_id,
            attempt=number,
            folder=folder,
            config=attempt_config(
                self.loaded, cell, None if picks else GpuSelection(ids=tuple(gpus)), folder
            ),
            env=harness_environment(self.loaded) if not picks else {},
            gpus=gpus,
            gpu_count=cell.gpus,
        )
        # Written (and fsynced) before the harness starts: after a crash the ledger never
        # knows less than what is running.
        event = self.ledger.append(
            "launch",
            cell=cell.cell_id,
            attempt=number,
            folder=str(folder.relative_to(self.loaded.folder)),
            gpus=gpus,
            backend=self.backend.name,
            host=hostname(),
        )
        from agent_harness.runset.ledger import Attempt

        state.attempts.append(
            Attempt(number, event["folder"], gpus, self.backend.name, event["host"])
        )
        for gpu in gpus:
            self.free.remove(gpu)
        try:
            handle = self.backend.submit(job)
        except OSError as exc:
            self._record(cell, number, Verdict("infra", None, None, None, f"cannot start: {exc}"))
            self._release(gpus)
            return
        pid = self.backend.pid(handle)
        if pid is not None:
            self.ledger.append("started", cell=cell.cell_id, attempt=number, pid=pid)
        self.running[cell.cell_id] = Running(cell, number, gpus, handle, time.monotonic())
        self.summary.launched += 1
        where = f"GPUs {','.join(gpus)}" if gpus else ("GPUs by the backend" if picks else "CPU")
        self._say(f"{cell.cell_id}: attempt {number} started ({where})")

    def _release(self, gpus: list[str]) -> None:
        for gpu in gpus:
            if gpu in self.loaded.gpu_ids and gpu not in self.free:
                self.free.append(gpu)

    def _collect(self) -> None:
        for cell_id, run in list(self.running.items()):
            ended = (
                run.handle.poll()
                if isinstance(run.handle, Watch)
                else self.backend.poll(run.handle)
            )
            if ended is None:
                continue
            del self.running[cell_id]
            folder = attempt_folder(self.loaded, cell_id, run.attempt)
            verdict = judge(folder, ended.exit_code, stopping=bool(self.stops))
            if ended.note and verdict.outcome in ("infra", "lost"):
                verdict = Verdict(
                    "infra", verdict.exit_code, verdict.record, verdict.run_dir, ended.note
                )
            self._record(
                run.cell, run.attempt, verdict, gpus=ended.gpus or run.gpus, node=ended.node
            )
            if verdict.outcome in RESULT_STATUSES:
                self._release(run.gpus)  # the harness recorded the end once its agent had ended
            else:
                # The harness may have died with its agent still running: fence it now, the
                # GPUs staying taken until the agent is proven gone.
                self._start_fence(run.cell, run.gpus)
            self.durations.setdefault(run.cell.task, []).append(time.monotonic() - run.started)

    # -- recording ---------------------------------------------------------------------------

    def _record(
        self,
        cell: Cell,
        attempt: int,
        verdict: Verdict,
        *,
        gpus: list[str] | None = None,
        node: str = "",
        reconciled: bool = False,
    ) -> None:
        state = self.states[cell.cell_id]
        outcome = verdict.outcome
        counted = outcome == "infra"
        if outcome == "busy":
            outcome, counted = "infra", False
            self.not_before[cell.cell_id] = time.monotonic() + BUSY_WAIT_S
        elif outcome == "lost":
            counted = False
        retry_in: float | None = None
        if outcome == "infra" and counted:
            used = state.infra_failures + 1
            if used > self.loaded.runset.retries:
                outcome = "error"  # retries used up: the cell ends with the failure recorded
            else:
                retry_in = retry_delay(used)  # back off: the fault may need time to clear
                self.not_before[cell.cell_id] = time.monotonic() + retry_in
        record = verdict.record
        evaluation = record.evaluation if record is not None else None
        self.ledger.append(
            "end",
            cell=cell.cell_id,
            attempt=attempt,
            outcome=outcome,
            counted=counted,
            exit_code=verdict.exit_code
            if verdict.exit_code is not None
            else (record.exit_code if record is not None else None),
            run_id=record.run_id if record is not None else None,
            run_dir=str(verdict.run_dir.relative_to(self.loaded.folder))
            if verdict.run_dir is not None
            else None,
            status=record.status if record is not None else None,
            duration_s=record.duration_s if record is not None else None,
            gpus=gpus if gpus is not None else [],
            node=node or hostname(),
            evaluation_exit=None if evaluation is None else evaluation.exit_code,
            results=None if evaluation is None else list(evaluation.results),
            message=verdict.message[-500:] if verdict.message else None,
            reconciled=reconciled,
            retry_in_s=retry_in,
        )
        if state.attempts and state.attempts[-1].number == attempt:
            state.attempts[-1].outcome = outcome
            state.attempts[-1].counted = counted
            state.attempts[-1].end = {
                "outcome": outcome,
                "run_id": record.run_id if record else None,
                "duration_s": record.duration_s if record else None,
            }
        text = f"{cell.cell_id}: attempt {attempt} -> {outcome}"
        if verdict.message and outcome not in RESULTS - {"error"}:
            text += f" ({verdict.message.splitlines()[-1][:200]})"
        self._say(text)

    def _count(self) -> None:
        finished: dict[str, int] = {}
        for cell in self.loaded.cells:
            result = self.states[cell.cell_id].result
            if result is not None:
                finished[str(result["outcome"])] = finished.get(str(result["outcome"]), 0) + 1
        self.summary.finished = finished
        self.summary.running = len(self.running)
        self.summary.queued = len(self._pending())

    # -- progress ----------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        if self.view is not None:
            self.view.say(text)

    def snapshot(self) -> dict[str, Any]:
        """What the progress view shows: counts, GPU occupancy, elapsed and estimated time."""
        self._count()
        occupancy = {} if self.backend.picks_gpus else {gpu: "" for gpu in self.loaded.gpu_ids}
        for cell_id, run in self.running.items():
            for gpu in run.gpus:
                occupancy[gpu] = cell_id
        for cell_id, gpus in self.fence_gpus.items():
            for gpu in gpus:
                occupancy[gpu] = f"{cell_id} (fencing)"
        now = time.monotonic()
        return {
            "name": self.loaded.runset.name,
            "total": self.summary.total,
            "queued": self.summary.queued,
            "running": [
                {
                    "cell": cid,
                    "gpus": r.gpus,
                    "elapsed_s": now - r.started,
                    "limit_s": r.cell.time_limit_s,
                }
                for cid, r in self.running.items()
            ],
            "finished": self.summary.finished,
            "gpus": occupancy,
            "gpus_used": sum(r.cell.gpus for r in self.running.values()),
            "gpus_total": self.capacity_gpus,
            "elapsed_s": now - self.started,
            "eta_s": self._eta(now),
            "stopping": bool(self.stops),
        }

    def _expected(self, cell: Cell) -> float:
        seen = self.durations.get(cell.task)
        if seen:
            return sum(seen) / len(seen)
        every = [d for ds in self.durations.values() for d in ds]
        return sum(every) / len(every) if every else float(cell.time_limit_s)

    def _eta(self, now: float) -> float | None:
        """Remaining GPU-seconds (CPU cells count as one) spread over the slots."""
        work = sum(self._expected(c) * max(1, c.gpus) for c in self._pending())
        work += sum(
            max(0.0, self._expected(r.cell) - (now - r.started)) * max(1, r.cell.gpus)
            for r in self.running.values()
        )
        slots = max(1, min(self.concurrency, self.capacity_gpus or self.concurrency))
        return work / slots

    def _show(self) -> None:
        if self.view is not None:
            self.view.update(self.snapshot())

    # -- stopping ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum: int, frame: object) -> None:
        """Ctrl-C (or cancel): start nothing more; the loop asks every running cell to stop.

        Only a counter here: backends (Ray's client above all) must not be called from inside
        a signal handler.
        """
        self.stops += 1

    def _pass_stops_on(self) -> None:
        if self.stops <= self.stops_passed:
            return
        self.stops_passed = self.stops
        self._say(
            "stopping: every running cell is asked to stop and is recorded"
            + (" (again: its agent is killed now)" if self.stops > 1 else "")
        )
        for run in list(self.running.values()):
            if isinstance(run.handle, Watch):
                run.handle.cancel()
            else:
                self.backend.cancel(run.handle)


WATCH_MARGIN_S = 60.0
"""How long past its deadline and grace an adopted run may stay ``running`` before it counts as
lost (its harness or node is gone)."""


def _may_still_run(folder: Path) -> bool:
    """True when the attempt's record says running and its deadline (plus grace) is ahead."""
    run_dir = run_folder(folder)
    record = read_record(run_dir) if run_dir is not None else None
    if record is None or record.status != "running":
        return False
    if record.host == hostname():
        return False  # a harness on this host would have been found by its command line
    return time.time() < record.deadline + record.limits.grace_s + WATCH_MARGIN_S


class Watch:
    """An attempt a previous scheduler started elsewhere (or through another backend): ended
    when its harness is gone, its record is final, or its deadline has long passed."""

    def __init__(self, folder: Path, pids: list[int]) -> None:
        self.folder = folder
        self.pids = pids

    def poll(self) -> Ended | None:
        """None while the attempt may still be running."""
        from agent_harness.liveness import pid_alive

        if self.pids:
            return None if any(pid_alive(p) for p in self.pids) else Ended(exit_code=None)
        return None if _may_still_run(self.folder) else Ended(exit_code=None)

    def cancel(self) -> None:
        """Ask it to stop: SIGINT to a local harness, the stop file for a Ray task."""
        from agent_harness.runset.backends.ray import STOP_FILE

        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        with contextlib.suppress(OSError):
            (self.folder / STOP_FILE).write_text("stop\n")


def _gpu_order(gpu: str) -> tuple[int, str]:
    return (int(gpu), gpu) if gpu.isdigit() else (1 << 30, gpu)
