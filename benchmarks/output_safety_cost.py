"""Measure what making an output folder safe costs the end of a run.

    .venv/bin/python benchmarks/output_safety_cost.py [--folders 100] [--files 100]

Builds ``folders x files`` one-byte files owned by another user (uid 1000 when run as root, so
every entry is handed over, as after a root agent), then times ``make_output_safe`` twice: the
first pass changes every owner, the second finds nothing to change.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    """Build the folder, time the two passes, print JSON."""
    from agent_harness.output_safety import make_output_safe

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folders", type=int, default=100)
    parser.add_argument("--files", type=int, default=100)
    args = parser.parse_args()
    root = os.geteuid() == 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "output"
        for i in range(args.folders):
            sub = out / f"d{i}"
            sub.mkdir(parents=True)
            for j in range(args.files):
                path = sub / f"f{j}"
                path.write_bytes(b"x")
                if root:
                    os.chown(path, 1000, 1000)
        owner = (os.getuid(), os.getgid())
        began = time.perf_counter()
        first = make_output_safe(out, owner)
        first_s = time.perf_counter() - began
        began = time.perf_counter()
        make_output_safe(out, owner)
        second_s = time.perf_counter() - began
    print(
        json.dumps(
            {
                "entries": args.folders * (args.files + 1),
                "first_pass_s": round(first_s, 3),
                "owners_changed": first.owners_changed,
                "second_pass_s": round(second_s, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
