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
``details.content_mismatch``, whatever its row count. A data-folder file is checked against what
prefetch recorded for it in the manifest (its sha256, else its row count): one that differs is
``complete: false`` with ``details.content_mismatch`` naming the file; a file the manifest holds
nothing on (a folder laid out by hand, no manifest at all) is scored and its dataset says so in
``details.content_unverified``.

Counts are exact: a dataset is complete when exactly its full set was scored (more rows than the
published size are not the set either), per part where the parts' sizes are known (MMLU
subjects, BLiMP phenomena, SuperGLUE tasks).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent_contracts.results import DatasetUse
from agent_eval.datasets import file_sha256
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
MMLU_TEST_QUESTIONS_PER_SUBJECT = {
    "abstract_algebra": 100,
    "anatomy": 135,
    "astronomy": 152,
    "business_ethics": 100,
    "clinical_knowledge": 265,
    "college_biology": 144,
    "college_chemistry": 100,
    "college_computer_science": 100,
    "college_mathematics": 100,
    "college_medicine": 173,
    "college_physics": 102,
    "computer_security": 100,
    "conceptual_physics": 235,
    "econometrics": 114,
    "electrical_engineering": 145,
    "elementary_mathematics": 378,
    "formal_logic": 126,
    "global_facts": 100,
    "high_school_biology": 310,
    "high_school_chemistry": 203,
    "high_school_computer_science": 100,
    "high_school_european_history": 165,
    "high_school_geography": 198,
    "high_school_government_and_politics": 193,
    "high_school_macroeconomics": 390,
    "high_school_mathematics": 270,
    "high_school_microeconomics": 238,
    "high_school_physics": 151,
    "high_school_psychology": 545,
    "high_school_statistics": 216,
    "high_school_us_history": 204,
    "high_school_world_history": 237,
    "human_aging": 223,
    "human_sexuality": 131,
    "international_law": 121,
    "jurisprudence": 108,
    "logical_fallacies": 163,
    "machine_learning": 112,
    "management": 103,
    "marketing": 234,
    "medical_genetics": 100,
    "miscellaneous": 783,
    "moral_disputes": 346,
    "moral_scenarios": 895,
    "nutrition": 306,
    "philosophy": 311,
    "prehistory": 324,
    "professional_accounting": 282,
    "professional_law": 1534,
    "professional_medicine": 272,
    "professional_psychology": 612,
    "public_relations": 110,
    "security_studies": 245,
    "sociology": 201,
    "us_foreign_policy": 100,
    "virology": 166,
    "world_religions": 171,
}
"""Questions of each subject's test split in ``cais/mmlu`` (its dataset card's split sizes)."""
MMLU_TEST_QUESTIONS = sum(MMLU_TEST_QUESTIONS_PER_SUBJECT.values())
"""Questions of ``cais/mmlu``'s test split over all 57 subjects (14,042)."""
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
    """sha256 over the files' names relative to ``root`` and their bytes, sorted by name.

    Names are lexical (:func:`relative_name`): a link is named where it stands, never where it
    points, and a file outside ``root`` is named by its path from there (``../x``), so the same
    files give the same hash in every process. Files of the same name are hashed once."""
    named = {relative_name(f, root): f for f in files}
    digest = hashlib.sha256()
    for name in sorted(named):
        digest.update(name.encode() + b"\0")
        with named[name].open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def relative_name(file: Path, root: Path) -> str:
    """The file's path from ``root``, worked out on the paths alone (links are not followed)."""
    return Path(os.path.relpath(file, root)).as_posix()  # normalised, links not followed


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


MAX_NAMED_FILES = 3
"""Files named in a content message; the rest are counted."""


def check_fetched(root: Path, files: Iterable[Path]) -> tuple[list[str], list[str], bool]:
    """Data-folder files against what prefetch recorded in the manifest.

    Returns (mismatches, unverified, has_manifest): one line per file whose sha256 or row count
    differs from the manifest's (an inputs folder: its sha256 over the folder), the names of
    files the manifest records nothing on (or only their rows, which say nothing of content),
    and whether the folder has a manifest at all. Files outside ``root`` are not checked here.
    """
    from agent_eval.datasets import MANIFEST, fetched_files, jsonl_rows, read_manifest

    inside = {}
    for file in files:
        name = relative_name(file, root)
        if not name.startswith("../"):
            inside[name] = file
    if not (root / MANIFEST).is_file():
        return [], sorted(inside), False
    recorded: dict[str, dict[str, Any]] = {}
    folders: dict[str, dict[str, Any]] = {}
    for key, entry in (read_manifest(root).get("datasets") or {}).items():
        if not isinstance(entry, dict):
            continue
        for name, rows in fetched_files(key, entry).items():
            recorded.setdefault(name, {"rows": rows})
        for name, facts in (entry.get("files") or {}).items():
            if isinstance(facts, dict):
                recorded[name] = {**recorded.get(name, {}), **facts}
        if isinstance(entry.get("folder"), str) and entry.get("sha256"):
            folders[entry["folder"]] = entry
    mismatches: list[str] = []
    unverified: list[str] = []
    for folder, entry in sorted(folders.items()):
        members = [f for n, f in inside.items() if n.startswith(f"{folder}/")]
        if not members:
            continue
        found = files_sha256(members, root / folder)
        if found != entry["sha256"]:
            mismatches.append(
                f"{folder}/ ({len(members)} files, sha256 {found[:12]}; prefetch wrote "
                f"{entry.get('rows', '?')} files, sha256 {str(entry['sha256'])[:12]})"
            )
        inside = {n: f for n, f in inside.items() if not n.startswith(f"{folder}/")}
    for name, file in sorted(inside.items()):
        facts = recorded.get(name, {})
        if facts.get("sha256"):
            found = file_sha256(file)
            if found != facts["sha256"]:
                mismatches.append(
                    f"{name} (sha256 {found[:12]}, prefetch wrote {str(facts['sha256'])[:12]})"
                )
        elif isinstance(facts.get("rows"), int) and name.endswith(".jsonl"):
            rows = jsonl_rows(file)
            if rows != facts["rows"]:
                mismatches.append(f"{name} ({rows} rows, prefetch wrote {facts['rows']})")
            else:
                unverified.append(name)  # the count matches; the rows are not checked
        else:
            unverified.append(name)
    return mismatches, unverified, True


def _listed(items: list[str]) -> str:
    more = len(items) - MAX_NAMED_FILES
    return "; ".join(items[:MAX_NAMED_FILES]) + (f"; and {more} more" if more > 0 else "")


def _content_details(ctx: Any, files: list[Path]) -> dict[str, str]:
    """``content_mismatch`` and ``content_unverified`` of data-folder files (none when all of
    them have the content prefetch recorded)."""
    from agent_eval.datasets import DATA_DIR_ENV, prefetch_command

    mismatches, unverified, has_manifest = check_fetched(ctx.data_dir, files)
    details = {}
    if mismatches:
        spec = getattr(ctx, "spec", None)
        command = prefetch_command(spec.name if spec is not None else None)
        details["content_mismatch"] = (
            f"the data folder's files differ from what prefetch wrote: {_listed(mismatches)}; "
            f"run '{command}' again to restore them (or point {DATA_DIR_ENV} at the folder "
            "prefetch filled)"
        )
    if unverified and not has_manifest:
        details["content_unverified"] = (
            "the data folder has no manifest.json (not laid out by prefetch): the content of "
            f"{len(unverified)} file(s) read was not checked"
        )
    elif unverified:
        details["content_unverified"] = (
            "manifest.json records no sha256 for "
            f"{_listed(unverified)}: their content was not checked (prefetch again to record it)"
        )
    return details


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

    ``complete`` None: judged from the counts (exactly ``full_examples`` scored, and no
    ``--limit``); a metric that knows better (text cut short by a window limit, per-part counts)
    says so. Either way, content that is not the released set (a bundled set that differs from
    its shipped hash, a data-folder file that differs from what prefetch recorded, a folder
    fetched at another commit) makes it incomplete.
    ``root``: what the files' names in the hash are relative to (default: the data folder; for
    a bundled set, its own folder).
    """
    if complete is None:
        complete = ctx.limit is None and (full_examples is None or examples == full_examples)
    details = dict(details or {})
    bundled = source.id.startswith("bundled:")
    if bundled:
        altered = bundled_mismatch(source.id)
        if altered is not None:  # not the set released with the evaluator: never ranked
            complete = False
            details["content_mismatch"] = altered
        if root is None:
            from agent_eval.datasets import bundled_dir

            root = bundled_dir() / source.id.removeprefix("bundled:")
    else:
        checked = _content_details(ctx, files)
        if "content_mismatch" in checked:  # not what prefetch wrote: never ranked
            complete = False
        details |= checked
    fetched = fetched_revision(ctx.data_dir, manifest_key)
    if source.revision is not None and fetched is not None and fetched != source.revision:
        # Another commit's data is not the spec's set: kept in history, never ranked.
        complete = False
        details["revision_mismatch"] = True
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
        details=details,
    )
    key = f"{use.id}:{use.config}:{use.split}:{use.sha256}"
    earlier = ctx.datasets.get(key)
    if earlier is not None and use.used_by[0] not in earlier.used_by:
        use = earlier.model_copy(update={"used_by": (*earlier.used_by, used_by)})
    elif earlier is not None:
        use = earlier
    ctx.datasets[key] = use
    return use
