"""Perplexity and bits per byte, over the whole text, with a strided sliding window.

Each window of at most ``max_length`` tokens starts ``stride`` tokens after the previous one;
only the tokens not scored by an earlier window count (the overlapping context is masked), so
every token of the text is scored exactly once, with up to ``max_length - stride`` tokens of
context. When the tokenizer has a BOS (or EOS) token it is put before the text as unscored
context, so the first token is scored too. Then::

    perplexity    = exp(total NLL / tokens scored)
    bits per byte = total NLL / ln 2 / UTF-8 bytes of the text
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from agent_contracts.results import MetricValue
from agent_eval.datasets import DataNeed, load_text_dataset
from agent_eval.errors import MetricError
from agent_eval.metrics.registry import MetricContext, metric, param, value
from agent_tasks.spec import MetricSpec, TaskSpec


@dataclass(frozen=True)
class Likelihood:
    """Total negative log-likelihood of some texts, and what was scored."""

    nll: float
    """Sum of -ln p(token | context), in nats."""
    tokens: int
    """Tokens scored."""
    bytes: int
    """UTF-8 bytes of the scored texts."""
    windows: int
    max_length: int
    stride: int
    complete: bool
    """False when ``limit`` cut the texts short (then bytes count only the covered part)."""

    @property
    def perplexity(self) -> float:
        """exp(total NLL / tokens scored)."""
        return math.exp(self.nll / self.tokens)

    @property
    def bits_per_byte(self) -> float:
        """Total NLL in bits per UTF-8 byte."""
        return self.nll / math.log(2) / self.bytes


def model_context(model: Any) -> int:
    """The longest sequence the model accepts (its position table), or 1024."""
    config = model.config
    for name in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        size = getattr(config, name, None)
        if isinstance(size, int) and size > 0:
            return size
    return 1024


def window_nll(model: Any, input_ids: Any, score_from: int) -> tuple[float, int]:
    """NLL (sum, nats) of tokens ``score_from..`` of one window given everything before them."""
    import torch

    with torch.inference_mode():
        logits = model(input_ids.unsqueeze(0)).logits[0].float()
    targets = input_ids[1:]
    logprobs = torch.log_softmax(logits[:-1], dim=-1)
    picked = logprobs.gather(1, targets.unsqueeze(1)).squeeze(1)
    # logits[i] predicts token i+1: scoring tokens from score_from means positions score_from-1..
    start = max(score_from - 1, 0)
    scored = picked[start:]
    return float(-scored.sum().item()), int(scored.numel())


def sliding_nll(
    model: Any,
    ids: list[int],
    max_length: int,
    stride: int,
    prefix: int | None,
    *,
    device: str,
    max_windows: int | None = None,
) -> tuple[float, int, int, int]:
    """(NLL, tokens scored, windows, tokens covered) of one token sequence."""
    import torch

    seq = ([prefix] if prefix is not None else []) + ids
    tensor = torch.tensor(seq, dtype=torch.long, device=device)
    total = 0.0
    count = windows = 0
    prev_end = 1  # tokens before this index are scored already (token 0 has no context)
    begin = 0
    covered = 0
    while prev_end < len(seq):
        end = min(begin + max_length, len(seq))
        nll, n = window_nll(model, tensor[begin:end], prev_end - begin)
        total += nll
        count += n
        windows += 1
        covered = end
        prev_end = end
        if end == len(seq) or (max_windows is not None and windows >= max_windows):
            break
        begin += stride
        # the next unscored token needs at least one token of context inside its window
        begin = min(begin, prev_end - 1)
    covered_text_tokens = covered - (1 if prefix is not None else 0)
    return total, count, windows, covered_text_tokens


def likelihood(ctx: MetricContext, mspec: MetricSpec) -> Likelihood:
    """Score the metric's dataset with the loaded model (cached per dataset and window)."""
    loaded = ctx.model()
    if loaded.is_seq2seq:
        raise MetricError(
            f"{mspec.name} needs a causal language model; this one is sequence-to-sequence"
        )
    tokenizer = loaded.need_tokenizer(mspec.name)
    dataset = str(param(mspec, "dataset", "wikitext2"))
    context = model_context(loaded.model)
    max_length = min(int(param(mspec, "max_length", context)), context)
    stride = int(param(mspec, "stride", min(512, max(1, max_length // 2))))
    if not 0 < stride <= max_length:
        raise MetricError(f"stride {stride} must be between 1 and max_length {max_length}")
    key = f"likelihood:{dataset}:{max_length}:{stride}:{ctx.limit}"
    if key in ctx.cache:
        cached: Likelihood = ctx.cache[key]
        _record_data(ctx, mspec, dataset, cached)
        return cached
    texts = load_text_dataset(dataset, ctx.data_dir, ctx.spec.name)
    prefix = (
        tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    )
    nll = 0.0
    tokens = windows = nbytes = 0
    complete = True
    remaining = ctx.limit
    for _label, text in texts:
        if remaining is not None and remaining <= 0:
            complete = False
            break
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            continue
        part, n, w, covered = sliding_nll(
            loaded.model,
            ids,
            max_length,
            stride,
            prefix,
            device=loaded.device,
            max_windows=remaining,
        )
        nll += part
        tokens += n
        windows += w
        if remaining is not None:
            remaining -= w
        if covered < len(ids):
            complete = False
            nbytes += len(tokenizer.decode(ids[:covered]).encode("utf-8"))
        else:
            nbytes += len(text.encode("utf-8"))
    if tokens == 0:
        raise MetricError(f"dataset {dataset!r} has no tokens to score")
    result = Likelihood(nll, tokens, nbytes, windows, max_length, stride, complete)
    ctx.cache[key] = result
    _record_data(ctx, mspec, dataset, result)
    return result


def _record_data(ctx: MetricContext, mspec: MetricSpec, dataset: str, lk: Likelihood) -> None:
    """What was read, for the results' data provenance (text: windows scored)."""
    from agent_eval.datasets import bundled_dir
    from agent_eval.provenance import BUILTIN_SOURCES, record_use
    from agent_tasks.spec import DatasetSpec

    if dataset == "wikitext2":
        source = BUILTIN_SOURCES["wikitext2"]
        files = [ctx.data_dir / "wikitext2" / "test.txt"]
    else:
        source = DatasetSpec(id=dataset)
        files = sorted((bundled_dir() / dataset.removeprefix("bundled:")).glob("*.txt"))
    record_use(
        ctx,
        source=source,
        split=next(iter(source.splits), "text"),
        files=files,
        examples=lk.windows,
        full_examples=None,
        used_by=mspec.name,
        manifest_key=dataset,
        complete=lk.complete,
        details={"unit": "windows", "bytes_scored": lk.bytes, "tokens_scored": lk.tokens},
    )


def _details(mspec: MetricSpec, lk: Likelihood) -> dict[str, Any]:
    return {
        "dataset": str(param(mspec, "dataset", "wikitext2")),
        "max_length": lk.max_length,
        "stride": lk.stride,
        "windows": lk.windows,
        "tokens_scored": lk.tokens,
        "bytes": lk.bytes,
        "nll_nats": lk.nll,
        "complete": lk.complete,
    }


def wikitext_need(spec: TaskSpec, mspec: MetricSpec) -> list[DataNeed]:
    """WikiText-2 from the data folder, unless the metric reads bundled text."""
    return (
        [("wikitext2", {})] if str(mspec.params.get("dataset", "wikitext2")) == "wikitext2" else []
    )


@metric("perplexity", needs="tokenizer", data=wikitext_need)
def perplexity(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """exp(total NLL / tokens scored) over the whole text, strided sliding window."""
    lk = likelihood(ctx, mspec)
    details = _details(mspec, lk)
    return [
        value(mspec, "perplexity", lk.perplexity, unit="perplexity", direction="lower", **details),
        value(mspec, "perplexity_tokens", lk.tokens, unit="tokens", direction="higher"),
        value(
            mspec, "perplexity_bits_per_byte", lk.bits_per_byte, unit="bits/byte", direction="lower"
        ),
    ]


@metric("bits_per_byte", needs="tokenizer", data=wikitext_need)
def bits_per_byte(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """Total NLL in bits / UTF-8 bytes of the text (comparable across tokenizers)."""
    lk = likelihood(ctx, mspec)
    details = _details(mspec, lk)
    return [
        value(
            mspec, "bits_per_byte", lk.bits_per_byte, unit="bits/byte", direction="lower", **details
        ),
        value(
            mspec, "bits_per_byte_perplexity", lk.perplexity, unit="perplexity", direction="lower"
        ),
        value(mspec, "bits_per_byte_tokens", lk.tokens, unit="tokens", direction="higher"),
    ]
