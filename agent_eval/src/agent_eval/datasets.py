"""Evaluation data on disk: where each dataset lives, the offline guard, and ``prefetch``.

Evaluation never downloads. ``agent-eval prefetch`` (run online, e.g. when the evaluator image is
built) writes every dataset the catalogue needs into the data folder in the layout below; the
metrics read only that layout and fail with :class:`DatasetMissingError` naming the exact
prefetch command when something is absent.

Layout under the data folder (``AGENT_EVAL_DATA_DIR``, default ``~/.cache/mlrb-eval/data``)::

    wikitext2/test.txt                    wikitext-2-raw-v1 test rows joined with "\\n\\n"
    mmlu/<subject>/{dev,test}.jsonl       cais/mmlu rows: question, subject, choices, answer
    blimp/<phenomenon>.jsonl              nyu-mll/blimp rows: sentence_good, sentence_bad, ...
    superglue/<config>/{train,validation}.jsonl   aps/super_glue rows, config as on the Hub
    hf/<owner>__<name>/<config>/<split>.jsonl     any other dataset a spec names (no images)
    code_inputs/<owner>__<name>/<split>/test/<image_id>.<ext>
                                          the images of a code task's hidden split, as files
                                          (its re-run's inputs; never labels)
    manifest.json                         what was fetched, from where, when, row counts, the
                                          Hub commit downloaded (``revision``), and each file
                                          written with its sha256 and bytes (``files``)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from agent_eval.errors import DatasetMissingError, EvalUsageError

DATA_DIR_ENV = "AGENT_EVAL_DATA_DIR"
"""Environment variable naming the data folder."""

DEFAULT_DATA_DIR = Path("~/.cache/mlrb-eval/data")
"""Data folder when the variable is unset (the evaluator image sets ``/opt/mlrb/data``)."""

OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
"""Variables that keep Hugging Face libraries from reaching the network."""

MANIFEST = "manifest.json"

MMLU_SUBJECTS = (
    "abstract_algebra",
    "anatomy",
    "astronomy",
    "business_ethics",
    "clinical_knowledge",
    "college_biology",
    "college_chemistry",
    "college_computer_science",
    "college_mathematics",
    "college_medicine",
    "college_physics",
    "computer_security",
    "conceptual_physics",
    "econometrics",
    "electrical_engineering",
    "elementary_mathematics",
    "formal_logic",
    "global_facts",
    "high_school_biology",
    "high_school_chemistry",
    "high_school_computer_science",
    "high_school_european_history",
    "high_school_geography",
    "high_school_government_and_politics",
    "high_school_macroeconomics",
    "high_school_mathematics",
    "high_school_microeconomics",
    "high_school_physics",
    "high_school_psychology",
    "high_school_statistics",
    "high_school_us_history",
    "high_school_world_history",
    "human_aging",
    "human_sexuality",
    "international_law",
    "jurisprudence",
    "logical_fallacies",
    "machine_learning",
    "management",
    "marketing",
    "medical_genetics",
    "miscellaneous",
    "moral_disputes",
    "moral_scenarios",
    "nutrition",
    "philosophy",
    "prehistory",
    "professional_accounting",
    "professional_law",
    "professional_medicine",
    "professional_psychology",
    "public_relations",
    "security_studies",
    "sociology",
    "us_foreign_policy",
    "virology",
    "world_religions",
)
"""The 57 MMLU subjects (``cais/mmlu`` configurations)."""

SUPERGLUE_CONFIGS = ("boolq", "cb", "copa", "multirc", "record", "rte", "wic", "wsc.fixed")
"""``aps/super_glue`` configurations behind lm-eval's ``super-glue-lm-eval-v1`` tasks."""


def data_dir(override: str | Path | None = None) -> Path:
    """The data folder: ``override``, else ``AGENT_EVAL_DATA_DIR``, else the default."""
    chosen = override or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(chosen).expanduser()


def bundled_dir() -> Path:
    """Folder of data shipped inside the package (``bundled:<name>`` datasets)."""
    return Path(str(resources.files("agent_eval") / "resources" / "bundled"))


def force_offline() -> None:
    """Make every Hugging Face library refuse the network for the rest of the process."""
    for name in OFFLINE_VARS:
        os.environ[name] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@contextmanager
def online() -> Iterator[None]:
    """Allow downloads inside the block (prefetch only); restores the previous settings."""
    saved = {name: os.environ.pop(name, None) for name in OFFLINE_VARS}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is not None:
                os.environ[name] = value


def prefetch_command(task: str | None) -> str:
    """The command that puts a task's evaluation data in place."""
    return f"agent-eval prefetch --tasks {task}" if task else "agent-eval prefetch"


def missing(dataset: str, path: Path, task: str | None) -> DatasetMissingError:
    """The error for a dataset that is not on disk, naming the prefetch command."""
    return DatasetMissingError(
        f"dataset {dataset!r} is not in the data folder (looked for {str(path)!r}); "
        "evaluation never downloads",
        hint=f"run '{prefetch_command(task)}' online first (data folder: set {DATA_DIR_ENV})",
    )


def hf_dir_name(dataset_id: str) -> str:
    """Folder name of a Hub dataset id (``owner/name`` -> ``owner__name``)."""
    return dataset_id.replace("/", "__")


def split_file_name(split: str) -> str:
    """File stem for a split expression (``train[-200:]`` -> ``train_-200_``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", split)


CODE_INPUTS = "code_inputs"
"""Folder of the data folder that holds hidden test inputs of code tasks."""

CODE_IMAGES_FOLDER = "test"
"""Folder inside a code task's inputs that holds the split's images (a budget task's
``main.py`` reads ``DIR/test/<image_id>.<ext>``)."""

IMAGE_ID_COLUMN = "image_id"
"""Column of an image dataset that names each image (and its file)."""


def code_inputs_path(root: Path, dataset_id: str, split: str) -> Path:
    """Where the hidden test inputs of a code task re-run on a Hub dataset's split live."""
    return root / CODE_INPUTS / hf_dir_name(dataset_id) / split_file_name(split)


def hf_split_path(root: Path, dataset_id: str, config: str | None, split: str) -> Path:
    """Where a Hub dataset's split lives in the layout."""
    return (
        root
        / "hf"
        / hf_dir_name(dataset_id)
        / (config or "default")
        / f"{split_file_name(split)}.jsonl"
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSON lines (atomically); return how many.

    The temporary file is made with ``mkstemp`` (``O_EXCL``, a random name): a link planted in a
    shared folder (a results folder others may write to) is never followed; the rename then
    replaces whatever is at ``path`` itself, a link included, without following it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o644)
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        Path(name).replace(path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return count


def load_text_dataset(name: str, root: Path, task: str | None) -> list[tuple[str, str]]:
    """The texts of a perplexity dataset as (label, text): ``wikitext2`` or ``bundled:<name>``."""
    if name == "wikitext2":
        path = root / "wikitext2" / "test.txt"
        if not path.is_file():
            raise missing("wikitext2 (wikitext-2-raw-v1 test)", path, task)
        return [("wikitext2/test.txt", path.read_text(encoding="utf-8"))]
    if name.startswith("bundled:"):
        folder = bundled_dir() / name.removeprefix("bundled:")
        files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
        if not files:
            raise DatasetMissingError(
                f"bundled dataset {name!r} has no .txt files (looked in {str(folder)!r})",
                hint="reinstall the evaluator package; bundled data ship inside it",
            )
        return [(f"{name}/{f.name}", f.read_text(encoding="utf-8")) for f in files]
    raise EvalUsageError(
        f"unknown text dataset {name!r}",
        hint="use 'wikitext2' or 'bundled:<name>' in the metric's params",
    )


def read_manifest(root: Path) -> dict[str, Any]:
    """The data folder's manifest (what prefetch fetched, from where, which revision)."""
    path = root / MANIFEST
    if path.is_file():
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded
    return {"datasets": {}}


def _write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(root / MANIFEST)


def file_sha256(path: Path) -> str:
    """sha256 of one file's bytes."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def record_fetched(root: Path, key: str, entry: dict[str, Any]) -> None:
    """Record what prefetch wrote under ``key``: the entry, the time, and each of its files
    (:func:`fetched_files`) with its sha256 and bytes, which evaluation checks them against."""
    files = {}
    for name, rows in fetched_files(key, entry).items():
        path = root / name
        if path.is_file():
            files[name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
            if rows is not None:
                files[name]["rows"] = rows
    manifest = read_manifest(root)
    manifest.setdefault("datasets", {})[key] = {
        **entry,
        **({"files": files} if files else {}),
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _write_manifest(root, manifest)


def fetched_files(key: str, entry: dict[str, Any]) -> dict[str, int | None]:
    """The files a manifest entry stands for (names relative to the data folder, as in the
    layout above), each with its row count where the entry records one per file.

    A code task's inputs folder is not listed: its entry holds one sha256 over the folder."""
    rows = entry.get("rows")
    if key == "wikitext2":
        return {"wikitext2/test.txt": None}  # its ``rows`` are the Hub rows joined in the text
    if key in ("mmlu", "blimp", "superglue") and isinstance(rows, dict):
        return {f"{key}/{part}.jsonl": int(n) for part, n in rows.items()}
    if key.startswith("hf:") and entry.get("source") and entry.get("split"):
        path = hf_split_path(Path(), str(entry["source"]), entry.get("config"), str(entry["split"]))
        return {path.as_posix(): int(rows) if isinstance(rows, int) else None}
    return {}


def jsonl_rows(path: Path) -> int:
    """Rows of a JSON-lines file (its non-blank lines)."""
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def hf_manifest_key(dataset_id: str, config: str | None, split: str) -> str:
    """Manifest key of one fetched split of a Hub dataset."""
    return f"hf:{dataset_id}:{config or 'default'}:{split}"


def code_inputs_manifest_key(dataset_id: str, config: str | None, split: str) -> str:
    """Manifest key of the images of a split written as a code task's hidden inputs."""
    return f"code_inputs:{dataset_id}:{config or 'default'}:{split}"


DataNeed = tuple[str, dict[str, Any]]
"""What a metric reads from the data folder: a kind (``wikitext2``, ``mmlu``, ``blimp``,
``superglue``, or ``hf`` for one split of a Hub dataset) and its details. An ``hf`` need with
``code_inputs: True`` is the hidden split a code task re-runs on: its images are written as
files to the task's inputs folder as well."""


def hidden_split_need(spec: Any, mspec: Any) -> list[DataNeed]:
    """The held-out split a metric scores against (``params.dataset`` among the spec's hidden
    evaluation datasets), as a data need; none for data bundled with the evaluator. When the
    task re-runs code on that split (``evaluation.code_run.inputs``), the need asks for its
    images as the re-run's inputs too."""
    dataset = mspec.params.get("dataset")
    hidden = _hidden_dataset(spec, str(dataset) if dataset else None)
    if hidden is None or hidden.id.startswith("bundled:"):
        return []  # nothing to fetch: bundled data ships inside the evaluator
    split = str(mspec.params.get("split") or next(iter(hidden.splits), "test"))
    details: dict[str, Any] = {"id": hidden.id, "config": hidden.config, "split": split}
    details["revision"] = hidden.revision
    if _code_inputs_of(spec) == (hidden.id, split_file_name(split)):
        details["code_inputs"] = True
    return [("hf", details)]


def _code_inputs_of(spec: Any) -> tuple[str, str] | None:
    """(dataset id, split file name) a spec's code re-run reads its inputs from, if any."""
    code_run = spec.evaluation.code_run
    if code_run is None or code_run.inputs.startswith("bundled:"):
        return None
    dataset, _, split = code_run.inputs.rpartition(":")
    return dataset, split_file_name(split or "test")


def _hidden_dataset(spec: Any, dataset_id: str | None) -> Any:
    candidates = list(spec.evaluation.datasets)
    for ds in candidates:
        if dataset_id is None or ds.id == dataset_id:
            return ds
    if dataset_id and not dataset_id.startswith("bundled:"):
        from agent_tasks.spec import DatasetSpec

        return DatasetSpec(id=dataset_id)
    return None
