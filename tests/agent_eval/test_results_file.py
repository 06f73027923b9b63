"""The results file on disk: who can read it and who owns it (docs/evaluator.md)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.store import make_result

from agent_eval.results import read_result, write_result

OTHER_UID = 4242
"""A host user who is not the writer (not root, not the image's user 1000)."""


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary folder other users can reach (pytest's own tmp_path is 0700 root's)."""
    folder = Path(tempfile.mkdtemp(prefix="h8-results-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_results_file_is_readable_by_everyone_not_0600(tmp_path: Path) -> None:
    path = write_result(make_result(), tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert read_result(path).task == "llm_efficiency"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can hand a file to another user")
def test_written_as_root_the_file_belongs_to_the_owner_of_the_results_folder(
    open_tmp: Path,
) -> None:
    folder = open_tmp / "results"
    folder.mkdir()
    os.chown(folder, OTHER_UID, OTHER_UID)
    path = write_result(make_result(), folder)
    info = path.stat()
    assert (info.st_uid, info.st_gid) == (OTHER_UID, OTHER_UID)
    # what the folder's owner sees: the file opens for them
    shown = subprocess.run(
        ["cat", str(path)], user=OTHER_UID, group=OTHER_UID, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert '"task": "llm_efficiency"' in shown.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can hand a file to another user")
def test_a_root_owned_results_folder_keeps_root_owned_files(tmp_path: Path) -> None:
    path = write_result(make_result(), tmp_path)
    assert (path.stat().st_uid, path.stat().st_gid) == (0, 0)
