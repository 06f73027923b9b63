"""Measure the image builds of scripts/build_images.py: cold, with its cache, and warm.

    .venv/bin/python benchmarks/image_build.py [--out image_build.json]

Three builds of both images under the tag ``bench``, each timed end to end, with the step times
and image sizes the build script reports:

1. cold: an empty cache folder, no base image in the engine and no layer cache (debootstrap,
   wheelhouse, builds);
2. cached: the cache folder of (1), but again no base image and no layer cache (what CI sees
   with a kept cache folder and a fresh engine: import the base, install the wheels);
3. warm: everything kept (a developer's rebuild after a code change: project wheels only).

The pip download cache of the machine is not cleared, so "cold" downloads nothing it has
downloaded before. Needs root, debootstrap and a Docker engine. Removes what it built, and its
cache folder, at the end.

The figures measured so far are in docs/images.md ("Build times and sizes").
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from build_images import base_key  # noqa: E402  (a script folder, not a package)

TAG = "bench"


def build(cache: Path, *, prune: bool, fresh_engine: bool) -> dict[str, Any]:
    """One run of the build script; its JSON summary plus the wall time."""
    started = time.monotonic()
    done = subprocess.run(
        [
            *(sys.executable, str(REPO / "scripts/build_images.py"), "--tag", TAG),
            *("--cache-dir", str(cache), *(["--prune-stages"] if prune else [])),
            *(["--no-cache"] if fresh_engine else []),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"build failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads(done.stdout)
    summary["wall_s"] = round(time.monotonic() - started, 1)
    # the next build moves the tag: keep the ids to remove this build's images at the end
    summary["image_ids"] = [
        subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Id}}", built["image"]],
            capture_output=True,
            text=True,
        ).stdout.strip()
        for built in summary["images"].values()
    ]
    return summary


def remove(*names: str) -> None:
    """Remove images from the engine (absent ones are fine)."""
    subprocess.run(["docker", "rmi", "-f", *names], capture_output=True)


def main() -> int:
    """Run the three builds; print (and optionally save) their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    images = (f"mlrb/agent-eval:{TAG}", f"mlrb/reference-agent:{TAG}")
    cache = Path(tempfile.mkdtemp(prefix="mlrb-image-bench-"))
    figures: dict[str, Any] = {}
    stages: list[str] = []
    try:
        # cold and cached play a fresh engine: no base image, no layer cache
        base = f"mlrb/base-python:{base_key()}"
        remove(*images, base, "mlrb/base-python:local")
        figures["cold"] = build(cache, prune=True, fresh_engine=True)
        remove(*images, base, "mlrb/base-python:local")
        figures["cached"] = cached = build(cache, prune=False, fresh_engine=True)
        stages.append(cached["build_id"])
        figures["warm"] = warm = build(cache, prune=False, fresh_engine=False)
        stages.append(warm["build_id"])
    finally:
        remove(*images)
        for done in figures.values():
            remove(*(i for i in done["image_ids"] if i))
        for build_id in stages:  # the layer cache the warm build used
            found = subprocess.run(
                ["docker", "images", "-q", "--filter", f"label=mlrb.build={build_id}"],
                capture_output=True,
                text=True,
            ).stdout.split()
            remove(*dict.fromkeys(found))
        shutil.rmtree(cache, ignore_errors=True)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
