"""Data handed in altered: files changed after prefetch, counts that are not the full set,
hidden inputs that are not the labelled items, and hash names that depend on links or on the
process. Each is played by a test that builds its tiny data here; nothing is downloaded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent_eval.datasets import file_sha256, hf_manifest_key, read_manifest, record_fetched
from agent_eval.provenance import (
    BUILTIN_SOURCES,
    MMLU_TEST_QUESTIONS,
    MMLU_TEST_QUESTIONS_PER_SUBJECT,
    WIKITEXT_REVISION,
    files_sha256,
    record_use,
)
from agent_tasks.spec import DatasetSpec

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, eval_data_dir: Path) -> None:
    """The Hub, as prefetch sees it, answering with the fixture rows (wikitext, MMLU)."""
    import datasets

    import agent_eval.prefetch as prefetch

    text = (eval_data_dir / "wikitext2" / "test.txt").read_text("utf-8")

    def load_dataset(name: str, config: str | None = None, **kwargs: Any) -> Any:
        if name == BUILTIN_SOURCES["wikitext2"].id:
            return datasets.Dataset.from_dict({"text": text.split("\n\n")})
        path = eval_data_dir / "mmlu" / str(config) / f"{kwargs['split']}.jsonl"
        rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(prefetch, "hub_commit", lambda dataset_id, revision: revision)


def _evaluate(run_cli: Run, model: Path, data: Path, results: Path, *args: str) -> dict[str, Any]:
    proc = run_cli(
        "--model_args", str(model), "--no-db", "--device", "cpu", "--json",
        "--data-dir", str(data), "--results-dir", str(results), *args,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


# ----------------------------------------------------------------------------- A: content


def test_wikitext_cut_after_prefetch_is_not_the_full_set(
    run_cli: Run, tiny_gpt2_dir: Path, fake_hub: None, tmp_path: Path
) -> None:
    """prefetch writes wikitext2/test.txt and records its hash; the file is then cut to its
    first lines. Perplexity over what is left is not the set: flagged, data_subset, unranked."""
    from agent_eval.prefetch import fetch_wikitext2

    data = tmp_path / "data"
    fetch_wikitext2(data)
    entry = read_manifest(data)["datasets"]["wikitext2"]
    assert set(entry["files"]) == {"wikitext2/test.txt"}
    args = ("--task", "mini_llm_efficiency", "--metrics", "perplexity")
    whole = _evaluate(run_cli, tiny_gpt2_dir, data, tmp_path / "r1", *args)
    (used,) = whole["datasets"]
    assert used["complete"] is True and whole["data_subset"] is False
    assert "content_mismatch" not in used["details"]
    assert "content_unverified" not in used["details"]  # every file read was checked

    text = data / "wikitext2" / "test.txt"
    text.write_text("\n".join(text.read_text("utf-8").splitlines()[:3]), "utf-8")
    cut = _evaluate(run_cli, tiny_gpt2_dir, data, tmp_path / "r2", *args)
    (used,) = cut["datasets"]
    assert used["complete"] is False and cut["data_subset"] is True
    why = used["details"]["content_mismatch"]
    assert "wikitext2/test.txt" in why and "agent-eval prefetch" in why


def test_mmlu_labels_changed_after_prefetch_are_flagged(
    run_cli: Run, tiny_gpt2_dir: Path, fake_hub: None, tmp_path: Path
) -> None:
    """One answer of mmlu/anatomy/test.jsonl changed after prefetch, the row count kept."""
    from agent_eval.prefetch import fetch_mmlu

    data = tmp_path / "data"
    fetch_mmlu(data, subjects=("anatomy", "astronomy"))
    test = data / "mmlu" / "anatomy" / "test.jsonl"
    rows = [json.loads(line) for line in test.read_text("utf-8").splitlines()]
    rows[0]["answer"] = (rows[0]["answer"] + 1) % 4
    test.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    result = _evaluate(run_cli, tiny_gpt2_dir, data, tmp_path / "r", "--task", "evaltest_mmlu")
    (used,) = result["datasets"]
    assert used["complete"] is False and result["data_subset"] is True
    why = used["details"]["content_mismatch"]
    assert "mmlu/anatomy/test.jsonl" in why and "astronomy" not in why


def _ctx(data: Path) -> Any:
    return SimpleNamespace(data_dir=data, limit=None, datasets={}, spec=None)


def _labels_use(data: Path, labels: Path, rows: int) -> Any:
    return record_use(
        _ctx(data),
        source=DatasetSpec(id="example/labels", splits={"test": rows}),
        split="test",
        files=[labels],
        examples=rows,
        full_examples=rows,
        used_by="predictions_accuracy",
        manifest_key=hf_manifest_key("example/labels", None, "test"),
    )


def test_a_manifest_with_row_counts_only_catches_a_trimmed_split(
    eval_data_dir: Path, tmp_path: Path
) -> None:
    """A manifest written before prefetch recorded file hashes holds each split's rows: a split
    with other rows than it recorded is flagged; one with the same count is scored, its content
    said to be unchecked."""
    data = tmp_path / "data"
    shutil.copytree(eval_data_dir, data)
    labels = data / "hf" / "example__labels" / "default" / "test.jsonl"
    entry = {"source": "example/labels", "config": None, "split": "test", "rows": 10}
    (data / "manifest.json").write_text(
        json.dumps({"datasets": {hf_manifest_key("example/labels", None, "test"): entry}})
    )
    same = _labels_use(data, labels, 10)
    assert same.complete is True and "content_mismatch" not in same.details
    assert "hf/example__labels/default/test.jsonl" in same.details["content_unverified"]
    kept = labels.read_text("utf-8").splitlines()[:9]
    labels.write_text("\n".join(kept) + "\n", "utf-8")
    trimmed = _labels_use(data, labels, 10)
    assert trimmed.complete is False
    assert "9 rows, prefetch wrote 10" in trimmed.details["content_mismatch"]


def test_a_data_folder_without_a_manifest_says_its_content_is_unchecked(
    eval_data_dir: Path,
) -> None:
    use = record_use(
        _ctx(eval_data_dir),
        source=BUILTIN_SOURCES["wikitext2"],
        split="test",
        files=[eval_data_dir / "wikitext2" / "test.txt"],
        examples=3,
        full_examples=None,
        used_by="perplexity",
        manifest_key="wikitext2",
    )
    assert use.complete is True  # a hand-made folder is scored ...
    assert "no manifest.json" in use.details["content_unverified"]  # ... and says so


# ----------------------------------------------------------------------------- B: counts


def test_more_rows_than_the_full_set_is_not_complete(eval_data_dir: Path) -> None:
    use = record_use(
        _ctx(eval_data_dir),
        source=BUILTIN_SOURCES["mmlu"],
        split="test",
        files=[],
        examples=MMLU_TEST_QUESTIONS + 958,
        full_examples=MMLU_TEST_QUESTIONS,
        used_by="mmlu",
        manifest_key="mmlu",
    )
    assert use.complete is False


def test_a_subject_trimmed_and_another_padded_to_the_same_total_is_not_complete(
    eval_data_dir: Path,
) -> None:
    """lm-eval's per-subtask counts are each checked against the subject's published size."""
    from agent_eval.metrics.lm_eval_adapter import Suite, _record_data

    anatomy = MMLU_TEST_QUESTIONS_PER_SUBJECT["anatomy"]
    astronomy = MMLU_TEST_QUESTIONS_PER_SUBJECT["astronomy"]
    per_task = {"mmlu_anatomy": anatomy, "mmlu_astronomy": astronomy}
    suite = Suite(eval_data_dir, ["mmlu"], list(per_task), [], anatomy + astronomy, per_task)
    mspec = SimpleNamespace(name="mmlu")

    def use(samples: dict[str, int]) -> Any:
        ctx = _ctx(eval_data_dir)
        _record_data(ctx, mspec, "mmlu", suite, samples)  # type: ignore[arg-type]
        (recorded,) = ctx.datasets.values()
        return recorded

    assert use(per_task).complete is True
    shifted = use({"mmlu_anatomy": anatomy - 5, "mmlu_astronomy": astronomy + 5})
    assert shifted.examples == anatomy + astronomy and shifted.complete is False
    assert shifted.details["tasks_not_full"] == {
        "mmlu_anatomy": f"{anatomy - 5} of {anatomy}",
        "mmlu_astronomy": f"{astronomy + 5} of {astronomy}",
    }


def test_per_subject_sizes_add_up_to_the_published_total() -> None:
    from agent_eval.datasets import MMLU_SUBJECTS

    assert set(MMLU_TEST_QUESTIONS_PER_SUBJECT) == set(MMLU_SUBJECTS)
    assert MMLU_TEST_QUESTIONS == 14042


READS_PIXEL = """
import argparse, csv, pathlib
p = argparse.ArgumentParser(); p.add_argument("--data_dir"); p.add_argument("--output")
a = p.parse_args()
rows = [(f.stem, f.read_bytes()[-1]) for f in sorted((pathlib.Path(a.data_dir) / "test").iterdir())]
with open(a.output, "w", newline="") as fh:
    w = csv.writer(fh); w.writerow(["image_id", "label"]); w.writerows(rows)
"""


def test_hidden_inputs_that_are_not_the_labelled_items_are_not_complete(tmp_path: Path) -> None:
    """A budget task whose split is exactly the 6 labelled images here: with one image renamed
    (6 inputs, 6 labels, one id of each unmatched) the scored set is not the spec's."""
    from agent_eval.evaluate import EvalOptions, evaluate
    from agent_tasks.registry import get_task

    task = "mini_budget_model_inference"
    real = get_task(task)
    params = real.primary.params
    dataset, column = str(params["dataset"]), str(params["label_column"])
    hidden = real.evaluation.datasets[0].model_copy(update={"splits": {"test": 6}})
    spec = real.model_copy(
        update={"evaluation": real.evaluation.model_copy(update={"datasets": (hidden,)})}
    )
    data = tmp_path / "data"
    images = data / "code_inputs" / dataset.replace("/", "__") / "test" / "test"
    images.mkdir(parents=True)
    labels = {f"img{i}": i for i in range(6)}
    for image_id, label in labels.items():
        (images / f"{image_id}.pgm").write_bytes(b"P5\n1 1\n255\n" + bytes([label]))
    truth = data / "hf" / dataset.replace("/", "__") / "default" / "test.jsonl"
    truth.parent.mkdir(parents=True)
    truth.write_text(
        "".join(json.dumps({"image_id": k, column: str(v)}) + "\n" for k, v in labels.items())
    )
    out = tmp_path / "output"
    out.mkdir()
    (out / "main.py").write_text(READS_PIXEL)

    def used() -> Any:
        result = evaluate(
            EvalOptions(
                model_args=str(out),
                task=task,
                record=False,
                results_dir=tmp_path / "results",
                data_dir=data,
                metrics=["predictions_accuracy"],
            ),
            spec=spec,
        ).result
        assert result.status == "ok", result.errors
        (dataset_use,) = result.datasets
        return dataset_use

    whole = used()
    assert whole.complete is True and "inputs_mismatch" not in whole.details
    (images / "img0.pgm").rename(images / "stranger.pgm")
    renamed = used()
    assert renamed.details["input_files"] == 6 and renamed.examples == 6
    assert renamed.complete is False
    why = renamed.details["inputs_mismatch"]
    assert "1 input(s) without a label" in why and "'img0'" in why


# ----------------------------------------------------------------------------- E: hash names


def test_hash_names_are_the_paths_read_not_where_links_point(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "test.txt").write_text("the text", "utf-8")
    root = tmp_path / "data"
    root.mkdir()
    (root / "wikitext2").symlink_to(elsewhere, target_is_directory=True)
    import hashlib

    expected = hashlib.sha256(b"wikitext2/test.txt\0the text\0").hexdigest()
    assert files_sha256([root / "wikitext2" / "test.txt"], root) == expected


HASH_IN_A_PROCESS = """
import sys
from pathlib import Path
from agent_eval.provenance import files_sha256
root = Path(sys.argv[1])
print(files_sha256([root.parent / "a" / "same.txt", root.parent / "b" / "same.txt"], root))
"""


def test_the_same_files_hash_alike_in_every_process(tmp_path: Path) -> None:
    """Two files outside the root with the same name: once both named 'same.txt' and ordered
    by a set's iteration, which changes with the process's hash seed."""
    for folder, body in (("a", "first"), ("b", "second")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same.txt").write_text(body, "utf-8")
    (tmp_path / "root").mkdir()
    hashes = {
        subprocess.run(
            [sys.executable, "-c", HASH_IN_A_PROCESS, str(tmp_path / "root")],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in range(8)
    }
    assert len(hashes) == 1, hashes


def test_prefetch_records_each_file_with_its_hash(
    fake_hub: None, tmp_path: Path, eval_data_dir: Path
) -> None:
    from agent_eval.prefetch import fetch_mmlu

    fetch_mmlu(tmp_path, subjects=("anatomy",))
    entry = read_manifest(tmp_path)["datasets"]["mmlu"]
    test = tmp_path / "mmlu" / "anatomy" / "test.jsonl"
    assert entry["files"]["mmlu/anatomy/test.jsonl"] == {
        "sha256": file_sha256(test),
        "bytes": test.stat().st_size,
        "rows": 6,
    }
    assert entry["revision"] == BUILTIN_SOURCES["mmlu"].revision
    record_fetched(tmp_path, "wikitext2", {"source": "wikitext", "revision": WIKITEXT_REVISION})
    assert "files" not in read_manifest(tmp_path)["datasets"]["wikitext2"]  # nothing written


def test_two_images_of_one_id_or_a_stray_file_are_not_the_labelled_items() -> None:
    from agent_eval.metrics.predictions import _ids_mismatch

    labelled = {"a", "b"}
    assert _ids_mismatch(["a", "b"], labelled) is None
    assert "1 id(s) with more than one image" in str(_ids_mismatch(["a", "a", "b"], labelled))
    stray = str(_ids_mismatch(["a", "b", "notes/readme.txt"], labelled))
    assert "1 input(s) without a label" in stray and "notes/readme.txt" in stray
