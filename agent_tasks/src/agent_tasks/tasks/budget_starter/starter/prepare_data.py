#!/usr/bin/env python3
"""Write an image dataset from Hugging Face (or local parquet files) as the folders main.py reads.

    python prepare_data.py --dataset AlgorithmicResearchGroup/budget_model_train \\
        --label_column class --out data
    python prepare_data.py --dataset AlgorithmicResearchGroup/budget_model_inference \\
        --label_column digit_sum --out data --splits train

    # offline, from parquet files with the same columns
    python prepare_data.py --parquet train=train.parquet --label_column class --out data

Each split becomes ``OUT/<split>/<label>/<image_id>.<ext>``; a split named ``test`` becomes
``OUT/test/<image_id>.<ext>`` without labels, so that the labels of a held-out split never
reach a training folder. Image bytes are written as stored (PNG, JPEG ...), without decoding.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

MAGIC = (
    (b"\x89PNG", ".png"),
    (b"\xff\xd8", ".jpg"),
    (b"P5", ".pgm"),
    (b"P6", ".ppm"),
    (b"BM", ".bmp"),
    (b"RIFF", ".webp"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="Hugging Face dataset id")
    source.add_argument(
        "--parquet", action="append", default=[], help="SPLIT=FILE.parquet (repeatable)"
    )
    p.add_argument("--splits", nargs="*", default=None, help="splits to write (default: all)")
    p.add_argument("--image_column", default="image")
    p.add_argument("--id_column", default="image_id")
    p.add_argument("--label_column", required=True, help="e.g. class or digit_sum")
    p.add_argument("--out", required=True, help="folder to write")
    return p.parse_args(argv)


def suffix_of(data: bytes) -> str:
    """File suffix matching the image bytes' signature."""
    for magic, suffix in MAGIC:
        if data.startswith(magic):
            return suffix
    return ".bin"


def load(args: argparse.Namespace) -> Any:
    """The dataset's splits, with images left as undecoded bytes."""
    from datasets import Image, load_dataset

    if args.dataset:
        splits = load_dataset(args.dataset)
    else:
        files = dict(item.split("=", 1) for item in args.parquet)
        splits = load_dataset("parquet", data_files=files)
    return {
        name: split.cast_column(args.image_column, Image(decode=False))
        for name, split in splits.items()
        if args.splits is None or name in args.splits
    }


def main(argv: list[str] | None = None) -> int:
    """Write every chosen split; return the exit status."""
    args = parse_args(argv)
    out = Path(args.out)
    for name, split in load(args).items():
        count = 0
        for row in split:
            image = row[args.image_column]
            data = image["bytes"] if image.get("bytes") else Path(image["path"]).read_bytes()
            folder = out / name if name == "test" else out / name / str(row[args.label_column])
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{row[args.id_column]}{suffix_of(data)}").write_bytes(data)
            count += 1
        print(f"{name}: {count} images written under {out / name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
