"""Tiny models built on the spot, in the real Hugging Face layout: nothing is downloaded.

The one builder of the tests' tiny GPT-2s and their byte-level BPE tokenizers (evaluator and
end-to-end tests alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def train_tokenizer(texts: Sequence[str], vocab_size: int = 400) -> Any:
    """A byte-level BPE tokenizer (can encode any text) trained on ``texts`` in a fraction of a
    second; ``<|endoftext|>`` (id 0) is its only special token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    return wrapped


def gpt2_config(vocab_size: int, **overrides: Any) -> Any:
    """A tiny GPT-2 config (2 layers, 32 dims, 128 positions)."""
    from transformers import GPT2Config

    settings: dict[str, Any] = dict(
        vocab_size=vocab_size,
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=128,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    settings.update(overrides)
    return GPT2Config(**settings)


def save_gpt2(
    folder: Path,
    tokenizer: Any | None,
    seed: int = 0,
    *,
    config: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Path:
    """Build a tiny random GPT-2 with a fixed seed and save it (and the tokenizer) to ``folder``.

    ``config`` overrides settings of ``gpt2_config``; ``kwargs`` go to ``save_pretrained``
    (``dtype`` casts the weights first)."""
    import torch
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    vocab = len(tokenizer) if tokenizer is not None else 400
    model = GPT2LMHeadModel(gpt2_config(vocab, **(config or {})))
    dtype = kwargs.pop("dtype", None)
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(folder, **kwargs)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    return folder
