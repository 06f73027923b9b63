"""Schema versions of the contract files, checked whenever one is read.

Each contract model (the run record, the results file, the evaluation report) carries the
version of its layout and calls :func:`refuse_newer` before validating: a file from an older
version is read as it is (fields added since take their defaults; docs/contracts.md says how a
version changes), one from a newer version is refused with
:class:`~agent_contracts.errors.NewerSchemaError` saying to upgrade, instead of a list of
fields the older model does not know.
"""

from __future__ import annotations

from typing import Any

from agent_contracts.errors import NewerSchemaError


def version_key(version: str | int) -> tuple[int, ...]:
    """``"1.2"`` -> ``(1, 2)``, ``3`` -> ``(3,)``; a ValueError for anything else."""
    if isinstance(version, bool) or not isinstance(version, str | int):
        raise ValueError(f"schema_version {version!r} is not a version")
    parts = str(version).split(".")
    if not all(p.isdigit() for p in parts):
        raise ValueError(f"schema_version {version!r} is not a version")
    return tuple(int(p) for p in parts)


UPGRADE_HINT = (
    "upgrade the mlrbench packages (mlrbench-contracts, mlrbench-harness, mlrbench-eval) to the "
    "version that wrote it, or newer"
)
"""What to do about a file from a newer version."""


def refuse_newer(data: Any, *, newest: str | int, what: str) -> Any:
    """``data`` unchanged, unless its ``schema_version`` is newer than ``newest`` (``what``
    names the file in the message: ``results file``, ``run.json``)."""
    if not isinstance(data, dict) or "schema_version" not in data:
        return data
    found = data["schema_version"]
    key, ours = version_key(found), version_key(newest)
    width = max(len(key), len(ours))
    if key + (0,) * (width - len(key)) > ours + (0,) * (width - len(ours)):
        raise NewerSchemaError(
            f"this {what} has schema_version {found!r}, written by a newer version: this "
            f"installation reads {what} versions up to {newest!r}",
            hint=UPGRADE_HINT,
        )
    return data
