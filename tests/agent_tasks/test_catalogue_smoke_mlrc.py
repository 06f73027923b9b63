"""The smoke and mlrc_bench catalogues: specs, the generated corpus, the tiny_lm starter."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path
from types import ModuleType

import pytest

from agent_tasks import export_task, get_task, list_tasks, render_prompt
from agent_tasks.validate import check_spec

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "agent_eval/src/agent_eval/resources/bundled/tiny_lm_heldout/heldout.txt"
MLRC = {
    # name: (upstream key, test baseline, top human % over baseline, runtime limit s, GPU GB)
    "mlrc_llm_merging": ("llm-merging", 0.4933, 68.2, 3600, 48),
    "mlrc_backdoor_trigger_recovery": ("backdoor-trigger-recovery", 9.37, 621.3, 1800, 48),
    "mlrc_temporal_action_loc": ("perception_temporal_action_loc", 0.1264, 284.6, 1800, 16),
    "mlrc_rainfall_prediction": ("weather_forcast", None, 212.0, 1800, 48),
    "mlrc_machine_unlearning": ("machine_unlearning", 0.0609, 61.9, 1800, 16),
    "mlrc_product_recommendation": ("product-recommendation", 0.0804, 412.6, 1800, 16),
    "mlrc_meta_learning": ("meta-learning", 0.1728, 304.5, 12600, 16),
}


@pytest.fixture(scope="module")
def corpus_script() -> ModuleType:
    """scripts/make_smoke_corpus.py, imported as a module."""
    spec = importlib.util.spec_from_file_location(
        "make_smoke_corpus", ROOT / "scripts/make_smoke_corpus.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- both benchmarks


@pytest.mark.parametrize("name", ["tiny_lm", *MLRC])
def test_spec_is_sound_and_its_prompt_renders(name: str) -> None:
    spec = get_task(name)
    assert check_spec(spec) == []
    text = render_prompt(spec)
    assert spec.title in text and spec.prompt.strip()[:60] in text


def test_benchmarks_hold_their_tasks() -> None:
    assert "tiny_lm" in [s.name for s in list_tasks("smoke")]
    assert [s.name for s in list_tasks("mlrc_bench")] == list(MLRC)


# ----------------------------------------------------------------------------- tiny_lm spec


def test_tiny_lm_is_a_cpu_task_scored_on_hidden_text() -> None:
    spec = get_task("tiny_lm")
    assert spec.resources.gpus == 0
    assert spec.resources.cpus == 2
    assert spec.resources.time_limit_s <= 900
    assert spec.from_scratch
    assert spec.primary_metric == "bits_per_byte"
    assert spec.primary.direction == "lower"
    assert {m.name for m in spec.metrics} == {"bits_per_byte", "perplexity", "parameters"}
    for metric in ("bits_per_byte", "perplexity"):
        assert next(m for m in spec.metrics if m.name == metric).params == {
            "dataset": "bundled:tiny_lm_heldout"
        }
    cap = spec.constraint("max_parameters")
    assert cap is not None and cap.limit == 5_000_000
    assert [d.id for d in spec.evaluation.datasets] == ["bundled:tiny_lm_heldout"]
    public = spec.public_dict()
    assert "evaluation" not in public  # the metric names the data set; nothing says where it is
    assert "heldout.txt" not in str(public) and "77031" not in str(public)


def test_tiny_lm_anchors_match_the_committed_texts(corpus_script: ModuleType) -> None:
    anchors = get_task("tiny_lm").anchors
    assert anchors.baseline is not None and anchors.reference is not None
    assert anchors.reference < anchors.baseline  # lower is better
    train = corpus_script.TRAIN_PATH.read_bytes()
    baseline = corpus_script.unigram_bits_per_byte(train, HELDOUT.read_bytes())
    assert round(baseline, 4) == anchors.baseline
    assert "make_smoke_corpus.py" in anchors.source


def test_corpus_is_regenerated_byte_for_byte(corpus_script: ModuleType) -> None:
    train = corpus_script.corpus(corpus_script.TRAIN_SEED, corpus_script.TRAIN_BYTES)
    heldout = corpus_script.corpus(corpus_script.HELDOUT_SEED, corpus_script.HELDOUT_BYTES)
    assert corpus_script.TRAIN_PATH.read_text(encoding="utf-8") == train
    assert HELDOUT.read_text(encoding="utf-8") == heldout
    assert 100_000 <= len(train.encode()) <= 300_000
    assert 20_000 <= len(heldout.encode()) <= 40_000
    seen = set(train.split("\n\n"))
    stories = heldout.strip().split("\n\n")
    assert not [s for s in stories if s in seen]  # new draws, not copies


def test_heldout_text_is_not_shipped_to_agents() -> None:
    first_story = HELDOUT.read_text(encoding="utf-8").split("\n\n")[0]
    package = Path(str(files("agent_tasks")))
    leaked = [
        p
        for p in package.rglob("*")
        if p.is_file()
        and p.suffix in {".txt", ".md", ".json", ".py"}
        and first_story in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert leaked == []


# ----------------------------------------------------------------------------- tiny_lm starter


def _train(task_dir: Path, out: Path, *args: str, deadline: float | None = None) -> str:
    env = {
        **os.environ,
        "TASK_DIR": str(task_dir),
        "OUTPUT_DIR": str(out),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("DEADLINE", None)
    if deadline is not None:
        env["DEADLINE"] = str(int(deadline))
    done = subprocess.run(
        [sys.executable, str(task_dir / "starter" / "train.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


SMALL = (
    "--steps", "6", "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--block-size", "32",
    "--batch-size", "4", "--vocab-size", "300", "--eval-every", "3", "--threads", "1",
)  # fmt: skip


@pytest.mark.slow
def test_starter_trains_and_saves_a_model_the_evaluator_can_score(
    tmp_path: Path, corpus_script: ModuleType
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    task_dir = export_task("tiny_lm", tmp_path / "task")
    out = tmp_path / "output"
    log = _train(task_dir, out, *SMALL)
    assert "validation" in log and "bits/byte" in log
    model_dir = out / "model"
    assert (model_dir / "config.json").is_file()
    assert not (out / "model.partial").exists()

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    heldout = HELDOUT.read_text(encoding="utf-8")
    ids = tokenizer(heldout)["input_ids"]
    assert tokenizer.decode(ids) == heldout  # byte-level: nothing lost
    assert model.num_parameters() < get_task("tiny_lm").constraint("max_parameters").limit
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only contend on a busy CI machine
    try:
        bpb = corpus_script.model_bits_per_byte(model_dir, heldout)
    finally:
        torch.set_num_threads(threads)
    assert math.isfinite(bpb)
    assert 0 < bpb < 8  # an untrained byte model would be near 8; even 6 steps beat that


@pytest.mark.slow
def test_starter_stops_and_saves_before_the_deadline(tmp_path: Path) -> None:
    task_dir = export_task("tiny_lm", tmp_path / "task")
    out = tmp_path / "output"
    log = _train(task_dir, out, *SMALL, "--steps", "100000", deadline=time.time() + 5)
    assert "close to the deadline" in log
    assert (out / "model" / "config.json").is_file()


# ----------------------------------------------------------------------------- mlrc_bench


@pytest.mark.parametrize("name", list(MLRC))
def test_mlrc_task_carries_the_paper_facts(name: str) -> None:
    key, baseline, human_pct, runtime_s, gpu_gb = MLRC[name]
    spec = get_task(name)
    assert get_task(key) is spec  # the upstream key is an alias
    assert spec.aliases == (key,)
    assert spec.paper_url == "https://arxiv.org/abs/2504.09702"
    assert spec.competition_url is not None and spec.competition_url.startswith("https://")
    metric = spec.primary
    assert (metric.name, metric.direction, metric.params) == ("mlrc_score", "higher", {"key": key})
    assert [m.name for m in spec.metrics] == ["mlrc_score", "code_runtime", "code_statements"]
    limit = spec.constraint("max_runtime_s")
    assert (limit.limit_s, limit.phase) == (runtime_s, "test_run")
    assert spec.resources.gpu_memory_gb == gpu_gb
    assert spec.resources.time_limit_s == (10 if key == "weather_forcast" else 5) * 3600
    assert spec.deliverable.kind == "method"
    a = spec.anchors
    assert a.baseline == baseline
    assert a.reference_improvement_pct == human_pct
    assert a.source.startswith("MLRC-Bench (arXiv 2504.09702)")
    if baseline is None:
        assert a.reference_value is None
        assert any("baseline" in d.topic for d in spec.decisions)
    else:
        assert a.reference_value == pytest.approx(baseline * (1 + human_pct / 100))
    assert spec.competition_url in render_prompt(spec)
