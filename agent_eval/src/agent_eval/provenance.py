"""Data provenance: which dataset an evaluation read, at which revision, how much, and a hash.

Every metric that reads evaluation data reports it with :func:`record_use`; the results carry
one :class:`~agent_contracts.results.DatasetUse` per dataset. A dataset scored on fewer examples
than its full set (a trimmed data folder, ``--limit``) is marked ``complete: false`` and the whole
result ``data_subset: true``, which keeps it off the leaderboard like ``--limit``.

Revisions: the built-in evaluation sets below are pinned to Hub commits, which prefetch
downloads; the specs' datasets carry a ``revision`` field, None where no commit is pinned yet
(results then say ``revision: null``). When prefetch recorded it, the commit actually downloaded
is in ``fetched_revision``; a data folder fetched at another commit than the pinned one is not
the spec's set: ``complete: false`` with ``details.revision_mismatch``, so never ranked.

Content: the bundled sets ship with their hashes (``resources/bundled/expected.json``); a bundled
set whose files differ from them (altered, trimmed or extended) is ``complete: false`` with
``details.content_mismatch``, whatever its row count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent_contracts.results import DatasetUse
from agent_tasks.spec import DatasetSpec

SUPERGLUE_VALIDATION_ROWS = {
    "boolq": 3270,
    "cb": 56,
    "copa": 100,
    "multirc": 4848,
    "record": 10000,
    "rte": 277,
    "wic": 638,
    "wsc.fixed": 104,
}
"""Rows of each ``aps/super_glue`` validation split (the scored one)."""
MMLU_TEST_QUESTIONS = 14042
"""Questions of ``cais/mmlu``'s test split over all 57 subjects."""
BLIMP_PAIRS_PER_PHENOMENON = 1000
"""Minimal pairs of each of BLiMP's 67 phenomena."""

WIKITEXT_REVISION = "b08601e04326c79dfdd32d625aee71d232d685c3"
MMLU_REVISION = "c30699e8356da336a370243923dbaf21066bb9fe"
BLIMP_REVISION = "877fba0801ffb7cbd8c39c1ff314a46f053f6036"
SUPERGLUE_REVISION = "3de24cf8022e94f4ee4b9d55a6f539891524d646"
"""Hub commits of the evaluator's own evaluation sets: the commits other evaluation suites pin
for these datasets (``wikitext`` is ``Salesforce/wikitext``, renamed with its history; MMLU's
test split at this commit has the 14,042 questions counted below)."""

BUILTIN_SOURCES = {
    "wikitext2": DatasetSpec(
        id="wikitext",
        config="wikitext-2-raw-v1",
        revision=WIKITEXT_REVISION,
        splits={"test": 4358},
        description="perplexity text",
    ),
    "mmlu": DatasetSpec(
        id="cais/mmlu",
        revision=MMLU_REVISION,
        splits={"test": MMLU_TEST_QUESTIONS},
        description="MMLU questions",
    ),
    "blimp": DatasetSpec(
        id="nyu-mll/blimp",
        revision=BLIMP_REVISION,
        splits={"train": 67 * BLIMP_PAIRS_PER_PHENOMENON},
        description="BLiMP minimal pairs",
    ),
    "superglue": DatasetSpec(
        id="aps/super_glue",
        revision=SUPERGLUE_REVISION,
        splits={"validation": sum(SUPERGLUE_VALIDATION_ROWS.values())},
        description="SuperGLUE validation splits",
    ),
}
"""The evaluator's own evaluation sets (by data-folder kind), each pinned to a Hub commit."""


def files_sha256(files: Iterable[Path], root: Path) -> str:
    """sha256 over the files' names relative to ``root`` and their bytes, sorted by name."""
    digest = hashlib.sha256()
    for file in sorted(set(files), key=lambda f: _relative(f, root)):
        digest.update(_relative(file, root).encode() + b"\0")
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def _relative(file: Path, root: Path) -> str:
    try:
        return file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return file.name


EXPECTED_FILE = "expected.json"
"""Shipped beside the bundled sets (``resources/bundled/expected.json``): per bundled set, the
sha256 of its files (:func:`bundled_sha256`), their count and bytes, as released."""


def bundled_sha256(folder: Path) -> str:
    """sha256 over every file of a bundled set (names relative to its folder, and bytes)."""
    return files_sha256([f for f in folder.rglob("*") if f.is_file()], folder)


def bundled_mismatch(dataset_id: str) -> str | None:
    """Why a bundled set is not the one released with the evaluator (altered, trimmed or
    extended in place), or None when its content matches the shipped hash."""
    import json

    from agent_eval.datasets import bundled_dir

    name = dataset_id.removeprefix("bundled:")
    expected = json.loads((bundled_dir() / EXPECTED_FILE).read_text("utf-8")).get(name)
    if expected is None:
        return f"no shipped hash for bundled set {name!r}"
    folder = bundled_dir() / name
    found = bundled_sha256(folder) if folder.is_dir() else "absent"
    if found != expected["sha256"]:
        return (
            f"bundled set {name!r} differs from the one shipped with the evaluator "
            f"(sha256 {found[:12]}, shipped {expected['sha256'][:12]})"
        )
    return None


def fetched_revision(root: Path, key: str) -> str | None:
    """The Hub commit prefetch recorded for a data-folder entry, if it did."""
    from agent_eval.datasets import read_manifest

    entry = read_manifest(root).get("datasets", {}).get(key) or {}
    revision = entry.get("revision")
    return str(revision) if revision else None


def record_use(
    ctx: Any,
    *,
    source: DatasetSpec,
    split: str,
    files: list[Path],
    examples: int,
    full_examples: int | None,
    used_by: str,
    manifest_key: str,
    complete: bool | None = None,
    details: dict[str, Any] | None = None,
    root: Path | None = None,
) -> DatasetUse:
    """Add what a metric read to ``ctx.datasets`` (merged with an earlier record of it).

    ``complete`` None: judged from the counts (all of ``full_examples`` scored, and no
    ``--limit``); a metric that knows better (text cut short by a window limit) says so.
    ``root``: what the files' names in the hash are relative to (default: the data folder).
    """
    if complete is None:
        complete = ctx.limit is None and (full_examples is None or examples >= full_examples)
    if source.id.startswith("bundled:"):
        altered = bundled_mismatch(source.id)
        if altered is not None:  # not the set released with the evaluator: never ranked
            complete = False
            details = {**(details or {}), "content_mismatch": altered}
    fetched = fetched_revision(ctx.data_dir, manifest_key)
    if source.revision is not None and fetched is not None and fetched != source.revision:
        # Another commit's data is not the spec's set: kept in history, never ranked.
        complete = False
        details = {**(details or {}), "revision_mismatch": True}
    use = DatasetUse(
        id=source.id,
        config=source.config,
        split=split,
        revision=source.revision,
        fetched_revision=fetched,
        examples=examples,
        full_examples=full_examples,
        complete=complete,
        sha256=files_sha256(files, root or ctx.data_dir),
        used_by=(used_by,),
        details=details or {},
    )
    key = f"{use.id}:{use.config}:{use.split}:{use.sha256}"
    earlier = ctx.datasets.get(key)
    if earlier is not None and use.used_by[0] not in earlier.used_by:
        use = earlier.model_copy(update={"used_by": (*earlier.used_by, used_by)})
    elif earlier is not None:
        use = earlier
    ctx.datasets[key] = use
    return use
