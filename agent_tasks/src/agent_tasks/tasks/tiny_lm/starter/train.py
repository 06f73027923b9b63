"""Train a tiny GPT-2 style language model on train.txt, on the CPU, and save it for scoring.

Usage (defaults finish in a couple of minutes on 2 CPU cores):

    python train.py    # reads $TASK_DIR/starter/train.txt, writes $OUTPUT_DIR/model
    python train.py --steps 1200 --n-embd 192 --n-layer 4

Steps: train a byte-level BPE tokenizer on the corpus (``tokenizers``), build a small
``GPT2LMHeadModel`` (``transformers``), train it with AdamW on random windows of the token stream,
and save model plus tokenizer in Hugging Face layout. A checkpoint is also written every
``--save-every`` steps, and training stops early (saving first) when ``$DEADLINE`` comes close,
so a usable model is on disk whatever happens.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

EOS = "<|endoftext|>"


def parse_args() -> argparse.Namespace:
    """Command-line flags; paths default to the task's environment variables."""
    here = Path(__file__).resolve().parent
    task_dir = os.environ.get("TASK_DIR")
    corpus = Path(task_dir) / "starter" / "train.txt" if task_dir else here / "train.txt"
    output = Path(os.environ.get("OUTPUT_DIR", "output")) / "model"
    p = argparse.ArgumentParser(description="Train a tiny causal LM on the CPU.")
    p.add_argument("--corpus", type=Path, default=corpus, help="training text (UTF-8)")
    p.add_argument("--output", type=Path, default=output, help="where the model is saved")
    p.add_argument("--vocab-size", type=int, default=1024, help="BPE vocabulary size")
    p.add_argument("--n-embd", type=int, default=128, help="hidden size")
    p.add_argument("--n-layer", type=int, default=4, help="transformer blocks")
    p.add_argument("--n-head", type=int, default=4, help="attention heads")
    p.add_argument("--block-size", type=int, default=128, help="context length in tokens")
    p.add_argument("--batch-size", type=int, default=16, help="windows per step")
    p.add_argument("--steps", type=int, default=500, help="optimizer steps")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    p.add_argument("--warmup", type=int, default=50, help="linear warm-up steps")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout everywhere")
    p.add_argument("--val-fraction", type=float, default=0.05, help="tail of corpus held out")
    p.add_argument("--eval-every", type=int, default=100, help="steps between validations")
    p.add_argument("--save-every", type=int, default=200, help="steps between checkpoints")
    p.add_argument(
        "--deadline-margin",
        type=float,
        default=30.0,
        help="stop and save this many seconds before $DEADLINE",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (0: every CPU allowed); a model this small gains little from more, "
        "and on a busy machine extra threads make each step many times slower",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed")
    return p.parse_args()


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a container's CPU quota."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = count or 1
    try:  # cgroup v2: "<quota> <period>", or "max <period>" when unlimited
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return count


def train_tokenizer(text: str, vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``text``: every byte sequence round-trips."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(text.split("\n\n"), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=EOS
    )


def save(model: GPT2LMHeadModel, tokenizer: PreTrainedTokenizerFast, out: Path) -> None:
    """Write model and tokenizer in Hugging Face layout (via a temporary folder, then rename)."""
    tmp, old = out.with_name(out.name + ".partial"), out.with_name(out.name + ".old")
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


@torch.no_grad()
def bits_per_byte(model: GPT2LMHeadModel, ids: torch.Tensor, n_bytes: int, block: int) -> float:
    """Bits per byte of ``ids``, from non-overlapping windows (a quick, pessimistic estimate)."""
    model.eval()
    nll = 0.0
    for start in range(0, ids.numel() - 1, block):
        chunk = ids[start : start + block + 1].unsqueeze(0)
        if chunk.size(1) < 2:
            break
        logits = model(chunk[:, :-1]).logits
        nll += float(
            torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), chunk[:, 1:].reshape(-1), reduction="sum"
            )
        )
    model.train()
    return nll / math.log(2) / n_bytes


def main() -> None:
    """Tokenize, train, validate, save."""
    args = parse_args()
    torch.manual_seed(args.seed)
    # Never more threads than the CPUs a container may use: that makes every step far slower.
    torch.set_num_threads(min(args.threads or available_cpus(), available_cpus()))
    deadline = float(os.environ["DEADLINE"]) if os.environ.get("DEADLINE") else None
    started = time.time()

    text = args.corpus.read_text(encoding="utf-8")
    split = int(len(text) * (1 - args.val_fraction))
    split = text.rfind("\n\n", 0, split) + 2 if "\n\n" in text[:split] else split
    train_text, val_text = text[:split], text[split:]
    tokenizer = train_tokenizer(train_text, args.vocab_size)
    train_ids = torch.tensor(tokenizer(train_text)["input_ids"], dtype=torch.long)
    val_ids = torch.tensor(tokenizer(val_text)["input_ids"], dtype=torch.long)
    print(
        f"corpus {args.corpus}: {len(train_ids):,} train / {len(val_ids):,} val tokens, "
        f"vocab {len(tokenizer)}",
        flush=True,
    )

    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=args.block_size,
        n_embd=args.n_embd,
        n_layer=args.n_layer,
        n_head=args.n_head,
        resid_pdrop=args.dropout,
        embd_pdrop=args.dropout,
        attn_pdrop=args.dropout,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    print(f"model: {model.num_parameters():,} parameters", flush=True)

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.lr, weight_decay=0.1, betas=(0.9, 0.95)
    )

    def lr_at(step: int) -> float:
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        progress = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    gen = torch.Generator().manual_seed(args.seed)
    val_bytes = len(val_text.encode("utf-8"))
    model.train()
    step_times: list[float] = []
    for step in range(args.steps):
        t0 = time.time()
        if deadline is not None:
            per_step = sum(step_times[-20:]) / max(1, len(step_times[-20:]))
            if time.time() + per_step + args.deadline_margin >= deadline:
                print(f"step {step}: close to the deadline, stopping", flush=True)
                break
        starts = torch.randint(
            0, len(train_ids) - args.block_size, (args.batch_size,), generator=gen
        )
        batch = torch.stack([train_ids[s : s + args.block_size] for s in starts.tolist()])
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        loss = model(batch, labels=batch).loss  # the model shifts the labels itself
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step_times.append(time.time() - t0)
        if step % 20 == 0 or step == args.steps - 1:
            print(
                f"step {step:5d}  loss {loss.item():.3f}  lr {lr_at(step):.2e}  "
                f"{time.time() - started:6.1f}s",
                flush=True,
            )
        if args.eval_every and (step + 1) % args.eval_every == 0:
            bpb = bits_per_byte(model, val_ids, val_bytes, args.block_size)
            print(f"step {step:5d}  validation {bpb:.4f} bits/byte", flush=True)
        if args.save_every and (step + 1) % args.save_every == 0:
            save(model, tokenizer, args.output)

    bpb = bits_per_byte(model, val_ids, val_bytes, args.block_size)
    save(model, tokenizer, args.output)
    print(
        f"final validation {bpb:.4f} bits/byte; saved to {args.output} "
        f"after {time.time() - started:.0f}s",
        flush=True,
    )


if __name__ == "__main__":
    main()
