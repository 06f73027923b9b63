"""What the evaluator's trust-boundary checks cost, and how fast a hostile deliverable is refused.

Measures, on this machine:

- ``check_tree`` over a folder of N small files (metadata only: its cost grows with the number
  of entries, not their size) and the content hash over the same folder (which reads every
  byte); a model folder has a few dozen files, so there the check is milliseconds;
- ``check_tree`` refusing a sparse file that announces 1 TiB (nothing is read);
- the real ``agent-eval`` ending on a FIFO named ``config.json`` (wall time of the command,
  interpreter start included), the attack that used to hang it forever.

Usage: python benchmarks/deliverable_check.py [--files 10000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    """Run the measurements and print them (optionally as JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from agent_eval.deliverable_check import DeliverableRefusedError, check_tree
    from agent_eval.loading import content_hash

    figures: dict[str, Any] = {"files": args.files}
    with tempfile.TemporaryDirectory(prefix="mlrb-check-bench-") as tmp:
        root = Path(tmp)
        folder = root / "many"
        for i in range(args.files):
            sub = folder / f"d{i // 1000:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"f{i:06d}.bin").write_bytes(os.urandom(4096))
        tree, figures["check_s"] = _timed(lambda: check_tree(folder))
        _, figures["hash_s"] = _timed(lambda: content_hash(folder, tree))
        figures["bytes"] = tree.total_bytes

        sparse = root / "sparse"
        sparse.mkdir()
        with (sparse / "model.safetensors").open("wb") as fh:
            fh.truncate(1 << 40)
        start = time.perf_counter()
        try:
            check_tree(sparse)
        except DeliverableRefusedError:
            figures["sparse_1tib_refused_s"] = time.perf_counter() - start

        fifo = root / "fifo"
        fifo.mkdir()
        (fifo / "model.safetensors").write_bytes(b"")
        os.mkfifo(fifo / "config.json")
        script = BIN / "agent-eval"
        cmd = [str(script)] if script.exists() else [sys.executable, "-m", "agent_eval"]
        start = time.perf_counter()
        proc = subprocess.run(
            [*cmd, "--model_args", str(fifo), "--task", "tiny_lm", "--no-db", "--device", "cpu",
             "--results-dir", str(root / "results")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        figures["fifo_cli_s"] = time.perf_counter() - start
        figures["fifo_cli_exit"] = proc.returncode
        start = time.perf_counter()
        subprocess.run([*cmd, "--help"], capture_output=True, timeout=120)
        figures["cli_help_s"] = time.perf_counter() - start

    check, hashing = figures["check_s"], figures["hash_s"]
    sparse_s = figures.get("sparse_1tib_refused_s", float("nan"))
    print(f"check_tree over {args.files:,} files ({figures['bytes']:,} bytes): {check:.3f} s")
    print(f"content hash of the same folder: {hashing:.3f} s")
    print(f"sparse 1 TiB file refused in {sparse_s:.4f} s")
    print(
        f"agent-eval on a FIFO config.json: exit {figures['fifo_cli_exit']} after "
        f"{figures['fifo_cli_s']:.2f} s (agent-eval --help alone: {figures['cli_help_s']:.2f} s)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
