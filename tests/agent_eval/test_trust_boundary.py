"""The evaluator's trust boundary, attacked as a hostile agent would (docs/threat-model.md).

Each test leaves what a hostile agent could leave behind and asserts what a user notices: the
exit code, the results file (status, errors, run id, no score) and, where it matters, the
leaderboard. A FIFO must not hang the evaluator: those runs have a hard timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.store import make_run

from agent_eval.deliverable_check import DeliverableRefusedError
from agent_eval.evaluate import EvalOptions, evaluate
from agent_eval.loading import content_hash
from agent_tasks.spec import TaskSpec

Run = Callable[..., subprocess.CompletedProcess[str]]

REJECTED = "'model' is a link that leaves the output folder"
DB_VARS = ("DATABASE_URL", "DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_NAME")


def run_folder(
    root: Path, run: dict[str, Any], model: Path | None = None, where: str = "model"
) -> Path:
    """A run folder as agent-harness leaves it: run.json, output/ (with ``model`` at ``where``)."""
    (root / "output").mkdir(parents=True)
    if model is not None:
        shutil.copytree(model, root / "output" / where)
    fields = {"task": "evaltest_params", "image": "lab/hostile:1", "deliverable": None, **run}
    record = make_run(root.name, **fields).model_dump(mode="json")
    (root / "run.json").write_text(json.dumps(record))
    return root


def saved_result(results: Path) -> dict[str, Any]:
    """The single results file written into ``results``."""
    (path,) = results.glob("*.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def assert_no_score(result: dict[str, Any]) -> None:
    """An error result: no metric value, no score, at least one error."""
    assert result["status"] == "error"
    assert result["score"] is None and result["metrics"] == []
    assert result["errors"]


def cli_eval(run_cli: Run, model_args: Path, results: Path, *extra: str, **kw: Any) -> Any:
    """``agent-eval --model_args PATH --task evaltest_params --no-db`` as a user runs it."""
    return run_cli(
        "--model_args", str(model_args), "--task", "evaltest_params", "--no-db",
        "--results-dir", str(results), "--device", "cpu", *extra, **kw,
    )  # fmt: skip


def in_process(path: Path, results: Path, spec: TaskSpec | None = None) -> Any:
    """The same evaluation in this process (faster; same code path after the CLI)."""
    return evaluate(
        EvalOptions(
            model_args=str(path), task="evaltest_params", record=False, results_dir=results
        ),
        spec=spec,
    )


@pytest.fixture
def params_spec(make_spec: Callable[..., TaskSpec]) -> TaskSpec:
    """A task whose only metric is the parameter count (loads the model, reads no data)."""
    return make_spec("evaltest_params", [{"name": "parameters", "direction": "lower"}])


# --------------------------------------------------------------------------- run folders


def test_a_rejected_deliverable_is_an_error_linked_to_the_run(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    # The agent's output/model is a perfectly loadable model, but the harness rejected it.
    run = run_folder(
        tmp_path / "runs" / "r-rejected",
        {"deliverable_rejected": REJECTED},
        model=tiny_gpt2_dir,
    )
    results = tmp_path / "results"
    proc = cli_eval(run_cli, run, results)
    assert proc.returncode == 5, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "the harness rejected the deliverable" in proc.stderr and REJECTED in proc.stderr
    result = saved_result(results)
    assert_no_score(result)
    assert result["run_id"] == "r-rejected"
    assert result["model"]["sha256"] is None  # nothing was read, nothing hashed
    assert result["errors"][0]["stage"] == "load"
    assert REJECTED in result["errors"][0]["message"]


def test_a_run_without_an_accepted_deliverable_is_never_looked_into(
    tiny_gpt2_dir: Path, tmp_path: Path, params_spec: TaskSpec
) -> None:
    # run.json accepted nothing; output/model exists all the same.
    run = run_folder(tmp_path / "r-none", {}, model=tiny_gpt2_dir)
    outcome = in_process(run, tmp_path / "results", params_spec)
    assert outcome.exit_code == 5
    result = saved_result(tmp_path / "results")
    assert_no_score(result)
    assert result["run_id"] == "r-none"
    assert "run.json accepted none" in result["errors"][0]["message"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("ABSOLUTE", "absolute, empty or with '..'"),
        ("output/../../elsewhere/model", "absolute, empty or with '..'"),
        ("output/model", "resolves outside the run folder"),  # output/model -> elsewhere
    ],
    ids=["absolute", "dotdot", "link-out"],
)
def test_a_deliverable_path_leaving_the_run_folder_is_refused(
    tiny_gpt2_dir: Path, tmp_path: Path, params_spec: TaskSpec, path: str, message: str
) -> None:
    elsewhere = tmp_path / "elsewhere" / "model"
    shutil.copytree(tiny_gpt2_dir, elsewhere)
    named = str(elsewhere) if path == "ABSOLUTE" else path
    run = run_folder(
        tmp_path / "runs" / "r-out", {"deliverable": {"path": named, "source": "submission.json"}}
    )
    if path == "output/model":
        (run / "output" / "model").symlink_to(elsewhere)
    outcome = in_process(run, tmp_path / "results", params_spec)
    assert outcome.exit_code == 5
    result = saved_result(tmp_path / "results")
    assert_no_score(result)
    assert result["run_id"] == "r-out"
    assert message in result["errors"][0]["message"]


def test_a_run_json_that_is_a_fifo_or_a_link_is_refused_at_once(
    run_cli: Run, tmp_path: Path, params_spec: TaskSpec
) -> None:
    fifo_run = tmp_path / "r-fifo"
    fifo_run.mkdir()
    os.mkfifo(fifo_run / "run.json")
    started = time.monotonic()
    proc = cli_eval(run_cli, fifo_run, tmp_path / "results", timeout=60)
    assert time.monotonic() - started < 30
    assert proc.returncode == 5, proc.stderr
    assert "FIFO" in proc.stderr
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").iterdir())
    linked = tmp_path / "r-link"
    linked.mkdir()
    (linked / "run.json").symlink_to("/etc/hostname")
    with pytest.raises(DeliverableRefusedError, match="is a link, not a regular file"):
        in_process(linked, tmp_path / "results2", params_spec)


# --------------------------------------------------------------------------- any deliverable


def test_a_fifo_named_like_a_model_file_does_not_hang_the_evaluator(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    for name in ("model.safetensors", "config.json"):
        model = tmp_path / name / "model"
        shutil.copytree(tiny_gpt2_dir, model)
        (model / name).unlink()
        os.mkfifo(model / name)
        results = tmp_path / name / "results"
        started = time.monotonic()
        proc = cli_eval(run_cli, model, results, timeout=60)  # a hang fails here
        elapsed = time.monotonic() - started
        assert elapsed < 30, f"{name}: {elapsed:.1f} s"
        assert proc.returncode == 5, proc.stderr
        assert f"{name!r} in the deliverable is a FIFO" in proc.stderr
        result = saved_result(results)
        assert_no_score(result)
        assert result["model"]["sha256"] is None


def test_sockets_and_device_nodes_are_refused_unopened(
    tiny_gpt2_dir: Path, tmp_path: Path, params_spec: TaskSpec
) -> None:
    model = tmp_path / "sock" / "model"
    shutil.copytree(tiny_gpt2_dir, model)
    (model / "tokenizer.json").unlink()
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(model / "tokenizer.json"))
        outcome = in_process(model, tmp_path / "sock" / "results", params_spec)
    finally:
        server.close()
    assert outcome.exit_code == 5
    assert "'tokenizer.json' in the deliverable is a socket" in outcome.failure.message
    assert_no_score(saved_result(tmp_path / "sock" / "results"))
    if os.geteuid() != 0:
        return  # creating a device node needs CAP_MKNOD
    model = tmp_path / "dev" / "model"
    shutil.copytree(tiny_gpt2_dir, model)
    os.mknod(model / "notes.bin", 0o600 | 0o020000, os.makedev(1, 3))  # /dev/null's numbers
    outcome = in_process(model, tmp_path / "dev" / "results", params_spec)
    assert outcome.exit_code == 5
    assert "'notes.bin' in the deliverable is a character device node" in outcome.failure.message


@pytest.mark.parametrize(
    ("name", "target"),
    [("model.safetensors", "ELSEWHERE"), ("notes.txt", "/etc/passwd")],
)
def test_links_leaving_a_model_folder_are_refused(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path, name: str, target: str
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_gpt2_dir, model)
    if target == "ELSEWHERE":
        target = str(tmp_path / "elsewhere.safetensors")
        (model / name).rename(target)
    (model / name).symlink_to(target)
    results = tmp_path / "results"
    proc = cli_eval(run_cli, model, results)
    assert proc.returncode == 5, proc.stderr
    assert f"{name!r} is a link that leaves it" in proc.stderr
    result = saved_result(results)
    assert_no_score(result)
    assert result["model"]["sha256"] is None


def test_links_inside_the_folder_are_followed_and_hashed_as_what_was_loaded(
    tiny_gpt2_dir: Path, tmp_path: Path, params_spec: TaskSpec
) -> None:
    linked = tmp_path / "linked"
    shutil.copytree(tiny_gpt2_dir, linked)
    (linked / "model.safetensors").rename(linked / "weights.bin.real")
    (linked / "model.safetensors").symlink_to("weights.bin.real")
    copied = tmp_path / "copied"
    shutil.copytree(linked, copied, symlinks=False)  # the link replaced by a copy of its bytes
    outcome = in_process(linked, tmp_path / "results", params_spec)
    assert outcome.exit_code == 0, outcome.result.errors
    assert outcome.result.model.sha256 == content_hash(copied)
    # The hash changes with any byte of any file evaluated, and only with those.
    (copied / "weights.bin.real").write_bytes(b"x" + (copied / "weights.bin.real").read_bytes())
    assert content_hash(copied) != outcome.result.model.sha256


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AGENT_EVAL_DELIVERABLE_MAX_FILE_BYTES", "1000000", "bytes for one file"),
        ("AGENT_EVAL_DELIVERABLE_MAX_BYTES", "1000000", "holds more than 1,000,000 bytes"),
        ("AGENT_EVAL_DELIVERABLE_MAX_FILES", "5", "more than 5 entries"),
    ],
)
def test_absurd_sizes_are_refused_before_reading(
    tiny_gpt2_dir: Path,
    tmp_path: Path,
    params_spec: TaskSpec,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_gpt2_dir, model)
    with (model / "padding.bin").open("wb") as fh:  # sparse: announces 4 GiB, holds nothing
        fh.truncate(4 << 30)
    monkeypatch.setenv(variable, value)
    started = time.monotonic()
    outcome = in_process(model, tmp_path / "results", params_spec)
    assert time.monotonic() - started < 20  # refused from the metadata, nothing read
    assert outcome.exit_code == 5
    assert message in outcome.failure.message
    assert_no_score(saved_result(tmp_path / "results"))


def test_a_malformed_size_cap_is_a_usage_error(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    proc = cli_eval(
        run_cli, tiny_gpt2_dir, tmp_path, env={"AGENT_EVAL_DELIVERABLE_MAX_BYTES": "lots"}
    )
    assert proc.returncode == 2
    assert "AGENT_EVAL_DELIVERABLE_MAX_BYTES" in proc.stderr
    assert not list(tmp_path.glob("*.json"))


# --------------------------------------------------------------------------- self-reported numbers


def _budget_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    rows = ["image_id,digit_sum"] + [f"img{i},{i % 28}" for i in range(5)]
    (root / "submission.csv").write_text("\n".join(rows) + "\n")
    (root / "inference.json").write_text(json.dumps({"inference_time_s": 0.6}))
    return root


def _no_db_env(cli_env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in cli_env.items() if k not in DB_VARS}


def _agent_eval(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "agent-eval"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture
def stale_twe_result(tmp_path: Path) -> Iterator[Path]:
    """A results file of an older evaluator: TWE 64 from a self-reported 0.6 s, scored 6400."""
    from agent_contracts.results import AgentInfo, EvaluationResult, MetricValue, ModelInfo
    from agent_eval.environment import collect
    from agent_eval.results import utcnow, write_result
    from agent_eval.scores import score
    from agent_tasks.registry import get_task

    spec = get_task("budget_model_inference")
    now = utcnow()
    result = EvaluationResult(
        run_id="r-cheat",
        task=spec.name,
        benchmark=spec.benchmark,
        task_version=spec.version,
        agent=AgentInfo(label="cheater"),
        model=ModelInfo(path="/runs/r-cheat/output/submission.csv", format="predictions_csv"),
        status="ok",
        metrics=(
            MetricValue(name="twe", value=64.0, unit="score", direction="higher", source="twe"),
        ),
        primary_metric="twe",
        score=score(spec, 64.0),
        environment=collect(
            device="cpu", dtype=None, batch_size=None, num_fewshot=None, sample_limit=None
        ),
        started_at=now,
        finished_at=now,
        duration_s=1.0,
    )
    assert result.score is not None and result.score.normalised == pytest.approx(6400)
    yield write_result(result, tmp_path / "stale")


def test_a_self_reported_inference_time_is_never_a_score(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = _no_db_env(cli_env)
    results = tmp_path / "results"
    folder = _budget_folder(tmp_path / "deliverable")
    proc = _agent_eval(
        env, "--model_args", str(folder), "--task", "budget_model_inference",
        "--results-dir", str(results), "--agent-label", "cheater",
    )  # fmt: skip
    # 5: recorded as an error; 3: the evaluator's own re-run cannot start here. Never 0.
    assert proc.returncode in (3, 5), proc.stdout[-2000:] + proc.stderr[-2000:]
    saved = [json.loads(p.read_text()) for p in results.glob("*.json")]
    for result in saved:
        assert_no_score(result)
        assert not any(m["name"] == "twe" for m in result["metrics"])
    if proc.returncode == 5:
        assert saved and "not measured by the evaluator" in proc.stderr + proc.stdout


def test_a_results_file_holding_a_self_reported_score_is_not_ranked(
    cli_env: dict[str, str], tmp_path: Path, stale_twe_result: Path
) -> None:
    env = _no_db_env(cli_env)
    results = tmp_path / "results"
    results.mkdir()
    # An older results file that holds the number is recorded, but never ranked.
    shutil.copy(stale_twe_result, results / stale_twe_result.name)
    # The same file with conditions that meet the policy: ranked as a trial, never its number.
    from support.store import ranked_conditions

    document = json.loads(stale_twe_result.read_text())
    conditions = ranked_conditions(document["task"]).model_dump(mode="json")
    document.update(
        evaluation_id="f" * 32, conditions=conditions,
        agent={**document["agent"], "label": "cheater-with-conditions"},
    )  # fmt: skip
    (results / "with-conditions.json").write_text(json.dumps(document))
    sync = _agent_eval(env, "sync", str(results))
    assert sync.returncode == 0, sync.stderr
    for metric in ("relative", "absolute", "raw"):
        board = _agent_eval(
            env, "leaderboard", "--results-dir", str(results), "-b", "full_benchmark",
            "--metric", metric, "--json",
        )  # fmt: skip
        assert board.returncode == 0, board.stderr
        (view,) = json.loads(board.stdout)["benchmarks"]
        # The older file records no conditions either: it is listed apart, never ranked.
        assert [r for r in view["rows"] if r["agent"] == "cheater"] == []
        (left,) = [e for e in json.loads(board.stdout)["not_ranked"] if e["agent"] == "cheater"]
        assert "conditions not recorded" in left["why"]
        (row,) = [r for r in view["rows"] if r["agent"] == "cheater-with-conditions"]
        cell = row["cells"]["budget_model_inference"]
        assert cell["value"] is None and cell["best"] is None and cell["valid_trials"] == 0
        assert row["average"] is None
        assert "6400" not in board.stdout and "64.0" not in board.stdout


def test_a_file_that_cannot_be_opened_is_a_load_error_not_a_traceback(tmp_path: Path) -> None:
    # Weights written 0600 by another user fail to open the same way (OSError): as root the
    # test plays it with a file that vanished between the check and the read.
    from agent_eval.deliverable_check import open_regular
    from agent_eval.errors import ModelLoadError

    gone = tmp_path / "model.safetensors"
    with pytest.raises(ModelLoadError, match=r"cannot be read") as info, open_regular(gone):
        pass
    assert info.value.hint and "read access" in info.value.hint


def test_a_run_whose_output_was_not_copied_out_is_refused(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    # A record of a harness that cleaned the output in place (no output_safety.copied), or of
    # one whose copy failed: the loadable model in it is never scored.
    results = tmp_path / "results"
    for name, safety in (
        ("r-old", None),
        ("r-in-place", {"owner": "0:0", "safe": True}),
        ("r-failed", {"owner": "0:0", "safe": False, "copied": False, "failure": "deep"}),
    ):
        run = run_folder(
            tmp_path / "runs" / name,
            {"deliverable": {"path": "output/model", "source": "spec"}, "output_safety": safety},
            model=tiny_gpt2_dir,
        )
        proc = cli_eval(run_cli, run, results / name)
        assert proc.returncode == 5, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "does not say the harness copied the output out" in proc.stderr
        result = saved_result(results / name)
        assert_no_score(result)
        assert result["run_id"] == name and result["model"]["sha256"] is None


def test_a_run_json_the_agent_left_in_its_output_is_not_a_run_record(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    # The victim's run folder; the agent wrote its own run.json into its output, naming the
    # victim's run id and a label of its choosing, beside a loadable model.
    victim = run_folder(
        tmp_path / "runs" / "r-victim",
        {"deliverable": {"path": "output/model", "source": "spec"}, "agent_label": "victim"},
        model=tiny_gpt2_dir,
    )
    forged = make_run(
        "r-victim",
        task="evaltest_params",
        agent_label="forged-label",
        image="lab/forger:1",
        deliverable={"path": "output/model", "source": "spec"},
    )
    (victim / "output" / "run.json").write_text(forged.model_dump_json())
    shutil.copytree(tiny_gpt2_dir, victim / "output" / "output" / "model")
    results = tmp_path / "results"
    proc = cli_eval(run_cli, victim / "output", results, "--json")
    result = saved_result(results)
    assert result["run_id"] is None  # not recorded under the victim's run
    assert "forged-label" not in json.dumps(result) and "lab/forger" not in json.dumps(result)
    assert result["model"]["path"] == str(victim / "output")  # evaluated as a plain folder
    assert proc.returncode == 5, proc.stderr  # the folder itself holds no model at its top
