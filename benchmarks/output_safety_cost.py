"""Measure what copying an output folder out costs the end of a run.

    .venv/bin/python benchmarks/output_safety_cost.py [--folders 100] [--files 100] [--mib 256]

Builds ``folders x files`` one-byte files plus one file of ``--mib`` MiB (and a sparse file of
1 GiB holding one byte), then times :func:`agent_harness.output_safety.copy_out` (the fresh
copy the host reads) and :func:`agent_harness.output_safety.remove_tree` (the agent's folder
removed), and a removal of a folder chain 1,100 deep.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    """Build the folder, time the copy and the removals, print JSON."""
    from agent_harness.output_safety import copy_out, remove_tree

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folders", type=int, default=100)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--mib", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        staging, output = Path(tmp) / "staging", Path(tmp) / "output"
        for i in range(args.folders):
            sub = staging / f"d{i}"
            sub.mkdir(parents=True)
            for j in range(args.files):
                (sub / f"f{j}").write_bytes(b"x")
        with (staging / "big").open("wb") as fh:
            for _ in range(args.mib):
                fh.write(os.urandom(1024**2))
        with (staging / "sparse").open("wb") as fh:
            fh.truncate(1024**3)
            fh.write(b"x")
        owner = (os.getuid(), os.getgid())
        began = time.perf_counter()
        report = copy_out(staging, output, owner)
        copy_s = time.perf_counter() - began
        began = time.perf_counter()
        remove_tree(staging)
        remove_s = time.perf_counter() - began
        deep = Path(tmp) / "deep"
        deep.mkdir()
        fd = os.open(deep, os.O_RDONLY | os.O_DIRECTORY)
        for _ in range(1100):  # relative to a descriptor: no path grows past PATH_MAX
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.close(fd)
        began = time.perf_counter()
        left = remove_tree(deep)
        deep_s = time.perf_counter() - began
    print(
        json.dumps(
            {
                "entries": args.folders * (args.files + 1) + 2,
                "data_mib": args.mib,
                "copied": report.copied,
                "bytes_copied": report.bytes,
                "copy_s": round(copy_s, 3),
                "remove_s": round(remove_s, 3),
                "remove_1100_deep_s": round(deep_s, 3),
                "deep_removed": left is None,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
