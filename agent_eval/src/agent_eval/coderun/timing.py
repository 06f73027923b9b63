"""Time the agent's code as a ratio to the task's own baseline code, measured here and now.

A time measured alone says as much about the machine and its load as about the code. Where the
task names its baseline code (``code_run.baseline``), the evaluator builds it from the task's
starter files (its ``build`` command runs in the same sandbox), lays it out exactly as the
agent's deliverable is laid out, and then runs the two in the same sandbox, one after the
other: ``TIMING_WARMUP`` rounds left out, then ``TIMING_ROUNDS`` counted rounds, the order
alternating (baseline first in even rounds, the agent first in odd ones) so that neither always
runs on a warmer machine. The statistic is the median of the per-round ratios agent / baseline;
the time a score uses is that ratio times the baseline's time on the anchors' machine
(``code_run.baseline_runtime_s``), so the baseline scores its anchor on any machine and load.

Every timed run of the agent's code must write exactly what the scored run wrote: a program
that does less when it is run again is caught, not timed.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path

from agent_contracts.results import Timing, TimingRound
from agent_eval.coderun.rerun import (
    CodeRunOutcome,
    Copier,
    Prepared,
    fresh_output,
    prepare,
    pristine_folder,
    remove_work,
    run_prepared,
    seal,
)
from agent_eval.coderun.sandbox import SandboxRequest
from agent_eval.deliverable_check import load_limits
from agent_eval.errors import CodeEnvironmentError, MetricError
from agent_tasks.spec import TaskSpec

TIMING_ROUNDS = 31
"""Counted rounds (one run of the baseline's code and one of the agent's each). On a 2-core
machine shared with other work (load average 7-11), one round's ratio of two copies of the same
program ranged 0.68-1.87; over 10 evaluations of the same deliverables
(benchmarks/timed_scores.py) the TWE's max/min spread was 13-24 % with 15 rounds and 9-14 %
with 31; on the same machine with nothing else running, 1-2 % alone and 6-8 % beside a CPU hog
(an evaluation of digit_sums then takes 10-19 s, most of it these rounds)."""
TIMING_WARMUP = 1
"""Rounds run first and left out: file caches and imports warm up in them."""


class TimingFailedError(MetricError):
    """A timed run of the agent's code failed or wrote another output: no time, no timed
    score (the metrics that need one fail with this message)."""


def _digest(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def build_baseline(spec: TaskSpec, prepared: Prepared, base: Path) -> Path:
    """The task's baseline deliverable in ``base/deliverable``: a copy of its starter files,
    with the files its ``build`` command writes (run in the same sandbox as the agent's code)
    and, for a method task, the ``submission.json`` naming its method."""
    code_run = spec.evaluation.code_run
    assert code_run is not None and code_run.baseline is not None
    baseline = code_run.baseline
    folder = base / "deliverable"
    Copier(room=load_limits().max_bytes, task=spec.name)(pristine_folder(spec), folder)
    seal(folder)
    if baseline.build:
        empty = base / "no-inputs"
        empty.mkdir(mode=0o755)
        request = SandboxRequest(
            command=baseline.build,
            work=folder,
            inputs=empty,
            output=base,
            time_limit_s=code_run.time_limit_s,
            memory_gb=code_run.memory_gb,
            gpus=code_run.gpus,
            image=code_run.image,
            name=f"{prepared.request.name}-baseline-build",
            hide=prepared.request.hide,
        )
        built = fresh_output(base)
        builder = Prepared(
            request=request,
            backend=prepared.backend,
            client=prepared.client,
            output_file=".",  # the build writes files of its own choosing into the folder
            time_limit_s=code_run.time_limit_s,
        )
        done = run_prepared(builder, built)
        if done.sandbox.timed_out or done.sandbox.exit_code != 0:
            raise CodeEnvironmentError(
                f"the baseline code of task {spec.name!r} could not be built: {done.failure}",
                hint="the task's starter files and its code_run.baseline.build must work here; "
                "a timed score needs its baseline",
            )
        for item in built.iterdir():
            Copier(room=load_limits().max_bytes, task=spec.name)(item, folder / item.name)
    if baseline.method is not None:
        (folder / "submission.json").write_text(json.dumps({"method": baseline.method}))
    seal(folder)
    return folder


def time_against_baseline(
    spec: TaskSpec, agent: Prepared, scored: Path, data_dir: Path, base: Path
) -> Timing:
    """Interleaved rounds of the baseline's code and the agent's (see the module doc); ``scored``
    is the output of the agent's scored run, which every timed run must reproduce."""
    code_run = spec.evaluation.code_run
    assert code_run is not None and code_run.baseline_runtime_s is not None
    home = base / "baseline"
    home.mkdir(mode=0o755)
    deliverable = build_baseline(spec, agent, home)
    baseline, _method, _count = prepare(
        spec, deliverable, data_dir, home, agent.request.inputs, (agent.backend, agent.client)
    )
    expected = _digest(scored)
    rounds: list[TimingRound] = []
    for index in range(TIMING_WARMUP + TIMING_ROUNDS):
        agent_first = index % 2 == 1
        times: dict[str, float] = {}
        for who in ("agent", "baseline") if agent_first else ("baseline", "agent"):
            prepared, where = (agent, base / "agent") if who == "agent" else (baseline, home)
            run = run_prepared(prepared, fresh_output(where))
            if run.failure is not None:
                if who == "baseline":
                    raise CodeEnvironmentError(
                        f"the baseline code of task {spec.name!r} failed in timing round "
                        f"{index}: {run.failure}",
                        hint="a timed score needs its baseline; is the machine out of memory?",
                    )
                raise TimingFailedError(
                    f"timing round {index}: the agent's code failed where its scored run "
                    f"succeeded ({run.failure})"
                )
            if who == "agent" and _digest(run.produced) != expected:
                raise TimingFailedError(
                    f"timing round {index}: the agent's code wrote another "
                    f"{code_run.output_file!r} than its scored run; a timed run must do the "
                    "same work",
                    hint="make main.py deterministic: the same inputs, the same output",
                )
            times[who] = float(run.sandbox.wall_s)
            remove_work(run.produced.parent)
        if index >= TIMING_WARMUP:
            rounds.append(
                TimingRound(
                    baseline_s=round(times["baseline"], 4),
                    agent_s=round(times["agent"], 4),
                    ratio=times["agent"] / times["baseline"],
                    agent_first=agent_first,
                )
            )
    ratios = [r.ratio for r in rounds]
    ratio = statistics.median(ratios)
    return Timing(
        warmup_rounds=TIMING_WARMUP,
        rounds=tuple(rounds),
        ratio=round(ratio, 4),
        ratio_min=round(min(ratios), 4),
        ratio_max=round(max(ratios), 4),
        baseline_s=round(statistics.median(r.baseline_s for r in rounds), 4),
        agent_s=round(statistics.median(r.agent_s for r in rounds), 4),
        reference_baseline_s=code_run.baseline_runtime_s,
        seconds=round(ratio * code_run.baseline_runtime_s, 4),
        sandbox=agent.backend,
    )


def timed_seconds(outcome: CodeRunOutcome) -> tuple[float, Timing | None]:
    """The seconds a timed metric uses, and how they were measured: the agent's time on the
    anchors' machine where the task has baseline code, else the scored run's own wall time
    (which depends on the machine and its load); a failed timing is this metric's error."""
    if outcome.timing_failure is not None:
        raise TimingFailedError(outcome.timing_failure)
    if outcome.timing is not None:
        return outcome.timing.seconds, outcome.timing
    return float(outcome.sandbox.wall_s), None
