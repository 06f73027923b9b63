"""The command-line reference in docs/cli/ is generated from the commands and kept current: CI
fails while a committed page differs from what ``scripts/cli_reference.py`` writes now."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer

REPO = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "cli_reference", REPO / "scripts" / "cli_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _load()


def _commands(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, [*path, name])


def test_committed_reference_is_current() -> None:
    for path, text in reference.pages().items():
        assert path.is_file(), f"{path} is missing: run scripts/cli_reference.py"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(REPO)} is not current: run scripts/cli_reference.py"
        )


def test_every_command_and_option_of_every_script_is_in_its_page() -> None:
    for script, app in reference.scripts().items():
        page = (REPO / "docs" / "cli" / f"{script}.md").read_text(encoding="utf-8")
        for path, command in _commands(typer.main.get_command(app), []):
            assert f"`{' '.join([script, *path])}`" in page, path
            for option in command.params:
                if getattr(option, "param_type_name", "") == "option":
                    for name in option.opts:
                        assert name in page, (script, path, name)


def test_a_stale_page_fails_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reference, "OUTPUT", tmp_path)
    assert reference.main([]) == 0
    assert reference.main(["--check"]) == 0
    page = tmp_path / "agent-harness.md"
    page.write_text(page.read_text(encoding="utf-8").replace("--time-limit", "--timeout"))
    assert reference.main(["--check"]) == 1
