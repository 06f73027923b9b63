"""The numbers are right: parameter counts, perplexity, bits per byte, speed's token count."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from agent_eval.deliverable_check import resolve_deliverable
from agent_eval.loading import LoadedModel, load
from agent_eval.metrics.registry import MetricContext, get_metric
from agent_eval.metrics.size import count_parameters
from agent_tasks.spec import MetricSpec, TaskSpec


def _gpt2_on_meta(**config: Any) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.device("meta"):
        return GPT2LMHeadModel(GPT2Config(**config))


def test_gpt2_default_config_counts_the_quickstart_number() -> None:
    total, trainable = count_parameters(_gpt2_on_meta())
    assert total == 124_439_808
    assert trainable == total


def test_gpt2_xs_counts_30m() -> None:
    model = _gpt2_on_meta(n_embd=384, n_layer=6, n_head=6, n_positions=256, vocab_size=50257)
    assert count_parameters(model)[0] == 30_044_544


@pytest.fixture(scope="module")
def loaded(tiny_gpt2_dir: Path) -> LoadedModel:
    return load(resolve_deliverable(str(tiny_gpt2_dir)), device="cpu")


def _ctx(spec: TaskSpec, data: Path, loaded: LoadedModel, **kw: Any) -> MetricContext:
    return MetricContext(spec=spec, data_dir=data, loaded=loaded, **kw)


def _text_dir(tmp_path: Path, text: str) -> Path:
    (tmp_path / "wikitext2").mkdir(parents=True)
    (tmp_path / "wikitext2" / "test.txt").write_text(text, encoding="utf-8")
    return tmp_path


def _run(key: str, params: dict[str, Any], ctx: MetricContext) -> dict[str, Any]:
    mspec = MetricSpec(name=key, label=key, direction="lower", params=params)
    return {v.name: v for v in get_metric(key).function(ctx, mspec)}


def test_perplexity_of_a_short_text_is_one_forward_pass(
    loaded: LoadedModel, tmp_path: Path, make_spec: Any
) -> None:
    text = "The heart pumps blood through the body."
    spec = make_spec("ppl", [{"name": "perplexity", "direction": "lower"}])
    values = _run(
        "perplexity", {"dataset": "wikitext2"}, _ctx(spec, _text_dir(tmp_path, text), loaded)
    )
    tok = loaded.tokenizer
    ids = [tok.eos_token_id, *tok(text, add_special_tokens=False)["input_ids"]]
    with torch.no_grad():
        logits = loaded.model(torch.tensor([ids])).logits[0]
    logp = torch.log_softmax(logits[:-1].double(), dim=-1)
    nll = -sum(float(logp[i, ids[i + 1]]) for i in range(len(ids) - 1))
    n = len(ids) - 1
    assert values["perplexity_tokens"].value == n
    assert values["perplexity"].value == pytest.approx(math.exp(nll / n), rel=1e-5)
    bpb = nll / math.log(2) / len(text.encode("utf-8"))
    assert values["perplexity_bits_per_byte"].value == pytest.approx(bpb, rel=1e-5)
    assert values["perplexity"].details["windows"] == 1


def test_long_text_sliding_window_matches_the_models_masked_loss(
    loaded: LoadedModel, eval_data_dir: Path, tmp_path: Path, make_spec: Any
) -> None:
    """Every token scored once, with the context its window gives it, as the model's loss says."""
    max_length, stride = 32, 12
    spec = make_spec("bpb", [{"name": "bits_per_byte", "direction": "lower"}])
    values = _run(
        "bits_per_byte",
        {"dataset": "wikitext2", "max_length": max_length, "stride": stride},
        _ctx(spec, eval_data_dir, loaded),
    )
    text = (eval_data_dir / "wikitext2" / "test.txt").read_text(encoding="utf-8")
    tok = loaded.tokenizer
    seq = [tok.eos_token_id, *tok(text, add_special_tokens=False)["input_ids"]]
    assert len(seq) > 5 * max_length
    # Explicit windows: begin = 0, stride, 2*stride, ... each scoring what earlier ones did not.
    windows, begin, scored_until = [], 0, 1
    while scored_until < len(seq):
        end = min(begin + max_length, len(seq))
        windows.append((begin, scored_until, end))
        scored_until, begin = end, begin + stride
    # The model's own loss with the overlapping context masked (-100), as transformers documents.
    nll = 0.0
    count = 0
    with torch.no_grad():
        for w_begin, first, end in windows:
            input_ids = torch.tensor([seq[w_begin:end]])
            labels = input_ids.clone()
            labels[0, : first - w_begin] = -100
            scored = int((labels[0, 1:] != -100).sum())
            loss = loaded.model(input_ids, labels=labels).loss
            nll += float(loss) * scored
            count += scored
    assert count == len(seq) - 1
    assert values["bits_per_byte_tokens"].value == count
    assert values["bits_per_byte"].details["windows"] == len(windows)
    assert values["bits_per_byte_perplexity"].value == pytest.approx(
        math.exp(nll / count), rel=1e-4
    )
    expected = nll / math.log(2) / len(text.encode("utf-8"))
    assert values["bits_per_byte"].value == pytest.approx(expected, rel=1e-4)


def test_generation_speed_counts_only_new_tokens(
    loaded: LoadedModel, eval_data_dir: Path, make_spec: Any
) -> None:
    spec = make_spec("speed", [{"name": "generation_speed"}])
    params = {"prompt_tokens": 20, "new_tokens": 7, "repeats": 3, "warmup": 1}
    values = _run("generation_speed", params, _ctx(spec, eval_data_dir, loaded))
    main = values["generation_speed"]
    assert main.details["new_tokens_per_repeat"] == [7, 7, 7]
    assert main.details["prompt_tokens"] == 20
    assert main.details["prompt_tokens_requested"] == 20
    assert main.unit == "tokens/s" and main.value > 0
    assert values["generation_speed_ttft_ms"].value > 0
    med = values["generation_speed_latency_ms_median"].value
    assert 0 < med <= values["generation_speed_latency_ms_p90"].value


def test_generation_speed_says_when_the_prompt_gave_way_to_the_context(
    loaded: LoadedModel, eval_data_dir: Path, make_spec: Any
) -> None:
    """A prompt as long as the model's context is shortened so the new tokens fit: recorded."""
    spec = make_spec("speed", [{"name": "generation_speed"}])
    context = int(loaded.model.config.n_positions)
    params = {"prompt_tokens": context, "new_tokens": 7, "repeats": 1, "warmup": 0}
    main = _run("generation_speed", params, _ctx(spec, eval_data_dir, loaded))["generation_speed"]
    assert main.details["prompt_tokens_requested"] == context
    assert main.details["prompt_tokens"] == context - 7
    assert main.details["new_tokens_per_repeat"] == [7]


def test_generation_speed_of_a_seq2seq_model(
    tiny_t5_dir: Path, eval_data_dir: Path, make_spec: Any
) -> None:
    t5 = load(resolve_deliverable(str(tiny_t5_dir)), device="cpu")
    spec = make_spec("speed", [{"name": "generation_speed"}])
    params = {"prompt_tokens": 10, "new_tokens": 5, "repeats": 2, "warmup": 0}
    values = _run("generation_speed", params, _ctx(spec, eval_data_dir, t5))
    assert values["generation_speed"].details["new_tokens_per_repeat"] == [5, 5]


def test_percentile_interpolates() -> None:
    from agent_eval.metrics.speed import percentile

    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([0.0, 10.0], 90) == pytest.approx(9.0)
