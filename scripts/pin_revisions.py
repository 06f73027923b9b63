"""Pin every Hub dataset the task catalogue reads to the commit the Hub serves now.

Run on a machine that reaches the Hub (or a mirror named by HF_ENDPOINT):

    .venv/bin/python scripts/pin_revisions.py            # writes the catalogue's revisions.json
    .venv/bin/python scripts/pin_revisions.py --check    # exit 1 while any dataset is unpinned

It asks the Hub for the current commit of each dataset id the specs name that is not pinned
yet (``DatasetSpec.revision`` None; the evaluator's own sets are pinned in
``agent_eval.provenance``), and writes ``agent_tasks/catalogue/revisions.json``. Review the
diff like code: from then on prefetch downloads exactly those commits, and results carry them.
Without network it ends within seconds with exit 3.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "agent_tasks" / "src" / "agent_tasks" / "catalogue" / "revisions.json"


def hub_datasets() -> dict[str, str | None]:
    """Every Hub dataset id the catalogue's specs read -> its pinned commit (None: unpinned)."""
    from agent_tasks.registry import list_tasks

    found: dict[str, str | None] = {}
    for spec in list_tasks():
        for dataset in (*spec.datasets, *spec.evaluation.datasets):
            if "/" not in dataset.id or ":" in dataset.id:
                continue  # bundled data, or not a Hub id
            if dataset.revision is not None or dataset.id not in found:
                found[dataset.id] = dataset.revision
    return dict(sorted(found.items()))


def evaluated_datasets() -> set[str]:
    """Ids of the datasets the evaluator reads (those that matter most)."""
    from agent_tasks.registry import list_tasks

    return {d.id for spec in list_tasks() for d in spec.evaluation.datasets}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="file to write")
    parser.add_argument(
        "--check", action="store_true", help="only report; exit 1 while a dataset is unpinned"
    )
    parser.add_argument(
        "--evaluated-only",
        action="store_true",
        help="pin only the datasets the evaluator reads (not the agents' training data)",
    )
    args = parser.parse_args(argv)

    datasets = hub_datasets()
    if args.evaluated_only:
        evaluated = evaluated_datasets()
        datasets = {d: r for d, r in datasets.items() if d in evaluated}
    unpinned = [d for d, r in datasets.items() if r is None]
    if args.check:
        for dataset, revision in datasets.items():
            print(f"{dataset:60} {revision or 'NOT PINNED'}")
        return 1 if unpinned else 0
    if not unpinned:
        print("every Hub dataset of the catalogue is pinned")
        return 0

    from agent_contracts.errors import MLRBError
    from agent_eval.datasets import online
    from agent_eval.prefetch import check_hub_reachable

    try:
        check_hub_reachable()
    except MLRBError as exc:
        print(f"error: {exc.message}\nhint: {exc.hint}", file=sys.stderr)
        return int(exc.exit_code)
    current = json.loads(args.output.read_text(encoding="utf-8")) if args.output.is_file() else {}
    pins: dict[str, str] = dict(current.get("revisions", {}))
    with online():
        from huggingface_hub import HfApi  # reads the offline switches when first imported

        api = HfApi()
        for dataset in unpinned:
            try:
                sha = api.dataset_info(dataset).sha
            except Exception as exc:  # the Hub's errors are many: name the dataset, go on
                print(f"error: {dataset}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            if not sha:
                print(f"error: {dataset}: the Hub gave no commit", file=sys.stderr)
                continue
            pins[dataset] = sha
            print(f"{dataset:60} {sha}")
    document = {
        "about": current.get("about", "Hub dataset id -> the commit the catalogue's specs read."),
        "revisions": dict(sorted(pins.items())),
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    missing = [d for d in unpinned if d not in pins]
    print(f"wrote {args.output}: {len(pins)} pinned, {len(missing)} still unpinned")
    return 0 if not missing else 3


if __name__ == "__main__":
    raise SystemExit(main())
