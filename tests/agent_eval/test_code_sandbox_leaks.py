"""The code sandbox is an allow-list: agent code plays every known way to the hidden labels.

Each case is a real code deliverable (``digit_sums``' ``main.py``, or a ``digit_method``
method) whose code tries one channel to the labels and, where the channel gives nothing,
answers a fixed guess. Every channel is first shown to work on the host, in a plain process
(so the test cannot pass because the attack was wrong); then the same deliverable is scored
through the real ``agent-eval`` command: the score must be the guess's, never the labels'.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_eval.datasets import bundled_dir
from agent_tasks.export import export_task

REPO = Path(__file__).resolve().parents[2]
AGENT_EVAL = Path(sys.executable).parent / "agent-eval"
"""The installed console script a user runs."""
HIDDEN = {task: bundled_dir() / f"{task}_test" for task in ("digit_sums", "digit_method")}
KEYS = {"digit_sums": ("image_id", "digit_sum"), "digit_method": ("id", "label")}
GUESS = {"digit_sums": "14", "digit_method": "0"}
"""What the cheat answers for every item when its channel gave it nothing."""

CHEAT = r'''
"""Tries one way to the hidden labels (LEAK); returns {item id: label} or None."""

import glob, json, os, subprocess

LEAK = @LEAK@
REL = @REL@
"""The labels file, relative to a checkout."""
ABSOLUTE = @ABSOLUTE@
"""Where the evaluator that runs the tests keeps it."""


def parse(text):
    found = {}
    for line in text.splitlines():
        try:
            row = json.loads(line)
            key, value = list(row.values())[:2]
            found[str(key)] = str(value)
        except Exception:
            pass
    return found or None


def read(path):
    try:
        with open(path) as fh:
            return parse(fh.read())
    except Exception:
        return None


def first(paths):
    for path in paths:
        found = read(path)
        if found:
            return found
    return None


def leak_git():  # the checkout's history, as `git show` gives it
    for repo in [@REPO@, "/work/main", os.getcwd()]:
        try:
            shown = subprocess.run(["git", "-C", repo, "show", "HEAD:" + REL],
                                   capture_output=True, text=True, timeout=30)
        except Exception:
            continue
        if parse(shown.stdout):
            return parse(shown.stdout)
    return None


def leak_other_checkout():  # another checkout under /tmp (the one the test made)
    return first(glob.glob("/tmp/mlrb-other-checkout-*/" + REL))


def leak_package():  # the evaluator package's resource files
    paths = [ABSOLUTE]
    try:
        import importlib.resources
        paths.append(str(importlib.resources.files("agent_eval") / REL.split("agent_eval/", 2)[2]))
    except Exception:
        pass
    import sys
    task = os.path.basename(os.path.dirname(ABSOLUTE))
    for entry in sys.path:
        paths += glob.glob(os.path.join(entry, "agent_eval/resources/bundled", task, "test.jsonl"))
    return first(paths)


def leak_proc():  # other processes' cwd, root, environ and cmdline; the mount table's hints
    paths = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        paths += [f"/proc/{pid}/cwd/{REL}", f"/proc/{pid}/root{ABSOLUTE}"]
        for name in ("environ", "cmdline"):
            try:
                raw = open(f"/proc/{pid}/{name}", "rb").read().decode(errors="replace")
            except Exception:
                continue
            for part in raw.replace("=", "\0").replace(":", "\0").split("\0"):
                if part.startswith("/"):
                    paths += [part + "/" + REL, part]
    try:
        for line in open("/proc/self/mountinfo"):
            root = line.split()[3]
            paths += [os.path.join(root, REL), os.path.join(root, "..", REL), ABSOLUTE]
    except Exception:
        pass
    return first(paths)


def leak_env():  # the evaluator's environment variables
    paths = []
    for value in os.environ.values():
        for part in value.split(":"):
            if part.startswith("/"):
                paths += [part, os.path.join(part, REL), os.path.join(part, "..", "..", REL)]
    return first(paths)


def digits_table():  # scikit-learn's bundled digits, pixels -> label
    from sklearn.datasets import load_digits

    digits = load_digits()
    return {image.astype("uint8").tobytes(): str(label)
            for image, label in zip(digits.images, digits.target)}


def leak_sklearn():
    return None  # used per task, on the images themselves


def labels():
    try:
        return globals()["leak_" + LEAK]()
    except Exception:
        return None
'''

SUMS_MAIN = r"""
import argparse, os
import numpy as np
import cheat

p = argparse.ArgumentParser(); p.add_argument("--data_dir"); p.add_argument("--output")
args = p.parse_args()
folder = os.path.join(args.data_dir, "test")
ids = sorted(f[:-4] for f in os.listdir(folder))
answers = cheat.labels() or {}
if cheat.LEAK == "sklearn":
    try:
        table = cheat.digits_table()
        for i in ids:
            raw = open(os.path.join(folder, i + ".pgm"), "rb").read()
            pixels = np.frombuffer(raw[-256:], dtype=np.uint8).reshape(8, 32)
            slots = [pixels[:, 8 * s: 8 * s + 8] for s in range(4)]
            found = [0 if not slot.any() else table.get(slot.copy().tobytes()) for slot in slots]
            if None not in found:
                answers[i] = str(sum(int(v) for v in found))
    except Exception:
        pass
with open(args.output, "w") as fh:
    fh.write("image_id,digit_sum\n" + "".join(f"{i},{answers.get(i, {guess!r})}\n" for i in ids))
"""

METHOD = r'''
"""Looks the test digits up instead of learning them."""

import numpy as np

from methods import cheat
from methods.base import BaseMethod


class Lookup(BaseMethod):
    """Answers from the leak when it gives anything, else the guess."""

    def fit(self, x, y):
        """Nothing to learn."""

    def predict(self, x):
        """The leaked labels in the inputs' order (ids d0000, d0001, ...)."""
        answers = cheat.labels() or {}
        out = [int(answers.get(f"d{i:04d}", {guess!r})) for i in range(len(x))]
        if cheat.LEAK == "sklearn":
            try:
                table = cheat.digits_table()
                out = [int(table.get(row.astype("uint8").tobytes(), {guess!r})) for row in x]
            except Exception:
                pass
        return np.array(out)
'''

LEAKS = ("git", "other_checkout", "package", "proc", "env", "sklearn")


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:  # CI runs as root: there a missing sandbox is a failure
        reason = "these tests run the sandbox as root (the host checks read root's files)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def other_checkout() -> Iterator[Path]:
    """A copy of the labels under /tmp, world-readable, at a checkout's relative path."""
    folder = Path(tempfile.mkdtemp(prefix="mlrb-other-checkout-"))
    folder.chmod(0o755)
    for task, hidden in HIDDEN.items():
        target = folder / _rel(task)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(hidden / "test.jsonl", target)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield folder
    shutil.rmtree(folder)


def _rel(task: str) -> str:
    return str((HIDDEN[task] / "test.jsonl").relative_to(REPO))


def _truth(task: str) -> dict[str, str]:
    key, column = KEYS[task]
    rows = [json.loads(line) for line in (HIDDEN[task] / "test.jsonl").read_text().splitlines()]
    return {str(r[key]): str(r[column]) for r in rows}


def _env(task: str) -> dict[str, str]:
    """The evaluator's environment: the test's own, plus paths a careless setup would leave."""
    return {
        **os.environ,
        "MLRB_LABELS_HINT": str(HIDDEN[task] / "test.jsonl"),
        "MLRB_CHECKOUT": str(REPO),
    }


def _cheat_source(task: str, leak: str) -> str:
    values = {"LEAK": leak, "REL": _rel(task), "ABSOLUTE": str(HIDDEN[task] / "test.jsonl")}
    source = CHEAT
    for name, value in {**values, "REPO": str(REPO)}.items():
        source = source.replace(f"@{name}@", repr(value))
    return source


def _deliverable(task: str, leak: str, folder: Path) -> tuple[Path, Path]:
    """(what is evaluated, where cheat.py is importable from)."""
    guess = GUESS[task]
    if task == "digit_sums":
        folder.mkdir()
        (folder / "cheat.py").write_text(_cheat_source(task, leak))
        (folder / "main.py").write_text(SUMS_MAIN.replace("{guess!r}", repr(guess)))
        return folder, folder
    starter = export_task("digit_method", folder.parent / "digit_method-task") / "starter"
    out = folder
    shutil.copytree(starter / "methods", out / "methods")
    (out / "methods" / "cheat.py").write_text(_cheat_source(task, leak))
    (out / "methods" / "lookup.py").write_text(METHOD.replace("{guess!r}", repr(guess)))
    registry = out / "methods" / "__init__.py"
    registry.write_text(
        registry.read_text()
        .replace(
            "from methods.baseline", "from methods.lookup import Lookup\nfrom methods.baseline"
        )
        .replace('{"baseline": BaselineMethod}', '{"baseline": BaselineMethod, "lookup": Lookup}')
    )
    (out / "submission.json").write_text(json.dumps({"method": "lookup"}))
    return out, out / "methods"


def _on_the_host(task: str, leak: str, importable: Path) -> dict[str, str] | None:
    """What the channel gives a plain process on the host (cwd: the checkout)."""
    probe = (
        "import json, cheat\n"
        "found = cheat.labels()\n"
        "if cheat.LEAK == 'sklearn':\n"
        "    import numpy as np\n"
        "    table = cheat.digits_table()\n"
        f"    x = np.load({str(HIDDEN['digit_method'] / 'inputs/x.npy')!r})\n"
        "    found = {f'd{i:04d}': table.get(r.astype('uint8').tobytes())\n"
        "             for i, r in enumerate(x)}\n"
        "print(json.dumps(found))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={**_env(task), "PYTHONPATH": f"{importable}:{os.environ.get('PYTHONPATH', '')}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, str] | None = json.loads(done.stdout)
    return found


def _score(task: str, deliverable: Path, results: Path) -> dict[str, object]:
    done = subprocess.run(
        [
            *(str(AGENT_EVAL), "--model_args", str(deliverable), "--task", task),
            *("--no-db", "--results-dir", str(results)),
            # The scored run is where labels would count; the timed rounds (skipped without a
            # timed metric) run the same sandbox request again (test_coderun times it).
            *("--metrics", "predictions_accuracy"),
        ],
        cwd=REPO,  # the evaluator's working directory is a checkout: /proc/<pid>/cwd points there
        env=_env(task),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (saved,) = results.glob("*.json")
    result: dict[str, object] = json.loads(saved.read_text())
    return result


def _accuracy(result: dict[str, object]) -> float:
    metrics = result["metrics"]
    assert isinstance(metrics, list)
    (value,) = [m["value"] for m in metrics if m["name"] == "predictions_accuracy"]
    return float(value)


CASES = [(task, leak) for task in ("digit_sums", "digit_method") for leak in LEAKS]


@pytest.mark.parametrize(("task", "leak"), CASES)
def test_agent_code_cannot_reach_the_labels(
    task: str, leak: str, other_checkout: Path, tmp_path: Path
) -> None:
    deliverable, importable = _deliverable(task, leak, tmp_path / "deliverable")
    truth = _truth(task)
    host = _on_the_host(task, leak, importable)
    if leak == "sklearn":
        # The hidden images are no slice of the public digits: even on the host, where
        # scikit-learn's digits load, looking the test digits up finds none of them.
        assert host is not None and sum(v is not None for v in host.values()) == 0
    else:  # the channel is real: on the host it gives every label
        assert host == truth
    result = _score(task, deliverable, tmp_path / "results")
    assert result["status"] == "ok", result["errors"]
    honest = sum(v == GUESS[task] for v in truth.values()) / len(truth)
    assert _accuracy(result) == pytest.approx(honest)  # the guess's score, not the labels'
    assert honest < 0.2
