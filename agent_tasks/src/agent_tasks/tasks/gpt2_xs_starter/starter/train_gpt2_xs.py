#!/usr/bin/env python3
"""Train a GPT-2 causal language model (by default the 30M-parameter gpt2-xs shape).

A complete, small baseline to copy and improve. It

* builds a GPT-2 from a config (n_embd 384, n_layer 6, n_head 6, n_positions 256 by default,
  30,044,544 parameters with the 50,257-token GPT-2 vocabulary), or continues from a
  pretrained model with ``--init-from``;
* reads text from Hugging Face datasets (``--dataset``, streamed) or local files
  (``--text-file``, repeatable);
* uses a pretrained tokenizer (``--tokenizer``), or trains a byte-level BPE tokenizer on the
  training text itself (``--tokenizer-from-text``), which needs no download;
* honours ``$DEADLINE`` (Unix seconds): it stops ``--safety-margin-s`` before it and saves;
  SIGTERM also stops it cleanly after saving;
* saves a Hugging Face model folder with its tokenizer to ``$OUTPUT_DIR/model``
  (``--output-dir`` overrides ``$OUTPUT_DIR``), ready for ``AutoModelForCausalLM``.

Examples::

    # gpt2-xs from scratch on MiniPile, 5,000 steps of 64 x 256 tokens (needs the network)
    python train_gpt2_xs.py --dataset AlgorithmicResearchGroup/minipile --tokenizer gpt2

    # continue training the published gpt2-xs on instruction data, one row per template
    python train_gpt2_xs.py --init-from AlgorithmicResearchGroup/gpt2-xs \\
        --dataset databricks/databricks-dolly-15k \\
        --text-template "Instruction: {instruction}\\nContext: {context}\\nAnswer: {response}"

    # tiny CPU check without any download
    python train_gpt2_xs.py --text-file corpus.txt --tokenizer-from-text --vocab-size 500 \\
        --n-embd 32 --n-layer 2 --n-head 2 --n-positions 64 --batch-size 4 --max-steps 2

    # print the parameter count of the configured shape and exit
    python train_gpt2_xs.py --dry-run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GPT2_EOS = "<|endoftext|>"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; every default reproduces the gpt2-xs recipe."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = p.add_argument_group("data")
    data.add_argument("--dataset", help="Hugging Face dataset id (streamed)")
    data.add_argument("--dataset-config", help="dataset configuration name")
    data.add_argument("--split", default="train", help="dataset split (default: train)")
    data.add_argument("--text-column", default="text", help="column holding the text")
    data.add_argument(
        "--text-template",
        help="build each document from a row with str.format, e.g. '{question}\\n{answer}' "
        "(\\n and \\t are unescaped)",
    )
    data.add_argument(
        "--max-rows",
        type=int,
        default=None,
        help="read only the first N rows of the dataset split (e.g. to leave held-out rows out)",
    )
    data.add_argument(
        "--text-file", action="append", default=[], help="local UTF-8 text file (repeatable)"
    )
    data.add_argument(
        "--val-blocks", type=int, default=64, help="blocks held out at the start for validation"
    )

    tok = p.add_argument_group("tokenizer")
    tok.add_argument("--tokenizer", default=None, help="tokenizer id or folder (default: gpt2)")
    tok.add_argument(
        "--tokenizer-from-text",
        action="store_true",
        help="train a byte-level BPE tokenizer on the training text instead of loading one",
    )
    tok.add_argument(
        "--tokenizer-train-docs",
        type=int,
        default=20000,
        help="documents read to train the tokenizer (with --tokenizer-from-text)",
    )
    tok.add_argument(
        "--vocab-size",
        type=int,
        default=None,
        help="vocabulary size: of the trained tokenizer (default 8192), or of the model in "
        "--dry-run (default 50257)",
    )

    model = p.add_argument_group("model")
    model.add_argument("--init-from", help="start from this pretrained model instead of a config")
    model.add_argument("--n-embd", type=int, default=384)
    model.add_argument("--n-layer", type=int, default=6)
    model.add_argument("--n-head", type=int, default=6)
    model.add_argument("--n-positions", type=int, default=256)
    model.add_argument("--dropout", type=float, default=0.0)

    train = p.add_argument_group("training")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step")
    train.add_argument("--block-size", type=int, default=None, help="default: n_positions")
    train.add_argument("--max-steps", type=int, default=5000)
    train.add_argument("--lr", type=float, default=6e-4)
    train.add_argument("--min-lr-ratio", type=float, default=0.1)
    train.add_argument("--warmup-steps", type=int, default=100)
    train.add_argument("--weight-decay", type=float, default=0.1)
    train.add_argument("--grad-clip", type=float, default=1.0)
    train.add_argument("--eval-every", type=int, default=250)
    train.add_argument("--save-every", type=int, default=1000)
    train.add_argument("--seed", type=int, default=1337)
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    train.add_argument("--compile", action="store_true", help="torch.compile the model")

    run = p.add_argument_group("run")
    run.add_argument(
        "--output-dir",
        default=os.environ.get("OUTPUT_DIR", "output"),
        help="the model goes to OUTPUT_DIR/model (default: $OUTPUT_DIR or ./output)",
    )
    run.add_argument(
        "--deadline",
        type=float,
        default=float(os.environ["DEADLINE"]) if os.environ.get("DEADLINE") else None,
        help="Unix time to be done by (default: $DEADLINE)",
    )
    run.add_argument(
        "--safety-margin-s",
        type=float,
        default=600.0,
        help="stop this many seconds before the deadline, to leave time for saving",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="build the model, print its config and parameter count as JSON, and exit",
    )
    args = p.parse_args(argv)
    if args.block_size is None:
        args.block_size = args.n_positions
    if args.text_template:
        args.text_template = args.text_template.replace("\\n", "\n").replace("\\t", "\t")
    if not args.dry_run and not args.dataset and not args.text_file:
        p.error("give --dataset or at least one --text-file")
    return args


def log(event: str, **fields: Any) -> None:
    """One JSON line on stdout, so that logs can be parsed afterwards."""
    print(json.dumps({"event": event, "time": round(time.time(), 3), **fields}), flush=True)


# ----------------------------------------------------------------------------- data


def iter_documents(args: argparse.Namespace) -> Iterator[str]:
    """Every training document once, in order: local files first, then the dataset."""
    for name in args.text_file:
        text = Path(name).read_text(encoding="utf-8")
        # Blank lines separate documents; a file without any is one document per line.
        parts = [t.strip() for t in text.split("\n\n")] if "\n\n" in text else text.splitlines()
        yield from (t for t in parts if t.strip())
    if args.dataset:
        from itertools import islice

        from datasets import load_dataset

        rows = load_dataset(args.dataset, args.dataset_config, split=args.split, streaming=True)
        for row in islice(rows, args.max_rows):
            text = args.text_template.format(**row) if args.text_template else row[args.text_column]
            if text and text.strip():
                yield text


def train_tokenizer(args: argparse.Namespace) -> Any:
    """A byte-level BPE tokenizer trained on the first documents of the training text."""
    from itertools import islice

    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    docs = islice(iter_documents(args), args.tokenizer_train_docs)
    bpe.train_from_iterator(
        docs, vocab_size=args.vocab_size or 8192, min_frequency=2, special_tokens=[GPT2_EOS]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=GPT2_EOS, eos_token=GPT2_EOS, unk_token=GPT2_EOS
    )


def load_tokenizer(args: argparse.Namespace) -> Any:
    """The tokenizer to train with: trained here, or loaded from the Hub or a folder."""
    if args.tokenizer_from_text:
        tokenizer = train_tokenizer(args)
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.init_from or "gpt2")
    if tokenizer.eos_token is None:
        tokenizer.add_special_tokens({"eos_token": GPT2_EOS})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def iter_blocks(args: argparse.Namespace, tokenizer: Any) -> Iterator[list[int]]:
    """The documents as one token stream (EOS between documents), cut into equal blocks."""
    buffer: list[int] = []
    batch: list[str] = []

    def flush() -> None:
        for ids in tokenizer(batch, add_special_tokens=False)["input_ids"]:
            buffer.extend(ids)
            buffer.append(tokenizer.eos_token_id)
        batch.clear()

    for doc in iter_documents(args):
        batch.append(doc)
        if len(batch) >= 256:
            flush()
            while len(buffer) >= args.block_size:
                yield buffer[: args.block_size]
                del buffer[: args.block_size]
    flush()
    while len(buffer) >= args.block_size:
        yield buffer[: args.block_size]
        del buffer[: args.block_size]


class Batches:
    """Training batches drawn from the block stream forever, minus the validation blocks."""

    def __init__(self, args: argparse.Namespace, tokenizer: Any, shuffle_buffer: int = 2048):
        self.args = args
        self.tokenizer = tokenizer
        self.shuffle_buffer = shuffle_buffer
        self.rng = random.Random(args.seed)
        self.validation: list[list[int]] = []
        self.epoch = 0
        self._stream = self._blocks()

    def _blocks(self) -> Iterator[list[int]]:
        pool: list[list[int]] = []
        while True:
            seen = 0
            for i, block in enumerate(iter_blocks(self.args, self.tokenizer)):
                seen = i + 1
                if i < self.args.val_blocks:
                    if self.epoch == 0:
                        self.validation.append(block)
                    continue
                pool.append(block)
                if len(pool) >= self.shuffle_buffer:
                    yield pool.pop(self.rng.randrange(len(pool)))
            if seen <= self.args.val_blocks and not pool:
                raise SystemExit(
                    f"error: the text gives only {seen} blocks of {self.args.block_size} "
                    f"tokens, all held out for validation; add text or lower --val-blocks"
                )
            self.rng.shuffle(pool)
            yield from pool
            pool.clear()
            self.epoch += 1

    def next(self, batch_size: int) -> list[list[int]]:
        """The next ``batch_size`` blocks."""
        return [next(self._stream) for _ in range(batch_size)]


# ----------------------------------------------------------------------------- model


def build_model(args: argparse.Namespace, vocab_size: int) -> Any:
    """A fresh GPT-2 of the configured shape, or the pretrained model named by --init-from."""
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    if args.init_from:
        return AutoModelForCausalLM.from_pretrained(args.init_from)
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=args.n_positions,
        n_embd=args.n_embd,
        n_layer=args.n_layer,
        n_head=args.n_head,
        resid_pdrop=args.dropout,
        embd_pdrop=args.dropout,
        attn_pdrop=args.dropout,
        bos_token_id=0,
        eos_token_id=0,
    )
    return GPT2LMHeadModel(config)


def count_parameters(model: Any) -> int:
    """Total parameters, counting tied weights once."""
    return sum(p.numel() for p in model.parameters())


def learning_rate(args: argparse.Namespace, step: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at ``max_steps``."""
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    progress = min(1.0, (step - args.warmup_steps) / max(1, args.max_steps - args.warmup_steps))
    floor = args.lr * args.min_lr_ratio
    return floor + 0.5 * (args.lr - floor) * (1 + math.cos(math.pi * progress))


def save(model: Any, tokenizer: Any, args: argparse.Namespace, step: int) -> Path:
    """Write the model and tokenizer to OUTPUT_DIR/model, replacing an earlier save safely."""
    import shutil

    out = Path(args.output_dir)
    final = out / "model"
    tmp = out / "model.saving"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    log("saved", step=step, path=str(final))
    return final


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate now and then, save; return the process exit status."""
    args = parse_args(argv)
    import torch

    torch.manual_seed(args.seed)

    if args.dry_run:
        model = build_model(args, args.vocab_size or 50257)
        print(
            json.dumps(
                {"parameters": count_parameters(model), "config": model.config.to_diff_dict()},
                indent=2,
                default=str,
            )
        )
        return 0

    if args.deadline is not None and time.time() > args.deadline:
        log("warning", message="the deadline has already passed; saving after one step")
    stop_at = None if args.deadline is None else args.deadline - args.safety_margin_s

    stop_requested = False

    def on_sigterm(signum: int, frame: Any) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, on_sigterm)

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    use_bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()

    tokenizer = load_tokenizer(args)
    model = build_model(args, len(tokenizer))
    if not args.init_from:
        model.config.bos_token_id = tokenizer.bos_token_id or tokenizer.eos_token_id
        model.config.eos_token_id = tokenizer.eos_token_id
    if args.block_size > model.config.n_positions:
        raise SystemExit(
            f"error: --block-size {args.block_size} exceeds the model's context "
            f"{model.config.n_positions}"
        )
    model.to(device)
    log("model", parameters=count_parameters(model), device=device, bf16=use_bf16)
    step_model = torch.compile(model) if args.compile else model

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": args.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=args.lr,
        betas=(0.9, 0.95),
        fused=device.startswith("cuda"),
    )

    batches = Batches(args, tokenizer)

    def loss_of(blocks: list[list[int]]) -> Any:
        ids = torch.tensor(blocks, dtype=torch.long, device=device)
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=use_bf16):
            return step_model(input_ids=ids, labels=ids).loss

    @torch.no_grad()
    def validation_loss() -> float | None:
        if not batches.validation:
            return None
        model.eval()
        total, count = 0.0, 0
        for i in range(0, len(batches.validation), args.batch_size):
            chunk = batches.validation[i : i + args.batch_size]
            total += float(loss_of(chunk)) * len(chunk)
            count += len(chunk)
        model.train()
        return total / count

    model.train()
    step = 0
    started = time.time()
    reason = "max_steps"
    while step < args.max_steps:
        if stop_requested:
            reason = "sigterm"
            break
        if stop_at is not None and time.time() >= stop_at and step > 0:
            reason = "deadline"
            break
        lr = learning_rate(args, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        train_loss = 0.0
        for _ in range(args.grad_accum):
            loss = loss_of(batches.next(args.batch_size)) / args.grad_accum
            loss.backward()
            train_loss += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        step += 1
        if step % args.eval_every == 0 or step == args.max_steps:
            log(
                "eval",
                step=step,
                train_loss=round(train_loss, 4),
                val_loss=validation_loss(),
                lr=lr,
                elapsed_s=round(time.time() - started, 1),
            )
        if args.save_every and step % args.save_every == 0 and step < args.max_steps:
            save(model, tokenizer, args, step)

    log("stopped", step=step, reason=reason, val_loss=validation_loss())
    save(model, tokenizer, args, step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
