"""One run from start to end: preflight, prepare the run folder, launch, watch the deadline, record.

The order matters: everything that can fail cheaply (task, time limit, env file, credentials,
runs folder, engine, GPUs, image) is checked before a run folder exists or anything starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_contracts.errors import ExitCode
from agent_contracts.gpu import GpuMemoryPeak, GpuMemorySampler, gpu_names
from agent_contracts.run_record import working_time
from agent_harness.agentlog import AgentLog
from agent_harness.config import RunConfig
from agent_harness.console import Progress
from agent_harness.disk_limit import DiskWatcher, gb_to_bytes
from agent_harness.errors import ConfigError, HarnessError, RunsFolderError
from agent_harness.gpu_lock import GpuLease
from agent_harness.gpus import (
    GpuSelection,
    check_gpus,
    default_gpus,
    device_request,
)
from agent_harness.handoff import EvalPlan
from agent_harness.output_safety import (
    STAGING_DIR,
    close_run_folder,
    output_owner,
    secure_output,
)
from agent_harness.proxy.session import ProxyPlan, ProxySession
from agent_harness.run_json import (
    LOG_FILE,
    OUTPUT_DIR,
    TASK_DIR,
    DeliverableRecord,
    Limits,
    RunRecord,
    StopReason,
    hostname,
    iso,
    new_run_id,
    read_record,
    utc_now,
    write_record,
)
from agent_harness.runtimes.base import AgentProcess, Launch, Runtime, Wanted
from agent_harness.runtimes.registry import open_runtime
from agent_harness.secrets import (
    Credentials,
    Redactor,
    read_env_file,
    select_credentials,
)
from agent_harness.timelimit import describe, format_seconds
from agent_harness.watchdog import WATCHDOG_LOG
from agent_tasks.spec import TaskSpec

HARNESS_VERSION = "0.1.0"

_TICK_S = 0.5
RUN_GPU_SAMPLE_S = 1.0
"""Seconds between two readings of the run's GPUs' memory while the agent runs (run.json's
``gpu_memory``; a training rule such as a budget task's 6 GB is judged on its peak)."""


@dataclass
class Plan:
    """Everything preflight settled: the run can start without further questions."""

    config: RunConfig
    spec: TaskSpec
    time_limit_s: int
    grace_s: int
    gpus: GpuSelection
    credentials: Credentials
    runtime: Runtime
    network: str | None
    user: str | None
    memory_bytes: int | None
    cpus: float | None
    pids_limit: int | None = None
    disk_bytes: int | None = None
    image_id: str | None = None
    image_digest: str | None = None
    evaluation: EvalPlan | None = None
    notes: list[str] = field(default_factory=list)
    proxy: ProxyPlan | None = None
    """The model-API proxy's plan (``--credentials proxy`` with a provider)."""
    log_limit_bytes: int = 100 * 1024**2
    snapshot_every_s: int | None = None
    """Seconds between two snapshots of the output (None: none)."""
    snapshot_limit_bytes: int = 20 * 1024**3


def _check_runs_dir(runs_dir: Path) -> None:
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        # A fresh name made with O_EXCL: a link planted in a shared folder is never followed.
        with tempfile.NamedTemporaryFile(prefix=".write-test-", dir=runs_dir):
            pass
    except OSError as exc:
        raise RunsFolderError(
            f"runs folder {str(runs_dir)!r} is not writable: {exc.strerror or exc}",
            hint="choose another folder with --runs-dir",
        ) from None
    st = runs_dir.stat()
    trusted = {0, os.geteuid(), output_owner()[0]}
    if st.st_uid not in trusted:
        # Its owner could swap a run's folder for a link that this harness then follows.
        raise RunsFolderError(
            f"runs folder {str(runs_dir)!r} belongs to uid {st.st_uid}: neither root, this "
            "user, nor the user who ran sudo",
            hint="choose a folder of your own with --runs-dir",
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
        # Anyone who may write there could rename a run's folder away and put a link in its
        # place, which the harness (root, perhaps) would then follow when it gives the folder
        # its mode back.
        who = "every user" if st.st_mode & stat.S_IWOTH else "its group"
        raise RunsFolderError(
            f"runs folder {str(runs_dir)!r} is writable by {who} and not sticky",
            hint=f"chmod go-w {str(runs_dir)!r} (or +t, as /tmp is), or choose another folder "
            "with --runs-dir",
        )


def preflight(config: RunConfig, progress: Progress | None = None) -> Plan:
    """Check everything cheap before anything expensive; raise the first problem found."""
    from agent_tasks.registry import resolve_task

    spec = resolve_task(config.task, config.benchmark)
    limit = config.time_limit if config.time_limit is not None else spec.resources.time_limit_s
    if progress is not None:  # the first line: a mistyped limit shows before anything runs
        source = "--time-limit" if config.time_limit is not None else "the task"
        progress.say(f"time limit {describe(limit)} ({limit} seconds, from {source})")
    gpus = config.gpus if config.gpus is not None else default_gpus(spec.resources.gpus)
    file_values = read_env_file(config.env_file) if config.env_file is not None else {}
    credentials = select_credentials(
        config.provider, file_values, os.environ, config.pass_env, config.pass_env_unsafe
    )
    _check_runs_dir(config.runs_dir)
    runtime = open_runtime(config)
    proxy, credentials = _plan_proxy(config, credentials, runtime)  # docs/proxy.md
    check_gpus(gpus)
    res = spec.resources
    wanted = Wanted(
        memory_bytes=int(res.ram_gb * 1024**3) if res.ram_gb else None,
        cpus=float(res.cpus) if res.cpus else None,
        proxied=proxy is not None,
        announce=progress.say if progress is not None else None,
    )
    placed = runtime.place(config, wanted)
    plan = Plan(
        config=config,
        spec=spec,
        time_limit_s=limit,
        grace_s=config.grace,
        gpus=gpus,
        credentials=credentials,
        runtime=runtime,
        network=placed.network,
        user=placed.user,
        memory_bytes=placed.memory_bytes,
        cpus=placed.cpus,
        pids_limit=placed.pids_limit,
        image_id=placed.image_id,
        image_digest=placed.image_digest,
        notes=list(placed.notes),
        proxy=proxy,
        disk_bytes=_disk_bytes(config, spec),
        log_limit_bytes=config.log_limit,
        snapshot_every_s=config.snapshot_every,
        snapshot_limit_bytes=config.snapshot_limit,
    )
    if config.evaluate:
        from agent_harness.handoff import plan_evaluation

        plan.evaluation = plan_evaluation(
            config.eval_mode,
            engine=runtime.engine,
            image=config.eval_image,
            results_dir=config.results_dir,
            file_values=file_values,
        )
        if plan.evaluation.note:
            plan.notes.append(plan.evaluation.note)
    return plan


def _disk_bytes(config: RunConfig, spec: TaskSpec) -> int | None:
    """The disk limit: the one asked for (``none``: no limit), else the spec's ``disk_gb``."""
    if config.disk_limit is not None:
        return None if config.disk_limit == "none" else config.disk_limit
    return gb_to_bytes(spec.resources.disk_gb) if spec.resources.disk_gb else None


def _plan_proxy(
    config: RunConfig, credentials: Credentials, runtime: Runtime
) -> tuple[ProxyPlan | None, Credentials]:
    """The proxy's plan and what is left for the agent; budgets need the proxy (exit 2)."""
    from agent_harness.proxy.account import Budget
    from agent_harness.proxy.session import plan_proxy

    budgeted = config.budget_tokens is not None or config.budget_usd is not None
    if config.provider == "none" or config.credentials == "direct":
        if budgeted:
            raise ConfigError(
                "--budget-tokens and --budget-usd need a provider and --credentials proxy",
                hint="name the provider (--provider openai) and keep --credentials proxy",
            )
        return None, credentials
    runtime.check_proxy()
    budget = Budget(tokens=config.budget_tokens, usd=config.budget_usd)
    return plan_proxy(config.provider, credentials, budget)


class _Interrupts:
    """Counts SIGINT/SIGTERM/SIGHUP received by the harness while a run is under way."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.count = 0
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1

    @contextlib.contextmanager
    def installed(self) -> Iterator[_Interrupts]:
        """Catch the signals for the duration of the block (main thread only)."""
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)


def _stop(proc: AgentProcess, grace_s: int, interrupts: _Interrupts) -> int | None:
    """SIGTERM, up to ``grace_s`` seconds to end, then SIGKILL (sooner on a second Ctrl-C)."""
    proc.terminate()
    seen = interrupts.count
    end = time.monotonic() + grace_s
    while (left := end - time.monotonic()) > 0:
        code = proc.wait(min(left, 0.1))
        if code is not None:
            return code
        if interrupts.count > max(seen, 1):
            break
    proc.kill()
    return proc.wait(15)


def _watch_disk(plan: Plan, folder: _RunFolder, proc: AgentProcess) -> DiskWatcher | None:
    """Start watching the disk the agent fills (None when the run has no disk limit)."""
    if plan.disk_bytes is None:
        return None
    layer = getattr(proc, "writable_layer_bytes", None)  # docker: the container's own layer
    pids = getattr(proc, "pids", None)  # docker: the container's processes
    pgid = getattr(proc, "pgid", None)
    if pids is None and pgid is not None:  # local: the agent's process group
        from agent_harness.liveness import group_members

        def pids() -> list[int]:
            return group_members(pgid)

    return DiskWatcher(
        plan.disk_bytes,
        folder.staging_dir,
        proc.kill,
        layer_bytes=layer,
        pids=pids,
        filesystem=folder.filesystem,
    ).start()


def _environment(plan: Plan, task_dir: str, output_dir: str, deadline: float) -> dict[str, str]:
    env = {
        "TASK_NAME": plan.spec.name,
        "BENCHMARK": plan.spec.benchmark,
        "PROVIDER": plan.config.provider,
        "TIME_LIMIT_S": str(plan.time_limit_s),
        "DEADLINE": str(int(deadline)),
        "TASK_DIR": task_dir,
        "OUTPUT_DIR": output_dir,
    }
    env.update(plan.credentials.values)
    return env


def default_agent_label(image: str) -> str:
    """The agent's leaderboard name when none is given: the image argument's repository path
    without registry, tag or digest (``ghcr.io/lab/agent:v2`` -> ``lab/agent``), whichever
    runtime ran it, so one agent is one leaderboard row under docker and as a local process."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rindex(":")]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    return "/".join(parts)


def run_agent(config: RunConfig, progress: Progress | None = None) -> tuple[RunRecord, Path]:
    """Run one agent for one task under its time limit; return the final record and run folder."""
    progress = progress or Progress()
    try:
        plan = preflight(config, progress)
        for note in plan.notes:
            progress.say(note)
        run_id = new_run_id(plan.spec.name)
        # GPU tenancy: taken before the run folder exists; held (also by the watchdog) until
        # the agent has stopped, and dropped by the kernel if both die.
        lease = _lease_gpus(plan, run_id)
        try:
            return _run(plan, run_id, lease, progress)
        finally:
            lease.release()
            progress.note_dropped()
    finally:
        progress.drain()  # the console is written by a thread: what was said, in order


def _lease_gpus(plan: Plan, run_id: str) -> GpuLease:
    from agent_harness.gpu_lock import acquire_gpus
    from agent_harness.gpus import visible_gpus

    ids = visible_gpus() if plan.gpus.all else list(plan.gpus.ids)
    return acquire_gpus(ids, run_id, share=plan.config.share_gpus)


@dataclass
class _Ending:
    """How the agent's run ended, as the supervision loop (or an error) decided."""

    status: str = "error"
    exit_code: int = int(ExitCode.INTERNAL)
    agent_code: int | None = None
    message: str | None = None
    stop_reason: StopReason | None = None


@dataclass
class _RunFolder:
    """The run's folder on the host and what the agent sees of it."""

    run_dir: Path
    task_dir: Path
    output_dir: Path
    """The fresh copy the harness makes of the agent's output once it has stopped."""
    staging_dir: Path
    """The agent's own output folder (``/app/output``); removed once copied out."""
    open_mode: int
    """The folder's mode once the output is copied out (it stays closed until then)."""
    agent_task_dir: str
    agent_output_dir: str
    filesystem: bool = False
    """The staging folder is a file system of the disk limit's size."""
    filesystem_problem: str | None = None
    """Why a disk limit has no file system of its own (watched only), else None."""


def _run(plan: Plan, run_id: str, lease: GpuLease, progress: Progress) -> tuple[RunRecord, Path]:
    """One agent run: folder, record, watchdog, supervision, safe output, final record."""
    from agent_harness.deliverable import find_deliverable
    from agent_harness.watchdog import release_watchdog

    folder = _prepare_folder(plan, run_id)
    owner = output_owner()
    gpu_memory: GpuMemorySampler | None = None
    try:
        proxy = ProxySession(plan.proxy, folder.run_dir) if plan.proxy is not None else None
        proxied = proxy.start(plan.runtime.proxy_port, plan.credentials.secrets()) if proxy else {}
        redactor = Redactor(plan.credentials.secrets() + (proxy.secrets() if proxy else []))
        progress.hide(redactor)  # the harness's lines may quote what the agent chose
        # What the driver calls the run's GPUs, and their level before the agent starts: read
        # before the clock starts (each asks nvidia-smi).
        models = gpu_names(list(lease.ids)) if lease.ids else []
        gpu_memory = GpuMemorySampler(
            list(lease.ids) if plan.runtime.confines_gpus else [], RUN_GPU_SAMPLE_S
        ).start()
        t0 = time.monotonic()
        deadline_wall = time.time() + plan.time_limit_s
        names = sorted({*plan.credentials.names, *proxied})
        record = _first_record(plan, run_id, redactor, names, deadline_wall, models)
        write_record(folder.run_dir, record)
        launch = _launch(plan, run_id, folder, proxied, deadline_wall, proxy)
        log = AgentLog(folder.run_dir / LOG_FILE, redactor, progress, plan.log_limit_bytes)
    except BaseException:
        if gpu_memory is not None:
            gpu_memory.stop()
        secure_output(folder.run_dir, owner)  # nothing ran: unmount and remove the staging
        raise
    if folder.filesystem_problem is not None:
        progress.say(
            "the disk limit is watched, not enforced by a file system of its own: "
            f"{folder.filesystem_problem}"
        )
    ending = _Ending()
    watchdog = None
    proc: AgentProcess | None = None
    watcher: DiskWatcher | None = None
    snapshotter: Any = None
    progress.say(
        f"run {run_id}: {plan.spec.name} ({plan.runtime.name}, limit "
        f"{format_seconds(plan.time_limit_s)}, GPUs {plan.gpus.describe()})"
    )
    try:
        interrupts = _Interrupts()
        with interrupts.installed():
            # Started first, so the agent never runs without it; a local agent's group id
            # follows on the pipe.
            proxy_dir = proxy.server.folder if proxy is not None else None
            watchdog = _start_watchdog(
                plan, run_id, folder, record, deadline_wall, lease, owner, proxy_dir
            )
            proc = plan.runtime.start(launch, log)
            pgid = getattr(proc, "pgid", None)
            if pgid is not None:
                from agent_harness.watchdog import tell_pgid

                tell_pgid(watchdog, pgid)
            watcher = _watch_disk(plan, folder, proc)
            if plan.snapshot_every_s is not None:
                from agent_harness.snapshots import Snapshotter

                snapshotter = Snapshotter(
                    folder.staging_dir, folder.run_dir, owner, plan.snapshot_every_s,
                    plan.snapshot_limit_bytes, t0,
                ).start()  # fmt: skip
            progress.start(f"{plan.spec.name} {run_id[-6:]}", plan.time_limit_s)
            _supervise(plan, proc, watcher, interrupts, t0 + plan.time_limit_s, progress, ending)
    except HarnessError as exc:
        ending.status, ending.exit_code, ending.message = "error", int(exc.exit_code), exc.message
        raise
    except BaseException as exc:
        ending.message = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        gpu_peak = _gpu_peak(plan, lease, gpu_memory.stop())  # the agent has ended
        progress.stop()
        if watcher is not None:
            watcher.stop()
        if proc is not None:
            proc.close()
        # No snapshot after the agent's end; one in progress finishes before the final copy.
        snapshots = snapshotter.stop() if snapshotter is not None else None
        usage = proxy.close() if proxy is not None else None
        logged = log.close(stream_complete=getattr(proc, "output_complete", True))
        plan.runtime.release_run(folder.run_dir)
        # The agent has stopped: copy its output out before anything here reads it.
        safety = secure_output(folder.run_dir, owner)
        try:
            found = (
                find_deliverable(
                    folder.output_dir,
                    plan.spec.deliverable.path,
                    output_alias=folder.agent_output_dir,
                    kind=plan.spec.deliverable.kind,
                )
                if safety.safe
                else _rejected(safety.rejection())
            )
        except Exception as exc:  # whatever the agent left, the run is recorded
            found = _rejected(f"the deliverable could not be looked for: {exc}"[:500])
        _blame_cleanup(folder.run_dir, ending)
        record = _final_record(record, ending, t0, redactor, found, usage, safety, logged)
        record = record.model_copy(update={"snapshots": snapshots, "gpu_memory": gpu_peak})
        write_record(folder.run_dir, record)
        if safety.staging_left is None:  # nothing of the agent's own is left in the folder
            folder.run_dir.chmod(folder.open_mode)
        release_watchdog(watchdog)
    if safety.staging_left is not None:
        progress.say(
            f"the agent's own folder is left in the run folder, which stays closed (0700): "
            f"{safety.staging_left}; remove it as root (sudo rm -rf "
            f"{str(folder.staging_dir)!r})"
        )
    _summarise(progress, record, folder.run_dir, found.rejected, usage)
    if plan.evaluation is not None and ending.status in ("completed", "timeout", "failed"):
        record = _evaluate(plan, plan.evaluation, record, folder.run_dir, progress)
    return record, folder.run_dir


def _prepare_folder(plan: Plan, run_id: str) -> _RunFolder:
    """The run folder, closed; the agent's empty staging folder (a file system of the disk
    limit's size under root); the task as the agent reads it."""
    from agent_harness.disk_limit import make_filesystem
    from agent_tasks.export import export_task

    config, spec = plan.config, plan.spec
    run_dir = config.runs_dir / run_id
    staging = run_dir / STAGING_DIR
    task_dir = run_dir / TASK_DIR
    run_dir.mkdir(parents=True)
    open_mode = close_run_folder(run_dir)  # closed before the agent writes; reopened at the end
    staging.mkdir()
    problem = make_filesystem(run_dir, staging, plan.disk_bytes) if plan.disk_bytes else None
    try:
        plan.runtime.prepare_output(staging, plan.user)
        # What the agent reads must match how it is run: the time limit it is actually given.
        resources = spec.resources.model_copy(update={"time_limit_s": plan.time_limit_s})
        export_task(spec.model_copy(update={"resources": resources}), task_dir)
    except BaseException:
        secure_output(run_dir, output_owner())
        raise
    agent_task_dir, agent_output_dir = plan.runtime.agent_paths(task_dir, staging)
    return _RunFolder(
        run_dir,
        task_dir,
        run_dir / OUTPUT_DIR,
        staging,
        open_mode,
        agent_task_dir,
        agent_output_dir,
        filesystem=plan.disk_bytes is not None and problem is None,
        filesystem_problem=problem,
    )


def _first_record(
    plan: Plan,
    run_id: str,
    redactor: Redactor,
    credentials: list[str],
    deadline_wall: float,
    gpu_models: list[str],
) -> RunRecord:
    """run.json as written before the agent starts (``status: running``)."""
    config, spec = plan.config, plan.spec
    return RunRecord(
        run_id=run_id,
        task=spec.name,
        benchmark=spec.benchmark,
        task_version=spec.version,
        image=config.image,
        agent_label=config.agent_label or default_agent_label(config.image),
        image_id=plan.image_id,
        image_digest=plan.image_digest,
        runtime=plan.runtime.name,
        command=redactor(config.command) if config.command else None,
        provider=config.provider,
        credentials=credentials,
        credentials_mode=None if config.provider == "none" else config.credentials,
        gpus=plan.gpus.as_record(),
        gpu_models=gpu_models,
        network=plan.network,
        user=plan.user,
        limits=Limits(
            time_limit_s=plan.time_limit_s,
            grace_s=plan.grace_s,
            memory_bytes=plan.memory_bytes,
            cpus=plan.cpus,
            budget_tokens=config.budget_tokens,
            budget_usd=config.budget_usd,
            disk_bytes=plan.disk_bytes,
            pids_limit=plan.pids_limit,
        ),
        started_at=iso(utc_now()),
        deadline=round(deadline_wall, 3),
        harness_version=HARNESS_VERSION,
        harness_pid=os.getpid(),
        host=hostname(),
    )


def _launch(
    plan: Plan,
    run_id: str,
    folder: _RunFolder,
    proxied: dict[str, str],
    deadline_wall: float,
    proxy: ProxySession | None,
) -> Launch:
    """What the runtime starts: image or command, environment, GPUs, limits, labels."""
    requested, gpu_env = device_request(plan.gpus)  # differs only in a test-only simulation
    environment = _environment(plan, folder.agent_task_dir, folder.agent_output_dir, deadline_wall)
    return Launch(
        run_id=run_id,
        image=plan.config.image,
        task_dir=folder.task_dir,
        output_dir=folder.staging_dir,
        environment={**environment, **proxied, **gpu_env},
        command=plan.config.command,
        gpus=requested,
        memory_bytes=plan.memory_bytes,
        cpus=plan.cpus,
        network=plan.network or "none",
        user=plan.user,
        pids_limit=plan.pids_limit,
        proxy=proxy,
        labels={
            "mlrb.task": plan.spec.name,
            "mlrb.benchmark": plan.spec.benchmark,
            "mlrb.run_dir": str(folder.run_dir.resolve()),
            "mlrb.harness_pid": str(os.getpid()),
            "mlrb.host": hostname(),
        },
    )


def _start_watchdog(
    plan: Plan,
    run_id: str,
    folder: _RunFolder,
    record: RunRecord,
    deadline_wall: float,
    lease: GpuLease,
    owner: tuple[int, int],
    proxy_dir: Path | None,
) -> Any:
    """The detached watchdog that ends the agent at deadline + grace even if this process dies
    (and then copies its output out); it inherits the GPU locks (and removes the proxy's
    folder, ``proxy_dir``, if this dies)."""
    from agent_harness.runtimes.base import WatchOrder
    from agent_harness.watchdog import spawn

    run_dir = folder.run_dir
    return spawn(
        WatchOrder(
            run_dir=str(run_dir.resolve()),
            owner=f"{owner[0]}:{owner[1]}",
            output_alias=folder.agent_output_dir,
            run_dir_mode=folder.open_mode,
            deadline=deadline_wall,
            grace_s=plan.grace_s,
            harness_pid=os.getpid(),
            runtime=plan.runtime.name,
            proxy_dir=str(proxy_dir) if proxy_dir is not None else None,
            **plan.runtime.watch_fields(run_id, proxied=plan.proxy is not None),
        ),
        run_dir / WATCHDOG_LOG,
        pass_fds=lease.fds,
    )


def _supervise(
    plan: Plan,
    proc: AgentProcess,
    watcher: DiskWatcher | None,
    interrupts: _Interrupts,
    deadline: float,
    progress: Progress,
    ending: _Ending,
) -> None:
    """Wait for the agent to end, stopping it at the deadline, on Ctrl-C or past the disk limit;
    ``ending`` says how it ended."""
    while True:
        if watcher is not None and watcher.exceeded.is_set():
            proc.kill()  # the watcher has sent SIGKILL already; no grace to write more
            ending.agent_code = proc.wait(15)
            ending.status, ending.exit_code = "error", int(ExitCode.AGENT_FAILED)
            ending.message, ending.stop_reason = watcher.reason(), "disk_limit"
            return
        if interrupts.count:
            ending.agent_code = _stop(proc, plan.grace_s, interrupts)
            ending.status, ending.exit_code = "interrupted", int(ExitCode.INTERRUPTED)
            ending.stop_reason = "interrupted"
            return
        left = deadline - time.monotonic()
        if left <= 0:
            ending.agent_code = _stop(proc, plan.grace_s, interrupts)
            ending.status, ending.exit_code = "timeout", int(ExitCode.TIMEOUT)
            ending.stop_reason = "deadline"
            return
        code = proc.wait(min(left, _TICK_S))
        if code is not None and watcher is not None and watcher.exceeded.is_set():
            continue  # stopped by the disk limit: recorded as such above
        if code is not None:
            ending.agent_code = code
            if code == 0:
                ending.status, ending.exit_code = "completed", int(ExitCode.OK)
            else:
                ending.status, ending.exit_code = "failed", int(ExitCode.AGENT_FAILED)
            return
        progress.tick()


def _gpu_peak(plan: Plan, lease: GpuLease, sampled: GpuMemoryPeak) -> GpuMemoryPeak | None:
    """run.json's ``gpu_memory``: None without GPUs; not measured where the runtime does not
    confine the agent to its GPUs (it could use others, unwatched)."""
    if not lease.ids:
        return None
    if not plan.runtime.confines_gpus:
        return GpuMemoryPeak(
            peak_gb=None,
            method=f"not measured: the {plan.runtime.name!r} runtime does not confine the agent "
            "to its GPUs (CUDA_VISIBLE_DEVICES is only a request)",
        )
    return sampled


def _rejected(reason: str | None) -> Any:
    from agent_harness.deliverable import Found

    return Found(rejected=reason)


def _blame_cleanup(run_dir: Path, ending: _Ending) -> None:
    """``agent-harness cleanup`` removed the container: not the agent's own failure."""
    outside = read_record(run_dir)
    if outside is not None and outside.ended_by == "cleanup":
        ending.status, ending.exit_code = "error", int(ExitCode.ENVIRONMENT)
        ending.message = outside.message


def _final_record(
    record: RunRecord,
    ending: _Ending,
    t0: float,
    redactor: Redactor,
    found: Any,
    usage: Any,
    safety: Any,
    logged: Any,
) -> RunRecord:
    """run.json as the harness leaves it: how the run ended and what it delivered."""
    deliverable = (
        DeliverableRecord(
            path=f"{OUTPUT_DIR}/{found.relative}",
            source="submission.json" if found.source == "submission.json" else "spec",
        )
        if found.relative is not None
        else None
    )
    duration = round(time.monotonic() - t0, 3)
    return record.model_copy(
        update={
            "ended_at": iso(utc_now()),
            "duration_s": duration,
            "working_time_s": working_time(duration, usage),
            "status": ending.status,
            "exit_code": ending.exit_code,
            "agent_exit_code": ending.agent_code,
            "message": redactor(ending.message) if ending.message else None,
            "deliverable": deliverable,
            "deliverable_rejected": redactor(found.rejected) if found.rejected else None,
            "model_usage": usage,
            "stop_reason": ending.stop_reason,
            "output_safety": safety.as_record(),
            "log_truncated": logged.truncated,
            "log_dropped_bytes": logged.dropped_bytes,
            "ended_by": "harness",
        }
    )


def _summarise(
    progress: Progress, record: RunRecord, run_dir: Path, rejected: str | None, usage: Any
) -> None:
    progress.say(
        f"run {record.run_id} {record.status} (exit {record.exit_code}) after "
        f"{format_seconds(record.duration_s or 0)}; record in {run_dir}"
    )
    if rejected:
        progress.say(f"deliverable rejected: {rejected}")
    if usage is not None:
        progress.say(
            f"model calls: {usage.calls} ({usage.total_tokens} tokens, ${usage.cost_usd:.4f})"
            + (f"; {usage.budget_message}" if usage.budget_message else "")
        )


def _evaluate(
    plan: Plan, evaluation: EvalPlan, record: RunRecord, run_dir: Path, progress: Progress
) -> RunRecord:
    """Hand the run to the evaluator and note the outcome in run.json.

    A run without a deliverable is evaluated too: the evaluator records it as an evaluation
    error linked to the run (no valid output), never as a score of zero.
    """
    from agent_harness.handoff import evaluate_run

    where = evaluation.image if evaluation.mode == "image" else "a process"
    progress.say(f"evaluating run {record.run_id} in {where}")
    link = evaluate_run(
        evaluation,
        run_dir,
        plan.spec.name,
        gpus=device_request(plan.gpus)[0],
        client=plan.runtime.engine,
        say=progress.say,
    )
    record = record.model_copy(update={"evaluation": link})
    write_record(run_dir, record)
    results = ", ".join(link.results) or "none"
    progress.say(
        f"evaluation exit {link.exit_code}; results: {results} in {link.results_dir}"
        + ("" if link.recorded else " (not recorded in the database)")
    )
    return record
