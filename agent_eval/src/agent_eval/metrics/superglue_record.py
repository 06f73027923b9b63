"""ReCoRD for lm-eval without ``transformers.data.metrics`` (removed in transformers 5).

lm-eval 0.4.13's ``super_glue/record/util.py`` imports ``transformers.data.metrics.squad_metrics``
at module level, so its ReCoRD task cannot even be read beside transformers 5. This module holds
the same task functions (prompt, choices, target, per-document scoring: lm-eval's code, unchanged
in behaviour) with SQuAD's answer normalisation, exact match and token F1 written out here, as
the official SQuAD v1.1 script defines them. The generated ReCoRD task file names these
functions in place of lm-eval's ``util.*`` ones (see
:func:`agent_eval.metrics.lm_eval_adapter.superglue_suite`); every other setting is read from
lm-eval's own task file.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

FUNCTIONS = (
    "doc_to_text",
    "doc_to_target",
    "doc_to_choice",
    "process_docs",
    "process_results",
)
"""Task functions lm-eval's ReCoRD file names (``!function util.<name>``) and this module has."""

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation, the articles a/an/the and extra white space (SQuAD)."""
    lowered = text.lower()
    no_punct = "".join(ch for ch in lowered if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", no_punct).split())


def compute_exact(gold: str, prediction: str) -> int:
    """1 when the normalised answers are equal, else 0."""
    return int(normalize_answer(gold) == normalize_answer(prediction))


def compute_f1(gold: str, prediction: str) -> float:
    """Token F1 of the normalised answers (an empty side scores 1 only against empty)."""
    gold_tokens = normalize_answer(gold).split()
    pred_tokens = normalize_answer(prediction).split()
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)
    same = sum((Counter(gold_tokens) & Counter(pred_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _best(function: Any, prediction: str, golds: list[str]) -> float:
    # lm-eval's metric_max_over_ground_truths calls metric_fn(prediction, ground_truth), i.e.
    # squad's compute_*(a_gold=prediction, a_pred=gold); both metrics are symmetric.
    return float(max(function(prediction, gold) for gold in golds))


def doc_to_text(doc: dict[str, Any]) -> str:
    """The passage with its highlights as a bullet list (lm-eval's prompt)."""
    initial_text, *highlights = doc["passage"].strip().split("\n@highlight\n")
    text = initial_text + "\n\n"
    for highlight in highlights:
        text += f"  - {highlight}.\n"
    return text


def format_answer(query: str, entity: str) -> str:
    """The query with its placeholder filled by an entity, as a bullet."""
    return f"  - {query}".replace("@placeholder", entity)


def doc_to_target(doc: dict[str, Any]) -> str:
    """The first correct entity in the query (lm-eval scores only that one as the target)."""
    return format_answer(query=doc["query"], entity=doc["answers"][0])


def doc_to_choice(doc: dict[str, Any]) -> list[str]:
    """The query filled with each candidate entity."""
    return [format_answer(query=doc["query"], entity=ans) for ans in doc["entities"]]


def _process_doc(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "passage": doc["passage"],
        "query": doc["query"],
        "entities": sorted(set(doc["entities"])),
        "answers": sorted(set(doc["answers"])),
    }


def process_docs(dataset: Any) -> Any:
    """Entities and answers deduplicated and sorted (so choice order is stable)."""
    return dataset.map(_process_doc)


def process_results(doc: dict[str, Any], results: list[Any]) -> dict[str, float]:
    """The most likely entity, scored by exact match and token F1 against every answer."""
    scores = [float(result[0]) for result in results]
    prediction = doc["entities"][scores.index(max(scores))]
    return {
        "f1": _best(compute_f1, prediction, doc["answers"]),
        "em": _best(compute_exact, prediction, doc["answers"]),
    }


def chance_em(rows: list[dict[str, Any]]) -> float:
    """Expected exact match of picking one of each row's candidate entities at random."""
    if not rows:
        raise ValueError("no ReCoRD rows")
    total = 0.0
    for row in rows:
        doc = _process_doc(row)
        hits = sum(_best(compute_exact, e, doc["answers"]) for e in doc["entities"])
        total += hits / len(doc["entities"])
    return total / len(rows)
