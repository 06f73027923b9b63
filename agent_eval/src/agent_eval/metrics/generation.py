"""BLEU and ROUGE-L of greedy generations against reference texts (math_reasoning).

Rows come from the task's hidden held-out split in the data folder. Each row's prompt is
``prompt_template`` filled with the row's columns (default: informal statement and proof, asking
for the Lean 3 formal statement and proof); the reference is ``target_column`` (``formal_proof``).
Generation is greedy, at most ``max_new_tokens`` new tokens; only the new tokens are decoded.
For a decoder-only model, prompt and new tokens must fit its context together: the new tokens
are capped and the prompt is cut from the left (:func:`generation_budget`); how many were is in
the value's details. Every generation is saved beside the results file for audit.
BLEU: sacrebleu corpus BLEU (0-100). ROUGE-L: mean F1 of rouge_score's ``rougeL`` (0-1).
"""

from __future__ import annotations

from typing import Any

from agent_contracts.results import MetricValue
from agent_eval.datasets import hf_split_path, hidden_split_need, missing, read_jsonl
from agent_eval.errors import MetricError
from agent_eval.metrics.registry import MetricContext, metric, param, value
from agent_tasks.spec import MetricSpec

DEFAULT_TEMPLATE = (
    "Natural language statement:\n{informal_statement}\n\n"
    "Natural language proof:\n{informal_proof}\n\n"
    "Lean 3 formal statement and proof:\n"
)


def held_out_rows(ctx: MetricContext, mspec: MetricSpec) -> tuple[list[dict[str, Any]], str]:
    """The hidden rows named by the metric's dataset and split (or the spec's hidden set)."""
    named = param(mspec, "dataset", None)
    hidden = [d for d in ctx.spec.evaluation.datasets if named is None or d.id == named]
    dataset_id = str(named) if named else (hidden[0].id if hidden else None)
    if dataset_id is None:
        raise MetricError(f"{mspec.name}: the task names no held-out dataset")
    config = hidden[0].config if hidden else None
    split = str(param(mspec, "split", next(iter(hidden[0].splits), "test") if hidden else "test"))
    path = hf_split_path(ctx.data_dir, dataset_id, config, split)
    if not path.is_file():
        raise missing(f"{dataset_id} ({split})", path, ctx.spec.name)
    rows = read_jsonl(path)
    if ctx.limit is not None:
        rows = rows[: ctx.limit]
    if not rows:
        raise MetricError(f"held-out data {str(path)!r} has no rows")
    from agent_eval.datasets import hf_manifest_key
    from agent_eval.provenance import record_use
    from agent_tasks.spec import DatasetSpec

    source = hidden[0] if hidden else DatasetSpec(id=dataset_id)
    record_use(
        ctx,
        source=source,
        split=split,
        files=[path],
        examples=len(rows),
        full_examples=source.splits.get(split),
        used_by=mspec.name,
        manifest_key=hf_manifest_key(dataset_id, config, split),
    )
    return rows, f"{dataset_id}:{split}"


def generation_budget(context: int | None, prompt_tokens: int, max_new: int) -> tuple[int, int]:
    """(prompt tokens kept, new tokens) so that the two fit the model's context together.

    A prompt that fits with ``max_new`` new tokens is kept whole. Otherwise the new tokens are
    capped at what the prompt leaves, but never below half the context (when that many were
    asked for), and the prompt is cut from the left to the rest: the end of a prompt (the
    instruction) matters more than its start. ``context`` None: no limit known, nothing cut.
    """
    if context is None or prompt_tokens + max_new <= context:
        return prompt_tokens, max_new
    new = max(1, min(max_new, max(context - prompt_tokens, context // 2)))
    return min(prompt_tokens, context - new), new


def generations(
    ctx: MetricContext, mspec: MetricSpec
) -> tuple[list[str], list[str], dict[str, Any]]:
    """(hypotheses, references, facts), generated once per evaluation and shared.

    Every generation (prompt, reference, hypothesis, token counts) is also kept in
    ``ctx.artifacts["generations"]``; the evaluation saves them beside the results file.
    """
    import torch

    from agent_eval.metrics.likelihood import model_context

    loaded = ctx.model()
    tokenizer = loaded.need_tokenizer(mspec.name)
    template = str(param(mspec, "prompt_template", DEFAULT_TEMPLATE))
    target = str(param(mspec, "target_column", "formal_proof"))
    max_new = int(param(mspec, "max_new_tokens", 256))
    rows, source = held_out_rows(ctx, mspec)
    key = f"generations:{source}:{template}:{target}:{max_new}:{ctx.limit}"
    if key in ctx.cache:
        cached: tuple[list[str], list[str], dict[str, Any]] = ctx.cache[key]
        return cached
    hyps: list[str] = []
    refs: list[str] = []
    audit: list[dict[str, Any]] = []
    # Decoder-only models see prompt and new tokens in one position table; an encoder-decoder
    # reads the prompt in its encoder and is only limited by its decoder's own positions.
    context = None if loaded.is_seq2seq else model_context(loaded.model)
    truncated = capped = 0
    for index, row in enumerate(rows):
        try:
            prompt = template.format(**row)
        except KeyError as exc:
            raise MetricError(f"held-out row lacks column {exc} used by the prompt") from None
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=True)["input_ids"]
        keep, new_tokens = generation_budget(context, int(ids.shape[1]), max_new)
        truncated += int(keep < ids.shape[1])
        capped += int(new_tokens < max_new)
        ids = ids[:, ids.shape[1] - keep :].to(loaded.device)
        with torch.inference_mode():
            out = loaded.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                num_beams=1,
                max_new_tokens=new_tokens,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = out[0] if loaded.is_seq2seq else out[0, ids.shape[1] :]
        hyps.append(tokenizer.decode(new, skip_special_tokens=True).strip())
        refs.append(str(row.get(target, "")))
        audit.append(
            {
                "index": index,
                "prompt": prompt,
                "prompt_tokens_kept": keep,
                "max_new_tokens": new_tokens,
                "generated_tokens": int(new.shape[0]),
                "hypothesis": hyps[-1],
                "reference": refs[-1],
            }
        )
    facts = {
        "dataset": source,
        "rows": len(rows),
        "max_new_tokens": max_new,
        "decoding": "greedy",
        "context_tokens": context,
        "prompts_truncated": truncated,
        "new_tokens_capped": capped,
        "generations_file": "<results file stem>.generations.jsonl",
    }
    ctx.artifacts["generations"] = audit
    ctx.cache[key] = (hyps, refs, facts)
    return hyps, refs, facts


def corpus_bleu(hyps: list[str], refs: list[str]) -> float:
    """sacrebleu corpus BLEU (0-100) with its default 13a tokenisation."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(hyps, [refs]).score)


def rouge_l(hyps: list[str], refs: list[str]) -> tuple[float, float]:
    """(mean, standard error) of ROUGE-L F1 over the pairs."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs, strict=True)]
    mean = sum(scores) / len(scores)
    if len(scores) < 2:
        return mean, 0.0
    var = sum((s - mean) ** 2 for s in scores) / (len(scores) - 1)
    return mean, (var / len(scores)) ** 0.5


@metric("bleu", needs="tokenizer", data=hidden_split_need)
def bleu(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """Corpus BLEU (0-100) of greedy generations against the held-out references."""
    hyps, refs, facts = generations(ctx, mspec)
    return [value(mspec, "bleu", corpus_bleu(hyps, refs), unit="BLEU", direction="higher", **facts)]


@metric("rouge_l", needs="tokenizer", data=hidden_split_need)
def rouge_l_metric(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """Mean ROUGE-L F1 (0-1) of greedy generations against the held-out references."""
    hyps, refs, facts = generations(ctx, mspec)
    mean, err = rouge_l(hyps, refs)
    return [value(mspec, "rouge_l", mean, unit="F1", direction="higher", stderr=err, **facts)]
