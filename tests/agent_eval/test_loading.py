"""Loading every kind of deliverable, and the errors for the ones that cannot be loaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from support.store import make_run

from agent_eval.deliverable_check import resolve_deliverable
from agent_eval.errors import ModelLoadError
from agent_eval.loading import content_hash, load
from agent_eval.metrics.size import count_parameters


def _logits(model: Any) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([[1, 2, 3, 4]])).logits


def test_safetensors_folder_loads_with_hash_and_stored_dtype(tiny_gpt2_dir: Path) -> None:
    loaded = load(resolve_deliverable(str(tiny_gpt2_dir)), device="cpu")
    assert loaded.info.format == "hf_model"
    assert loaded.info.dtype == "float32"
    assert loaded.info.sha256 == content_hash(tiny_gpt2_dir)
    assert "GPT2LMHeadModel" in (loaded.info.architecture or "")
    assert loaded.tokenizer is not None and not loaded.is_seq2seq
    assert loaded.device == "cpu" and loaded.quantization == []


def test_content_hash_changes_with_a_byte_and_a_name(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x")
    first = content_hash(tmp_path)
    (tmp_path / "a").write_bytes(b"y")
    second = content_hash(tmp_path)
    (tmp_path / "a").rename(tmp_path / "b")
    assert len({first, second, content_hash(tmp_path)}) == 3


def test_bin_and_sharded_checkpoints_load_the_same_weights(
    tiny_gpt2_dir: Path, tiny_tokenizer: Any, tmp_path: Path
) -> None:
    from transformers import GPT2LMHeadModel

    reference = load(resolve_deliverable(str(tiny_gpt2_dir)), device="cpu").model
    model = GPT2LMHeadModel.from_pretrained(tiny_gpt2_dir)
    bin_dir = tmp_path / "bin"
    model.save_pretrained(bin_dir, safe_serialization=False)
    sharded = tmp_path / "sharded"
    model.save_pretrained(sharded, max_shard_size="20KB")
    assert (sharded / "model.safetensors.index.json").is_file()
    for folder in (bin_dir, sharded):
        loaded = load(resolve_deliverable(str(folder)), device="cpu")
        assert torch.equal(_logits(loaded.model), _logits(reference))
        assert loaded.tokenizer is None  # none saved: fine for parameters


def test_seq2seq_t5_folder(tiny_t5_dir: Path) -> None:
    loaded = load(resolve_deliverable(str(tiny_t5_dir)), device="cpu")
    assert loaded.is_seq2seq
    assert "T5ForConditionalGeneration" in (loaded.info.architecture or "")


def test_peft_adapter_on_a_local_base(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2LMHeadModel

    base = GPT2LMHeadModel.from_pretrained(tiny_gpt2_dir)
    peft_model = get_peft_model(
        base, LoraConfig(r=2, target_modules=["c_attn"], init_lora_weights=False)
    )
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_gpt2_dir)
    expected = _logits(peft_model.merge_and_unload())
    loaded = load(resolve_deliverable(str(adapter)), device="cpu", need_tokenizer="test")
    assert loaded.info.format == "peft_adapter"
    assert loaded.info.base_model == str(tiny_gpt2_dir)
    assert loaded.adapter_parameters and loaded.adapter_parameters > 0
    assert torch.allclose(_logits(loaded.model), expected, atol=1e-5)
    assert count_parameters(loaded.model)[0] == count_parameters(base)[0]
    assert loaded.tokenizer is not None  # taken from the base folder


def test_peft_adapter_whose_base_is_not_here(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "someone/not-cached-model", "peft_type": "LORA"})
    )
    with pytest.raises(ModelLoadError, match="not on this machine"):
        load(resolve_deliverable(str(adapter)), device="cpu")


def _run_folder(root: Path, model: Path, run: dict[str, Any], where: str = "model") -> Path:
    (root / "output").mkdir(parents=True)
    shutil.copytree(model, root / "output" / where)
    record = make_run(str(run.pop("run_id", root.name)), **run).model_dump(mode="json")
    (root / "run.json").write_text(json.dumps(record))
    return root


def test_run_folder_deliverable_and_agent(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    run = _run_folder(
        tmp_path / "run1",
        tiny_gpt2_dir,
        {
            "run_id": "r-123",
            "image": "lab/agent:1",
            "provider": "openai",
            "deliverable": {"path": "output/model", "source": "spec"},
            "deliverable_rejected": None,
        },
    )
    found = resolve_deliverable(str(run))
    assert found.missing is None
    assert found.path == run / "output" / "model"
    assert found.run_id == "r-123"
    assert found.agent is not None and found.agent.image == "lab/agent:1"
    assert found.agent.provider == "openai"


def test_run_folder_takes_the_path_run_json_accepted(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    run = _run_folder(
        tmp_path / "run3",
        tiny_gpt2_dir,
        {"run_id": "r-3", "deliverable": {"path": "output/final", "source": "submission.json"}},
        where="final",
    )
    shutil.copytree(tiny_gpt2_dir, run / "output" / "model")  # never looked at
    assert resolve_deliverable(str(run)).path == run / "output" / "final"


def test_run_folder_without_deliverable_is_linked_but_missing(tmp_path: Path) -> None:
    run = tmp_path / "run-empty"
    (run / "output").mkdir(parents=True)
    record = make_run("r-empty", image="lab/agent:1", deliverable=None)
    (run / "run.json").write_text(record.model_dump_json())
    found = resolve_deliverable(str(run))
    assert found.run_id == "r-empty"
    assert found.missing is not None and "has no deliverable" in found.missing.message


def test_load_errors_are_model_load_errors(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        resolve_deliverable(str(tmp_path / "nope"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        load(resolve_deliverable(str(empty)), device="cpu")
    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_gpt2_dir, truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="corrupt or truncated"):
        load(resolve_deliverable(str(truncated)), device="cpu")
    alien = tmp_path / "alien"
    shutil.copytree(tiny_gpt2_dir, alien)
    config = json.loads((alien / "config.json").read_text())
    config["model_type"] = "not_a_real_arch"
    (alien / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="not supported"):
        load(resolve_deliverable(str(alien)), device="cpu")
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_gpt2_dir / name, bare / name)
    assert load(resolve_deliverable(str(bare)), device="cpu").tokenizer is None
    with pytest.raises(ModelLoadError, match="no tokenizer, which metric 'perplexity' needs"):
        load(resolve_deliverable(str(bare)), device="cpu", need_tokenizer="metric 'perplexity'")


def test_admission_reads_in_one_direction() -> None:
    """Which deliverable and is it safe (deliverable_check), then does it load (loading):
    admission never imports loading, and loading never chooses the deliverable itself."""
    import ast

    import agent_eval.deliverable_check as admission
    import agent_eval.loading as loading

    def imported(module: object) -> set[tuple[str, str]]:
        tree = ast.parse(Path(str(getattr(module, "__file__", ""))).read_text(encoding="utf-8"))
        return {
            (node.module or "", alias.name)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }

    assert not any(m == "agent_eval.loading" for m, _ in imported(admission))
    choosing = {"resolve_deliverable", "accepted_deliverable", "read_run_record", "load_limits"}
    assert not {n for m, n in imported(loading) if m == "agent_eval.deliverable_check"} & choosing
    assert not hasattr(loading, "resolve_deliverable")
