"""Code deliverables re-run in the process sandbox: both smoke tasks end to end, cheaters get no
score, and every MLRC task stops with exit 3 naming what to build or fetch."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent_contracts.results import EvaluationResult
from agent_eval.coderun import SandboxRequest, container_settings, rerun, statements
from agent_eval.coderun import run as coderun_run
from agent_eval.coderun.sandbox import SANDBOX_UID, runtime_roots
from agent_eval.coderun.timing import TIMING_ROUNDS, TIMING_WARMUP
from agent_eval.datasets import bundled_dir
from agent_eval.errors import CodeEnvironmentError
from agent_eval.evaluate import EvalOptions, Outcome, evaluate
from agent_eval.provenance import files_sha256
from agent_tasks.catalogue import BENCHMARKS
from agent_tasks.export import export_task
from agent_tasks.registry import get_task, list_tasks
from agent_tasks.spec import TaskSpec

AGENT_EVAL = Path(sys.executable).parent / "agent-eval"
"""The installed console script a user runs."""
HIDDEN_SUMS = bundled_dir() / "digit_sums_test"
HIDDEN_DIGITS = bundled_dir() / "digit_method_test"
MLRC_TASKS = sorted(s.name for s in list_tasks() if s.benchmark == "mlrc_bench")


@pytest.fixture(autouse=True)
def _process_sandbox() -> None:
    if os.geteuid() != 0:  # CI runs as root: there a missing sandbox is a failure
        reason = "these tests run the sandbox as root (they read files as root and as nobody)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


def _evaluate(folder: Path, task: str, tmp_path: Path, spec: TaskSpec | None = None) -> Outcome:
    return evaluate(
        EvalOptions(
            model_args=str(folder),
            task=task,
            record=False,
            results_dir=tmp_path / "results",
            data_dir=tmp_path / "data",
        ),
        spec=spec,
    )


def _starter(task: str, tmp_path: Path) -> Path:
    return export_task(task, tmp_path / f"{task}-task") / "starter"


def _labels(path: Path, key: str, column: str) -> dict[str, str]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {r[key]: r[column] for r in rows}


# ----------------------------------------------------------------------------- digit_sums


@pytest.fixture
def sums_deliverable(tmp_path: Path) -> Path:
    """The starter's baseline, trained for real, with a lying submission.csv and timing file."""
    starter = _starter("digit_sums", tmp_path)
    out = tmp_path / "output"
    out.mkdir()
    subprocess.run(
        [sys.executable, str(starter / "train.py"), "--out", str(out / "weights.npz")],
        check=True,
        capture_output=True,
    )
    shutil.copy(starter / "main.py", out / "main.py")
    labels = _labels(HIDDEN_SUMS / "test.jsonl", "image_id", "digit_sum")
    perfect = "image_id,digit_sum\n" + "".join(f"{k},{v}\n" for k, v in labels.items())
    (out / "submission.csv").write_text(perfect)  # never read: the re-run writes its own
    (out / "inference.json").write_text(json.dumps({"inference_time_s": 0.001}))
    return out


def test_digit_sums_twe_comes_from_the_measured_rerun(
    sums_deliverable: Path, tmp_path: Path
) -> None:
    outcome = _evaluate(sums_deliverable, "digit_sums", tmp_path)
    result = outcome.result
    assert result.status == "ok" and outcome.exit_code == 0, result.errors
    # Independent computation: run the same main.py directly and score its CSV here.
    direct = tmp_path / "direct.csv"
    subprocess.run(
        [
            sys.executable,
            "main.py",
            "--data_dir",
            str(HIDDEN_SUMS / "inputs"),
            "--output",
            str(direct),
        ],
        cwd=sums_deliverable,
        check=True,
    )
    labels = _labels(HIDDEN_SUMS / "test.jsonl", "image_id", "digit_sum")
    rows = [line.split(",") for line in direct.read_text().splitlines()[1:]]
    expected_acc = sum(labels[i] == s for i, s in rows) / len(labels)
    assert len(rows) == 300 and 0.3 < expected_acc < 0.9  # not the agent's "perfect" file
    acc = result.metric("predictions_accuracy")
    twe = result.metric("twe")
    seconds = result.metric("twe_inference_s")
    assert acc is not None and acc.value == pytest.approx(expected_acc)
    assert twe is not None and twe.details["timed_by"] == "evaluator"
    assert twe.details["sandbox"] == "process"
    # What it was scored on: all 300 labels and the 300 hidden images, hashed, both metrics.
    (used,) = result.datasets
    assert (used.id, used.split, used.examples, used.full_examples) == (
        "bundled:digit_sums_test",
        "test",
        300,
        300,
    )
    assert used.complete and not result.data_subset
    assert used.details["input_files"] == 300
    assert set(used.used_by) == {"predictions_accuracy", "twe"}
    hidden = sorted(f for f in (HIDDEN_SUMS / "inputs").rglob("*") if f.is_file())
    assert used.details["inputs_sha256"] == files_sha256(hidden, HIDDEN_SUMS / "inputs")
    # The time is the deliverable's ratio to the starter's code, timed beside it: every round
    # recorded, the warm-up left out, the median of the rounds' ratios in the anchors' seconds.
    timing = twe.timing
    assert timing is not None and timing.sandbox == "process"
    assert (timing.warmup_rounds, len(timing.rounds)) == (TIMING_WARMUP, TIMING_ROUNDS)
    assert [r.agent_first for r in timing.rounds] == [
        i % 2 == 1 for i in range(TIMING_WARMUP, TIMING_WARMUP + TIMING_ROUNDS)
    ]
    for r in timing.rounds:
        assert r.baseline_s > 0 and r.agent_s > 0
        assert r.ratio == pytest.approx(r.agent_s / r.baseline_s, rel=1e-3)
    ratios = [r.ratio for r in timing.rounds]
    assert timing.ratio == pytest.approx(statistics.median(ratios), abs=1e-4)
    assert (timing.ratio_min, timing.ratio_max) == (round(min(ratios), 4), round(max(ratios), 4))
    assert timing.baseline_s == pytest.approx(
        statistics.median(r.baseline_s for r in timing.rounds)
    )
    spec = get_task("digit_sums")
    code_run = spec.evaluation.code_run
    assert code_run is not None and timing.reference_baseline_s == code_run.baseline_runtime_s
    assert timing.seconds == pytest.approx(timing.ratio * timing.reference_baseline_s, abs=1e-4)
    assert seconds is not None and seconds.value == timing.seconds
    assert twe.value == pytest.approx(expected_acc**2 / (timing.seconds / 60))
    assert twe.details["measured_s"] > 0  # the scored run's own wall time, kept for reference
    # This deliverable is the starter's baseline: by construction it scores the baseline anchor
    # times 1/ratio, and the ratio of two copies of the same code is near 1 (bounds wide enough
    # for any load: one round's ratio of identical code stayed within 0.6-1.9 on a loaded box).
    assert spec.anchors.baseline is not None and expected_acc == 109 / 300
    assert twe.value == pytest.approx(spec.anchors.baseline / timing.ratio, rel=2e-3)
    assert 0.5 < timing.ratio < 2.0
    assert result.model.format == "code"
    assert result.score is not None and result.score.raw == pytest.approx(twe.value)
    assert result.score.baseline == spec.anchors.baseline
    # The results file keeps the rounds; a file written before timings were recorded still reads.
    saved = json.loads(outcome.path.read_text("utf-8"))
    again = EvaluationResult.model_validate(saved).metric("twe")
    assert again is not None and again.timing == timing
    for metric in saved["metrics"]:
        metric.pop("timing")
    older = EvaluationResult.model_validate(saved).metric("twe")
    assert older is not None and older.timing is None


def test_a_slower_deliverable_scores_below_the_baseline(
    sums_deliverable: Path, tmp_path: Path
) -> None:
    """The starter's own code made slower by a 1.5 s sleep: the same accuracy, a time ratio
    well above 1 (the sleep alone is about 3 times the code's run), a TWE below the baseline
    anchor and a negative normalised score, whatever the machine's speed."""
    main = sums_deliverable / "main.py"
    main.write_text(main.read_text().replace("def main() -> None:\n", SLOW_MAIN))
    outcome = _evaluate(sums_deliverable, "digit_sums", tmp_path)
    result = outcome.result
    assert result.status == "ok", result.errors
    twe = result.metric("twe")
    assert twe is not None and twe.timing is not None
    assert all(r.agent_s >= 1.5 for r in twe.timing.rounds)
    assert twe.timing.ratio > 1.5
    anchor = get_task("digit_sums").anchors.baseline
    assert anchor is not None and twe.value < anchor / 1.5
    assert result.score is not None and result.score.normalised is not None
    assert result.score.normalised < 0


def test_a_deliverable_that_does_less_when_timed_gets_no_time(
    sums_deliverable: Path, tmp_path: Path
) -> None:
    """A main.py whose output changes from run to run (random sums): the scored run writes one
    CSV, the timed runs others; nothing is timed, so TWE gets no value, while accuracy (of the
    scored run) still does."""
    (sums_deliverable / "main.py").write_text(RANDOM_MAIN)
    outcome = _evaluate(sums_deliverable, "digit_sums", tmp_path)
    result = outcome.result
    assert result.status == "error" and outcome.exit_code == 5  # its primary metric failed
    assert result.metric("twe") is None and result.score is None
    assert result.metric("predictions_accuracy") is not None
    message = " ".join(e.message for e in result.errors)
    assert "wrote another 'submission.csv' than its scored run" in message


def test_an_evaluation_without_a_timed_metric_runs_no_timed_rounds(
    sums_deliverable: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same changing main.py, evaluated for accuracy alone: the code runs once, no round
    is timed (one would have written other sums), and nothing claims a time."""
    timed: list[str] = []
    real = coderun_run.time_against_baseline
    monkeypatch.setattr(
        coderun_run,
        "time_against_baseline",
        lambda spec, *args: timed.append(spec.name) or real(spec, *args),
    )
    (sums_deliverable / "main.py").write_text(RANDOM_MAIN)
    outcome = evaluate(
        EvalOptions(
            model_args=str(sums_deliverable),
            task="digit_sums",
            record=False,
            results_dir=tmp_path / "results",
            data_dir=tmp_path / "data",
            metrics=["predictions_accuracy"],
        )
    )
    result = outcome.result
    assert not result.errors and [m.name for m in result.metrics] == ["predictions_accuracy"]
    assert all(m.timing is None for m in result.metrics)
    assert "timed" not in " ".join(str(m.details) for m in result.metrics)
    assert timed == []


def test_the_labels_are_keyed_by_their_id_column_whatever_the_csv_order(
    sums_deliverable: Path, tmp_path: Path
) -> None:
    """A main.py whose CSV puts the prediction first: the labels stay keyed by ``image_id``
    (their id column, not the label), so the code cannot turn its evaluation into a data subset
    (and its trial into one that is not ranked) by the order of its columns."""
    reversed_main = RANDOM_MAIN.replace('["image_id", "digit_sum"]', '["digit_sum", "image_id"]')
    reversed_main = reversed_main.replace(
        "(i, os.urandom(1)[0] % 37)", "(os.urandom(1)[0] % 37, i)"
    )
    assert reversed_main.count("digit_sum") == RANDOM_MAIN.count("digit_sum")
    (sums_deliverable / "main.py").write_text(reversed_main)
    outcome = evaluate(
        EvalOptions(
            model_args=str(sums_deliverable), task="digit_sums", record=False,
            results_dir=tmp_path / "results", data_dir=tmp_path / "data",
            metrics=["predictions_accuracy"],
        )
    )  # fmt: skip
    result = outcome.result
    assert result.metric("predictions_accuracy") is not None, result.errors
    assert result.data_subset is False and all(d.complete for d in result.datasets)


SLOW_MAIN = """def main() -> None:
    import time

    time.sleep(1.5)
"""
"""Prepended to the body of the starter's main(): the same work, 1.5 s later."""
RANDOM_MAIN = """\
import argparse, csv, os
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--data_dir")
p.add_argument("--output")
a = p.parse_args()
ids = sorted(f.stem for f in (Path(a.data_dir) / "test").glob("*.pgm"))
with open(a.output, "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["image_id", "digit_sum"])
    w.writerows((i, os.urandom(1)[0] % 37) for i in ids)
"""
"""A main.py whose every run writes other sums."""


def test_a_fifo_in_the_deliverable_is_refused_without_hanging(
    sums_deliverable: Path, tmp_path: Path
) -> None:
    os.mkfifo(sums_deliverable / "weights.pipe")
    done: list[Outcome] = []
    worker = threading.Thread(
        target=lambda: done.append(_evaluate(sums_deliverable, "digit_sums", tmp_path)),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=120)
    assert done, "the evaluation hung on a FIFO"
    result = done[0].result
    assert result.status == "error" and result.score is None  # refused at the trust boundary
    assert any("FIFO" in e.message for e in result.errors), result.errors


def _cheat(folder: Path, body: str) -> Path:
    folder.mkdir()
    (folder / "main.py").write_text(
        "import argparse, json, os, sys, time, glob\n"
        "p = argparse.ArgumentParser(); p.add_argument('--data_dir'); p.add_argument('--output')\n"
        "args = p.parse_args()\n"
        "ids = sorted(f[:-4] for f in os.listdir(os.path.join(args.data_dir, 'test')))\n"
        f"{body}\n"
    )
    return folder


def test_a_deliverable_that_reads_the_labels_finds_none(tmp_path: Path) -> None:
    package = str(bundled_dir().parent.parent) + "/**/*.jsonl"  # where the labels are shipped
    body = f"""
guesses = {{i: "0" for i in ids}}
found = []
for path in [{str(HIDDEN_SUMS / "test.jsonl")!r}] + glob.glob({package!r}, recursive=True):
    try:
        for line in open(path):
            row = json.loads(line)
            if "digit_sum" in row:
                guesses[row["image_id"]] = row["digit_sum"]
                found.append(path)
    except Exception:
        pass
print("found labels in", sorted(set(found)))
with open(args.output, "w") as fh:
    fh.write("image_id,digit_sum\\n" + "".join(f"{{i}},{{guesses[i]}}\\n" for i in ids))
"""
    outcome = _evaluate(_cheat(tmp_path / "cheat", body), "digit_sums", tmp_path)
    acc = outcome.result.metric("predictions_accuracy")
    assert outcome.result.status == "ok", outcome.result.errors
    labels = _labels(HIDDEN_SUMS / "test.jsonl", "image_id", "digit_sum")
    zeros = sum(v == "0" for v in labels.values()) / len(labels)
    assert acc is not None and acc.value == pytest.approx(zeros)  # guessed 0 everywhere


def test_a_deliverable_that_uses_the_network_gets_no_score(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(20)
    port = server.getsockname()[1]
    accepted: list[Any] = []
    listener = threading.Thread(target=lambda: _accept(server, accepted), daemon=True)
    listener.start()
    body = f"""
import socket
socket.create_connection(("127.0.0.1", {port}), timeout=5).sendall(b"labels please")
open(args.output, "w").write("image_id,digit_sum\\n")
"""
    outcome = _evaluate(_cheat(tmp_path / "cheat", body), "digit_sums", tmp_path)
    server.close()
    listener.join(timeout=25)
    assert accepted == []
    assert outcome.result.status == "error" and outcome.exit_code == 5
    assert outcome.result.metric("twe") is None and outcome.result.score is None
    assert "exited with status 1" in outcome.result.errors[0].message
    # its own network namespace: a loopback of its own where nothing listens, and no other
    assert "Connection refused" in outcome.result.errors[0].message


def _accept(server: socket.socket, accepted: list[Any]) -> None:
    with contextlib.suppress(OSError):  # closed or timed out: nobody connected
        accepted.append(server.accept())


def test_a_deliverable_past_its_time_limit_is_killed_with_its_children(tmp_path: Path) -> None:
    token = f"h5-sleeper-{os.getpid()}"
    body = f"""
import subprocess, signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = "trap '' TERM; sleep 300; : {token}"  # the token marks its command line
subprocess.Popen(["sh", "-c", child], start_new_session=True)
time.sleep(300)
"""
    spec = get_task("digit_sums")
    code_run = spec.evaluation.code_run
    assert code_run is not None
    short = spec.model_copy(
        update={
            "evaluation": spec.evaluation.model_copy(
                update={"code_run": code_run.model_copy(update={"time_limit_s": 3})}
            )
        }
    )
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:  # the detached child must really have been running
        while not stop.is_set() and not seen:
            seen.extend(_holders(token))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    outcome = _evaluate(_cheat(tmp_path / "cheat", body), "digit_sums", tmp_path, spec=short)
    elapsed = time.monotonic() - started
    stop.set()
    watcher.join(timeout=5)
    assert seen, outcome.result.errors
    assert elapsed < 20
    assert outcome.result.status == "error" and outcome.result.score is None
    assert "exceeded its time limit of 3 s" in outcome.result.errors[0].message
    time.sleep(0.5)
    assert _holders(token) == []


def test_a_deliverable_over_its_memory_limit_gets_no_score(tmp_path: Path) -> None:
    body = """
hoard = bytearray(3 << 30)  # 3 GiB against the task's 2 GB
open(args.output, "w").write("image_id,digit_sum\\n")
"""
    outcome = _evaluate(_cheat(tmp_path / "cheat", body), "digit_sums", tmp_path)
    assert outcome.result.status == "error" and outcome.result.score is None
    assert "MemoryError" in outcome.result.errors[0].message


def _holders(token: str) -> list[int]:
    """PIDs whose command line holds ``token``."""
    return [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and token.encode() in _cmdline(p) and int(p.name) != os.getpid()
    ]


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_the_sandbox_is_what_the_docs_promise(tmp_path: Path) -> None:
    """Probe from inside: uid, read-only code and inputs, hidden labels, no network, own PIDs,
    no credentials in the environment."""
    around = sorted(str(r.parent) for r in runtime_roots() if r.parent != Path("/"))
    body = f"""
import socket
probes = {{"uid": os.getuid(), "pids": len([p for p in os.listdir("/proc") if p.isdigit()])}}
for name, path in (("work", "main.py"), ("inputs", os.path.join(args.data_dir, "x"))):
    try:
        open(path, "a").close(); probes[name + "_writable"] = True
    except OSError:
        probes[name + "_writable"] = False
probes["labels_visible"] = os.path.exists({str(HIDDEN_SUMS / "test.jsonl")!r})
probes["bundled_exists"] = os.path.exists({str(bundled_dir())!r})
probes["package_data"] = os.path.exists({str(bundled_dir().parent)!r})
probes["root"] = sorted(os.listdir("/"))
probes["around_runtime"] = {{
    str(parent): sorted(os.listdir(parent)) for parent in {around!r}
}}
probes["tmp"] = os.listdir("/tmp")
try:
    socket.create_connection(("127.0.0.1", 9), timeout=2); probes["net"] = "connected"
except OSError as exc:
    probes["net"] = exc.strerror
probes["interfaces"] = [name for _, name in socket.if_nameindex()]
probes["env"] = sorted(os.environ)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
probes["caps"] = [status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs")]
open(args.output, "w").write("image_id,digit_sum\\n")
json.dump(probes, open(os.path.join(os.path.dirname(args.output), "probes.json"), "w"))
"""
    os.environ["DB_PASSWORD"] = "h5-secret"
    scratch = tempfile.TemporaryDirectory(prefix="h5-coderun-")
    try:
        outcome = rerun(
            get_task("digit_sums"),
            _cheat(tmp_path / "probe", body),
            tmp_path / "d",
            Path(scratch.name),
        )
        assert outcome.failure is None, outcome.sandbox.log_tail
        assert outcome.output_file is not None
        probes = json.loads((outcome.output_file.parent / "probes.json").read_text())
    finally:
        del os.environ["DB_PASSWORD"]
        scratch.cleanup()
    assert probes["uid"] == 65534
    assert probes["work_writable"] is False and probes["inputs_writable"] is False
    assert probes["labels_visible"] is False and probes["bundled_exists"] is False
    assert probes["package_data"] is False
    # an allow-list: the runtime's folders (wherever the venv lives: CI's checkout is elsewhere),
    # the system's library links, its own /dev, /proc and /tmp, and its three folders
    roots = runtime_roots()
    runtime = {r.parts[1] for r in roots} | {"bin", "sbin", "lib", "lib32", "lib64", "libx32"}
    assert set(probes["root"]) <= runtime | {"dev", "proc", "tmp", "sandbox"}
    # the folder around a runtime root (the checkout, for a venv inside it) shows only the
    # runtime folders themselves, never the checkout's code, .git or data
    for parent, names in probes["around_runtime"].items():
        below = {r.relative_to(parent).parts[0] for r in roots if r.is_relative_to(parent)}
        assert set(names) <= below, (parent, names)
    assert probes["tmp"] == []  # a private /tmp, not the host's
    assert probes["net"] == "Connection refused" and probes["interfaces"] == ["lo"]  # its own
    assert probes["pids"] <= 3  # its own PID namespace: bwrap's init, python, nothing else
    assert "DB_PASSWORD" not in probes["env"]
    assert probes["caps"] == ["0000000000000000"] * 3 + ["1"]  # no capabilities, no_new_privs
    assert outcome.sandbox.backend == "process" and outcome.sandbox.exit_code == 0


# ----------------------------------------------------------------------------- digit_method

KNN = '''"""3-nearest neighbours."""

import numpy as np

from methods.base import BaseMethod


class Knn(BaseMethod):
    """Vote of the three nearest training digits."""

    def fit(self, x, y):
        """Keep the data."""
        self.x, self.y = x.reshape(len(x), -1).astype(float), y

    def predict(self, x):
        """Vote."""
        flat = x.reshape(len(x), -1).astype(float)
        d = ((flat[:, None, :] - self.x[None]) ** 2).sum(axis=2)
        near = self.y[np.argsort(d, axis=1)[:, :3]]
        return np.array([np.bincount(r, minlength=10).argmax() for r in near])
'''


def _knn_reference(train: list[Path], x_test: np.ndarray) -> np.ndarray:
    xs = np.concatenate([np.load(f)["x"] for f in train]).reshape(-1, 64).astype(float)
    ys = np.concatenate([np.load(f)["y"] for f in train])
    flat = x_test.reshape(len(x_test), -1).astype(float)
    d = ((flat[:, None, :] - xs[None]) ** 2).sum(axis=2)
    near = ys[np.argsort(d, axis=1)[:, :3]]
    return np.array([np.bincount(r, minlength=10).argmax() for r in near])


def test_digit_method_test_phase_restores_the_framework_and_scores_outside(
    tmp_path: Path,
) -> None:
    starter = _starter("digit_method", tmp_path)
    out = tmp_path / "output"
    shutil.copytree(starter / "methods", out / "methods")
    (out / "methods" / "knn.py").write_text(KNN)
    registry = out / "methods" / "__init__.py"
    registry.write_text(
        registry.read_text()
        .replace("from methods.baseline", "from methods.knn import Knn\nfrom methods.baseline")
        .replace('{"baseline": BaselineMethod}', '{"baseline": BaselineMethod, "knn": Knn}')
    )
    (out / "submission.json").write_text(json.dumps({"method": "knn"}))
    # A tampered framework next to the methods: ignored, the pristine copy runs.
    (out / "main.py").write_text("raise SystemExit('tampered main.py ran')\n")
    (out / "constants.py").write_text("OUTPUT_DIR = '/tmp'\n")
    outcome = _evaluate(out, "digit_method", tmp_path)
    result = outcome.result
    assert result.status == "ok", result.errors
    predicted = _knn_reference(
        [starter / "data/train.npz", starter / "data/dev.npz"],
        np.load(HIDDEN_DIGITS / "inputs/x.npy"),
    )
    labels = _labels(HIDDEN_DIGITS / "test.jsonl", "id", "label")
    ids = (HIDDEN_DIGITS / "inputs/ids.txt").read_text().split()
    expected = sum(labels[i] == str(p) for i, p in zip(ids, predicted, strict=True)) / len(ids)
    acc = result.metric("predictions_accuracy")
    assert acc is not None and acc.value == pytest.approx(expected) and expected > 0.8
    count = sum(isinstance(n, ast.stmt) for n in ast.walk(ast.parse(KNN)))
    simple = result.metric("code_statements")
    assert simple is not None and simple.value == count
    base = statements(starter / "methods/baseline.py")
    assert simple.details["baseline_statements"] == base
    assert simple.details["change_vs_baseline_pct"] == pytest.approx(
        round(100 * (count - base) / base, 2)
    )
    runtime = result.metric("code_runtime")
    assert runtime is not None and runtime.timing is not None
    # Timed against the starter's baseline method beside it: its ratio in the baseline's seconds.
    code_run = get_task("digit_method").evaluation.code_run
    assert code_run is not None and code_run.baseline_runtime_s is not None
    assert len(runtime.timing.rounds) == TIMING_ROUNDS
    assert runtime.value == runtime.timing.seconds
    assert runtime.value == pytest.approx(
        runtime.timing.ratio * code_run.baseline_runtime_s, abs=1e-4
    )
    assert runtime.details["change_vs_baseline_pct"] == pytest.approx(
        100 * (runtime.value / code_run.baseline_runtime_s - 1), abs=0.01
    )
    (check,) = result.constraints  # the task's limit applies to the scored run as it ran
    assert (check.kind, check.limit, check.passed) == ("max_runtime_s", 60, True)
    assert check.measured == pytest.approx(runtime.details["measured_s"], abs=1e-3)
    spec = get_task("digit_method")
    assert spec.anchors.baseline is not None and result.score is not None
    assert result.score.raw == pytest.approx(expected)


def test_digit_method_without_a_named_method_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "output"
    shutil.copytree(_starter("digit_method", tmp_path) / "methods", out / "methods")
    (out / "submission.json").write_text(json.dumps({"method": "baseline; rm -rf /"}))
    outcome = _evaluate(out, "digit_method", tmp_path)
    assert outcome.result.status == "error" and outcome.exit_code == 5
    assert "does not name a method" in outcome.result.errors[0].message


# ----------------------------------------------------------------------------- MLRC tasks


def test_every_mlrc_task_is_checked() -> None:
    assert sorted(BENCHMARKS["mlrc_bench"]) == MLRC_TASKS


@pytest.mark.parametrize("task", MLRC_TASKS)
def test_mlrc_task_without_its_environment_exits_3_naming_what_is_missing(
    task: str, tmp_path: Path
) -> None:
    spec = get_task(task)
    code_run = spec.evaluation.code_run
    assert code_run is not None and code_run.image and code_run.scorer
    key = spec.aliases[0]
    methods = tmp_path / "out" / "methods"
    methods.mkdir(parents=True)
    (methods / "__init__.py").write_text("")
    with pytest.raises(CodeEnvironmentError) as info:
        _evaluate(tmp_path / "out", task, tmp_path)
    message = str(info.value)
    assert info.value.exit_code == 3
    assert f"mlrb/mlrc-{key}:1" in message
    assert str(tmp_path / "data" / "code_inputs" / f"mlrc-bench__{key}" / "test") in message
    assert str(tmp_path / "data" / "mlrc" / key / "constants_test.py") in message
    assert str(tmp_path / "data" / "mlrc" / key / "labels") in message
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").glob("*.json"))


def test_mlrc_missing_environment_through_the_cli_is_exit_3(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    done = subprocess.run(
        [
            str(AGENT_EVAL),
            "--model_args",
            str(tmp_path / "out"),
            "--task",
            "mlrc_machine_unlearning",
            "--no-db",
            "--results-dir",
            str(tmp_path / "r"),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 3, done.stderr
    assert "mlrb/mlrc-machine_unlearning:1" in done.stderr
    assert "Traceback" not in done.stderr


def test_container_settings_are_offline_read_only_limited_and_labelled(tmp_path: Path) -> None:
    request = SandboxRequest(
        command=("{python}", "main.py", "--data_dir", "{inputs}", "--output", "{output}/x.csv"),
        work=tmp_path / "w",
        inputs=tmp_path / "i",
        output=tmp_path / "o",
        time_limit_s=5,
        memory_gb=2,
        gpus=1,
        image="img",
        name="mlrb-coderun-x",
    )
    settings = container_settings(request)
    assert settings["command"] == [
        "python3",
        "main.py",
        "--data_dir",
        "/inputs",
        "--output",
        "/output/x.csv",
    ]
    assert settings["network_mode"] == "none" and settings["read_only"] is True
    volumes = settings["volumes"]
    assert isinstance(volumes, dict)
    assert volumes[str(tmp_path / "w")]["mode"] == "ro"
    assert volumes[str(tmp_path / "i")]["mode"] == "ro"
    assert volumes[str(tmp_path / "o")]["mode"] == "rw"
    assert settings["user"] == "65534:65534" and settings["cap_drop"] == ["ALL"]
    assert settings["mem_limit"] == settings["memswap_limit"] == "2048m"
    assert settings["pids_limit"] == 256
    assert settings["labels"] == {"mlrb.coderun": "mlrb-coderun-x"}
    (device,) = settings["device_requests"]  # type: ignore[misc]
    assert device["Count"] == 1 and device["Capabilities"] == [["gpu"]]
    # Where the driver names the GPUs, the re-run gets exactly those (the ones watched).
    pinned = container_settings(request, ["GPU-4b1c0e2a-0000-0000-0000-000000000001"])
    (device,) = pinned["device_requests"]  # type: ignore[misc]
    assert device["DeviceIDs"] == ["GPU-4b1c0e2a-0000-0000-0000-000000000001"]
    assert not device.get("Count")


# ----------------------------------------------------------------------------- budget tasks

BUDGET_TASKS = (
    "budget_model_inference",
    "budget_model_training",
    "mini_budget_model_inference",
    "mini_budget_model_training",
)
READS_PIXEL = """
import argparse, csv, pathlib
p = argparse.ArgumentParser(); p.add_argument("--data_dir"); p.add_argument("--output")
a = p.parse_args()
rows = []
for f in sorted((pathlib.Path(a.data_dir) / "test").glob("*.pgm")):
    data = f.read_bytes()
    rows.append((f.stem, data[-1]))  # the image's last pixel holds its label (test data only)
with open(a.output, "w", newline="") as fh:
    w = csv.writer(fh); w.writerow(["image_id", "label"]); w.writerows(rows)
"""


def _budget_data(task: str, data: Path) -> tuple[Path, dict[str, int]]:
    """Hidden images and labels of a budget task in the data folder's layout."""
    spec = get_task(task)
    params = spec.primary.params
    dataset, column = str(params["dataset"]), str(params["label_column"])
    owner_name = dataset.replace("/", "__")
    images = data / "code_inputs" / owner_name / "test" / "test"
    images.mkdir(parents=True)
    labels = {f"img{i:03d}": (i * 7) % 28 for i in range(12)}
    for image_id, label in labels.items():
        (images / f"{image_id}.pgm").write_bytes(b"P5\n2 2\n255\n\x00\x00\x00" + bytes([label]))
    truth = data / "hf" / owner_name / "default" / "test.jsonl"
    truth.parent.mkdir(parents=True)
    truth.write_text(
        "".join(json.dumps({"image_id": k, column: str(v)}) + "\n" for k, v in labels.items())
    )
    return truth, labels


@pytest.mark.parametrize("task", BUDGET_TASKS)
def test_budget_task_twe_is_measured_on_the_hidden_images(task: str, tmp_path: Path) -> None:
    """The real spec's re-run on hidden images in the real layout (files + labels JSONL)."""
    _budget_data(task, tmp_path / "data")
    out = tmp_path / "output"
    out.mkdir()
    (out / "main.py").write_text(READS_PIXEL)
    (out / "submission.csv").write_text("image_id,label\n")  # the agent's own: ignored
    (out / "inference.json").write_text(json.dumps({"inference_time_s": 0.001}))
    outcome = _evaluate(out, task, tmp_path)
    result = outcome.result
    assert result.status == "ok", result.errors
    twe, seconds = result.metric("twe"), result.metric("twe_inference_s")
    assert seconds is not None and 0.005 < seconds.value < 60
    assert twe is not None and twe.value == pytest.approx(1.0 / (seconds.value / 60))
    assert twe.details["rows"] == 12 and twe.details["timed_by"] == "evaluator"
    # 12 of the spec's test images: recorded as such, a data subset, never ranked.
    (used,) = result.datasets
    full = get_task(task).evaluation.datasets[0].splits["test"]
    assert (used.examples, used.full_examples, used.details["input_files"]) == (12, full, 12)
    assert not used.complete and result.data_subset
    # No baseline code to time it against here (it needs a trained model): timed alone.
    assert twe.timing is None and twe.details["time_basis"] == "measured alone"


@pytest.mark.parametrize(
    ("task", "verdict"),
    [("budget_model_inference", "passed"), ("budget_model_training", "failed")],
)
def test_budget_gpu_memory_rules_are_judged_on_the_peaks_the_driver_reported(
    task: str, verdict: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inference rule (16 GB) is judged on the GPU peak sampled while the evaluator's own
    re-run ran; the training rule (6 GB) on the peak the harness recorded in run.json for the
    agent's whole run. A scripted nvidia-smi stands in for the driver (no GPU here)."""
    from support.gpu_driver import path_with, scripted_nvidia_smi
    from support.store import make_run

    from agent_contracts.gpu import GpuMemoryPeak

    tool = scripted_nvidia_smi(
        tmp_path / "driver",
        {"0": "NVIDIA A100-SXM4-80GB"},
        [{"0": 500}, {"0": 2548}, {"0": 9000}, {"0": 4500}],  # growth 8,500 MiB: 8.9 GB
    )
    monkeypatch.setenv("PATH", path_with(tool))
    _budget_data(task, tmp_path / "data")
    run = tmp_path / "run-1"
    out = run / "output"
    out.mkdir(parents=True)
    (out / "main.py").write_text("import time\ntime.sleep(0.6)\n" + READS_PIXEL)
    trained = GpuMemoryPeak(peak_gb=7.5, samples=3600, method="nvidia-smi (the harness)")
    record = make_run("run-1", task=task, gpu_memory=trained, gpu_models=["NVIDIA A100-SXM4-80GB"])
    record = record.model_copy(update={"deliverable": record.deliverable.model_copy(
        update={"path": "output/main.py"})})  # fmt: skip
    (run / "run.json").write_text(record.model_dump_json())
    result = _evaluate(run, task, tmp_path).result
    (memory,) = [c for c in result.constraints if c.kind == "max_memory_gb"]
    assert memory.outcome == verdict, memory.detail
    if task == "budget_model_inference":  # the evaluator's re-run, sampled every 0.1 s
        assert memory.measured == round(8500 * 1024 * 1024 / 1e9, 4)
        assert "the evaluator's sandboxed re-run" in memory.detail
    else:  # the agent's run, from run.json
        assert memory.measured == 7.5 and "the agent's run" in memory.detail
    assert result.conditions is not None
    assert result.conditions.run_gpu_model == "NVIDIA A100-SXM4-80GB"
    # Without the driver, the same rule is unchecked (never passed), saying why.
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    (run / "run.json").write_text(record.model_copy(update={"gpu_memory": None}).model_dump_json())
    again = _evaluate(run, task, tmp_path).result
    (unmeasured,) = [c for c in again.constraints if c.kind == "max_memory_gb"]
    assert unmeasured.outcome == "unchecked" and unmeasured.passed is None
    why = "nvidia-smi is not on" if task == "budget_model_inference" else "no run.json records"
    assert why in unmeasured.detail


def test_budget_labels_in_the_data_folder_are_out_of_reach(tmp_path: Path) -> None:
    """Even world-readable (as the evaluator image makes its data folder), the labels in the
    data folder are hidden from the code: the sandbox covers the folder."""
    with tempfile.TemporaryDirectory(prefix="h5-open-data-") as open_root:
        Path(open_root).chmod(0o755)
        _check_hidden_labels(Path(open_root) / "data", tmp_path)


def _check_hidden_labels(data: Path, tmp_path: Path) -> None:
    truth, labels = _budget_data("budget_model_inference", data)
    for path in [data, *data.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    outside = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", str(truth)],
        capture_output=True,
    )
    assert outside.returncode == 0  # nobody could read them, were they not covered
    out = tmp_path / "output"
    out.mkdir()
    (out / "main.py").write_text(
        "import argparse, json, pathlib\n"
        "p = argparse.ArgumentParser(); p.add_argument('--data_dir'); p.add_argument('--output')\n"
        "a = p.parse_args()\n"
        "ids = sorted(f.stem for f in (pathlib.Path(a.data_dir) / 'test').glob('*.pgm'))\n"
        "guess = {i: '0' for i in ids}\n"
        "try:\n"
        f"    rows = [json.loads(x) for x in open({str(truth)!r})]\n"
        "    guess.update({r['image_id']: r['digit_sum'] for r in rows})\n"
        "except OSError as exc:\n"
        "    print('labels:', exc)\n"
        "open(a.output, 'w').write('image_id,digit_sum\\n' + "
        "''.join(f'{i},{g}\\n' for i, g in guess.items()))\n"
    )
    outcome = evaluate(
        EvalOptions(
            model_args=str(out),
            task="budget_model_inference",
            record=False,
            results_dir=tmp_path / "results",
            data_dir=data,
        )
    )
    acc = outcome.result.metric("predictions_accuracy")
    zeros = sum(v == 0 for v in labels.values()) / len(labels)
    assert acc is not None and acc.value == pytest.approx(zeros) and zeros < 0.5


def test_a_link_beside_the_accepted_main_py_is_refused_and_never_scored(
    sums_deliverable: Path, tmp_path: Path
) -> None:
    from support.store import make_run

    # run.json accepted output/main.py; what runs is the folder around it, links and all.
    run = tmp_path / "run-1"
    shutil.copytree(sums_deliverable, run / "output")
    (run / "output" / "notes.txt").symlink_to("/etc/passwd")
    record = make_run("run-1", task="digit_sums", benchmark="smoke")
    record = record.model_copy(update={"deliverable": record.deliverable.model_copy(
        update={"path": "output/main.py"})})  # fmt: skip
    (run / "run.json").write_text(record.model_dump_json())
    result = _evaluate(run, "digit_sums", tmp_path).result
    assert result.status == "error" and result.score is None
    assert result.metric("twe") is None  # nothing was re-run or timed
    assert result.run_id == "run-1"
    assert any("notes.txt" in e.message for e in result.errors), result.errors


# ----------------------------------------------------------------------------- state between runs

KEYRING_PROGRAM = """\
import ctypes, json, os, platform, sys

ADD_KEY, KEYCTL = {"x86_64": (248, 250), "aarch64": (217, 219)}[platform.machine()]
USER_KEYRING, KEYCTL_SEARCH = -4, 10
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
mode, name = sys.argv[1], sys.argv[2].encode()
if mode == "store":
    data = b"the answer, computed once"
    args = (ADD_KEY, b"user", name, data, len(data), ctypes.c_long(USER_KEYRING))
else:
    args = (KEYCTL, KEYCTL_SEARCH, ctypes.c_long(USER_KEYRING), b"user", name, 0)
found = libc.syscall(*args)
json.dump({"result": found, "errno": ctypes.get_errno()}, open(sys.argv[3], "w"))
"""
"""Agent code that keeps a value in the kernel's keyring of its uid (``store``) and looks for
it in a later run (``search``)."""


def _unlink_key_of_nobody(name: str) -> None:
    """Remove the key ``name`` from the user keyring of uid 65534, where agent code that got
    through would have stored it (a forked child of this process becomes 65534 to reach it)."""
    import ctypes
    import platform

    keyctl = {"x86_64": 250, "aarch64": 219}[platform.machine()]
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        try:
            os.setgroups([])
            os.setgid(SANDBOX_UID)
            os.setuid(SANDBOX_UID)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            user_keyring = ctypes.c_long(-4)
            key = libc.syscall(keyctl, 10, user_keyring, b"user", name.encode(), 0)  # SEARCH
            if key > 0:
                libc.syscall(keyctl, 9, ctypes.c_long(key), user_keyring)  # UNLINK
        finally:
            os._exit(0)
    os.waitpid(child, 0)


def _sandboxed(work: Path, runs: Path, *argv: str) -> dict[str, int]:
    """Run ``work/program.py`` once in the real process sandbox; what it wrote to ``out.json``."""
    from agent_eval.coderun.rerun import fresh_output
    from agent_eval.coderun.sandbox import run_process

    output = fresh_output(runs)
    request = SandboxRequest(
        command=("{python}", "{work}/program.py", *argv, "{output}/out.json"),
        work=work,
        inputs=work,
        output=output,
        time_limit_s=60,
        memory_gb=1,
        name="keyring",
    )
    result = run_process(request, sys.executable)
    assert result.exit_code == 0, result.log_tail
    found: dict[str, int] = json.loads((output / "out.json").read_text())
    return found


def test_no_state_survives_between_sandboxed_runs_in_the_kernel_keyring(tmp_path: Path) -> None:
    """Agent code stores its answer as a key in its uid's user keyring (which outlives every
    sandbox: it belongs to uid 65534 in the host's user namespace) and looks for it in a second,
    separate run, as a timed round would: the sandbox refuses the keyring calls (EPERM), so
    nothing is stored and nothing is found."""
    import errno
    import uuid

    work = tmp_path / "work"
    work.mkdir(mode=0o755)
    (work / "program.py").write_text(KEYRING_PROGRAM)
    (work / "program.py").chmod(0o644)
    runs = tmp_path / "runs"
    runs.mkdir(mode=0o755)
    name = f"mlrb-test-{uuid.uuid4().hex}"
    try:
        stored = _sandboxed(work, runs, "store", name)
        searched = _sandboxed(work, runs, "search", name)
    finally:  # whatever the sandbox let through
        _unlink_key_of_nobody(name)
    assert stored == {"result": -1, "errno": errno.EPERM}
    assert searched["result"] == -1 and searched["errno"] == errno.EPERM


def test_the_keyring_filter_fails_closed_and_the_container_keeps_dockers_profile(
    tmp_path: Path,
) -> None:
    """A machine whose syscall numbers the filter does not know gets no sandbox (never one
    without the filter); the container backend keeps Docker's default seccomp profile, which
    refuses the keyring calls itself."""
    from agent_eval.coderun.sandbox import seccomp_filter

    with pytest.raises(CodeEnvironmentError, match="no seccomp filter for this machine"):
        seccomp_filter("riscv64")
    for machine in ("x86_64", "aarch64"):
        program = seccomp_filter(machine)
        assert program and len(program) % 8 == 0  # whole struct sock_filter entries
    request = SandboxRequest(
        command=("python3", "main.py"),
        work=tmp_path,
        inputs=tmp_path,
        output=tmp_path,
        time_limit_s=10,
        memory_gb=1,
        name="profile",
        image="busybox",
    )
    options = container_settings(request)["security_opt"]
    assert isinstance(options, list)
    assert not any("seccomp" in option for option in options)


def test_scored_and_timed_runs_see_output_folders_of_one_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Agent code that records the host path of its output mount (``/proc/self/mountinfo``):
    the scored run and every timed round see a random ``run-<16 hex>`` name at the same place,
    so no path tells the code which run counts; the baseline's folders are named alike."""
    import importlib

    from agent_eval.coderun import timing as coderun_timing

    # the module by name: the package's attribute `rerun` is the function
    coderun_rerun = importlib.import_module("agent_eval.coderun.rerun")

    body = """
open(args.output, "w").write("image_id,digit_sum\\n" + "".join(f"{i},0\\n" for i in ids))
seen = [l.split()[3] for l in open("/proc/self/mountinfo") if l.split()[4] == "/sandbox/output"]
open(os.path.join(os.path.dirname(args.output), "seen.txt"), "w").write("\\n".join(seen))
"""
    runs: list[tuple[Path, str | None]] = []
    real = coderun_rerun.run_prepared

    def spy(prepared: Any, output: Path) -> Any:
        done = real(prepared, output)
        seen = output / "seen.txt"
        runs.append((output, seen.read_text() if seen.is_file() else None))
        return done

    monkeypatch.setattr(coderun_run, "run_prepared", spy)
    monkeypatch.setattr(coderun_timing, "run_prepared", spy)
    monkeypatch.setattr(coderun_timing, "TIMING_ROUNDS", 1)
    scratch = tempfile.TemporaryDirectory(prefix="coderun-names-")
    try:
        outcome = rerun(
            get_task("digit_sums"),
            _cheat(tmp_path / "names", body),
            tmp_path / "d",
            Path(scratch.name),
        )
    finally:
        scratch.cleanup()
    assert outcome.failure is None and outcome.timing_failure is None, outcome.sandbox.log_tail
    assert outcome.timing is not None
    # the baseline's build, the scored run, and two rounds (warm-up, counted) of both codes
    assert len(runs) == 1 + 1 + 2 * (TIMING_WARMUP + 1)
    names = [output.name for output, _ in runs]
    assert all(re.fullmatch(r"run-[0-9a-f]{16}", name) for name in names), names
    assert len(set(names)) == len(names)
    agent = [(output, seen) for output, seen in runs if seen is not None]
    assert len(agent) == 1 + TIMING_WARMUP + 1  # the scored run first, then its timed runs
    shapes = set()
    for output, seen in agent:
        assert seen and seen.endswith("/" + output.name), seen
        shapes.add(seen.replace(output.name, "run-*"))
    assert len(shapes) == 1, shapes
