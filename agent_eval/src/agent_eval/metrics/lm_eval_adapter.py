"""MMLU, BLiMP and SuperGLUE through lm-eval's Python API, offline, on the loaded model.

Prompts are lm-eval's own: each generated task file ``include``s the installed lm-eval task
file by absolute path (so ``doc_to_text``, choices, target, description and few-shot settings are
exactly lm-eval's) and overrides only where the rows come from: ``dataset_path: json`` with
absolute ``data_files`` in the data folder. Groups aggregate as lm-eval's groups do. lm-eval's
task manager reads only these generated files (``include_defaults=False``), so it does not index
its ~14,700 built-in task files at start-up.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_contracts.results import MetricValue
from agent_eval.datasets import DataNeed, missing
from agent_eval.errors import MetricError
from agent_eval.lm_eval_tasks import blimp_phenomena, lm_eval_tasks_dir
from agent_eval.metrics.registry import MetricContext, metric, param, value
from agent_tasks.spec import MetricSpec, TaskSpec

MMLU_CATEGORIES = ("stem", "humanities", "social_sciences", "other")
SUPERGLUE_TASKS = {
    "boolq": ("boolq", "acc"),
    "cb": ("cb", "acc"),
    "copa": ("copa", "acc"),
    "multirc": ("multirc", "acc"),
    "record": ("record", "em"),
    "sglue_rte": ("rte", "acc"),
    "wic": ("wic", "acc"),
    "wsc": ("wsc.fixed", "acc"),
}
"""lm-eval task name -> (data folder, metric used as its accuracy) for super-glue-lm-eval-v1."""
SUPERGLUE_YAML = {"sglue_rte": "rte", "wsc": "wsc"}
MULTIRC_CHOICES = (
    "['''{{answer}}\\nIs the answer correct? no''', '''{{answer}}\\nIs the answer correct? yes''']"
)
"""MultiRC's choices, "no" first: ``label`` 1 means the answer is right, and lm-eval takes it as
the index of the gold choice, but its 0.4 task file lists "yes" first, so a right answer would be
scored as "no" (the inversion its old harness fixed in PR #243). Same prompts, gold corrected."""
SUPERGLUE_CHOICES = {"cb": 3}
"""Answer choices per SuperGLUE task where not two (chance level of its accuracy: 1/k)."""
BOOTSTRAP_ITERS = 1000
"""Bootstrap resamples for the stderr of non-mean metrics (values are unaffected)."""


@dataclass
class Suite:
    """Generated lm-eval task files, and the name to ask lm-eval for."""

    folder: Path
    run: list[str]
    """Task or group names passed to lm-eval."""
    subtasks: list[str]
    files: list[Path] = field(default_factory=list)
    """Data files the tasks read (for the provenance hash)."""
    full_examples: int | None = None
    """Examples of the full evaluation set these subtasks make up; None when not known."""
    full_per_task: dict[str, int] = field(default_factory=dict)
    """Examples of each subtask's full set, where known (every subtask of the three suites)."""


def _dump(path: Path, config: dict[str, Any]) -> None:
    # JSON is valid YAML; no custom tags are needed because functions come via ``include``.
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")


def _subject_category(subject: str) -> str:
    """MMLU category of a subject, from the ``tag`` line of lm-eval's own task file."""
    text = (lm_eval_tasks_dir() / "mmlu" / "default" / f"mmlu_{subject}.yaml").read_text("utf-8")
    found = re.search(r'^"?tag"?:\s*"?mmlu_(\w+?)_tasks"?\s*$', text, flags=re.MULTILINE)
    if found is None:
        raise MetricError(f"lm-eval's task file for mmlu_{subject} names no category")
    return found.group(1)


def _requested(mspec: MetricSpec, default: str) -> list[str]:
    raw = str(param(mspec, "tasks", default))
    return [t.strip() for t in raw.split(",") if t.strip()]


def mmlu_suite(ctx: MetricContext, mspec: MetricSpec, folder: Path) -> Suite:
    """Task files for the MMLU subjects asked for (``tasks``: mmlu, mmlu_stem, mmlu_<subject>)."""
    from agent_eval.datasets import MMLU_SUBJECTS
    from agent_eval.provenance import MMLU_TEST_QUESTIONS_PER_SUBJECT

    chosen: list[str] = []
    for name in _requested(mspec, "mmlu"):
        if name == "mmlu":
            chosen += MMLU_SUBJECTS
        elif name.removeprefix("mmlu_") in MMLU_CATEGORIES:
            cat = name.removeprefix("mmlu_")
            chosen += [s for s in MMLU_SUBJECTS if _subject_category(s) == cat]
        elif name.removeprefix("mmlu_") in MMLU_SUBJECTS:
            chosen.append(name.removeprefix("mmlu_"))
        else:
            raise MetricError(f"unknown MMLU task {name!r} in the metric's 'tasks' parameter")
    chosen = list(dict.fromkeys(chosen))
    root = ctx.data_dir / "mmlu"
    absent = [s for s in chosen if not (root / s / "test.jsonl").is_file()]
    if absent:
        raise missing(
            f"mmlu ({len(absent)} of {len(chosen)} subjects, e.g. {absent[0]})",
            root / absent[0] / "test.jsonl",
            ctx.spec.name,
        )
    source = lm_eval_tasks_dir() / "mmlu" / "default"
    by_cat: dict[str, list[str]] = {}
    for subject in chosen:
        data = {"test": str((root / subject / "test.jsonl").resolve())}
        dev = root / subject / "dev.jsonl"
        if dev.is_file():
            data["dev"] = str(dev.resolve())
        _dump(
            folder / f"mmlu_{subject}.yaml",
            {
                "include": str(source / f"mmlu_{subject}.yaml"),
                "task": f"mmlu_{subject}",
                "tag": [],
                "dataset_path": "json",
                "dataset_name": content_name(data),
                "dataset_kwargs": {"data_files": data},
            },
        )
        by_cat.setdefault(_subject_category(subject), []).append(f"mmlu_{subject}")
    aggregate = [{"metric": "acc", "weight_by_size": True}]
    for cat, tasks in by_cat.items():
        _dump(
            folder / f"_mmlu_{cat}.yaml",
            {
                "group": f"mmlu_{cat}",
                "group_alias": cat.replace("_", " "),
                "task": tasks,
                "aggregate_metric_list": aggregate,
                "metadata": {"version": 2},
            },
        )
    _dump(
        folder / "_mmlu.yaml",
        {
            "group": "mmlu",
            "task": [f"mmlu_{c}" for c in MMLU_CATEGORIES if c in by_cat],
            "aggregate_metric_list": aggregate,
            "metadata": {"version": 2},
        },
    )
    files = [root / s / name for s in chosen for name in ("test.jsonl", "dev.jsonl")]
    per_task = {f"mmlu_{s}": MMLU_TEST_QUESTIONS_PER_SUBJECT[s] for s in chosen}
    return Suite(
        folder,
        ["mmlu"],
        [f"mmlu_{s}" for s in chosen],
        [f for f in files if f.is_file()],
        sum(per_task.values()),
        per_task,
    )


def blimp_suite(ctx: MetricContext, mspec: MetricSpec, folder: Path) -> Suite:
    """Task files for the BLiMP phenomena asked for (``tasks``: blimp, or blimp_<phenomenon>)."""

    every = blimp_phenomena()
    chosen: list[str] = []
    for name in _requested(mspec, "blimp"):
        if name == "blimp":
            chosen += every
        elif name.removeprefix("blimp_") in every:
            chosen.append(name.removeprefix("blimp_"))
        else:
            raise MetricError(f"unknown BLiMP task {name!r} in the metric's 'tasks' parameter")
    chosen = list(dict.fromkeys(chosen))
    root = ctx.data_dir / "blimp"
    absent = [p for p in chosen if not (root / f"{p}.jsonl").is_file()]
    if absent:
        raise missing(
            f"blimp ({len(absent)} of {len(chosen)} phenomena, e.g. {absent[0]})",
            root / f"{absent[0]}.jsonl",
            ctx.spec.name,
        )
    source = lm_eval_tasks_dir() / "blimp"
    for phenomenon in chosen:
        data = {"train": str((root / f"{phenomenon}.jsonl").resolve())}
        _dump(
            folder / f"blimp_{phenomenon}.yaml",
            {
                "include": str(source / f"{phenomenon}.yaml"),
                "task": f"blimp_{phenomenon}",
                "dataset_path": "json",
                "dataset_name": content_name(data),
                "dataset_kwargs": {"data_files": data},
            },
        )
    _dump(
        folder / "_blimp.yaml",
        {
            "group": "blimp",
            "task": [f"blimp_{p}" for p in chosen],
            "aggregate_metric_list": [
                {"metric": "acc", "aggregation": "mean", "weight_by_size": False}
            ],
            "metadata": {"version": 2.0},
        },
    )
    from agent_eval.provenance import BLIMP_PAIRS_PER_PHENOMENON

    return Suite(
        folder,
        ["blimp"],
        [f"blimp_{p}" for p in chosen],
        [root / f"{p}.jsonl" for p in chosen],
        BLIMP_PAIRS_PER_PHENOMENON * len(chosen),
        {f"blimp_{p}": BLIMP_PAIRS_PER_PHENOMENON for p in chosen},
    )


def superglue_suite(ctx: MetricContext, mspec: MetricSpec, folder: Path) -> Suite:
    """Task files for lm-eval's ``super-glue-lm-eval-v1`` tasks asked for."""
    names = _requested(mspec, ",".join(SUPERGLUE_TASKS))
    if names in (["super-glue-lm-eval-v1"], ["superglue"]):
        names = list(SUPERGLUE_TASKS)
    unknown = [n for n in names if n not in SUPERGLUE_TASKS]
    if unknown:
        raise MetricError(
            f"unknown SuperGLUE task {unknown[0]!r}; known: {', '.join(SUPERGLUE_TASKS)}"
        )
    root = ctx.data_dir / "superglue"
    for name in names:
        config = SUPERGLUE_TASKS[name][0]
        if not (root / config / "validation.jsonl").is_file():
            raise missing(f"superglue/{config}", root / config / "validation.jsonl", ctx.spec.name)
        data = {"validation": str((root / config / "validation.jsonl").resolve())}
        if (root / config / "train.jsonl").is_file():
            data["train"] = str((root / config / "train.jsonl").resolve())
        if name == "record":
            _record_task(folder, data)
            continue
        yaml_dir = SUPERGLUE_YAML.get(name, name)
        task: dict[str, Any] = {
            "include": str(lm_eval_tasks_dir() / "super_glue" / yaml_dir / "default.yaml"),
            "task": name,
            "tag": [],
            "dataset_path": "json",
            "dataset_name": content_name(data),
            "dataset_kwargs": {"data_files": data},
        }
        if name == "multirc":
            task["doc_to_choice"] = MULTIRC_CHOICES
        if "train" not in data:
            # lm-eval's file names a train split; with no train file it fails (KeyError) even
            # at zero-shot, so the data folder's validation split serves alone.
            task["training_split"] = None
        _dump(folder / f"{name}.yaml", task)
    from agent_eval.provenance import SUPERGLUE_VALIDATION_ROWS

    configs = [SUPERGLUE_TASKS[n][0] for n in names]
    files = [root / c / f for c in configs for f in ("validation.jsonl", "train.jsonl")]
    per_task = {n: SUPERGLUE_VALIDATION_ROWS[SUPERGLUE_TASKS[n][0]] for n in names}
    return Suite(
        folder, names, names, [f for f in files if f.is_file()], sum(per_task.values()), per_task
    )


def content_name(data: dict[str, str]) -> str:
    """The configuration name the ``datasets`` cache of these data files is kept under:
    ``sha256-`` and their content hash.

    ``datasets`` keys its cache of local files by path and modification time only, so rows
    changed in place with the same size and time would be scored from the stale cache; with the
    content in the name, changed rows are a new cache entry.
    """
    from agent_eval.provenance import files_sha256

    files = [Path(path) for path in data.values()]
    digest = files_sha256(files, Path("/"))
    return f"sha256-{digest[:32]}"


RECORD_MODULE = "record_scoring"
"""Module file written beside the generated ReCoRD task file; it re-exports our functions."""


def _lm_eval_record_config() -> dict[str, Any]:
    """lm-eval's ReCoRD task file, with each ``!function`` kept as its dotted name.

    It is read as text: loading it the usual way would import lm-eval's ``util.py``, which
    needs ``transformers.data.metrics`` (gone in transformers 5).
    """
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def _function(loader: Any, node: Any) -> dict[str, str]:
        return {"!function": str(loader.construct_scalar(node))}

    _Loader.add_constructor("!function", _function)
    text = (lm_eval_tasks_dir() / "super_glue" / "record" / "default.yaml").read_text("utf-8")
    loaded: dict[str, Any] = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    return loaded


def _record_task(folder: Path, data: dict[str, str]) -> None:
    """ReCoRD's task file: lm-eval's settings, our copies of its functions, local data."""
    from agent_eval.metrics import superglue_record

    config = _lm_eval_record_config()
    config.pop("tag", None)
    config.update(
        {"task": "record", "dataset_path": "json", "dataset_name": content_name(data)},
        dataset_kwargs={"data_files": data},
    )
    if "train" not in data:
        config.pop("training_split", None)
    lines = []
    for key, entry in config.items():
        if isinstance(entry, dict) and set(entry) == {"!function"}:
            module, _, function = entry["!function"].rpartition(".")
            if module != "util" or function not in superglue_record.FUNCTIONS:
                raise MetricError(
                    f"lm-eval's ReCoRD task file names {entry['!function']!r}, which this "
                    "evaluator does not provide",
                    hint="the installed lm-eval differs from the pinned one (0.4.13); install "
                    "the pinned version",
                )
            lines.append(f"{key}: !function {RECORD_MODULE}.{function}")
        else:
            lines.append(f"{key}: {json.dumps(entry)}")
    (folder / "record.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / f"{RECORD_MODULE}.py").write_text(
        f"from agent_eval.metrics.superglue_record import {', '.join(superglue_record.FUNCTIONS)}"
        "  # noqa: F401\n",
        encoding="utf-8",
    )


def harness_model(ctx: MetricContext, batch_size: int) -> Any:
    """lm-eval's HF model wrapped around the already loaded model (built once per batch size)."""
    key = f"hflm:{batch_size}"
    if key not in ctx.cache:
        from lm_eval.models.huggingface import HFLM

        loaded = ctx.model()
        tokenizer = loaded.need_tokenizer("lm-eval tasks")
        ctx.cache[key] = HFLM(
            pretrained=loaded.model,
            tokenizer=tokenizer,
            backend="seq2seq" if loaded.is_seq2seq else "causal",
            batch_size=batch_size,
            device=loaded.device,
        )
    return ctx.cache[key]


@contextmanager
def _without_env_dump() -> Iterator[None]:
    """Skip lm-eval's environment dump (it lists every installed package: ~0.6 s per call) and
    its git probe of the working directory.

    The numbers do not depend on them, and the result records its own environment.
    """
    import lm_eval.evaluator as evaluator

    saved = evaluator.add_env_info, evaluator.get_git_commit_hash
    evaluator.add_env_info = lambda storage: None
    # lm-eval asks git for the commit of the working directory (the user's, not lm-eval's):
    # outside a repository git prints "fatal: not a git repository" on every run.
    evaluator.get_git_commit_hash = lambda: None
    try:
        yield
    finally:
        evaluator.add_env_info, evaluator.get_git_commit_hash = saved


def run_suite(
    ctx: MetricContext, mspec: MetricSpec, kind: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run lm-eval on the generated files; return (results per task/group, run facts)."""
    import lm_eval
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    builders = {"mmlu": mmlu_suite, "blimp": blimp_suite, "superglue": superglue_suite}
    num_fewshot = int(param(mspec, "num_fewshot", 0))
    batch_size = ctx.batch_size or int(param(mspec, "batch_size", 8))
    with tempfile.TemporaryDirectory(prefix=f"mlrb-{kind}-") as tmp:
        suite = builders[kind](ctx, mspec, Path(tmp))
        manager = TaskManager(include_path=tmp, include_defaults=False)
        with _without_env_dump():
            out = simple_evaluate(
                model=harness_model(ctx, batch_size),
                tasks=suite.run,
                num_fewshot=num_fewshot,
                limit=ctx.limit,
                task_manager=manager,
                log_samples=False,
                bootstrap_iters=BOOTSTRAP_ITERS,
                verbosity="ERROR",
            )
    if not out or "results" not in out:
        raise MetricError(f"lm-eval returned no results for {kind}")
    samples = {t: (out.get("n-samples") or {}).get(t, {}).get("effective") for t in suite.subtasks}
    _record_data(ctx, mspec, kind, suite, samples)
    facts = {
        "lm_eval_version": getattr(lm_eval, "__version__", None),
        "num_fewshot": num_fewshot,
        "batch_size": batch_size,
        "limit": ctx.limit,
        "task_versions": {k: str(v) for k, v in (out.get("versions") or {}).items()},
        "samples": samples,
        "prompts": "lm-eval's own task configs (included by path), local JSON data",
    }
    return out["results"], facts


def _record_data(
    ctx: MetricContext, mspec: MetricSpec, kind: str, suite: Suite, samples: dict[str, Any]
) -> None:
    """What this suite read, for the results' data provenance: complete only when each
    subtask scored exactly its full set (a subtask trimmed and another padded to the same
    total is not the set)."""
    from agent_eval.provenance import BUILTIN_SOURCES, record_use

    source = BUILTIN_SOURCES[kind]
    examples = sum(int(n or 0) for n in samples.values())
    off = {
        task: f"{int(samples.get(task) or 0)} of {full}"
        for task, full in suite.full_per_task.items()
        if int(samples.get(task) or 0) != full
    }
    details: dict[str, Any] = {"examples_per_task": samples}
    if off:
        details["tasks_not_full"] = off
    record_use(
        ctx,
        source=source,
        split=next(iter(source.splits)),
        files=suite.files,
        examples=examples,
        full_examples=suite.full_examples,
        used_by=mspec.name,
        manifest_key=kind,
        complete=ctx.limit is None
        and not off
        and (suite.full_examples is None or examples == suite.full_examples),
        details=details,
    )


def _number(entry: dict[str, Any], metric_name: str) -> tuple[float, float | None]:
    raw = entry.get(f"{metric_name},none")
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        raise MetricError(f"lm-eval reported no {metric_name!r} ({sorted(entry)})")
    err = entry.get(f"{metric_name}_stderr,none")
    stderr = float(err) if isinstance(err, int | float) and not math.isnan(err) else None
    return float(raw), stderr


def own_dataset(spec: TaskSpec, mspec: MetricSpec) -> list[DataNeed]:
    """The benchmark's own data (``mmlu``, ``blimp``, ``superglue``), fetched under its name."""
    return [(mspec.name, {})]


@metric("mmlu", needs="tokenizer", data=own_dataset)
def mmlu(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """Accuracy of lm-eval's mmlu group (subjects weighted by size), with category values."""
    results, facts = run_suite(ctx, mspec, "mmlu")
    acc, err = _number(results["mmlu"], "acc")
    subjects = {
        k.removeprefix("mmlu_"): results[k]["acc,none"]
        for k in results
        if k.startswith("mmlu_") and k.removeprefix("mmlu_") not in MMLU_CATEGORIES
    }
    values = [
        value(
            mspec,
            "mmlu",
            acc,
            unit="accuracy",
            direction="higher",
            stderr=err,
            **facts,
            subjects=subjects,
        )
    ]
    for cat in MMLU_CATEGORIES:
        if f"mmlu_{cat}" in results:
            cat_acc, cat_err = _number(results[f"mmlu_{cat}"], "acc")
            values.append(
                value(
                    mspec,
                    f"mmlu_{cat}",
                    cat_acc,
                    unit="accuracy",
                    direction="higher",
                    stderr=cat_err,
                )
            )
    return values


@metric("blimp", needs="tokenizer", data=own_dataset)
def blimp(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """Accuracy of lm-eval's blimp group (mean over phenomena)."""
    results, facts = run_suite(ctx, mspec, "blimp")
    acc, err = _number(results["blimp"], "acc")
    per = {k.removeprefix("blimp_"): results[k]["acc,none"] for k in results if k != "blimp"}
    return [
        value(
            mspec,
            "blimp",
            acc,
            unit="accuracy",
            direction="higher",
            stderr=err,
            **facts,
            phenomena=per,
        )
    ]


@metric("superglue", needs="tokenizer", data=own_dataset)
def superglue(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """Mean accuracy over lm-eval's super-glue-lm-eval-v1 tasks (ReCoRD: exact match)."""
    results, facts = run_suite(ctx, mspec, "superglue")
    values: list[MetricValue] = []
    accs: list[float] = []
    errs: list[float | None] = []
    for name in [n for n in SUPERGLUE_TASKS if n in results]:
        acc, err = _number(results[name], SUPERGLUE_TASKS[name][1])
        accs.append(acc)
        errs.append(err)
        values.append(
            value(
                mspec,
                f"superglue_{name}",
                acc,
                unit="exact match" if SUPERGLUE_TASKS[name][1] == "em" else "accuracy",
                direction="higher",
                stderr=err,
                metric=SUPERGLUE_TASKS[name][1],
            )
        )
    if not accs:
        raise MetricError("lm-eval returned no SuperGLUE task results")
    chances = superglue_chance(ctx, [n for n in SUPERGLUE_TASKS if n in results])
    mean = sum(accs) / len(accs)
    stderr = (
        math.sqrt(sum(e * e for e in errs if e is not None)) / len(accs)
        if all(e is not None for e in errs)
        else None
    )
    head = value(
        mspec,
        "superglue",
        mean,
        unit="accuracy",
        direction="higher",
        stderr=stderr,
        **facts,
        tasks=[v.name for v in values],
        chance=sum(chances.values()) / len(chances),
        chance_per_task=chances,
    )
    return [head, *values]


def superglue_chance(ctx: MetricContext, names: list[str]) -> dict[str, float]:
    """Chance level of each averaged task: 1/k for accuracy, ReCoRD's from the rows scored.

    ReCoRD's exact match under a uniformly random candidate entity depends on the data (how
    many candidates each query has, how many are right), so it is computed from the very rows
    lm-eval scored (the first ``limit`` when limited, as lm-eval takes them).
    """
    from agent_eval.datasets import read_jsonl
    from agent_eval.metrics.superglue_record import chance_em

    chances: dict[str, float] = {}
    for name in names:
        if name == "record":
            rows = read_jsonl(ctx.data_dir / "superglue" / "record" / "validation.jsonl")
            chances[name] = chance_em(rows[: ctx.limit] if ctx.limit else rows)
        else:
            chances[name] = 1.0 / SUPERGLUE_CHOICES.get(name, 2)
    return chances
