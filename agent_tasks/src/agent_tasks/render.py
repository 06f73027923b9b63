"""Turn a spec into the ``TASK.md`` an agent reads."""

from __future__ import annotations

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
    """``86400`` -> ``24h``, ``5400`` -> ``1h30m``, ``45`` -> ``45s``."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"


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
    """The full task statement in markdown: the challenge plus every fact the agent needs."""
    r = spec.resources
    lines = [
        f"# {spec.title}",
        "",
        f"_Task `{spec.name}` of `{spec.benchmark}`, version {spec.version}._",
        "",
        spec.prompt.strip(),
        "",
    ]

    lines += ["## What you must deliver", "", spec.deliverable.description.strip(), ""]
    target = f"`$OUTPUT_DIR/{spec.deliverable.path}`"
    if spec.deliverable.kind == "hf_model":
        lines.append(
            f"Save it to {target} in Hugging Face layout (config, weights, tokenizer), or write "
            '`$OUTPUT_DIR/submission.json` as `{"model_path": "<folder inside $OUTPUT_DIR>"}`.'
        )
    elif spec.deliverable.kind == "predictions_csv":
        lines.append(f"Write {target} with the header `{','.join(spec.deliverable.columns)}`.")
    else:
        lines.append(f"Leave it in {target}.")
    lines.append("")

    lines += ["## How you are scored", ""]
    for m in spec.metrics:
        marker = " (primary)" if m.name == spec.primary_metric else ""
        better = "higher is better" if m.direction == "higher" else "lower is better"
        desc = f": {m.description}" if m.description else ""
        lines.append(f"- **{m.label}**{marker}, {better}{desc}")
    a = spec.anchors
    reference = a.reference_value
    if reference is not None:
        ref_text = f"{_num(reference)}"
        if a.reference is None and a.reference_improvement_pct is not None:
            ref_text += f", {a.reference_improvement_pct:+g} % over the baseline"
        lines += [
            "",
            f"Normalised score: 0 at the {a.baseline_label} ({_num(a.baseline)}), 100 at the "
            f"{a.reference_label} ({ref_text}); source: {a.source}.",
        ]
    elif a.reference_improvement_pct is not None:
        lines += [
            "",
            f"Normalised score: 0 at the {a.baseline_label} (not published), 100 at the "
            f"{a.reference_label} ({a.reference_improvement_pct:+g} % over the baseline); "
            f"source: {a.source}.",
        ]
    elif a.baseline is not None:
        lines += ["", f"The {a.baseline_label} scores {_num(a.baseline)}; source: {a.source}."]
    lines.append("")

    lines += [
        "## Resources and time",
        "",
        f"- Time limit: {format_duration(r.time_limit_s)} ({r.time_limit_s} s) for the whole "
        "run; `$DEADLINE` holds the Unix time at which you will be stopped.",
        f"- GPUs: {r.gpus}"
        + (f" x {r.gpu_type}" if r.gpu_type else "")
        + (f", {r.gpu_memory_gb:g} GB each" if r.gpu_memory_gb else ""),
    ]
    if r.cpus:
        lines.append(f"- CPU cores: {r.cpus}")
    if r.ram_gb:
        lines.append(f"- Memory: {r.ram_gb:g} GB")
    if r.disk_gb:
        lines.append(f"- Disk: {r.disk_gb:g} GB")
    lines.append("")

    if spec.datasets:
        lines += ["## Data you may use", ""]
        for d in spec.datasets:
            where = d.id + (f" (config `{d.config}`)" if d.config else "")
            splits = ", ".join(f"{k} {v:,}" for k, v in d.splits.items())
            cols = ", ".join(d.columns)
            detail = "; ".join(
                x
                for x in (f"rows: {splits}" if splits else "", f"columns: {cols}" if cols else "")
                if x
            )
            lines.append(
                f"- `{where}`"
                + (f": {detail}" if detail else "")
                + (f". {d.description}" if d.description else "")
            )
        lines.append("")

    lines += ["## Starting point", ""]
    if spec.from_scratch:
        lines.append("Train from scratch: no pretrained weights of any kind.")
    elif spec.starting_models:
        lines.append(
            "You may start from: " + ", ".join(f"`{m}`" for m in spec.starting_models) + "."
        )
    else:
        lines.append("No starting model is prescribed.")
    if spec.assets:
        lines.append("Starter files are in `$TASK_DIR/starter/` (read-only; copy what you change).")
    lines.append("")

    if spec.rules or spec.constraints:
        lines += ["## Rules", ""]
        lines += [f"- {rule}" for rule in spec.rules]
        lines += [f"- Checked by the evaluator: {describe_constraint(c)}" for c in spec.constraints]
        lines.append("")

    lines += [
        "## Your environment",
        "",
        "- `$TASK_DIR` (read-only): "
        + (
            "this file, `task.json` and `starter/`."
            if spec.assets
            else "this file and `task.json`."
        ),
        "- `$OUTPUT_DIR` (writable): put the deliverable here; everything else is discarded.",
        "- `$TASK_NAME`, `$BENCHMARK`, `$TIME_LIMIT_S`, `$DEADLINE` describe the run.",
        "",
    ]
    if spec.competition_url:
        lines += [f"Original competition: {spec.competition_url}", ""]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "not published" if value is None else f"{value:g}"
