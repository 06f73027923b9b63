"""Which fields of a contract the database keeps as columns, marked once on the model.

A field annotated ``Annotated[T, Indexed(...)]`` is copied into a column of the database table
that stores its model's records (``evaluations`` for a results file, ``metric_values`` for each
of its metrics): ``agent_eval.store.schema`` builds the columns and ``agent_eval.store.rows``
fills them, both from :func:`indexed_fields`. A field of a nested model is reached through its
parent (``agent.label`` -> ``agent_label``); a column is nullable when any step of its path may
be None. The marker carries only what the Python type cannot say: the column's name where it
differs from the field's, an index, and a SQL type finer than the Python one.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Union

from pydantic import BaseModel
from pydantic.fields import PydanticUndefined


@dataclass(frozen=True)
class Indexed:
    """Marks a field the database keeps as a column (see the module's docstring)."""

    column: str | None = None
    """Name of the column (None: the field's own name)."""
    index: bool = False
    """Whether the column has an index (views filter or sort on it)."""
    sql: Literal["text", "bigint"] | None = None
    """``text`` for unbounded text, ``bigint`` for counts past 2**31 (None: from the type)."""
    length: int | None = None
    """Maximum length of a string column (None: unbounded ``VARCHAR``)."""


@dataclass(frozen=True)
class IndexedField:
    """One marked field, as a column: where it lives in the model and what it holds."""

    column: str
    """Name of the column."""
    path: tuple[str, ...]
    """Field names from the top model down to the field (``("agent", "label")``)."""
    kind: type
    """The field's Python type, None and Literal resolved (str, bool, int, float, datetime)."""
    nullable: bool
    """True when the field, or any model on its path, may be None."""
    default: Any
    """The field's default (None when it has none or when the column is nullable)."""
    marker: Indexed
    """The marker on the field."""
    description: str
    """The field's docstring."""

    def value(self, record: BaseModel) -> Any:
        """The field's value in ``record`` (None where a model on the path is None)."""
        found: Any = record
        for name in self.path:
            if found is None:
                return None
            found = getattr(found, name)
        return found


_KINDS = (bool, int, float, str, datetime)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``None``, and whether None was allowed."""
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner = args[0] if len(args) == 1 else annotation
        return inner, len(args) < len(typing.get_args(annotation))
    return annotation, False


def _kind(annotation: Any, where: str) -> type:
    """The column kind of a (None-free) field annotation."""
    if typing.get_origin(annotation) is Literal:
        kinds = {type(v) for v in typing.get_args(annotation)}
        if len(kinds) == 1:
            annotation = kinds.pop()
    if annotation in _KINDS:
        return annotation
    raise TypeError(f"{where}: an indexed field must be one of {_KINDS}, not {annotation!r}")


def indexed_fields(model: type[BaseModel]) -> tuple[IndexedField, ...]:
    """Every field of ``model`` (and of the models its fields hold) marked :class:`Indexed`."""
    return tuple(_walk(model, (), False))


def _walk(model: type[BaseModel], path: tuple[str, ...], optional: bool) -> Iterator[IndexedField]:
    for name, info in model.model_fields.items():
        annotation, may_be_none = _unwrap(info.annotation)
        markers = [m for m in info.metadata if isinstance(m, Indexed)]
        where = f"{model.__name__}.{name}"
        if markers:
            nullable = optional or may_be_none
            default = info.default
            yield IndexedField(
                column=markers[0].column or name,
                path=(*path, name),
                kind=_kind(annotation, where),
                nullable=nullable,
                default=None if nullable or default is PydanticUndefined else default,
                marker=markers[0],
                description=(info.description or "").strip(),
            )
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _walk(annotation, (*path, name), optional or may_be_none)
