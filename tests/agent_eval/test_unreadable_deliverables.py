"""A deliverable the evaluator cannot open ends as a recorded load failure, never a traceback.

Each test plays a careless (or hostile) agent: a model folder that can be listed but not
entered, one that can be entered but not listed, a link loop, a link to nothing, a code
deliverable holding a file nobody may read, a tokenizer that is garbage. The real ``agent-eval``
CLI runs on it, and each must end with exit 5, an ``error`` results file naming what to do, and
no traceback. Permission problems are made real by running the CLI as root without its right to
read every file (``setpriv``), or as an ordinary user.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.store import make_run

from agent_tasks.export import export_task

AGENT_EVAL = Path(sys.executable).parent / "agent-eval"
"""The installed console script a user runs."""
PERMISSION_HINT = "--user"
"""What the hint about an unreadable deliverable names (the evaluator image's option)."""


@pytest.fixture
def restore_modes() -> Iterator[list[Path]]:
    """Paths whose mode a test takes away; given back afterwards so the folder can be removed."""
    changed: list[Path] = []
    yield changed
    for path in changed:
        if path.exists():
            path.chmod(0o755)


def _as_evaluator() -> list[str]:
    """The command prefix that runs the CLI without the right to read every file."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("root without setpriv cannot drop its right to read every file")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def _evaluate(
    env: dict[str, str], target: Path, task: str, results: Path, *extra: str, drop: bool = True
) -> subprocess.CompletedProcess[str]:
    prefix = _as_evaluator() if drop else []
    return subprocess.run(
        [*prefix, str(AGENT_EVAL), "--model_args", str(target), "--task", task, "--no-db",
         "--device", "cpu", "--results-dir", str(results), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )  # fmt: skip


def _load_failure(proc: subprocess.CompletedProcess[str], results: Path, hint: str) -> Any:
    """Exit 5, no traceback, one ``error`` result whose load error carries ``hint``."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 5, proc.stderr
    assert "hint:" in proc.stderr and hint in proc.stderr, proc.stderr
    saved = list(results.glob("*.json"))
    assert len(saved) == 1, (saved, proc.stderr)
    data = json.loads(saved[0].read_text("utf-8"))
    assert data["status"] == "error" and data["metrics"] == [] and data["score"] is None
    load_error = next(e for e in data["errors"] if e["stage"] == "load")
    assert "(hint: " in load_error["message"] and hint in load_error["message"]
    return data


@pytest.fixture
def model(tmp_path: Path, tiny_tokenizer: Any, save_tiny_gpt2: Callable[..., Path]) -> Path:
    """A tiny GPT-2 with its tokenizer, as an agent saves it."""
    return save_tiny_gpt2(tmp_path / "model", tiny_tokenizer)


# ------------------------------------------------------------------ folders that cannot be read


def test_a_model_folder_that_cannot_be_entered_is_a_recorded_load_failure(
    cli_env: dict[str, str], tmp_path: Path, model: Path, restore_modes: list[Path]
) -> None:
    """chmod a-x: its names can be listed but nothing in it can be looked at."""
    model.chmod(0o644)
    restore_modes.append(model)
    results = tmp_path / "results"
    data = _load_failure(_evaluate(cli_env, model, "tiny_lm", results), results, PERMISSION_HINT)
    assert "Permission denied" in data["errors"][0]["message"]
    assert data["model"]["sha256"] is None


def test_a_subfolder_that_cannot_be_entered_is_a_recorded_load_failure(
    cli_env: dict[str, str], tmp_path: Path, model: Path, restore_modes: list[Path]
) -> None:
    """The agent's notes folder, chmod a-x, inside an otherwise good model folder."""
    notes = model / "notes"
    notes.mkdir()
    (notes / "log.txt").write_text("training went fine\n")
    notes.chmod(0o644)
    restore_modes.append(notes)
    results = tmp_path / "results"
    data = _load_failure(_evaluate(cli_env, model, "tiny_lm", results), results, PERMISSION_HINT)
    assert "notes" in data["errors"][0]["message"]


def test_a_model_folder_that_cannot_be_listed_is_a_recorded_load_failure(
    cli_env: dict[str, str], tmp_path: Path, model: Path, restore_modes: list[Path]
) -> None:
    """chmod a-r: its files could be opened by name, but what it holds cannot be checked."""
    model.chmod(0o311)
    restore_modes.append(model)
    results = tmp_path / "results"
    data = _load_failure(_evaluate(cli_env, model, "tiny_lm", results), results, PERMISSION_HINT)
    assert "cannot be listed" in data["errors"][0]["message"]


def test_a_model_inside_a_folder_that_cannot_be_entered_is_a_recorded_load_failure(
    cli_env: dict[str, str], tmp_path: Path, model: Path, restore_modes: list[Path]
) -> None:
    """The path exists, but the evaluator cannot even look at it: not 'does not exist'."""
    shared = tmp_path / "shared"
    shared.mkdir()
    model.rename(shared / "model")
    shared.chmod(0o644)
    restore_modes.append(shared)
    results = tmp_path / "results"
    data = _load_failure(
        _evaluate(cli_env, shared / "model", "tiny_lm", results), results, PERMISSION_HINT
    )
    assert "does not exist" not in data["errors"][0]["message"]


def test_over_time_on_a_run_folder_that_cannot_be_entered_says_what_to_do(
    cli_env: dict[str, str], tmp_path: Path, model: Path, restore_modes: list[Path]
) -> None:
    """--over-time must tell whether run.json is there: it cannot, and says why (no traceback,
    nothing written: without its run.json no run can be linked, as for a run.json refused)."""
    run = tmp_path / "run"
    shutil.copytree(model, run / "output" / "model")
    (run / "run.json").write_text(make_run("r1", task="tiny_lm").model_dump_json(), "utf-8")
    run.chmod(0o644)
    restore_modes.append(run)
    results = tmp_path / "results"
    proc = _evaluate(cli_env, run, "tiny_lm", results, "--over-time")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 5, proc.stderr
    assert PERMISSION_HINT in proc.stderr and "run.json" in proc.stderr


# ------------------------------------------------------------------------ links that lead nowhere


def test_a_model_path_that_is_a_link_loop_is_a_recorded_load_failure(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    loop = tmp_path / "model"
    loop.symlink_to(tmp_path / "model")
    results = tmp_path / "results"
    data = _load_failure(_evaluate(cli_env, loop, "tiny_lm", results, drop=False), results, "link")
    assert "symbolic links" in data["errors"][0]["message"]


def test_a_model_path_that_is_a_link_to_nothing_is_a_recorded_load_failure(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    dangling = tmp_path / "model"
    dangling.symlink_to(tmp_path / "deleted-model")
    results = tmp_path / "results"
    data = _load_failure(
        _evaluate(cli_env, dangling, "tiny_lm", results, drop=False), results, "link"
    )
    assert "deleted-model" in data["errors"][0]["message"]


# ------------------------------------------------------------------ a code deliverable


def test_a_code_deliverable_holding_an_unreadable_file_is_a_recorded_load_failure(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """digit_sums: main.py beside weights nobody but their owner may read; nothing is run."""
    if os.geteuid() != 0:
        pytest.skip("the process sandbox of code tasks runs as root")
    starter = export_task("digit_sums", tmp_path / "digit_sums-task") / "starter"
    out = tmp_path / "output"
    out.mkdir()
    shutil.copy(starter / "main.py", out / "main.py")
    weights = out / "weights.npz"
    weights.write_bytes(b"not for the evaluator")
    weights.chmod(0o600)
    os.chown(weights, 65534, 65534)  # another user's file: root without DAC override is denied
    results = tmp_path / "results"
    data = _load_failure(_evaluate(cli_env, out, "digit_sums", results), results, PERMISSION_HINT)
    message = data["errors"][0]["message"]
    assert "weights.npz" in message and "Permission denied" in message
    assert data["model"]["path"] == str(out) and data["model"]["sha256"] is None


def _folder_hash(folder: Path) -> str:
    """The deliverable hash as docs/contracts.md defines it, computed here independently."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def test_a_code_run_that_fails_to_load_hashes_the_folder_a_run_would(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """run.json accepted output/main.py; the copy is refused (folders nested too deep), and the
    failure is identified by the hash of the whole folder, as a successful re-run is."""
    if os.geteuid() != 0:
        pytest.skip("the process sandbox of code tasks runs as root")
    starter = export_task("digit_sums", tmp_path / "digit_sums-task") / "starter"
    run = tmp_path / "run"
    out = run / "output"
    deep = out.joinpath(*["d"] * 70)
    deep.mkdir(parents=True)
    (deep / "note.txt").write_text("deep\n")
    shutil.copy(starter / "main.py", out / "main.py")
    record = make_run(
        "r-code", task="digit_sums", deliverable={"path": "output/main.py", "source": "spec"}
    )
    (run / "run.json").write_text(record.model_dump_json(), "utf-8")
    results = tmp_path / "results"
    data = _load_failure(
        _evaluate(cli_env, run, "digit_sums", results, drop=False), results, "shallow"
    )
    assert data["run_id"] == "r-code"
    assert data["model"]["sha256"] == _folder_hash(out)


# ------------------------------------------------------------------ a tokenizer that is garbage


BAD_BPE = {"version": "1.0", "added_tokens": [], "model": {"type": "BPE", "vocab": 5}}


@pytest.mark.parametrize(
    "garbage",
    ["{this is not a tokenizer", json.dumps(BAD_BPE)],
    ids=["not-json", "rejected-by-tokenizers"],
)
def test_a_garbage_tokenizer_is_reported_as_unreadable_not_missing(
    cli_env: dict[str, str], tmp_path: Path, model: Path, garbage: str
) -> None:
    """tokenizer.json overwritten with garbage: the reason is given, not 'has no tokenizer'."""
    (model / "tokenizer.json").write_text(garbage, "utf-8")
    results = tmp_path / "results"
    data = _load_failure(
        _evaluate(cli_env, model, "tiny_lm", results, drop=False), results, "tokenizer"
    )
    message = data["errors"][0]["message"]
    assert "tokenizer unreadable" in message and "has no tokenizer" not in message
    assert data["model"]["sha256"] is not None  # every file could be read
