"""``agent-eval prefetch`` of an image task's hidden split: the labels as JSON lines, the images
as files in the code re-run's inputs folder, and a budget task scored on them end to end.

The datasets are built here with PIL and ``datasets`` in the real schema and saved as parquet;
only the three network calls are replaced (the Hub probe, ``load_dataset`` of the Hub id, which
here loads the local parquet with the real ``load_dataset``, and the commit look-up).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from agent_eval.coderun import check_ready, inputs_folder
from agent_eval.datasets import (
    code_inputs_manifest_key,
    hf_manifest_key,
    hf_split_path,
    read_jsonl,
    read_manifest,
)
from agent_eval.errors import DatasetFormatError
from agent_eval.evaluate import EvalOptions, evaluate
from agent_eval.provenance import files_sha256
from agent_tasks.registry import get_task

COMMIT = "0123456789abcdef0123456789abcdef01234567"
"""The Hub commit the replaced look-up answers."""

MINI_BUDGET = ("mini_budget_model_inference", "mini_budget_model_training")

READS_IMAGES = """
import argparse, csv, pathlib
from PIL import Image
p = argparse.ArgumentParser(); p.add_argument("--data_dir"); p.add_argument("--output")
a = p.parse_args()
rows = []
for f in sorted((pathlib.Path(a.data_dir) / "test").iterdir()):
    with Image.open(f) as img:
        rows.append((f.stem, img.convert("L").getpixel((7, 7))))  # the test image's label
with open(a.output, "w", newline="") as fh:
    w = csv.writer(fh); w.writerow(["image_id", "label"]); w.writerows(rows)
"""
"""A deliverable that reads every test image; the hand-made images carry their label in a
pixel, so a correct reading scores accuracy 1."""


def _target(task: str) -> tuple[str, str]:
    """(dataset id, label column) a budget task scores against."""
    params = get_task(task).primary.params
    return str(params["dataset"]), str(params["label_column"])


def _png(label: int) -> PILImage.Image:
    img = PILImage.new("L", (8, 8), color=0)
    img.putpixel((7, 7), label)
    return img


def _encoded(img: PILImage.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def build_split(
    task: str, folder: Path, ids: list[str], images: list[Any] | None = None
) -> dict[str, int]:
    """A hidden test split in the real schema (``image``, ``image_id``, label), as parquet."""
    from datasets import Dataset, Features, Image, Value

    _, column = _target(task)
    labels = {image_id: (i * 7) % 28 for i, image_id in enumerate(ids)}
    label_type = "int64" if column == "digit_sum" else "string"
    features = Features({"image": Image(), "image_id": Value("string"), column: Value(label_type)})
    ds = Dataset.from_dict(
        {
            "image": images or [_png(v) for v in labels.values()],
            "image_id": ids,
            column: [v if label_type == "int64" else str(v) for v in labels.values()],
        },
        features=features,
    )
    folder.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(folder / "test.parquet"))
    return labels


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Path]:
    """Hub dataset id -> local folder of its parquet split; the network calls answer from it."""
    import datasets

    import agent_eval.prefetch as prefetch_module

    folders: dict[str, Path] = {}
    real_load = datasets.load_dataset

    def load_dataset(
        dataset_id: str, config: str | None = None, *, split: str, revision: str | None = None
    ) -> Any:
        assert split == "test" and config is None, (dataset_id, config, split)
        parquet = str(folders[dataset_id] / "test.parquet")
        cache = str(tmp_path / "hf-cache")
        return real_load("parquet", data_files=parquet, split="train", cache_dir=cache)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(prefetch_module, "hub_commit", lambda dataset_id, revision: COMMIT)
    monkeypatch.setattr(prefetch_module, "check_hub_reachable", lambda *a, **k: None)
    return folders


def _publish(hub: dict[str, Path], task: str, tmp_path: Path, ids: list[str]) -> dict[str, int]:
    dataset, _ = _target(task)
    folder = tmp_path / "hub" / dataset.replace("/", "__")
    hub[dataset] = folder
    return build_split(task, folder, ids)


def _prefetch(task: str, data: Path) -> list[str]:
    from agent_eval.prefetch import prefetch

    return prefetch([task], data, log=lambda _m: None)


def _images_of(task: str, data: Path) -> Path:
    code_run = get_task(task).evaluation.code_run
    assert code_run is not None
    return inputs_folder(code_run, data)


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")} if root.exists() else set()


# ----------------------------------------------------------------------------- layout


@pytest.mark.parametrize("task", MINI_BUDGET)
def test_prefetch_writes_the_hidden_images_as_files_and_the_labels_apart(
    task: str, hub: dict[str, Path], tmp_path: Path
) -> None:
    ids = [f"img{i:03d}" for i in range(12)]
    labels = _publish(hub, task, tmp_path, ids)
    data = tmp_path / "data"
    dataset, column = _target(task)
    done = _prefetch(task, data)
    assert done == [f"hf:{dataset}:test+images"]

    inputs = _images_of(task, data)
    assert inputs == data / "code_inputs" / dataset.replace("/", "__") / "test"
    # Only the images, named <image_id>.png, in DIR/test/: no label file, nothing else.
    assert _tree(inputs) == {"test", *(f"test/{i}.png" for i in ids)}
    for image_id, label in labels.items():
        with PILImage.open(inputs / "test" / f"{image_id}.png") as img:
            assert img.format == "PNG" and img.getpixel((7, 7)) == label
    assert _tree(inputs.parent) == {"test", *(f"test/{p}" for p in _tree(inputs))}  # no staging

    rows = read_jsonl(hf_split_path(data, dataset, None, "test"))
    expected = [
        {"image_id": i, column: v if column == "digit_sum" else str(v)} for i, v in labels.items()
    ]
    assert rows == expected  # ids and labels only: no image column

    entries = read_manifest(data)["datasets"]
    assert entries[hf_manifest_key(dataset, None, "test")]["rows"] == len(ids)
    entry = entries[code_inputs_manifest_key(dataset, None, "test")]
    files = [f for f in inputs.rglob("*") if f.is_file()]
    assert entry["source"] == dataset and entry["split"] == "test"
    assert entry["revision"] == COMMIT and entry["rows"] == len(ids)
    assert entry["formats"] == {"png": len(ids)}
    assert entry["folder"] == inputs.relative_to(data).as_posix()
    assert entry["sha256"] == files_sha256(files, inputs)
    check_ready(get_task(task), data, "process")  # the re-run finds everything it needs


def test_images_keep_their_format_and_a_new_prefetch_replaces_the_folder(
    hub: dict[str, Path], tmp_path: Path
) -> None:
    task = "mini_budget_model_inference"
    dataset, _ = _target(task)
    jpeg = _encoded(PILImage.new("RGB", (16, 16), color=(200, 10, 10)), "JPEG")
    tga = _encoded(_png(5), "TGA")  # a format kept only as PNG
    folder = tmp_path / "hub" / dataset.replace("/", "__")
    hub[dataset] = folder
    raw = [{"bytes": jpeg, "path": None}, {"bytes": tga, "path": None}, _png(9)]
    build_split(task, folder, ["a", "b", "c"], raw)
    data = tmp_path / "data"
    _prefetch(task, data)
    images = _images_of(task, data) / "test"
    assert _tree(images) == {"a.jpg", "b.png", "c.png"}
    assert (images / "a.jpg").read_bytes() == jpeg  # written as downloaded, not re-encoded
    with PILImage.open(images / "b.png") as img:
        assert img.format == "PNG" and img.getpixel((7, 7)) == 5
    entry = read_manifest(data)["datasets"][code_inputs_manifest_key(dataset, None, "test")]
    assert entry["formats"] == {"jpg": 1, "png": 2}

    (images / "stray.png").write_bytes(b"left over")
    _publish(hub, task, tmp_path, ["x1", "x2"])
    _prefetch(task, data)
    assert _tree(_images_of(task, data)) == {"test", "test/x1.png", "test/x2.png"}


def _old_pair_then_new_release(
    hub: dict[str, Path], tmp_path: Path, task: str
) -> tuple[Path, Path, set[str], str]:
    """A data folder prefetched from 4 images, then a new release of 6 on the Hub: the data
    folder, its inputs folder, that folder's files and the labels' text before the next prefetch."""
    dataset, _ = _target(task)
    _publish(hub, task, tmp_path, [f"old{i}" for i in range(4)])
    data = tmp_path / "data"
    _prefetch(task, data)
    inputs = _images_of(task, data)
    before = _tree(inputs)
    labels_before = hf_split_path(data, dataset, None, "test").read_text()
    _publish(hub, task, tmp_path, [f"new{i}" for i in range(6)])
    return data, inputs, before, labels_before


def test_an_interrupted_prefetch_leaves_no_partial_inputs_folder(
    hub: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent_eval.prefetch as prefetch_module

    task = "mini_budget_model_inference"
    data, inputs, before, labels_before = _old_pair_then_new_release(hub, tmp_path, task)
    labels = hf_split_path(data, _target(task)[0], None, "test")
    real = prefetch_module._encoded_image
    written: list[str] = []

    def interrupted(value: Any, stem: str, where: str) -> tuple[bytes, str]:
        if len(written) == 3:
            raise KeyboardInterrupt  # Ctrl-C halfway through the images
        written.append(stem)
        return real(value, stem, where)

    monkeypatch.setattr(prefetch_module, "_encoded_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _prefetch(task, data)
    # The complete old folder and its labels are untouched; the half-written one is gone.
    assert _tree(inputs) == before
    assert labels.read_text() == labels_before
    assert _tree(inputs.parent) == {"test", *(f"test/{p}" for p in before)}

    # A staging folder left by a killed prefetch never counts as the inputs.
    (inputs.parent / ".test.partial-killed" / "test").mkdir(parents=True)
    monkeypatch.setattr(prefetch_module, "_encoded_image", real)
    _prefetch(task, data)
    assert _tree(inputs) == {"test", *(f"test/new{i}.png" for i in range(6))}
    assert sorted(p.name for p in inputs.parent.iterdir()) == ["test"]


def test_a_failed_labels_write_keeps_the_old_inputs_and_labels(
    hub: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent_eval.prefetch as prefetch_module

    task = "mini_budget_model_inference"
    data, inputs, before, labels_before = _old_pair_then_new_release(hub, tmp_path, task)
    labels = hf_split_path(data, _target(task)[0], None, "test")

    def disk_full(path: Path, rows: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prefetch_module, "write_jsonl", disk_full)
    from agent_eval.errors import FetchError

    with pytest.raises(FetchError, match="No space left on device") as failed:
        _prefetch(task, data)
    assert failed.value.exit_code == 3 and "free space" in (failed.value.hint or "")
    # The images were set aside before the labels; the labels did not change, so the old,
    # matching pair is back, and nothing else is left beside it.
    assert _tree(inputs) == before
    assert labels.read_text() == labels_before
    assert sorted(p.name for p in inputs.parent.iterdir()) == ["test"]


def test_an_image_in_a_format_decoded_through_an_outside_program_is_refused() -> None:
    from agent_eval.errors import DatasetFormatError
    from agent_eval.prefetch import _encoded_image

    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n"
    with pytest.raises(DatasetFormatError, match="cannot be decoded"):
        _encoded_image({"bytes": eps}, "x1", "example/budget (test)")


@pytest.mark.parametrize("hostile", ["../x", "a/b", "..", ".hidden", "a\\b", ""])
def test_an_image_id_that_is_not_a_safe_file_name_is_refused(
    hostile: str, hub: dict[str, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from agent_eval.cli import app

    task = "mini_budget_model_inference"
    _publish(hub, task, tmp_path, ["fine", hostile])
    data = tmp_path / "deep" / "data"
    data.mkdir(parents=True)
    outside_before = _tree(tmp_path) - _tree(data)
    with pytest.raises(DatasetFormatError) as caught:
        _prefetch(task, data)
    assert repr(hostile) in caught.value.message and "safe file name" in caught.value.message

    result = CliRunner().invoke(app, ["prefetch", "--tasks", task, "--data-dir", str(data)])
    assert result.exit_code == 3, result.output
    assert "not a safe file name" in result.output and "Traceback" not in result.output
    # Nothing written: not in the data folder, not beside it, no labels without their images.
    assert list(data.iterdir()) == []
    outside_after = {p for p in _tree(tmp_path) - _tree(data) if not p.startswith("hf-cache")}
    assert outside_after == {p for p in outside_before if not p.startswith("hf-cache")}


# ----------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("task", MINI_BUDGET)
def test_a_budget_task_is_scored_on_the_prefetched_images(
    task: str, hub: dict[str, Path], tmp_path: Path
) -> None:
    if os.geteuid() != 0:  # CI runs as root: there a missing sandbox is a failure
        reason = "the process sandbox needs root (namespaces, uid drop)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    ids = [f"img{i:03d}" for i in range(10)]
    _publish(hub, task, tmp_path, ids)
    data = tmp_path / "data"
    _prefetch(task, data)

    out = tmp_path / "output"
    out.mkdir()
    (out / "main.py").write_text(READS_IMAGES)
    (out / "submission.csv").write_text("image_id,label\n")  # the agent's own: ignored
    outcome = evaluate(
        EvalOptions(
            model_args=str(out),
            task=task,
            record=False,
            results_dir=tmp_path / "results",
            data_dir=data,
        )
    )
    result = outcome.result
    assert result.status == "ok", result.errors
    acc = result.metric("predictions_accuracy")
    twe, seconds = result.metric("twe"), result.metric("twe_inference_s")
    assert acc is not None and acc.value == 1.0
    assert seconds is not None and 0.005 < seconds.value < 120
    assert twe is not None and twe.value == pytest.approx(1.0 / (seconds.value / 60))
    assert twe.details["rows"] == len(ids) and twe.details["timed_by"] == "evaluator"
    assert json.loads(outcome.path.read_text())["status"] == "ok"


@pytest.mark.parametrize("pixels", [100_000_000, 200_000_000])  # PIL warns, then refuses
def test_a_decompression_bomb_is_a_format_error_not_a_crash(pixels: int) -> None:
    from agent_eval.prefetch import _encoded_image

    bomb = _encoded(PILImage.new("1", (pixels // 10_000, 10_000)), "PNG")  # a few kB
    with pytest.raises(DatasetFormatError, match="too large"):
        _encoded_image({"bytes": bomb}, "bomb", "owner/set (test)")
