"""The disk limit's parser and what its measurement counts (no engine needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent_harness.disk_limit import DiskWatcher, folder_bytes, parse_size
from agent_harness.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("500M", 500 * 1024**2),
        ("20GB", 20 * 1024**3),
        ("1.5G", 3 * 1024**3 // 2),
        ("2t", 2 * 1024**4),
        ("4096", 4096),
        (" 1 GiB ", 1024**3),
        ("none", None),
    ],
)
def test_accepted_sizes(text: str, size: int | None) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "0M", "-1G", "1e9", "20X", "G", "1.G", "9" * 40])
def test_refused_sizes(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid disk limit"):
        parse_size(text)


def test_what_counts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_bytes(b"x" * 1024 * 1024)
    os.link(out / "a", out / "a-twin")  # one file, two names: counted once
    with (out / "sparse").open("wb") as f:  # a 1 GiB hole takes no disk
        f.truncate(1024**3)
    outside = tmp_path / "big"
    outside.write_bytes(b"y" * 4 * 1024 * 1024)
    (out / "link").symlink_to(outside)  # never followed
    used = folder_bytes(out)
    assert 1024 * 1024 <= used < 1024 * 1024 + 64 * 1024


def test_watcher_calls_back_once_past_the_limit(tmp_path: Path) -> None:
    calls: list[int] = []
    watcher = DiskWatcher(
        512 * 1024, tmp_path, lambda: calls.append(1), layer_bytes=lambda: 1024**2, interval_s=0.05
    ).start()
    assert watcher.exceeded.wait(5)
    watcher.stop()
    assert calls == [1] and watcher.used_bytes >= 1024**2
    assert "disk limit exceeded" in watcher.reason() and "0.5 MiB allowed" in watcher.reason()
