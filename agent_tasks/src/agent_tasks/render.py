"""Turn a spec into the ``TASK.md`` an agent reads."""

from __future__ import annotations

from agent_contracts.durations import describe
from agent_tasks.spec import (
    AllowedDtypesConstraint,
    Constraint,
    MaxMemoryConstraint,
    MaxParametersConstraint,
    MaxRuntimeConstraint,
    NoQuantizationConstraint,
    TaskSpec,
)


def format_duration(seconds: int) -> str:
    """``86400`` -> ``24h``, ``5400`` -> ``1h30m``, ``45`` -> ``45s`` (the form durations are
    typed in: :func:`agent_contracts.durations.describe`)."""
    return describe(seconds)


def describe_constraint(constraint: Constraint) -> str:
    """One line stating a machine-checked constraint."""
    if isinstance(constraint, MaxMemoryConstraint):
        where = {"cpu": "host memory (DRAM)", "gpu": "GPU memory", "any": "memory"}[
            constraint.device
        ]
        text = f"peak {where} during {constraint.phase} at most {constraint.limit_gb:g} GB"
    elif isinstance(constraint, AllowedDtypesConstraint):
        text = "weights stored in " + " or ".join(constraint.dtypes)
    elif isinstance(constraint, NoQuantizationConstraint):
        text = "no quantized weights (int8/int4/GPTQ/AWQ/bitsandbytes are rejected)"
    elif isinstance(constraint, MaxParametersConstraint):
        text = f"at most {constraint.limit:,} parameters in total"
    elif isinstance(constraint, MaxRuntimeConstraint):
        text = f"{constraint.phase.replace('_', ' ')} within {format_duration(constraint.limit_s)}"
    else:  # pragma: no cover - the union is closed
        raise TypeError(type(constraint).__name__)
    if not constraint.description:
        return text
    description = constraint.description.rstrip(".")
    return f"{text}. {description[:1].upper()}{description[1:]}."


def render_prompt(spec: TaskSpec) -> str:
    """The full task statement in markdown: the challenge plus every fact the agent needs, one
    section after another (each a function below, each ending with an empty line)."""
    sections = (
        _heading,
        _deliverable,
        _scoring,
        _resources,
        _data,
        _starting_point,
        _rules,
        _environment,
    )
    return "".join(section(spec) for section in sections).removesuffix("\n")


def _block(*lines: str) -> str:
    """Lines of Markdown followed by one empty line ("" where nothing is to be said)."""
    return "".join(f"{line}\n" for line in lines) + "\n"


def _heading(spec: TaskSpec) -> str:
    return _block(
        f"# {spec.title}",
        "",
        f"_Task `{spec.name}` of `{spec.benchmark}`, version {spec.version}._",
        "",
        spec.prompt.strip(),
    )


def _deliverable(spec: TaskSpec) -> str:
    target = f"`$OUTPUT_DIR/{spec.deliverable.path}`"
    if spec.deliverable.kind == "hf_model":
        where = (
            f"Save it to {target} in Hugging Face layout (config, weights, tokenizer), or write "
            '`$OUTPUT_DIR/submission.json` as `{"model_path": "<folder inside $OUTPUT_DIR>"}`.'
        )
    elif spec.deliverable.kind == "predictions_csv":
        where = f"Write {target} with the header `{','.join(spec.deliverable.columns)}`."
    else:
        where = f"Leave it in {target}."
    return _block("## What you must deliver", "", spec.deliverable.description.strip(), "", where)


def _scoring(spec: TaskSpec) -> str:
    metrics = []
    for m in spec.metrics:
        marker = " (primary)" if m.name == spec.primary_metric else ""
        better = "higher is better" if m.direction == "higher" else "lower is better"
        desc = f": {m.description}" if m.description else ""
        metrics.append(f"- **{m.label}**{marker}, {better}{desc}")
    a = spec.anchors
    if a.reference_value is not None:
        reference = _num(a.reference_value)
        if a.reference is None and a.reference_improvement_pct is not None:
            reference += f", {a.reference_improvement_pct:+g} % over the baseline"
        anchors = [
            "",
            f"Normalised score: 0 at the {a.baseline_label} ({_num(a.baseline)}), 100 at the "
            f"{a.reference_label} ({reference}); source: {a.source}.",
        ]
    elif a.reference_improvement_pct is not None:
        anchors = [
            "",
            f"Normalised score: 0 at the {a.baseline_label} (not published), 100 at the "
            f"{a.reference_label} ({a.reference_improvement_pct:+g} % over the baseline); "
            f"source: {a.source}.",
        ]
    elif a.baseline is not None:
        anchors = ["", f"The {a.baseline_label} scores {_num(a.baseline)}; source: {a.source}."]
    else:
        anchors = []
    return _block("## How you are scored", "", *metrics, *anchors)


def _resources(spec: TaskSpec) -> str:
    r = spec.resources
    gpus = (
        f"- GPUs: {r.gpus}"
        + (f" x {r.gpu_type}" if r.gpu_type else "")
        + (f", {r.gpu_memory_gb:g} GB each" if r.gpu_memory_gb else "")
    )
    optional = (
        f"- CPU cores: {r.cpus}" if r.cpus else None,
        f"- Memory: {r.ram_gb:g} GB" if r.ram_gb else None,
        f"- Disk: {r.disk_gb:g} GB" if r.disk_gb else None,
    )
    return _block(
        "## Resources and time",
        "",
        f"- Time limit: {format_duration(r.time_limit_s)} ({r.time_limit_s} s) for the whole "
        "run; `$DEADLINE` holds the Unix time at which you will be stopped.",
        gpus,
        *(line for line in optional if line is not None),
    )


def _data(spec: TaskSpec) -> str:
    if not spec.datasets:
        return ""
    items = []
    for d in spec.datasets:
        where = d.id + (f" (config `{d.config}`)" if d.config else "")
        splits = ", ".join(f"{k} {v:,}" for k, v in d.splits.items())
        cols = ", ".join(d.columns)
        facts = (f"rows: {splits}" if splits else "", f"columns: {cols}" if cols else "")
        detail = "; ".join(x for x in facts if x)
        items.append(
            f"- `{where}`"
            + (f": {detail}" if detail else "")
            + (f". {d.description}" if d.description else "")
        )
    return _block("## Data you may use", "", *items)


def _starting_point(spec: TaskSpec) -> str:
    if spec.from_scratch:
        start = "Train from scratch: no pretrained weights of any kind."
    elif spec.starting_models:
        start = "You may start from: " + ", ".join(f"`{m}`" for m in spec.starting_models) + "."
    else:
        start = "No starting model is prescribed."
    starter = (
        ["Starter files are in `$TASK_DIR/starter/` (read-only; copy what you change)."]
        if spec.assets
        else []
    )
    return _block("## Starting point", "", start, *starter)


def _rules(spec: TaskSpec) -> str:
    if not (spec.rules or spec.constraints):
        return ""
    return _block(
        "## Rules",
        "",
        *(f"- {rule}" for rule in spec.rules),
        *(f"- Checked by the evaluator: {describe_constraint(c)}" for c in spec.constraints),
    )


def _environment(spec: TaskSpec) -> str:
    task_dir = (
        "this file, `task.json` and `starter/`." if spec.assets else "this file and `task.json`."
    )
    environment = _block(
        "## Your environment",
        "",
        f"- `$TASK_DIR` (read-only): {task_dir}",
        "- `$OUTPUT_DIR` (writable): put the deliverable here; everything else is discarded.",
        "- `$TASK_NAME`, `$BENCHMARK`, `$TIME_LIMIT_S`, `$DEADLINE` describe the run.",
    )
    if spec.competition_url:
        environment += _block(f"Original competition: {spec.competition_url}")
    return environment


def _num(value: float | None) -> str:
    return "not published" if value is None else f"{value:g}"
