"""Completeness beyond row counts, and caches keyed by content.

The bundled sets ship with their hashes: an altered set is never the full set, whatever its
size. The ``datasets`` cache of the lm-eval data is keyed by content: rows changed in place
with the same size and modification time are scored as they are now.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import agent_eval
from agent_eval.datasets import bundled_dir
from agent_eval.provenance import EXPECTED_FILE, bundled_sha256

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_the_shipped_hashes_are_those_of_the_bundled_sets() -> None:
    """Every bundled set has a shipped hash, and it is the hash of the files as released."""
    expected = json.loads((bundled_dir() / EXPECTED_FILE).read_text("utf-8"))
    folders = sorted(p.name for p in bundled_dir().iterdir() if p.is_dir())
    assert sorted(expected) == folders
    for name in folders:
        files = [f for f in (bundled_dir() / name).rglob("*") if f.is_file()]
        assert expected[name]["sha256"] == bundled_sha256(bundled_dir() / name), name
        assert expected[name]["files"] == len(files)
        assert expected[name]["bytes"] == sum(f.stat().st_size for f in files)


def test_an_altered_bundled_set_of_the_same_size_is_flagged_and_not_ranked(
    run_cli: Run, cli_env: dict[str, str], tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    """An evaluator whose bundled held-out text was edited in place (same size, no manifest):
    the result says the data is not the shipped set, data_subset, not ranked."""
    site = tmp_path / "site"
    shutil.copytree(Path(agent_eval.__file__).parent, site / "agent_eval")
    text = site / "agent_eval" / "resources" / "bundled" / "tiny_lm_heldout" / "heldout.txt"
    body = text.read_bytes()
    text.write_bytes(body[:100] + (b"X" if body[100:101] != b"X" else b"Y") + body[101:])
    assert text.stat().st_size == len(body)
    results = tmp_path / "results"
    env = {"PYTHONPATH": os.pathsep.join([str(site), cli_env["PYTHONPATH"]])}
    proc = run_cli(
        "--model_args", str(tiny_gpt2_dir), "--task", "tiny_lm", "--no-db", "--device", "cpu",
        "--results-dir", str(results), env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (saved,) = results.glob("*.json")
    data = json.loads(saved.read_text("utf-8"))
    (used,) = data["datasets"]
    assert used["id"] == "bundled:tiny_lm_heldout"
    assert used["complete"] is False and data["data_subset"] is True
    assert "differs from the one shipped" in used["details"]["content_mismatch"]
    assert "not ranked: data_subset" in " ".join(proc.stdout.split())

    # The same evaluation on the evaluator as released: the full set, ranked.
    clean = run_cli(
        "--model_args", str(tiny_gpt2_dir), "--task", "tiny_lm", "--no-db", "--device", "cpu",
        "--json", "--results-dir", str(tmp_path / "clean"),
    )  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    shipped = json.loads(clean.stdout)
    assert shipped["datasets"][0]["complete"] is True and shipped["data_subset"] is False


def _boolq(data: dict[str, Any]) -> float:
    return float(next(m["value"] for m in data["metrics"] if m["name"] == "superglue_boolq"))


def test_boolq_labels_changed_in_place_are_scored_not_the_stale_cache(
    run_cli: Run, tiny_gpt2_dir: Path, eval_data_dir: Path, tmp_path: Path
) -> None:
    """Labels flipped in place, same size and modification time, the HF datasets cache kept:
    the second evaluation scores the new labels (every answer that was right is now wrong)."""
    data_dir = tmp_path / "data"
    shutil.copytree(eval_data_dir, data_dir)
    cache = {"HF_DATASETS_CACHE": str(tmp_path / "hf-datasets-cache")}

    def evaluate(results: Path) -> dict[str, Any]:
        proc = run_cli(
            "--model_args", str(tiny_gpt2_dir), "--task", "mini_pile", "--metrics", "superglue",
            "--data-dir", str(data_dir), "--no-db", "--device", "cpu", "--json",
            "--results-dir", str(results), env=cache,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        out: dict[str, Any] = json.loads(proc.stdout)
        return out

    before = _boolq(evaluate(tmp_path / "r1"))
    boolq = data_dir / "superglue" / "boolq" / "validation.jsonl"
    stat = boolq.stat()
    rows = [json.loads(line) for line in boolq.read_text("utf-8").splitlines() if line.strip()]
    flipped = "".join(json.dumps({**r, "label": 1 - int(r["label"])}) + "\n" for r in rows)
    assert len(flipped.encode()) == stat.st_size  # same size ...
    boolq.write_text(flipped, "utf-8")
    os.utime(boolq, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... and modification time
    assert boolq.stat().st_mtime_ns == stat.st_mtime_ns
    assert any((tmp_path / "hf-datasets-cache").iterdir())  # the first run's cache is kept
    after = _boolq(evaluate(tmp_path / "r2"))
    assert after == pytest.approx(1 - before), (before, after)
