"""The full_benchmark and mini_benchmark catalogues: specs, prompts, and runnable starter files."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent_tasks import export_task, get_task, list_tasks, render_prompt, resolve_task
from agent_tasks.catalogue import BENCHMARKS
from agent_tasks.validate import check_spec

ROOT = Path(__file__).resolve().parents[2]
FULL = tuple(s.name for s in list_tasks("full_benchmark"))
MINI = tuple(f"mini_{name}" for name in FULL)
LM_MINI = tuple(m for m in MINI if "budget" not in m)
GPT2_XS = "AlgorithmicResearchGroup/gpt2-xs"
GPT2_XS_PARAMETERS = 30_044_544


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a starter script with this interpreter, offline, and return the finished process."""
    merged = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **env}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=merged, capture_output=True, text=True, timeout=600
    )


# ----------------------------------------------------------------------------- the specs


def test_every_full_task_has_its_mini_variant_in_the_same_order() -> None:
    assert FULL, "full_benchmark lists no task"
    assert list(FULL) == list(BENCHMARKS["full_benchmark"])
    assert [s.name for s in list_tasks("mini_benchmark")] == list(MINI)


@pytest.mark.parametrize("name", FULL + MINI)
def test_spec_is_complete_and_its_prompt_renders(name: str) -> None:
    spec = get_task(name)
    text = render_prompt(spec)
    assert text.startswith(f"# {spec.title}\n")
    assert spec.primary.label in text
    assert "(primary)" in text
    assert check_spec(spec) == []
    assert spec.version == "1.0.0"
    assert spec.resources.gpus == 1
    assert spec.resources.gpu_type == "A100"
    assert spec.resources.gpu_memory_gb == 40
    assert spec.decisions, "every task records at least the GPU choice"
    assert all(d.topic and d.choice and d.source for d in spec.decisions)
    assert spec.anchors.source
    normalisable = spec.primary.chance is not None or (
        spec.anchors.baseline is not None and spec.anchors.reference_value is not None
    )
    assert normalisable


def test_full_tasks_run_a_day_and_mini_tasks_eight_hours() -> None:
    assert {get_task(n).resources.time_limit_s for n in FULL} == {86_400}
    assert {get_task(n).resources.time_limit_s for n in MINI} == {28_800}


def test_from_scratch_tasks_and_starting_models() -> None:
    scratch = {n for n in FULL if get_task(n).from_scratch}
    assert scratch == {"baby_lm", "mini_pile", "edge_llm_training", "budget_model_training"}
    assert get_task("edge_llm_compression").starting_models == ("microsoft/phi-2",)
    families = get_task("llm_efficiency").starting_models
    assert len(families) == 25 and "GPT2" in families and "T5 (not Flan-T5)" in families
    assert any("Llama-3-8B" in f for f in get_task("llm_merging").starting_models)


def test_machine_checkable_constraints() -> None:
    for name in ("edge_llm_compression", "edge_llm_training"):
        spec = get_task(name)
        assert spec.constraint("allowed_dtypes").dtypes == ("float32", "float16")
        assert spec.constraint("no_quantization") is not None
        memory = spec.constraint("max_memory_gb")
        assert (memory.limit_gb, memory.device) == (12, "cpu")
    training = get_task("budget_model_training")
    assert training.constraint("max_memory_gb").limit_gb == 6
    assert training.constraint("max_memory_gb").device == "gpu"
    assert training.constraint("max_runtime_s").limit_s == 9 * 3600
    assert training.resources.cpus == 4
    merging = get_task("llm_merging").constraint("max_runtime_s")
    assert (merging.limit_s, merging.phase) == (3600, "merge_and_eval")
    inference = get_task("budget_model_inference").constraint("max_memory_gb")
    assert (inference.limit_gb, inference.device, inference.phase) == (16, "gpu", "inference")


def test_contradictions_are_decided_with_a_source() -> None:
    def choices(name: str) -> str:
        return " ".join(d.choice for d in get_task(name).decisions)

    assert "40 GB" in choices("llm_efficiency")
    assert "12 GB" in choices("edge_llm_training")
    assert "TWE" in choices("budget_model_inference")
    assert get_task("budget_model_inference").primary_metric == "twe"
    for name in ("mini_pile", "edge_llm_training"):
        assert "super-glue-lm-eval-v1" in choices(name)
        assert get_task(name).primary.params["tasks"] == "super-glue-lm-eval-v1"


def test_primary_metrics_and_anchors() -> None:
    primary = {n: get_task(n).primary_metric for n in FULL}
    assert primary == {
        "llm_efficiency": "mmlu",
        "baby_lm": "blimp",
        "mini_pile": "superglue",
        "llm_merging": "mmlu",
        "edge_llm_compression": "mmlu",
        "edge_llm_training": "superglue",
        "math_reasoning": "bleu",
        "budget_model_training": "twe",
        "budget_model_inference": "twe",
    }
    mmlu = get_task("llm_efficiency").primary
    assert mmlu.params == {"num_fewshot": 0, "batch_size": 8, "tasks": "mmlu"}
    assert mmlu.chance == 0.25
    compression = get_task("edge_llm_compression").anchors
    assert (compression.baseline, compression.reference) == (0.25, 0.551)
    assert "2410.22553" in compression.source
    assert get_task("mini_pile").anchors.reference == 0.541


def test_budget_tasks_deliver_a_predictions_csv() -> None:
    pairs = (("budget_model_training", "label"), ("budget_model_inference", "digit_sum"))
    for name, label in pairs:
        deliverable = get_task(name).deliverable
        assert deliverable.kind == "predictions_csv"
        assert deliverable.columns == ("image_id", label)
        assert deliverable.path == "submission.csv"


def test_hidden_evaluation_rows_stay_out_of_the_export(tmp_path: Path) -> None:
    spec = get_task("math_reasoning")
    held_out = spec.evaluation.datasets[0]
    assert held_out.splits == {"train[-400:]": 400}
    export_task(spec, tmp_path / "math")
    public = json.loads((tmp_path / "math" / "task.json").read_text(encoding="utf-8"))
    assert "evaluation" not in public
    assert public["metrics"][0]["params"]["prompt_template"].startswith("Natural language")


@pytest.mark.parametrize("name", FULL + MINI)
def test_export_writes_prompt_and_starter(name: str, tmp_path: Path) -> None:
    spec = get_task(name)
    dest = export_task(spec, tmp_path / name)
    assert spec.title in (dest / "TASK.md").read_text(encoding="utf-8")
    starter = sorted(p.name for p in (dest / "starter").iterdir())
    if spec.assets is None:
        assert starter == []
    else:
        assert starter and all((dest / "starter" / n).stat().st_size > 0 for n in starter)


# ----------------------------------------------------------------------------- mini specs


@pytest.mark.parametrize("name", LM_MINI)
def test_language_mini_tasks_are_built_around_gpt2_xs(name: str) -> None:
    spec = get_task(name)
    cap = spec.constraint("max_parameters")
    assert cap is not None and cap.limit <= GPT2_XS_PARAMETERS
    if spec.from_scratch:
        assert cap.limit == GPT2_XS_PARAMETERS
    else:
        assert spec.starting_models == (GPT2_XS,)
    assert spec.assets == "agent_tasks.tasks.gpt2_xs_starter"
    assert "perplexity" in {m.name for m in spec.metrics}
    full = get_task(name.removeprefix("mini_"))
    assert spec.primary_metric == full.primary_metric
    assert spec.prompt != full.prompt


@pytest.mark.parametrize("name", ("mini_budget_model_training", "mini_budget_model_inference"))
def test_image_mini_tasks_say_why_gpt2_xs_does_not_apply(name: str) -> None:
    spec = get_task(name)
    assert any("gpt2-xs" in d.topic for d in spec.decisions)
    assert spec.assets == "agent_tasks.tasks.budget_starter"


def test_mini_constraints_are_scaled() -> None:
    assert get_task("mini_llm_merging").constraint("max_runtime_s").limit_s == 20 * 60
    assert get_task("mini_budget_model_training").constraint("max_runtime_s").limit_s == 3 * 3600
    assert get_task("mini_edge_llm_compression").constraint("max_parameters").limit == 22_533_408


def test_mini_benchmark_resolves_full_names_and_upstream_aliases() -> None:
    assert resolve_task("llm_efficiency", "mini_benchmark").name == "mini_llm_efficiency"
    assert get_task("mini_budget_inference").name == "mini_budget_model_inference"


# ----------------------------------------------------------------------------- starter files


def exported_starter(name: str, tmp_path: Path) -> Path:
    """The starter folder as an agent receives it."""
    return export_task(get_task(name), tmp_path / "task") / "starter"


WORDS = "the cat sat on a mat while two dogs ran over green hills and birds sang"


def tiny_corpus(path: Path) -> Path:
    """A few hundred short sentences built from a small vocabulary."""
    words = WORDS.split()
    lines = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(6 + i % 9)) + "."
             for i in range(300)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


TINY = ["--vocab-size", "300", "--n-embd", "32", "--n-layer", "2", "--n-head", "2",
        "--n-positions", "64", "--batch-size", "4", "--val-blocks", "2"]  # fmt: skip


@pytest.mark.slow
def test_gpt2_xs_script_trains_and_saves_a_loadable_model(tmp_path: Path) -> None:
    starter = exported_starter("mini_baby_lm", tmp_path)
    corpus = tiny_corpus(tmp_path / "corpus.txt")
    out = tmp_path / "out"
    done = run(
        [str(starter / "train_gpt2_xs.py"), "--text-file", str(corpus), "--tokenizer-from-text",
         *TINY, "--max-steps", "3", "--eval-every", "2", "--device", "cpu"],
        cwd=tmp_path, OUTPUT_DIR=str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [e["step"] for e in events if e["event"] == "eval"] == [2, 3]
    assert events[-1]["event"] == "saved"

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model: Any = AutoModelForCausalLM.from_pretrained(out / "model")
    tokenizer = AutoTokenizer.from_pretrained(out / "model")
    assert model.config.model_type == "gpt2"
    assert (model.config.n_embd, model.config.n_layer, model.config.n_positions) == (32, 2, 64)
    assert model.config.vocab_size == len(tokenizer)
    ids = tokenizer("the cat sat", return_tensors="pt")["input_ids"]
    assert ids.shape[1] > 0
    generated = model.generate(ids, max_new_tokens=4, do_sample=False,
                               pad_token_id=tokenizer.eos_token_id)  # fmt: skip
    assert generated.shape[1] == ids.shape[1] + 4


@pytest.mark.slow
def test_gpt2_xs_script_saves_before_a_passed_deadline(tmp_path: Path) -> None:
    starter = exported_starter("mini_mini_pile", tmp_path)
    corpus = tiny_corpus(tmp_path / "corpus.txt")
    done = run(
        [str(starter / "train_gpt2_xs.py"), "--text-file", str(corpus), "--tokenizer-from-text",
         *TINY, "--max-steps", "1000000", "--output-dir", str(tmp_path / "out")],
        cwd=tmp_path, DEADLINE=str(int(time.time()) + 60),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    stopped = next(json.loads(x) for x in done.stdout.splitlines() if '"stopped"' in x)
    assert stopped["reason"] == "deadline"
    assert (tmp_path / "out" / "model" / "config.json").is_file()


@pytest.mark.slow
def test_gpt2_xs_script_defaults_are_the_gpt2_xs_architecture(tmp_path: Path) -> None:
    starter = exported_starter("mini_llm_efficiency", tmp_path)
    done = run([str(starter / "train_gpt2_xs.py"), "--dry-run"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["parameters"] == GPT2_XS_PARAMETERS
    config = report["config"]
    assert (config["n_embd"], config["n_layer"], config["n_head"]) == (384, 6, 6)
    assert (config["n_positions"], config["vocab_size"]) == (256, 50257)


def write_ppm(path: Path, shade: int, size: int = 10) -> None:
    """A tiny binary PPM image of one grey level with a little texture."""
    pixels = bytes((shade + (i * 7) % 23) % 256 for i in range(size * size * 3))
    path.write_bytes(b"P6\n%d %d\n255\n" % (size, size) + pixels)


def image_folders(root: Path) -> list[str]:
    """train/<label>/ and val/<label>/ images for three labels, and six unlabelled test images."""
    for split, count in (("train", 6), ("val", 2)):
        for label, shade in (("3", 10), ("11", 120), ("27", 230)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                write_ppm(folder / f"{split}{label}_{i}.ppm", shade)
    (root / "test").mkdir()
    ids = [f"t{i:02d}" for i in range(6)]
    for i, image_id in enumerate(ids):
        write_ppm(root / "test" / f"{image_id}.ppm", (10, 120, 230)[i % 3])
    return ids


def read_csv(path: Path) -> list[list[str]]:
    """Rows of a CSV file, header first."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "label"), [("budget_model_training", "label"), ("budget_model_inference", "digit_sum")]
)
def test_budget_main_trains_and_writes_submission(name: str, label: str, tmp_path: Path) -> None:
    starter = exported_starter(name, tmp_path)
    ids = image_folders(tmp_path / "data")
    work = tmp_path / "output"
    work.mkdir()
    options = ["--image_size", "8", "--batch_size", "4", "--workers", "0", "--device", "cpu",
               "--weights", str(work / "model.pt")]  # fmt: skip
    extra = [] if label == "label" else ["--label_column", label]
    trained = run(
        [str(starter / "main.py"), "--data_dir", str(tmp_path / "data"), "--train", "--epochs",
         "2", *extra, *options],
        cwd=work,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "val accuracy" in trained.stdout
    rows = read_csv(work / "submission.csv")
    assert rows[0] == list(get_task(name).deliverable.columns)
    assert [r[0] for r in rows[1:]] == ids
    assert {r[1] for r in rows[1:]} <= {"3", "11", "27"}
    if label == "label":
        return
    # The benchmark's own run: only --data_dir, everything else from the checkpoint.
    (work / "submission.csv").unlink()
    predicted = run([str(starter / "main.py"), "--data_dir", str(tmp_path / "data"),
                     "--weights", str(work / "model.pt"), "--workers", "0"], cwd=work)  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert read_csv(work / "submission.csv") == rows


def test_budget_main_without_a_checkpoint_says_what_to_do(tmp_path: Path) -> None:
    starter = exported_starter("budget_model_training", tmp_path)
    image_folders(tmp_path / "data")
    done = run([str(starter / "main.py"), "--data_dir", str(tmp_path / "data"),
                "--weights", str(tmp_path / "none.pt")], cwd=tmp_path)  # fmt: skip
    assert done.returncode != 0
    assert "train first" in done.stderr


@pytest.mark.slow
def test_prepare_data_writes_folders_from_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pytest.importorskip("datasets")
    starter = exported_starter("budget_model_inference", tmp_path)
    source = tmp_path / "img.ppm"
    write_ppm(source, 50)
    image = {"bytes": source.read_bytes(), "path": None}
    for split, n in (("train", 4), ("test", 2)):
        table = pa.table({
            "image": [image] * n,
            "image_id": [f"{split}{i}" for i in range(n)],
            "digit_sum": [i % 2 + 10 for i in range(n)],
        })  # fmt: skip
        pq.write_table(table, tmp_path / f"{split}.parquet")
    done = run(
        [str(starter / "prepare_data.py"), "--parquet", f"train={tmp_path / 'train.parquet'}",
         "--parquet", f"test={tmp_path / 'test.parquet'}", "--label_column", "digit_sum",
         "--out", str(tmp_path / "data")],
        cwd=tmp_path, HF_HOME=str(tmp_path / "hf"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    data = tmp_path / "data"
    assert sorted(p.name for p in (data / "train" / "10").iterdir()) == ["train0.ppm", "train2.ppm"]
    assert sorted(p.name for p in (data / "test").iterdir()) == ["test0.ppm", "test1.ppm"]
    assert (data / "test" / "test0.ppm").read_bytes() == source.read_bytes()
