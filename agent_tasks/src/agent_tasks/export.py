"""Write a task's folder for an agent: ``TASK.md``, ``task.json`` and ``starter/``."""

from __future__ import annotations

import json
import shutil
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path

from agent_tasks.errors import ExportError
from agent_tasks.registry import get_task
from agent_tasks.render import render_prompt
from agent_tasks.spec import TaskSpec

EXPORTED = ("TASK.md", "task.json", "starter")
"""What an export writes into its destination."""


def starter_root(spec: TaskSpec) -> Traversable | None:
    """The task's starter folder, or None when it has none."""
    if spec.assets is None:
        return None
    root = files(spec.assets).joinpath("starter")
    return root if root.is_dir() else None


def starter_files(spec: TaskSpec) -> list[str]:
    """Relative paths of every starter file, sorted."""
    root = starter_root(spec)
    found: list[str] = []

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            if child.name == "__pycache__" or child.name.endswith(".pyc"):
                continue
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            else:
                found.append(rel)

    if root is not None:
        walk(root, "")
    return sorted(found)


def export_task(name: str | TaskSpec, dest: str | Path, *, force: bool = False) -> Path:
    """Write TASK.md, task.json and starter/ for the task into ``dest``; return ``dest``.

    A non-empty destination is refused unless ``force``; with ``force`` only the exported
    entries are replaced, other files in ``dest`` are left alone.
    """
    spec = name if isinstance(name, TaskSpec) else get_task(name)
    target = Path(dest)
    if target.exists() and not target.is_dir():
        raise ExportError(
            f"{str(target)!r} exists and is not a folder",
            hint="choose a folder path for the export",
        )
    if target.is_dir() and any(target.iterdir()) and not force:
        raise ExportError(
            f"{str(target)!r} is not empty",
            hint="choose an empty folder, or pass --force to replace TASK.md, task.json and "
            "starter/ there",
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
        (target / "TASK.md").write_text(render_prompt(spec), encoding="utf-8")
        (target / "task.json").write_text(
            json.dumps(spec.public_dict(), indent=2) + "\n", encoding="utf-8"
        )
        starter = target / "starter"
        if starter.is_dir() and not starter.is_symlink():
            shutil.rmtree(starter)
        elif starter.exists() or starter.is_symlink():
            starter.unlink()
        starter.mkdir()
        root = starter_root(spec)
        for rel in starter_files(spec):
            assert root is not None  # starter_files is empty without a root
            node = root.joinpath(*rel.split("/"))
            out = starter.joinpath(*rel.split("/"))
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(node.read_bytes())
            if rel.endswith((".sh", ".py")):
                out.chmod(0o755)
    except OSError as exc:
        raise ExportError(
            f"cannot write the task into {str(target)!r}: {exc.strerror or exc}",
            hint="check the folder's permissions and free space",
        ) from exc
    return target
