"""`agent-tasks export`: what lands in the agent's task folder, for every registered task."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_tasks import ExportError, export_task, get_task, list_tasks, registry, render_prompt
from agent_tasks.cli import app
from agent_tasks.export import starter_files, starter_root
from agent_tasks.spec import HIDDEN_FIELDS, TaskSpec

ALL_TASKS = [spec.name for spec in list_tasks()]


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` by relative path, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("name", ALL_TASKS)
def test_export_writes_the_task_folder(name: str, tmp_path: Path) -> None:
    spec = get_task(name)
    dest = export_task(name, tmp_path / "task")
    assert sorted(p.name for p in dest.iterdir()) == ["TASK.md", "starter", "task.json"]
    assert (dest / "TASK.md").read_text(encoding="utf-8") == render_prompt(spec)
    data = json.loads((dest / "task.json").read_text(encoding="utf-8"))
    assert data == spec.public_dict()
    assert not HIDDEN_FIELDS & data.keys()
    expected: dict[str, bytes] = {}
    root = starter_root(spec)
    for rel in starter_files(spec):
        assert root is not None
        expected[rel] = root.joinpath(*rel.split("/")).read_bytes()
    assert files_under(dest / "starter") == expected


def test_exported_scripts_are_executable(tmp_path: Path) -> None:
    dest = export_task("tiny_lm", tmp_path / "task")
    assert os.access(dest / "starter" / "train.py", os.X_OK)
    assert (dest / "starter" / "train.txt").stat().st_size > 100_000


def test_hidden_evaluation_data_never_reach_the_export(tmp_path: Path) -> None:
    dest = export_task("tiny_lm", tmp_path / "task")
    text = "\n".join(b.decode("utf-8", "replace") for b in files_under(dest).values())
    assert "heldout.txt" not in text
    assert '"evaluation"' not in (dest / "task.json").read_text(encoding="utf-8")


def test_export_into_a_non_empty_folder_is_refused_unless_forced(tmp_path: Path) -> None:
    dest = tmp_path / "task"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine", encoding="utf-8")
    refused = CliRunner().invoke(app, ["export", "tiny_lm", str(dest)])
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: ") and "is not empty" in refused.stderr
    assert "--force" in refused.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt"]  # nothing written

    (dest / "starter").mkdir()
    (dest / "starter" / "stale.py").write_text("old", encoding="utf-8")
    forced = CliRunner().invoke(app, ["export", "tiny_lm", str(dest), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (dest / "notes.txt").read_text(encoding="utf-8") == "mine"  # unrelated: kept
    assert not (dest / "starter" / "stale.py").exists()  # starter/ replaced as a whole
    assert (dest / "starter" / "train.py").is_file()
    assert "exported tiny_lm" in forced.stderr


def test_export_onto_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(ExportError, match="is not a folder"):
        export_task("tiny_lm", target)
    out = CliRunner().invoke(app, ["export", "tiny_lm", str(target), "--force"])
    assert out.exit_code == 2


def test_export_of_an_unknown_task_names_it(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["export", "tiny_ml", str(tmp_path / "t")])
    assert out.exit_code == 2
    assert out.stderr.startswith("error: unknown task 'tiny_ml'")
    assert not (tmp_path / "t").exists()


def test_export_leaves_the_working_directory_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    before = Path.cwd()
    out = CliRunner().invoke(app, ["export", "tiny_lm", "relative/task"])
    assert out.exit_code == 0, out.output
    assert Path.cwd() == before
    assert (tmp_path / "relative" / "task" / "TASK.md").is_file()
    export_task("mlrc_meta_learning", "other")
    assert Path.cwd() == before
    assert (tmp_path / "other" / "task.json").is_file()


ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "agent_eval" / "src" / "agent_eval" / "resources" / "bundled"
PACKAGES = ("agent_contracts", "agent_tasks", "agent_harness", "agent_eval")


def hidden_bundled_sets(spec: TaskSpec) -> set[str]:
    """Names of the evaluator's bundled sets that the task's hidden evaluation reads."""
    hidden = spec.evaluation
    ids = {d.id for d in hidden.datasets}
    ids |= {str(m.params.get("dataset", "")) for m in spec.metrics}
    if hidden.code_run is not None:
        ids.add(hidden.code_run.inputs)
    return {i.removeprefix("bundled:") for i in ids if i.startswith("bundled:")} & {
        p.name for p in BUNDLED.iterdir() if p.is_dir()
    }


@pytest.mark.parametrize("name", ALL_TASKS)
def test_the_spec_file_hidden_data_and_recipe_never_reach_the_export(
    name: str, tmp_path: Path
) -> None:
    spec = get_task(name)
    dest = export_task(name, tmp_path / "task")
    exported = list(files_under(dest).values())
    secret = {Path(registry.__file__).parent / "tasks" / name / "task.py"}
    for bundled in hidden_bundled_sets(spec):
        secret |= {p for p in (BUNDLED / bundled).rglob("*") if p.is_file()}
    if spec.evaluation.recipe is not None:
        secret.add(ROOT / spec.evaluation.recipe)
    for path in secret:
        data = path.read_bytes()
        assert not any(data in blob for blob in exported), f"{path} reached the export"
    text = (dest / "task.json").read_text(encoding="utf-8")
    assert '"evaluation"' not in text and '"recipe"' not in text


def test_every_bundled_hidden_set_has_a_recipe_kept_out_of_every_package() -> None:
    seen: set[str] = set()
    for spec in list_tasks():
        sets = hidden_bundled_sets(spec)
        if not sets:
            continue
        recipe = spec.evaluation.recipe
        assert recipe is not None, f"{spec.name}: bundled hidden data without a recipe"
        assert (ROOT / recipe).is_file(), recipe
        assert not recipe.startswith(tuple(f"{p}/" for p in PACKAGES)), recipe
        text = (ROOT / recipe).read_text(encoding="utf-8")
        assert all(s in text for s in sets), (spec.name, recipe, sets)
        seen |= sets
    assert seen == {p.name for p in BUNDLED.iterdir() if p.is_dir()}
