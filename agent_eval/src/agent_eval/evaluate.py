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
from agent_contracts.names import did_you_mean
from agent_contracts.results import (
    AgentInfo,
    ConstraintCheck,
    ErrorInfo,
    EvaluationResult,
    MetricValue,
    ModelInfo,
    Status,
)
from agent_contracts.run_record import RunRecord
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
    from agent_tasks.registry import get_task

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


def evaluate(
    options: EvalOptions, progress: Progress = _quiet, *, spec: TaskSpec | None = None
) -> Outcome:
    """Run one evaluation end to end; ``spec`` replaces the catalogue's (library use, tests)."""
    from agent_eval.loading import (
        WeightFacts,
        inspect_weights,
        load,
        predictions_file,
        resolve_deliverable,
    )
    from agent_eval.metrics.registry import MetricContext, get_metric

    spec, chosen = validate(options, spec)
    force_offline()
    if spec.evaluation.code_run is not None:  # code deliverables: exit 3 before anything runs
        from agent_eval.coderun import check_ready

        check_ready(spec, default_data_dir(options.data_dir))
    started = utcnow()
    clock = time.perf_counter()
    deliverable = resolve_deliverable(options.model_args, spec.deliverable.path)
    agent = deliverable.agent
    if options.agent_label:
        agent = (
            agent.model_copy(update={"label": options.agent_label})
            if agent
            else AgentInfo(label=options.agent_label)
        )
    ctx = MetricContext(
        spec=spec,
        data_dir=default_data_dir(options.data_dir),
        limit=options.limit,
        batch_size=options.batch_size,
        deliverable_folder=deliverable.path,
    )
    scratch = tempfile.TemporaryDirectory(prefix="mlrb-eval-", ignore_cleanup_errors=True)
    errors: list[ErrorInfo] = []
    values: list[MetricValue] = []
    checks: list[ConstraintCheck] = []
    failure: EvalError | None = None
    failed: set[str] = set()
    device = "cpu"
    running_dtype: str | None = None
    kind = spec.deliverable.kind
    model_info = ModelInfo(path=str(deliverable.path), format="unknown")
    try:
        if deliverable.missing is not None:
            raise deliverable.missing
        if spec.evaluation.code_run is not None:
            model_info = _rerun_code(spec, deliverable.path, ctx, scratch.name, progress)
        elif kind == "hf_model":
            registered = {m.name: _registered(m.name) for m in chosen}
            tokenizer_for = [
                n for n, r in registered.items() if r is not None and r.needs == "tokenizer"
            ]
            progress(f"loading {deliverable.path}")
            loaded = load(
                deliverable,
                device=options.device,
                dtype=options.dtype,
                need_tokenizer=f"metric {tokenizer_for[0]!r}" if tokenizer_for else None,
            )
            ctx.loaded = loaded
            ctx.weights = WeightFacts(loaded.stored_dtypes, loaded.quantization)
            model_info = loaded.info
            device, running_dtype = loaded.device, loaded.dtype
        elif kind == "predictions_csv":
            from agent_eval.loading import content_hash

            ctx.predictions = predictions_file(deliverable, Path(spec.deliverable.path).name)
            model_info = ModelInfo(
                path=str(ctx.predictions),
                format="predictions_csv",
                sha256=content_hash(ctx.predictions),
            )
        else:
            from agent_eval.loading import content_hash

            model_info = ModelInfo(
                path=str(deliverable.path), format="method", sha256=content_hash(deliverable.path)
            )
    except CodeEnvironmentError:
        scratch.cleanup()
        raise
    except EvalError as exc:
        failure = exc
        errors.append(_error("load", exc))
        failed = {m.name for m in chosen}
        if kind == "hf_model" and deliverable.missing is None and deliverable.path.is_dir():
            try:  # dtype and quantization rules can be judged from the files alone
                ctx.weights = inspect_weights(deliverable.path)
            except EvalError:
                ctx.weights = None
            # -- what the files say is recorded even when the model cannot be loaded --
            if ctx.weights is not None:
                from agent_eval.loading import dtype_label

                model_info = model_info.model_copy(
                    update={
                        "format": "peft_adapter"
                        if (deliverable.path / "adapter_config.json").is_file()
                        else "hf_model",
                        "dtype": dtype_label(ctx.weights.stored_dtypes),
                        "quantization": tuple(ctx.weights.quantization),
                    }
                )
            if ctx.weights is not None and spec.constraints:
                checks = _constraints(spec, ctx)
    if failure is None:
        for mspec in chosen:
            progress(f"computing {mspec.name}")
            try:
                values += get_metric(mspec.name).compute(ctx, mspec)  # unmeasured: an error
            except METRIC_FAILURES as exc:
                failed.add(mspec.name)
                errors.append(_error(f"metric:{mspec.name}", exc))
                if mspec.name == spec.primary_metric:
                    failure = (
                        exc
                        if isinstance(exc, EvalError)
                        else MetricError(
                            f"metric {mspec.name!r} failed: {type(exc).__name__}: {exc}"
                        )
                    )
        if ctx.loaded is not None or spec.constraints:
            progress("checking constraints")
            try:
                checks = _constraints(spec, ctx)
            except METRIC_FAILURES as exc:
                errors.append(_error("constraints", exc))
    scratch.cleanup()  # the re-run's work folder and output are not kept
    from agent_eval.scores import score

    primary = next((v for v in values if v.name == spec.primary_metric), None)
    chosen_names = {m.name for m in chosen}
    status: Status
    if failure is not None and (spec.primary_metric in failed or not values):
        status = "error"
    elif failed:
        status = "partial"
    else:
        status = "ok"
    if status == "error" and failure is None and spec.primary_metric in chosen_names:
        failure = EvalError(f"primary metric {spec.primary_metric!r} failed")
    from agent_eval.environment import collect

    environment = collect(
        device=device,
        device_requested=options.device,
        dtype=running_dtype,
        batch_size=options.batch_size or _pinned(chosen, spec, "batch_size"),
        num_fewshot=_pinned(chosen, spec, "num_fewshot"),
        sample_limit=options.limit,
    )
    finished = utcnow()
    result = EvaluationResult(
        run_id=deliverable.run_id,
        task=spec.name,
        benchmark=spec.benchmark,
        task_version=spec.version,
        agent=agent,
        model=model_info,
        status=status,
        metrics=tuple(values),
        primary_metric=spec.primary_metric,
        score=(
            score(spec, primary.value, _measured_chance(spec, primary))
            if primary is not None
            else None
        ),
        constraints=tuple(checks),
        errors=tuple(errors),
        # -- data provenance: what was read, and whether it was the spec's full set --
        datasets=tuple(ctx.datasets.values()),
        data_subset=options.limit is not None or any(not d.complete for d in ctx.datasets.values()),
        environment=environment,
        started_at=started,
        finished_at=finished,
        duration_s=round(time.perf_counter() - clock, 3),
    )
    try:
        path = write_result(result, options.results_dir)
    except OSError as exc:
        raise ResultsWriteError(
            f"the result could not be written to {str(options.results_dir)!r}: "
            f"{exc.strerror or exc}",
            document=result.model_dump_json(indent=2),
            hint="the result JSON is printed on stdout; save it and load it later with "
            "'agent-eval sync FOLDER'",
        ) from None
    # -- audit files beside the results (generations ...), see save_artifacts --
    outcome = Outcome(result=result, path=path, failure=failure)
    outcome.notes += save_artifacts(path, ctx.artifacts)
    if options.record:
        progress("recording in the database")
        outcome.recorded, outcome.db_error = record(
            result, deliverable.run, options.database_url, options.results_dir
        )
    return outcome


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
    spec: TaskSpec, path: Path, ctx: Any, scratch: str, progress: Progress
) -> ModelInfo:
    """Re-run a code deliverable in a sandbox; its output becomes what the metrics score."""
    from agent_eval.coderun import rerun
    from agent_eval.deliverable_check import check_tree
    from agent_eval.loading import content_hash

    # What runs is the whole folder around the delivered file (main.py and its weights): it
    # passes the trust-boundary checks before anything copies it, and the hash covers it.
    folder = path if path.is_dir() else path.parent
    checked = check_tree(folder)
    progress(f"re-running the deliverable in a sandbox ({spec.name})")
    outcome = rerun(spec, path, ctx.data_dir, Path(scratch))
    ctx.code_run = outcome
    ctx.predictions = outcome.output_file
    return ModelInfo(path=str(folder), format="code", sha256=content_hash(folder, checked))


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
