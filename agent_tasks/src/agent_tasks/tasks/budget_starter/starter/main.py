#!/usr/bin/env python3
"""A small image classifier baseline: train it, then write predictions as submission.csv.

Data layout under ``--data_dir`` (``prepare_data.py`` writes it from the Hugging Face dataset):

    train/<label>/<image_id>.<ext>     labelled training images, one folder per label
    val/<label>/<image_id>.<ext>       optional, scored after every epoch
    test/<image_id>.<ext>              images to predict (or the images directly in data_dir)

Images may be PNG or JPEG (read with Pillow when it is installed), binary PGM/PPM, or ``.npy``
arrays (H x W or H x W x C, uint8).

    python main.py --data_dir data --train --label_column class    # writes model.pt
    python main.py --data_dir data                                 # writes submission.csv

Prediction needs only ``--data_dir``: the label column name, label set and image size are
stored in the checkpoint. The CSV has the header ``image_id,<label_column>`` and one row per
image, in file-name order.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".pgm", ".ppm", ".pnm", ".npy"}
HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data_dir", required=True, help="folder with train/, val/, test/")
    p.add_argument("--train", action="store_true", help="train and save the checkpoint first")
    p.add_argument("--label_column", default="label", help="CSV column of the prediction")
    p.add_argument("--weights", default=str(HERE / "model.pt"), help="checkpoint path")
    p.add_argument("--output", default="submission.csv", help="predictions CSV path")
    p.add_argument("--image_size", type=int, default=64, help="side the images are resized to")
    p.add_argument("--width", type=int, default=32, help="channels of the first convolution")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    p.add_argument(
        "--max_minutes", type=float, default=None, help="stop training after this many minutes"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda ...")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- images


def read_netpbm(data: bytes) -> np.ndarray:
    """Decode a binary PGM (P5) or PPM (P6) file with 8-bit samples."""
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:
        while data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    magic, width, height, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    if magic not in (b"P5", b"P6") or maxval > 255:
        raise ValueError(f"unsupported netpbm image (magic {magic!r}, maxval {maxval})")
    channels = 3 if magic == b"P6" else 1
    pixels = np.frombuffer(data, dtype=np.uint8, count=width * height * channels, offset=pos + 1)
    return pixels.reshape(height, width, channels)


def read_image(path: Path) -> np.ndarray:
    """An image as an H x W x C uint8 array (C is 1 or 3)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = np.load(path)
    elif suffix in {".pgm", ".ppm", ".pnm"}:
        array = read_netpbm(path.read_bytes())
    else:
        try:
            from PIL import Image  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise SystemExit(f"error: reading {suffix} images needs Pillow: {exc}") from exc
        with Image.open(io.BytesIO(path.read_bytes())) as img:
            array = np.asarray(img.convert("L" if img.mode in ("1", "L", "I", "F") else "RGB"))
    if array.ndim == 2:
        array = array[:, :, None]
    return np.array(array[:, :, :3], dtype=np.uint8)  # a writable copy for torch


def to_tensor(array: np.ndarray, size: int) -> torch.Tensor:
    """3 x size x size float tensor in [-1, 1] (grey images are repeated over 3 channels)."""
    t = torch.from_numpy(array).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    return functional.interpolate(t[None], size=(size, size), mode="bilinear", antialias=True)[0]


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside a folder, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


class Images(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """Image files with optional integer targets, decoded lazily."""

    def __init__(self, paths: list[Path], targets: list[int], size: int, augment: bool):
        self.paths, self.targets, self.size, self.augment = paths, targets, size, augment

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = to_tensor(read_image(self.paths[i]), self.size)
        if self.augment and torch.rand(()) < 0.5:
            x = x.flip(-1)
        return x, self.targets[i] if self.targets else -1


def labelled(folder: Path) -> tuple[list[str], list[Path], list[str]]:
    """(sorted label names, image paths, label of each path) of a train/ or val/ folder."""
    labels = sorted(d.name for d in folder.iterdir() if d.is_dir())
    paths: list[Path] = []
    names: list[str] = []
    for label in labels:
        for path in list_images(folder / label):
            paths.append(path)
            names.append(label)
    return labels, paths, names


# ----------------------------------------------------------------------------- model


class SmallConvNet(nn.Module):
    """Four conv blocks, global average pooling and a linear head."""

    def __init__(self, classes: int, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(4):
            c_out = width * 2**i
            layers += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2) if i < 3 else nn.Identity(),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of images."""
        return self.head(self.features(x).mean(dim=(2, 3)))


def pick_device(name: str) -> torch.device:
    """The requested device, or CUDA when available under ``auto``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


@torch.no_grad()
def predict(model: nn.Module, loader: Any, device: torch.device) -> list[int]:
    """Arg-max class index of every image, in loader order."""
    model.eval()
    out: list[int] = []
    for x, _ in loader:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(x.to(device, non_blocking=True))
        out.extend(logits.argmax(dim=1).tolist())
    return out


def train(args: argparse.Namespace) -> None:
    """Train on data_dir/train, report data_dir/val accuracy per epoch, save the checkpoint."""
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    root = Path(args.data_dir)
    labels, paths, names = labelled(root / "train")
    if not paths:
        raise SystemExit(f"error: no training images under {root / 'train'}/<label>/")
    index = {label: i for i, label in enumerate(labels)}
    train_set = Images(paths, [index[n] for n in names], args.image_size, augment=True)
    loader = torch.utils.data.DataLoader(
        train_set,
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        drop_last=len(train_set) > args.batch_size,
    )
    val_loader = None
    val_targets: list[int] = []
    if (root / "val").is_dir():
        _, vpaths, vnames = labelled(root / "val")
        keep = [(p, index[n]) for p, n in zip(vpaths, vnames, strict=True) if n in index]
        if keep:
            val_targets = [t for _, t in keep]
            val_set = Images([p for p, _ in keep], val_targets, args.image_size, False)
            val_loader = torch.utils.data.DataLoader(
                val_set, batch_size=args.batch_size, num_workers=args.workers
            )

    model = SmallConvNet(len(labels), args.width).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    steps = max(1, args.epochs * len(loader))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps)

    stop_at = None
    if args.max_minutes is not None:
        stop_at = time.time() + args.max_minutes * 60
    if os.environ.get("DEADLINE"):
        deadline = float(os.environ["DEADLINE"]) - 300
        stop_at = deadline if stop_at is None else min(stop_at, deadline)

    done = False
    for epoch in range(args.epochs):
        model.train()
        seen, loss_sum = 0, 0.0
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = functional.cross_entropy(model(x), y, label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            seen += len(y)
            loss_sum += float(loss.detach()) * len(y)
            if stop_at is not None and time.time() >= stop_at:
                done = True
                break
        report = f"epoch {epoch + 1}: train loss {loss_sum / max(1, seen):.4f}"
        if val_loader is not None:
            predicted = predict(model, val_loader, device)
            correct = sum(int(p == t) for p, t in zip(predicted, val_targets, strict=True))
            report += f", val accuracy {correct / len(val_targets):.4f}"
        print(report, flush=True)
        if done:
            print("stopping early: time budget reached", flush=True)
            break

    Path(args.weights).parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": model.state_dict(),
            "labels": labels,
            "label_column": args.label_column,
            "image_size": args.image_size,
            "width": args.width,
        },
        args.weights,
    )
    print(f"saved {args.weights}", flush=True)


def write_predictions(args: argparse.Namespace) -> Path:
    """Predict every test image and write the CSV; return its path."""
    weights = Path(args.weights)
    if not weights.is_file():
        raise SystemExit(
            f"error: no checkpoint at {weights}; train first: "
            f"python main.py --data_dir {args.data_dir} --train"
        )
    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    device = pick_device(args.device)
    model = SmallConvNet(len(checkpoint["labels"]), checkpoint["width"])
    model.load_state_dict(checkpoint["state_dict"])
    model.to(device)

    root = Path(args.data_dir)
    folder = root / "test" if (root / "test").is_dir() else root
    paths = list_images(folder)
    if not paths:
        raise SystemExit(f"error: no images to predict in {folder}")
    loader = torch.utils.data.DataLoader(
        Images(paths, [], checkpoint["image_size"], augment=False),
        batch_size=args.batch_size,
        num_workers=args.workers,
    )
    predicted = predict(model, loader, device)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image_id", checkpoint["label_column"]])
        for path, k in zip(paths, predicted, strict=True):
            writer.writerow([path.stem, checkpoint["labels"][k]])
    print(f"wrote {len(paths)} predictions to {out}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Train when asked, then predict; return the exit status."""
    args = parse_args(argv)
    if args.train:
        train(args)
        root = Path(args.data_dir)
        if not (root / "test").is_dir() and not list_images(root):
            return 0  # nothing to predict yet
    write_predictions(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
