"""The re-run of a code deliverable from start to end: the scored run in a sandbox, then, where
the task names baseline code, the timed rounds against it (:mod:`agent_eval.coderun.timing`).
The steps themselves live in :mod:`agent_eval.coderun.rerun`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from agent_eval.coderun.rerun import (
    SANDBOX_ENV,
    CodeRunOutcome,
    Copier,
    check_ready,
    fresh_output,
    guard_scratch,
    inputs_folder,
    prepare,
    run_prepared,
    seal,
)
from agent_eval.coderun.timing import TimingFailedError, time_against_baseline
from agent_eval.deliverable_check import load_limits
from agent_eval.errors import CodeEnvironmentError
from agent_tasks.spec import TaskSpec


def rerun(
    spec: TaskSpec,
    deliverable: Path,
    data_dir: Path,
    scratch: Path,
    *,
    choice: str | None = None,
    timed: bool = True,
) -> CodeRunOutcome:
    """Re-run the deliverable of a code task in a sandbox (see the module doc); where the task
    has baseline code and ``timed`` (a metric computed needs the time), time the two against
    each other (:mod:`agent_eval.coderun.timing`)."""
    code_run = spec.evaluation.code_run
    if code_run is None:
        raise CodeEnvironmentError(f"task {spec.name!r} has no code re-run")
    chosen = choice or os.environ.get(SANDBOX_ENV) or "auto"
    backend, client = check_ready(spec, data_dir, chosen)
    guard_scratch(scratch, data_dir)
    scratch.chmod(scratch.stat().st_mode | 0o011)  # traversable (not listable) by nobody
    base = Path(tempfile.mkdtemp(prefix="mlrb-coderun-", dir=scratch))
    base.chmod(0o755)  # nobody must reach the work, inputs and output folders inside
    inputs = base / "inputs"
    agent = base / "agent"
    agent.mkdir(mode=0o755)
    prepared, method, method_statements = prepare(
        spec, deliverable, data_dir, agent, inputs, (backend, client)
    )
    Copier(room=load_limits().max_bytes, task=spec.name)(inputs_folder(code_run, data_dir), inputs)
    seal(inputs)
    run = run_prepared(prepared, fresh_output(agent))
    timing, timing_failure = None, None
    if run.failure is None and code_run.baseline is not None:
        try:
            if not timed:  # a time measured alone must never stand in for the rounds
                raise TimingFailedError("this evaluation did not time the re-run (no timed metric)")
            timing = time_against_baseline(spec, prepared, run.produced, data_dir, base)
        except TimingFailedError as exc:
            timing_failure = exc.message
    return CodeRunOutcome(
        sandbox=run.sandbox,
        output_file=None if run.failure else run.produced,
        failure=run.failure,
        method=method,
        method_statements=method_statements,
        work=prepared.request.work,
        timing=timing,
        timing_failure=timing_failure,
    )
