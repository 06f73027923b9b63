"""The Hub commits the catalogue's datasets are pinned to (``revisions.json`` beside this file).

Each entry maps a Hub dataset id to the 40-hex commit its specs read (``DatasetSpec.revision``);
an id without an entry is not pinned yet (results then say ``revision: null``). The file is
written by ``scripts/pin_revisions.py`` on a machine that reaches the Hub, and reviewed like code.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files

from agent_tasks.errors import SpecError

REVISIONS_FILE = "revisions.json"
COMMIT = re.compile(r"[0-9a-f]{40}")


@cache
def pinned_revisions() -> dict[str, str]:
    """Dataset id -> pinned commit, as the packaged file says (validated)."""
    node = files(__package__ or "agent_tasks.catalogue").joinpath(REVISIONS_FILE)
    return read_revisions(node.read_text(encoding="utf-8"))


def read_revisions(text: str) -> dict[str, str]:
    """The pins of a ``revisions.json`` text; :class:`SpecError` for anything else."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SpecError(f"{REVISIONS_FILE} is not JSON: {exc}") from None
    pins = data.get("revisions", {}) if isinstance(data, dict) else None
    if not isinstance(pins, dict):
        raise SpecError(f"{REVISIONS_FILE}: expected {{'revisions': {{dataset id: commit}}}}")
    for dataset, commit in pins.items():
        if not isinstance(commit, str) or not COMMIT.fullmatch(commit):
            raise SpecError(
                f"{REVISIONS_FILE}: {dataset!r} is pinned to {commit!r}, not a 40-hex commit"
            )
    return dict(pins)


def hub_revision(dataset: str) -> str | None:
    """The commit ``dataset`` is pinned to, or None while it is not pinned."""
    return pinned_revisions().get(dataset)
