"""Generation speed: greedy decoding, warm-up, repeated runs, only new tokens counted.

Every repeat generates exactly ``new_tokens`` tokens (``min_new_tokens = max_new_tokens``, no
sampling) after a prompt of ``prompt_tokens`` tokens, batch 1. A streamer stamps the time at
which each new token leaves the model (after a device synchronisation on GPU):

- tokens/s: new tokens / wall time of the repeat, the median over repeats;
- time to first token: from the call to the first new token;
- per-token latency: the gaps between successive new tokens, median and 90th percentile over
  every gap of every repeat.
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any

from agent_contracts.results import MetricValue
from agent_eval.errors import MetricError
from agent_eval.metrics.likelihood import model_context
from agent_eval.metrics.registry import MetricContext, metric, param, value
from agent_tasks.spec import MetricSpec

PROMPT_TEXT = (
    "The history of science is the study of the development of science and scientific "
    "knowledge, including both the natural and social sciences. Science is a body of empirical, "
    "theoretical, and practical knowledge about the natural world, produced by scientists who "
    "emphasize the observation, explanation, and prediction of real-world phenomena. "
)
"""Text the prompt is cut from (repeated as needed)."""


class _Clock:
    """A generation streamer that records when each chunk of tokens arrives."""

    def __init__(self, sync: Any) -> None:
        self.sync = sync
        self.stamps: list[float] = []
        self.calls = 0

    def put(self, tokens: Any) -> None:
        """Called by ``generate`` with the prompt first, then with each new token."""
        self.calls += 1
        if self.calls == 1:
            return
        self.sync()
        self.stamps.append(time.perf_counter())

    def end(self) -> None:
        """Called once generation is over."""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def prompt_ids(loaded: Any, length: int) -> list[int]:
    """``length`` prompt tokens: the tokenized prompt text, or fixed ids without a tokenizer."""
    tok = loaded.tokenizer
    if tok is not None:
        ids: list[int] = tok(PROMPT_TEXT, add_special_tokens=False)["input_ids"]
        while len(ids) < length:
            ids = ids + ids
        return ids[:length]
    vocab = int(loaded.model.config.vocab_size)
    return [(7 * i + 11) % vocab for i in range(length)]


def generate_timed(loaded: Any, ids: list[int], new_tokens: int) -> tuple[int, float, list[float]]:
    """One greedy generation: (new tokens, seconds, arrival time of each new token)."""
    import torch

    cuda = loaded.device.startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    inputs = torch.tensor([ids], dtype=torch.long, device=loaded.device)
    clock = _Clock(sync)
    tok = loaded.tokenizer
    pad = getattr(tok, "pad_token_id", None) if tok is not None else None
    if pad is None:
        pad = getattr(loaded.model.config, "eos_token_id", None) or 0
    sync()
    start = time.perf_counter()
    with torch.inference_mode():
        out = loaded.model.generate(
            inputs,
            attention_mask=torch.ones_like(inputs),
            do_sample=False,
            num_beams=1,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            pad_token_id=pad,
            streamer=clock,
        )
    sync()
    elapsed = time.perf_counter() - start
    produced = out.shape[1] - (1 if loaded.is_seq2seq else inputs.shape[1])
    return int(produced), elapsed, [s - start for s in clock.stamps]


@metric("generation_speed")
def generation_speed(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """New tokens per second of greedy generation, time to first token, per-token latency."""
    loaded = ctx.model()
    prompt_len = int(param(mspec, "prompt_tokens", 32))
    new_tokens = int(param(mspec, "new_tokens", 64))
    repeats = int(param(mspec, "repeats", 5))
    warmup = int(param(mspec, "warmup", 1))
    if min(prompt_len, new_tokens, repeats) < 1 or warmup < 0:
        raise MetricError("generation_speed needs prompt_tokens, new_tokens, repeats >= 1")
    requested = prompt_len
    if not loaded.is_seq2seq:  # the prompt gives way so the new tokens fit the context
        context = model_context(loaded.model)
        if prompt_len + new_tokens > context:
            prompt_len = max(1, context - new_tokens)
    ids = prompt_ids(loaded, prompt_len)
    for _ in range(warmup):
        generate_timed(loaded, ids, new_tokens)
    rates: list[float] = []
    ttfts: list[float] = []
    gaps: list[float] = []
    counts: list[int] = []
    for _ in range(repeats):
        produced, elapsed, stamps = generate_timed(loaded, ids, new_tokens)
        counts.append(produced)
        rates.append(produced / elapsed)
        if stamps:
            ttfts.append(stamps[0] * 1000)
            gaps += [(b - a) * 1000 for a, b in itertools.pairwise(stamps)]
    if not gaps:
        gaps = [statistics.median(ttfts)] if ttfts else [0.0]
    details = {
        "prompt_tokens": prompt_len,
        "prompt_tokens_requested": requested,
        "new_tokens": new_tokens,
        "repeats": repeats,
        "warmup": warmup,
        "new_tokens_per_repeat": counts,
        "tokens_per_s_per_repeat": rates,
        "device": loaded.device,
        "dtype": loaded.dtype,
        "decoding": "greedy, batch 1",
    }
    return [
        value(
            mspec,
            "generation_speed",
            statistics.median(rates),
            unit="tokens/s",
            direction="higher",
            **details,
        ),
        value(
            mspec,
            "generation_speed_ttft_ms",
            statistics.median(ttfts) if ttfts else 0.0,
            unit="ms",
            direction="lower",
        ),
        value(
            mspec,
            "generation_speed_latency_ms_median",
            statistics.median(gaps),
            unit="ms",
            direction="lower",
        ),
        value(
            mspec,
            "generation_speed_latency_ms_p90",
            percentile(gaps, 90),
            unit="ms",
            direction="lower",
        ),
    ]
