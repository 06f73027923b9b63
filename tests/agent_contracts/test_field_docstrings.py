"""Every field of every pydantic model of the four packages says what it holds (docs/contracts.md):
a docstring under the field (``use_attribute_docstrings``) or a ``Field(description=...)``, which
pydantic carries into the JSON Schemas and the models' documentation."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

from pydantic import BaseModel

PACKAGES = ("agent_contracts", "agent_tasks", "agent_harness", "agent_eval")


def _models() -> Iterator[type[BaseModel]]:
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            # Task starters are the agents' programs, migrations are generated; neither is
            # a contract. __main__ runs a command when imported.
            if ".tasks." in info.name or ".migrations" in info.name:
                continue
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for obj in vars(module).values():
                if (
                    inspect.isclass(obj)
                    and issubclass(obj, BaseModel)
                    and obj.__module__ == info.name
                ):
                    yield obj


def test_the_walk_finds_the_contracts() -> None:
    names = {model.__name__ for model in _models()}
    assert {"EvaluationResult", "RunRecord", "TaskSpec", "LoadedRunSet", "SyncReport"} <= names


def test_every_model_field_has_a_description() -> None:
    undocumented = [
        f"{model.__module__}.{model.__qualname__}.{name}"
        for model in _models()
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert undocumented == []
