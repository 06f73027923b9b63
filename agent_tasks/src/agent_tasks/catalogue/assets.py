"""Where a built-in task's prompt and starter files live: ``agent_tasks/tasks/<name>/``."""

from __future__ import annotations

from importlib.resources import files

from agent_tasks.errors import SpecError

TASKS_PACKAGE = "agent_tasks.tasks"


def assets_of(name: str) -> str:
    """Importable package name of a built-in task's asset folder."""
    return f"{TASKS_PACKAGE}.{name}"


def prompt_of(name: str) -> str:
    """The markdown body of a built-in task's prompt (``tasks/<name>/prompt.md``)."""
    node = files(TASKS_PACKAGE).joinpath(name, "prompt.md")
    if not node.is_file():
        raise SpecError(f"task {name!r} has no prompt.md in {TASKS_PACKAGE}")
    return node.read_text(encoding="utf-8")
