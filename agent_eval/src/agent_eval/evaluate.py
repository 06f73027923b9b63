"""One evaluation: load the deliverable once, compute the task's metrics, save, record.

Order of events: resolve the task and options (usage errors, exit 2) -> resolve and load the
deliverable -> every metric, each failure caught and recorded for that metric alone -> the
task's constraints -> the normalised score of the primary metric -> the results JSON is written
-> the result is recorded in the database. A failed metric is an entry in ``errors``, never a
value of 0.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_contracts.errors import ExitCode
from agent_contracts.results import (
    AgentInfo,
    ConstraintCheck,
    ErrorInfo,
    EvaluationResult,
    MetricValue,
    ModelInfo,
    SeriesPoint,
    Status,
)
from agent_contracts.run_record import SNAPSHOTS_DIR, RunRecord
from agent_contracts.suggestions import did_you_mean
from agent_eval.datasets import data_dir as default_data_dir
from agent_eval.datasets import force_offline
from agent_eval.errors import (
    CodeEnvironmentError,
    DatabaseError,
    EvalError,
    EvalUsageError,
    MetricError,
    ResultsWriteError,
)
from agent_eval.results import utcnow, write_result
from agent_tasks.spec import MetricSpec, TaskSpec

DEVICES = ("auto", "cpu", "cuda")
METRIC_FAILURES = (EvalError, RuntimeError, ValueError, OSError, MemoryError, ImportError)
"""Failures recorded against one metric (out of memory, a model that cannot run, a package
the metric needs is absent ...); anything else is a bug and keeps its traceback."""
DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass
class EvalOptions:
    """What to evaluate and how (the command line's options)."""

    model_args: str
    task: str
    results_dir: Path = Path("results")
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int | None = None
    """Overrides the batch size the spec pins (None: the spec's)."""
    limit: int | None = None
    """Samples per lm-eval task, windows for perplexity, rows for generation (None: all)."""
    metrics: list[str] | None = None
    """Subset of the spec's metrics (None: all)."""
    agent_label: str | None = None
    record: bool = True
    """Record the result in the database after writing the JSON."""
    data_dir: Path | None = None
    database_url: str | None = None
    over_time: bool = False
    """Also evaluate every snapshot of the run (``runs/<id>/snapshots/<elapsed_s>/``) and
    record the series in the result's ``over_time``."""


@dataclass
class Outcome:
    """What an evaluation produced, and how the command should end."""

    result: EvaluationResult
    path: Path
    """Where the results JSON was written."""
    failure: EvalError | None = None
    """Why the evaluation failed (load error, primary metric error), if it did."""
    recorded: bool = False
    """True when the database has the result."""
    db_error: DatabaseError | None = None
    notes: list[str] = field(default_factory=list)
    counted_twice: bool = False
    """True when the database already counts this model under a run (same sha256, same task):
    this evaluation, naming no run, is not ranked (only the database can tell)."""

    @property
    def exit_code(self) -> int:
        """0 ok, 5 evaluation failed, 6 saved as JSON but the database write failed."""
        if self.failure is not None or self.result.status == "error":
            return int(ExitCode.EVALUATION_FAILED)
        if self.db_error is not None:
            return int(ExitCode.DATABASE_FAILED)
        return int(ExitCode.OK)


Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def validate(
    options: EvalOptions, spec: TaskSpec | None = None
) -> tuple[TaskSpec, list[MetricSpec]]:
    """The task spec and the metrics to compute; bad options are usage errors (exit 2)."""
    from agent_eval.deliverable_check import has_run_record
    from agent_tasks.registry import get_task

    if options.over_time and not has_run_record(Path(options.model_args).expanduser()):
        raise EvalUsageError(
            f"--over-time needs a run folder; {options.model_args!r} has no run.json",
            hint="pass --model_args runs/<run_id>",
        )

    indexed = options.device.startswith("cuda:") and options.device[5:].isdigit()
    if options.device not in DEVICES and not indexed:
        raise EvalUsageError(
            f"unknown device {options.device!r}", hint="use auto, cpu, cuda or cuda:N"
        )
    if options.dtype not in DTYPES:
        raise EvalUsageError(f"unknown dtype {options.dtype!r}", hint=f"use {', '.join(DTYPES)}")
    if options.batch_size is not None and options.batch_size < 1:
        raise EvalUsageError(f"batch size {options.batch_size} must be at least 1")
    if options.limit is not None and options.limit < 1:
        raise EvalUsageError(f"limit {options.limit} must be at least 1")
    spec = spec or get_task(options.task)
    _check_results_dir(options.results_dir)
    if options.record:
        from agent_eval.settings import resolve_url

        resolve_url(options.database_url, results_dir=options.results_dir)
    if options.device.startswith("cuda"):
        from agent_eval.loading import pick_device

        pick_device(options.device)  # a GPU asked for but absent: exit 3, nothing written
    chosen = list(spec.metrics)
    if options.metrics:
        names = [m.name for m in spec.metrics]
        for wanted in options.metrics:
            if wanted not in names:
                raise EvalUsageError(
                    f"task {spec.name!r} has no metric {wanted!r}",
                    hint=did_you_mean(wanted, names, known="its metrics"),
                )
        chosen = [m for m in spec.metrics if m.name in options.metrics]
    return spec, chosen


def _check_results_dir(folder: Path) -> None:
    """The results folder exists (created if need be) and a file can be written in it."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = "it is not a folder" if folder.exists() and not folder.is_dir() else None
        raise EvalUsageError(
            f"results folder {str(folder)!r} cannot be written: {reason or exc.strerror or exc}",
            hint="pass a writable folder with --results-dir (or set AGENT_EVAL_RESULTS_DIR)",
        ) from None


def _error(stage: str, exc: BaseException) -> ErrorInfo:
    message = str(exc)
    hint = getattr(exc, "hint", None)
    if hint:
        message = f"{message} (hint: {hint})"
    return ErrorInfo(stage=stage, type=type(exc).__name__, message=message)


def _pinned(metrics: list[MetricSpec], spec: TaskSpec, key: str) -> int | None:
    for m in [spec.primary, *metrics]:
        if key in m.params:
            return int(m.params[key])
    return None


@dataclass
class _Evaluation:
    """One evaluation's state, filled in by its steps in order."""

    options: EvalOptions
    spec: TaskSpec
    chosen: list[MetricSpec]
    deliverable: Any
    """The :class:`~agent_eval.deliverable_check.ResolvedDeliverable` of ``--model_args``."""
    ctx: Any
    """The :class:`agent_eval.metrics.registry.MetricContext` every metric reads."""
    model_info: ModelInfo
    values: list[MetricValue] = field(default_factory=list)
    errors: list[ErrorInfo] = field(default_factory=list)
    checks: list[ConstraintCheck] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)
    """Metrics that produced no value."""
    failure: EvalError | None = None
    """Why the evaluation as a whole failed (the deliverable, or the primary metric)."""
    device: str = "cpu"
    running_dtype: str | None = None

    def fail(self, stage: str, exc: BaseException, metric: str | None = None) -> None:
        """Record a failure of ``stage`` (and of ``metric``, when one metric failed)."""
        self.errors.append(_error(stage, exc))
        if metric is not None:
            self.failed.add(metric)


def evaluate(
    options: EvalOptions, progress: Progress = _quiet, *, spec: TaskSpec | None = None
) -> Outcome:
    """Run one evaluation end to end; ``spec`` replaces the catalogue's (library use, tests)."""
    spec, chosen = validate(options, spec)
    force_offline()
    if spec.evaluation.code_run is not None:  # code deliverables: exit 3 before anything runs
        from agent_eval.coderun import check_ready

        check_ready(spec, default_data_dir(options.data_dir))
    started, clock = utcnow(), time.perf_counter()
    ev = _start(options, spec, chosen)
    _check_agent_label(options, ev.deliverable)
    scratch = Path(tempfile.mkdtemp(prefix="mlrb-eval-"))
    try:
        _open_deliverable(ev, scratch, progress)  # the re-run's work folder is not kept
        if ev.failure is None:
            _compute_metrics(ev, progress)
    finally:
        from agent_eval.coderun.rerun import remove_work

        remove_work(scratch)  # whatever a re-run left there, at any depth
    result = _result(ev, started, time.perf_counter() - clock)
    if options.over_time:
        series = (*_snapshot_points(options, spec, chosen, ev, progress), _final_point(ev, result))
        result = result.model_copy(update={"over_time": series})
    outcome = Outcome(
        result=result, path=_write(result, options.results_dir), failure=_failure(ev, result)
    )
    # -- audit files beside the results (generations ...), see save_artifacts --
    outcome.notes += save_artifacts(outcome.path, ev.ctx.artifacts)
    if options.record:
        progress("recording in the database")
        outcome.recorded, outcome.db_error = record(
            result, ev.deliverable.run, options.database_url, options.results_dir
        )
        if outcome.recorded and result.run_id is None and result.model.sha256 is not None:
            outcome.counted_twice = _counted_twice(result, options)
    return outcome


def _counted_twice(result: EvaluationResult, options: EvalOptions) -> bool:
    """Whether the database leaves this recorded evaluation out as a model already counted
    under a run (False when that cannot be read: the leaderboard says it then)."""
    from agent_eval.ranking import DUPLICATE_REASON
    from agent_eval.store import Store

    try:
        with Store.open(options.database_url, results_dir=options.results_dir) as store:
            return DUPLICATE_REASON in (store.standing(result.evaluation_id) or "")
    except DatabaseError:
        return False


def _check_agent_label(options: EvalOptions, deliverable: Any) -> None:
    """A run is ranked under the agent its run record names: ``--agent-label`` may repeat that
    name, never give the same run a second one (exit 2 before anything is evaluated)."""
    named = deliverable.agent.label if deliverable.agent is not None else None
    if options.agent_label and named is not None and options.agent_label != named:
        raise EvalUsageError(
            f"run {deliverable.run_id} was made by agent {named!r} (its run.json); "
            f"--agent-label {options.agent_label!r} would rank the same run under a second name",
            hint="leave --agent-label out when evaluating a run (its own agent is used)",
        )


def snapshot_folders(run_dir: Path) -> list[tuple[int, Path]]:
    """The run's snapshot folders by elapsed seconds (names that are not whole seconds, and
    links, are not snapshots)."""
    root = run_dir / SNAPSHOTS_DIR
    if not root.is_dir() or root.is_symlink():
        return []
    found = [
        (int(child.name), child)
        for child in root.iterdir()
        if child.name.isdigit() and child.is_dir() and not child.is_symlink()
    ]
    return sorted(found)


def _deliverable_inside_output(ev: _Evaluation) -> Path:
    """Where the deliverable sits inside the output folder (so inside each snapshot)."""
    run = ev.deliverable.run
    if run is not None and run.deliverable is not None:
        return Path(run.deliverable.path).relative_to(run.output_dir)
    return Path(ev.spec.deliverable.path)


def _snapshot_points(
    options: EvalOptions,
    spec: TaskSpec,
    chosen: list[MetricSpec],
    final: _Evaluation,
    progress: Progress,
) -> list[SeriesPoint]:
    """Every snapshot of the run evaluated like the final deliverable (the same checks: a
    refused snapshot is a point with status ``error``, never a score)."""
    from dataclasses import replace

    run_dir = Path(options.model_args).expanduser()
    inner = _deliverable_inside_output(final)
    points = []
    for elapsed, folder in snapshot_folders(run_dir):
        progress(f"snapshot at {elapsed} s")
        target = folder / inner
        refusal = _link_on_the_way(folder, inner)
        if refusal is not None:
            problem = ErrorInfo(
                stage="load",
                type="DeliverableRefusedError",
                message=f"{refusal} in the snapshot is a link: a snapshot's deliverable must "
                "lie inside it",
            )
            points.append(_point(elapsed, target, run_dir, "error", errors=(problem,)))
            continue
        sub = replace(options, model_args=str(target), over_time=False, record=False)
        started, clock = utcnow(), time.perf_counter()
        try:
            ev = _start(sub, spec, chosen)
        except EvalError as exc:  # nothing delivered yet at that moment: a point, not a failure
            points.append(_point(elapsed, target, run_dir, "error", errors=(_error("load", exc),)))
            continue
        with tempfile.TemporaryDirectory(prefix="mlrb-eval-", ignore_cleanup_errors=True) as tmp:
            _open_deliverable(ev, Path(tmp), progress)
            if ev.failure is None:
                _compute_metrics(ev, progress)
        result = _result(ev, started, time.perf_counter() - clock)
        points.append(
            _point(
                elapsed, target, run_dir, result.status, result.metrics, result.score,
                result.errors, result.constraints,
            )
        )  # fmt: skip
    return points


def _point(
    elapsed: int,
    target: Path,
    run_dir: Path,
    status: Status,
    metrics: tuple[MetricValue, ...] = (),
    score: Any = None,
    errors: tuple[ErrorInfo, ...] = (),
    constraints: tuple[ConstraintCheck, ...] = (),
) -> SeriesPoint:
    """One snapshot's point of the series."""
    return SeriesPoint(
        elapsed_s=float(elapsed),
        snapshot=str(target.relative_to(run_dir)),
        status=status,
        metrics=metrics,
        score=score,
        constraints=constraints,
        errors=errors,
    )


def _link_on_the_way(folder: Path, inner: Path) -> str | None:
    """The first part of ``folder / inner`` that is a link (None: none is)."""
    current = folder
    for part in inner.parts:
        current = current / part
        if current.is_symlink():
            return str(current.relative_to(folder))
    return None


def _final_point(ev: _Evaluation, result: EvaluationResult) -> SeriesPoint:
    """The final deliverable as the last point (at the run's duration)."""
    run = ev.deliverable.run
    assert run is not None  # checked by _snapshot_points
    return SeriesPoint(
        elapsed_s=float(run.duration_s or 0.0),
        snapshot=run.deliverable.path if run.deliverable else str(_deliverable_inside_output(ev)),
        final=True,
        status=result.status,
        metrics=result.metrics,
        score=result.score,
        constraints=result.constraints,
        errors=result.errors,
    )


def _start(options: EvalOptions, spec: TaskSpec, chosen: list[MetricSpec]) -> _Evaluation:
    """Resolve ``--model_args`` to a deliverable and the context the metrics will read."""
    from agent_eval.deliverable_check import resolve_deliverable
    from agent_eval.metrics.registry import MetricContext

    deliverable = resolve_deliverable(options.model_args, spec.deliverable.path)
    ctx = MetricContext(
        spec=spec,
        data_dir=default_data_dir(options.data_dir),
        limit=options.limit,
        batch_size=options.batch_size,
        deliverable_folder=deliverable.path,
        run=deliverable.run,
    )
    return _Evaluation(
        options=options,
        spec=spec,
        chosen=chosen,
        deliverable=deliverable,
        ctx=ctx,
        model_info=ModelInfo(path=str(deliverable.path), format="unknown"),
    )


def _open_deliverable(ev: _Evaluation, scratch: Path, progress: Progress) -> None:
    """Load the model, find the predictions, or re-run the code; a failure fails every metric
    (a missing environment for a code re-run stays an exit-3 error: nothing is recorded)."""
    spec, deliverable = ev.spec, ev.deliverable
    try:
        if deliverable.missing is not None:
            raise deliverable.missing
        if spec.evaluation.code_run is not None:
            timed = any(getattr(_registered(m.name), "timed", False) for m in ev.chosen)
            ev.model_info = _rerun_code(spec, deliverable.path, ev.ctx, scratch, progress, timed)
        elif spec.deliverable.kind == "hf_model":
            _load_model(ev, progress)
        elif spec.deliverable.kind == "predictions_csv":
            from agent_eval.loading import content_hash, predictions_file

            ev.ctx.predictions = predictions_file(deliverable, Path(spec.deliverable.path).name)
            ev.model_info = ModelInfo(
                path=str(ev.ctx.predictions),
                format="predictions_csv",
                sha256=content_hash(ev.ctx.predictions),
            )
        else:
            from agent_eval.loading import content_hash

            ev.model_info = ModelInfo(
                path=str(deliverable.path), format="method", sha256=content_hash(deliverable.path)
            )
    except CodeEnvironmentError:
        raise
    except EvalError as exc:
        ev.failure = exc
        ev.errors.append(_error("load", exc))
        ev.failed = {m.name for m in ev.chosen}
        ev.model_info = ev.model_info.model_copy(update={"sha256": _hash_if_readable(ev)})
        _judge_unloadable_weights(ev)


def _hash_if_readable(ev: _Evaluation) -> str | None:
    """The deliverable's content hash for a load-failure result, when every file can be read
    (None for a refused deliverable or an unreadable file)."""
    from agent_eval.loading import content_hash

    if ev.deliverable.missing is not None or ev.model_info.sha256 is not None:
        return ev.model_info.sha256
    path, checked = ev.deliverable.path, ev.deliverable.checked
    try:
        if ev.spec.evaluation.code_run is not None and not path.is_dir():
            path, checked = path.parent, None  # the folder a re-run hashes (see _rerun_code)
        return content_hash(path, checked)
    except (EvalError, OSError):
        return None


def _load_model(ev: _Evaluation, progress: Progress) -> None:
    from agent_eval.loading import WeightFacts, load

    registered = {m.name: _registered(m.name) for m in ev.chosen}
    tokenizer_for = [n for n, r in registered.items() if r is not None and r.needs == "tokenizer"]
    progress(f"loading {ev.deliverable.path}")
    rule = ev.spec.constraint("allowed_dtypes")
    loaded = load(
        ev.deliverable,
        device=ev.options.device,
        dtype=ev.options.dtype,
        need_tokenizer=f"metric {tokenizer_for[0]!r}" if tokenizer_for else None,
        allowed_dtypes=tuple(rule.dtypes) if rule is not None else (),
    )
    ev.ctx.loaded = loaded
    ev.ctx.weights = WeightFacts(loaded.stored_dtypes, loaded.quantization)
    ev.model_info = loaded.info
    ev.device, ev.running_dtype = loaded.device, loaded.dtype


def _judge_unloadable_weights(ev: _Evaluation) -> None:
    """What the files of a model that cannot be loaded say (dtype, quantization) is recorded,
    and the task's dtype and quantization rules are judged from them alone."""
    from agent_eval.loading import dtype_label, inspect_weights

    folder = ev.deliverable.path
    if ev.spec.deliverable.kind != "hf_model" or ev.deliverable.missing is not None:
        return
    if not folder.is_dir():
        return
    try:
        ev.ctx.weights = inspect_weights(folder)
    except EvalError:
        ev.ctx.weights = None
        return
    adapter = (folder / "adapter_config.json").is_file()
    ev.model_info = ev.model_info.model_copy(
        update={
            "format": "peft_adapter" if adapter else "hf_model",
            "dtype": dtype_label(ev.ctx.weights.stored_dtypes),
            "quantization": tuple(ev.ctx.weights.quantization),
        }
    )
    if ev.spec.constraints:
        ev.checks = _constraints(ev.spec, ev.ctx)


def _compute_metrics(ev: _Evaluation, progress: Progress) -> None:
    """Every chosen metric, each failure recorded against it alone, then the constraints."""
    from agent_eval.metrics.registry import get_metric

    for mspec in ev.chosen:
        progress(f"computing {mspec.name}")
        try:
            ev.values += get_metric(mspec.name).compute(ev.ctx, mspec)  # unmeasured: an error
        except METRIC_FAILURES as exc:
            ev.fail(f"metric:{mspec.name}", exc, metric=mspec.name)
            if mspec.name == ev.spec.primary_metric:
                ev.failure = (
                    exc
                    if isinstance(exc, EvalError)
                    else MetricError(f"metric {mspec.name!r} failed: {type(exc).__name__}: {exc}")
                )
    if ev.ctx.loaded is not None or ev.spec.constraints:
        progress("checking constraints")
        try:
            ev.checks = _constraints(ev.spec, ev.ctx)
        except METRIC_FAILURES as exc:
            ev.fail("constraints", exc)


def _status(ev: _Evaluation) -> Status:
    """error: nothing scored or the primary metric failed; partial: another metric failed."""
    if ev.failure is not None and (ev.spec.primary_metric in ev.failed or not ev.values):
        return "error"
    return "partial" if ev.failed else "ok"


def _failure(ev: _Evaluation, result: EvaluationResult) -> EvalError | None:
    """Why the command fails (exit 5), if it does."""
    chosen = {m.name for m in ev.chosen}
    if result.status == "error" and ev.failure is None and ev.spec.primary_metric in chosen:
        return EvalError(f"primary metric {ev.spec.primary_metric!r} failed")
    return ev.failure


def _result(ev: _Evaluation, started: Any, duration_s: float) -> EvaluationResult:
    """The results document of this evaluation."""
    from agent_eval.conditions import collect as conditions
    from agent_eval.environment import collect
    from agent_eval.scores import score

    spec, options = ev.spec, ev.options
    environment = collect(
        device=ev.device,
        device_requested=options.device,
        dtype=ev.running_dtype,
        batch_size=options.batch_size or _pinned(ev.chosen, spec, "batch_size"),
        num_fewshot=_pinned(ev.chosen, spec, "num_fewshot"),
        sample_limit=options.limit,
    )
    primary = next((v for v in ev.values if v.name == spec.primary_metric), None)
    agent = ev.deliverable.agent
    if options.agent_label:
        label = {"label": options.agent_label}
        agent = agent.model_copy(update=label) if agent else AgentInfo(**label)
    return EvaluationResult(
        run_id=ev.deliverable.run_id,
        task=spec.name,
        benchmark=spec.benchmark,
        task_version=spec.version,
        agent=agent,
        model=ev.model_info,
        status=_status(ev),
        metrics=tuple(ev.values),
        primary_metric=spec.primary_metric,
        score=(
            score(spec, primary.value, _measured_chance(spec, primary))
            if primary is not None
            else None
        ),
        constraints=tuple(ev.checks),
        errors=tuple(ev.errors),
        # -- data provenance: what was read, and whether it was the spec's full set --
        datasets=tuple(ev.ctx.datasets.values()),
        data_subset=options.limit is not None
        or any(not d.complete for d in ev.ctx.datasets.values()),
        environment=environment,
        conditions=conditions(spec, ev.deliverable.run, environment),
        started_at=started,
        finished_at=utcnow(),
        duration_s=round(duration_s, 3),
    )


def _write(result: EvaluationResult, results_dir: Path) -> Path:
    """Write the results file; when that fails the document is kept for stdout."""
    try:
        return write_result(result, results_dir)
    except OSError as exc:
        raise ResultsWriteError(
            f"the result could not be written to {str(results_dir)!r}: {exc.strerror or exc}",
            document=result.model_dump_json(indent=2),
            hint="the result JSON is printed on stdout; save it and load it later with "
            "'agent-eval sync FOLDER'",
        ) from None


def artifact_path(results_file: Path, name: str) -> Path:
    """Where an audit file of a result is saved: ``<results file stem>.<name>.jsonl``."""
    return results_file.with_name(f"{results_file.stem}.{name}.jsonl")


def save_artifacts(results_file: Path, artifacts: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Write each audit file beside the results; notes for those that could not be written."""
    from agent_eval.datasets import write_jsonl

    notes = []
    for name, rows in artifacts.items():
        target = artifact_path(results_file, name)
        try:
            write_jsonl(target, rows)
        except OSError as exc:
            notes.append(f"{name} not saved to {str(target)!r}: {exc.strerror or exc}")
    return notes


def _measured_chance(spec: TaskSpec, primary: MetricValue) -> float | None:
    """The chance level the primary metric measured on the rows it scored, when it does."""
    chance = primary.details.get("chance") if spec.primary.chance_measured else None
    return float(chance) if isinstance(chance, int | float) else None


def _rerun_code(
    spec: TaskSpec, path: Path, ctx: Any, scratch: Path, progress: Progress, timed: bool
) -> ModelInfo:
    """Re-run a code deliverable in a sandbox; its output becomes what the metrics score
    (timed against the task's baseline code only when a chosen metric is ``timed``)."""
    from agent_eval.coderun import rerun
    from agent_eval.deliverable_check import check_tree
    from agent_eval.loading import content_hash

    # What runs is the whole folder around the delivered file (main.py and its weights): it
    # passes the trust-boundary checks before anything copies it, and the hash covers it. The
    # hash reads every file first, so one the evaluator may not read is a load error with a
    # hint before the sandbox copies anything.
    folder = path if path.is_dir() else path.parent
    checked = check_tree(folder)
    sha256 = content_hash(folder, checked)
    progress(f"re-running the deliverable in a sandbox ({spec.name})")
    outcome = rerun(spec, path, ctx.data_dir, scratch, timed=timed)
    ctx.code_run = outcome
    ctx.predictions = outcome.output_file
    return ModelInfo(path=str(folder), format="code", sha256=sha256)


def _registered(name: str) -> Any:
    from agent_eval.metrics.registry import get_metric

    try:
        return get_metric(name)
    except EvalError:
        return None  # reported as that metric's error when it runs


def _constraints(spec: TaskSpec, ctx: Any) -> list[ConstraintCheck]:
    from agent_eval.constraints import check_constraints

    return check_constraints(spec, ctx)


def record(
    result: EvaluationResult,
    run: RunRecord | None,
    url: str | None,
    results_dir: Path | None = None,
) -> tuple[bool, DatabaseError | None]:
    """Record the result in the database; (recorded, the error when it could not be)."""
    try:
        from agent_eval.store import record_result
    except ImportError as exc:
        return False, DatabaseError(
            f"database support cannot be loaded ({exc})",
            hint="the result is saved as JSON; load it later with 'agent-eval sync'",
        )
    try:
        record_result(result, run=run, url=url, results_dir=results_dir)
    except DatabaseError as exc:
        return False, exc
    return True, None
