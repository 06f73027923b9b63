"""What the disk limit's measurement counts (no engine needed); its parser is the one of every
size option (tests/agent_harness/test_harness_config.py)."""

from __future__ import annotations

import os
from pathlib import Path

from agent_harness.disk_limit import DiskWatcher, folder_bytes


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


def test_deleted_files_still_open_are_counted_once(tmp_path: Path) -> None:
    import subprocess

    from agent_harness.disk_limit import held_deleted_bytes

    path = tmp_path / "held"
    path.write_bytes(b"z" * 2 * 1024 * 1024)
    with path.open("rb") as stdin:  # two processes hold the one file
        procs = [
            subprocess.Popen(
                ["sleep", "30"], stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            for _ in range(2)
        ]
    try:
        pids = [p.pid for p in procs]
        assert held_deleted_bytes(pids) == 0  # not deleted yet: the folder counts it
        path.unlink()
        held = held_deleted_bytes(pids)
        assert 2 * 1024 * 1024 <= held < 2 * 1024 * 1024 + 64 * 1024  # one file, once
        assert held_deleted_bytes(pids, skip_dev=tmp_path.stat().st_dev) == 0
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert held_deleted_bytes(pids) == 0  # gone: nothing held
