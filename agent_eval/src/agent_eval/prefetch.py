"""Downloading the evaluation data of tasks into the data folder, for offline evaluation.

What to fetch is declared by the metrics themselves (``@metric(..., data=...)``), so adding a
metric never means editing this module. The only module that goes online; everything else
reads the data folder (:mod:`agent_eval.datasets`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from agent_eval.datasets import (
    DATA_DIR_ENV,
    MMLU_SUBJECTS,
    SUPERGLUE_CONFIGS,
    DataNeed,
    hf_manifest_key,
    hf_split_path,
    online,
    record_fetched,
    write_jsonl,
)
from agent_eval.lm_eval_tasks import blimp_phenomena


def needs(spec: Any) -> list[DataNeed]:
    """What a task spec's metrics read from the data folder, each once, as they declare it."""
    from agent_eval.metrics.registry import available

    registered = available()
    wanted: list[DataNeed] = []
    for mspec in spec.metrics:
        metric = registered.get(mspec.name)
        if metric is None or metric.data is None:
            continue
        for item in metric.data(spec, mspec):
            if item not in wanted:
                wanted.append(item)
    return wanted


def _plain_rows(ds: Any) -> Iterator[dict[str, Any]]:
    """Rows of a ``datasets`` split without image or audio columns (labels only)."""
    from datasets import Audio, Image

    keep = [n for n, f in ds.features.items() if not isinstance(f, Image | Audio)]
    for row in ds.select_columns(keep):
        yield dict(row)


def hub_commit(dataset_id: str, revision: str | None) -> str | None:
    """The commit a Hub dataset's revision (default: its main branch) resolves to, if known."""
    try:
        from huggingface_hub import HfApi

        sha = HfApi().dataset_info(dataset_id, revision=revision).sha
    except Exception:  # best effort: any failure leaves the commit unrecorded
        return revision
    return str(sha) if sha else revision


def _source(kind: str) -> Any:
    from agent_eval.provenance import BUILTIN_SOURCES

    return BUILTIN_SOURCES[kind]


def fetch_wikitext2(root: Path) -> None:
    """wikitext-2-raw-v1 test, joined with blank lines as is customary for perplexity."""
    from datasets import load_dataset

    src = _source("wikitext2")
    ds = load_dataset(src.id, src.config, split="test", revision=src.revision)
    path = root / "wikitext2" / "test.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(ds["text"]), encoding="utf-8")
    record_fetched(
        root,
        "wikitext2",
        {
            "source": "wikitext/wikitext-2-raw-v1",
            "split": "test",
            "rows": len(ds),
            "revision": hub_commit(src.id, src.revision),
        },
    )


def fetch_mmlu(root: Path, subjects: Iterable[str] = MMLU_SUBJECTS) -> None:
    """cais/mmlu, one folder per subject with its dev (few-shot) and test splits."""
    from datasets import load_dataset

    src = _source("mmlu")
    counts = {}
    for subject in subjects:
        for split in ("dev", "test"):
            ds = load_dataset(src.id, subject, split=split, revision=src.revision)
            counts[f"{subject}/{split}"] = write_jsonl(
                root / "mmlu" / subject / f"{split}.jsonl", _plain_rows(ds)
            )
    revision = hub_commit(src.id, src.revision)
    record_fetched(root, "mmlu", {"source": src.id, "rows": counts, "revision": revision})


def fetch_blimp(root: Path) -> None:
    """nyu-mll/blimp, one file per phenomenon (lm-eval's configurations)."""
    from datasets import load_dataset

    src = _source("blimp")
    counts = {}
    for name in blimp_phenomena():
        ds = load_dataset(src.id, name, split="train", revision=src.revision)
        counts[name] = write_jsonl(root / "blimp" / f"{name}.jsonl", _plain_rows(ds))
    revision = hub_commit(src.id, src.revision)
    record_fetched(root, "blimp", {"source": src.id, "rows": counts, "revision": revision})


def fetch_superglue(root: Path) -> None:
    """aps/super_glue train (few-shot) and validation (scored) splits of lm-eval's tasks."""
    from datasets import load_dataset

    src = _source("superglue")
    counts = {}
    for config in SUPERGLUE_CONFIGS:
        for split in ("train", "validation"):
            ds = load_dataset(src.id, config, split=split, revision=src.revision)
            counts[f"{config}/{split}"] = write_jsonl(
                root / "superglue" / config / f"{split}.jsonl", _plain_rows(ds)
            )
    revision = hub_commit(src.id, src.revision)
    record_fetched(root, "superglue", {"source": src.id, "rows": counts, "revision": revision})


def fetch_hf_split(
    root: Path, dataset_id: str, config: str | None, split: str, revision: str | None = None
) -> None:
    """One split of any Hub dataset (image and audio columns dropped), at ``revision``."""
    from datasets import load_dataset

    ds = load_dataset(dataset_id, config, split=split, revision=revision)
    count = write_jsonl(hf_split_path(root, dataset_id, config, split), _plain_rows(ds))
    record_fetched(
        root,
        hf_manifest_key(dataset_id, config, split),
        {
            "source": dataset_id,
            "config": config,
            "split": split,
            "rows": count,
            "revision": hub_commit(dataset_id, revision),
        },
    )


HUB_PROBE_TIMEOUT_S = 3.0
"""How long ``prefetch`` waits for the Hub to answer a connection before giving up."""


def hub_endpoint() -> str:
    """The Hugging Face Hub address the libraries use (``HF_ENDPOINT`` or the default)."""
    return os.environ.get("HF_ENDPOINT") or "https://huggingface.co"


def check_hub_reachable(timeout_s: float = HUB_PROBE_TIMEOUT_S) -> None:
    """Fail fast (exit 3) when no connection to the Hub opens within ``timeout_s``.

    Without this, ``datasets`` retries for half a minute before a traceback. Name resolution
    has no timeout of its own, so the whole probe runs in a thread that is waited for.
    """
    import socket
    import threading
    from urllib.parse import urlsplit

    from agent_eval.errors import HubUnreachableError

    url = urlsplit(hub_endpoint())
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    failure: list[str] = ["no answer within the timeout"]

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                failure.clear()
        except OSError as exc:
            failure[0] = f"{type(exc).__name__}: {exc.strerror or exc}"

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if failure:
        raise HubUnreachableError(
            f"the Hugging Face Hub at {host}:{port} cannot be reached ({failure[0]}); "
            "prefetch downloads the evaluation data and needs the network",
            hint="run 'agent-eval prefetch' on a machine with network access (or set "
            "HF_ENDPOINT to a reachable mirror), then copy the data folder "
            f"(set {DATA_DIR_ENV}) to this one",
        )


def prefetch(tasks: list[str] | None, root: Path, *, log: Any = print) -> list[str]:
    """Download and lay out the evaluation data of these tasks (all tasks when None)."""
    from agent_eval.errors import HubUnreachableError
    from agent_tasks.registry import get_task, list_tasks

    specs = [get_task(t) for t in tasks] if tasks else list_tasks()
    wanted = [(spec, kind, details) for spec in specs for kind, details in needs(spec)]
    done: list[str] = []
    if not wanted:
        return done
    check_hub_reachable()
    with online():
        for spec, kind, details in wanted:
            key = f"{kind}:{details['id']}:{details['split']}" if kind == "hf" else kind
            if key in done:
                continue
            log(f"fetching {key} for {spec.name}")
            try:
                if kind == "wikitext2":
                    fetch_wikitext2(root)
                elif kind == "mmlu":
                    fetch_mmlu(root)
                elif kind == "blimp":
                    fetch_blimp(root)
                elif kind == "superglue":
                    fetch_superglue(root)
                else:
                    fetch_hf_split(
                        root,
                        details["id"],
                        details["config"],
                        details["split"],
                        details["revision"],
                    )
            except (ConnectionError, TimeoutError) as exc:  # the network went away midway
                raise HubUnreachableError(
                    f"fetching {key} failed: {type(exc).__name__}: {exc}",
                    hint="check the network and run the same prefetch again (finished "
                    "datasets are kept)",
                ) from None
            done.append(key)
    return done
