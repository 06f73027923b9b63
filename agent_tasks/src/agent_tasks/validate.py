"""Check every registered spec beyond what its type already guarantees."""

from __future__ import annotations

from agent_tasks.export import starter_files, starter_root
from agent_tasks.registry import catalogue_problems, load
from agent_tasks.render import render_prompt
from agent_tasks.spec import TaskSpec


def check_spec(spec: TaskSpec) -> list[str]:
    """Problems with one spec, as sentences naming the task; empty when it is sound."""
    problems: list[str] = []
    where = f"task {spec.name!r}"
    try:
        text = render_prompt(spec)
    except Exception as exc:  # rendering must never fail; report whatever it raised
        problems.append(f"{where}: the prompt does not render: {exc}")
        text = ""
    if text and spec.title not in text:
        problems.append(f"{where}: the rendered prompt lacks the title")
    if spec.assets is not None:
        root = starter_root(spec)
        if root is None:
            problems.append(f"{where}: assets {spec.assets!r} has no starter/ folder")
        else:
            names = starter_files(spec)
            if not names:
                problems.append(f"{where}: starter/ is empty")
            for rel in names:
                node = root.joinpath(*rel.split("/"))
                data = node.read_bytes()
                if not data.strip():
                    problems.append(f"{where}: starter file {rel!r} is empty")
                elif rel.endswith(".py"):
                    try:
                        compile(data, rel, "exec")
                    except SyntaxError as exc:
                        problems.append(f"{where}: starter file {rel!r} does not compile: {exc}")
    if (
        spec.anchors.baseline is None
        and spec.anchors.reference is None
        and spec.anchors.reference_improvement_pct is None
        and spec.primary.chance is None
    ):
        problems.append(f"{where}: no anchors and no chance level: its score cannot be normalised")
    return problems


def validate_all() -> list[str]:
    """Problems across the whole registry (loading, clashes, task folders against the benchmarks'
    lists, each spec); empty when all is well."""
    catalogue = load(refresh=True)
    problems = [*catalogue.problems, *catalogue_problems()]
    for spec in catalogue.items.values():
        problems.extend(check_spec(spec))
    return problems
