"""The JSON Schemas in docs/schemas/ are generated from the contract models and kept current, and
every file the project writes (the kept versions in tests/fixtures/contracts) is valid under
them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "contracts"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "json_schemas", REPO / "scripts" / "json_schemas.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


schemas = _load()


def test_committed_schemas_are_current() -> None:
    for path, text in schemas.pages().items():
        assert path.is_file(), f"{path} is missing: run scripts/json_schemas.py"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(REPO)} is not current: run scripts/json_schemas.py"
        )


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_every_kept_file_is_valid_under_its_schema(path: Path) -> None:
    schema = json.loads(
        (REPO / "docs" / "schemas" / f"{path.name.split('-')[0]}.schema.json").read_text()
    )
    jsonschema.Draft202012Validator(schema).validate(json.loads(path.read_text()))


def test_every_field_is_described_in_the_schemas() -> None:
    def described(prop: dict[str, Any], defs: dict[str, Any]) -> bool:
        # A field whose docstring is its model's own is left as a bare $ref to that model.
        target = defs.get(str(prop.get("$ref", "")).rsplit("/", 1)[-1], {})
        return bool((prop.get("description") or target.get("description") or "").strip())

    def undocumented(node: object, where: str, defs: dict[str, Any]) -> list[str]:
        found = []
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                if not described(prop, defs):
                    found.append(f"{where}.{name}")
            for key, value in node.items():
                found += undocumented(value, f"{where}.{key}", defs)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                found += undocumented(value, f"{where}[{index}]", defs)
        return found

    for path, text in schemas.pages().items():
        schema = json.loads(text)
        assert undocumented(schema, path.name, schema.get("$defs", {})) == []
