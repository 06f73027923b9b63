"""The whole loop: a run through the harness, hand-off to the evaluator, database, leaderboard."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.e2e import (
    BIN,
    FAKE_KEY,
    REPO,
    clean_env,
    cli,
    evaluation_rows,
)
from support.images import session_image


def only_run(runs_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The single run folder under ``runs_dir`` and its run.json."""
    found = [p for p in runs_dir.iterdir() if (p / "run.json").is_file()]
    assert len(found) == 1, found
    return found[0], json.loads((found[0] / "run.json").read_text())


def results_of(results_dir: Path) -> list[dict[str, Any]]:
    """Every results JSON written, oldest first."""
    return [json.loads(p.read_text()) for p in sorted(results_dir.glob("*.json"))]


def evaluated_run(
    image: str, runs: Path, results: Path, *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``agent-harness run IMAGE --task tiny_lm ... --evaluate`` (evaluator as a process)."""
    return cli(
        "agent-harness", "run", image, "--task", "tiny_lm", "--runs-dir", str(runs),
        "--evaluate", "--eval-mode", "process", "--results-dir", str(results), *options, env=env,
    )  # fmt: skip


def image_mode_run(
    image: str,
    runs: Path,
    results: Path,
    evaluator: str,
    *options: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``agent-harness run IMAGE --task tiny_lm --runtime docker ... --evaluate`` with the
    evaluator image ``evaluator``."""
    return cli(
        "agent-harness", "run", image, "--task", "tiny_lm", "--runtime", "docker",
        "--network", "none", "--runs-dir", str(runs), "--results-dir", str(results),
        "--evaluate", "--eval-mode", "image", "--eval-image", evaluator, *options, env=env,
    )  # fmt: skip


@pytest.mark.slow
def test_demo_runs_the_loop_locally_and_adds_a_trial_when_run_again(tmp_path: Path) -> None:
    runs, results = tmp_path / "runs", tmp_path / "results"
    demo = [
        str(BIN / "python"),
        str(REPO / "scripts" / "demo.py"),
        "--steps",
        "15",
        "--time-limit",
        "4m",
        "--runs-dir",
        str(runs),
        "--results-dir",
        str(results),
    ]

    first = subprocess.run(demo, capture_output=True, text=True, env=clean_env(), timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "leaderboard page" in first.stdout
    page = results / "leaderboard.html"
    assert page.is_file() and "tiny_lm" in page.read_text()
    # The run's own page opens from the demo's last lines, with its evaluation on it.
    shown = [line.split()[2] for line in first.stdout.splitlines() if "its page" in line]
    assert len(shown) == 1 and Path(shown[0]).is_file(), first.stdout[-2000:]
    assert "tiny_lm" in Path(shown[0]).read_text() and "Provenance" in Path(shown[0]).read_text()

    (result,) = results_of(results)
    run_dirs = sorted(p.name for p in runs.iterdir())
    assert result["run_id"] == run_dirs[0]
    assert result["task"] == "tiny_lm" and result["status"] == "ok"
    assert result["score"]["normalised"] is not None
    rows = evaluation_rows(results)
    assert [(r[1], r[2], r[3]) for r in rows] == [(run_dirs[0], "tiny_lm", "ok")]
    # The closing lines name this run's own folder and results file, not a pattern.
    assert f"this run         {runs / run_dirs[0]}/" in first.stdout
    (saved,) = results.glob("*.json")
    assert f"its evaluation   {saved}" in first.stdout

    second = subprocess.run(demo, capture_output=True, text=True, env=clean_env(), timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert len(evaluation_rows(results)) == 2
    assert second.stdout.count("this run ") == 1 and str(runs / run_dirs[0]) not in second.stdout
    board = cli(
        "agent-eval", "leaderboard", "--benchmark", "smoke", "--json", "--results-dir", str(results)
    )
    assert board.returncode == 0, board.stderr
    data = json.loads(board.stdout)
    text = json.dumps(data)
    assert "reference-agent" in text
    assert '"trials":2' in text.replace(" ", "")


@pytest.mark.docker
def test_docker_run_hands_its_model_to_the_evaluator(tmp_path: Path, delivering_image: str) -> None:
    runs, results = tmp_path / "runs", tmp_path / "results"
    docker = ("--runtime", "docker", "--network", "none")
    done = evaluated_run(delivering_image, runs, results, *docker, "--time-limit", "2m")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _, record = only_run(runs)
    assert record["status"] == "completed"
    assert record["deliverable"]["path"] == "output/model"
    assert record["evaluation"]["exit_code"] == 0 and record["evaluation"]["mode"] == "process"
    (result,) = results_of(results)
    assert result["run_id"] == record["run_id"]
    assert result["status"] == "ok"
    names = {m["name"] for m in result["metrics"]}
    assert {"bits_per_byte", "perplexity", "parameters"} <= names
    assert [(r[1], r[3]) for r in evaluation_rows(results)] == [(record["run_id"], "ok")]


@pytest.mark.docker
def test_image_mode_runs_the_evaluator_offline_on_the_read_only_run_and_records_it(
    tmp_path: Path, delivering_image: str, stand_in_eval_image: tuple[str, str], docker_client: Any
) -> None:
    image, evaluation_id = stand_in_eval_image
    runs, results = tmp_path / "runs", tmp_path / "results"
    done = image_mode_run(delivering_image, runs, results, image)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "args: --model_args /run-record --task tiny_lm" in done.stderr + done.stdout
    _, record = only_run(runs)
    link = record["evaluation"]
    assert link["mode"] == "image" and link["image"] == image and link["exit_code"] == 0
    assert link["results"] == ["stand-in-result.json"] and link["recorded"] is True
    assert [r[0] for r in evaluation_rows(results)] == [evaluation_id]
    run_dir, _ = only_run(runs)
    left = docker_client.containers.list(
        all=True, filters={"label": f"mlrb.evaluates={run_dir.name}"}
    )
    assert left == []  # the evaluator's container is removed once it has ended


@pytest.mark.docker
def test_image_mode_exits_6_when_the_result_cannot_be_recorded(
    tmp_path: Path, delivering_image: str, stand_in_eval_image: tuple[str, str]
) -> None:
    image, _ = stand_in_eval_image
    runs, results = tmp_path / "runs", tmp_path / "results"
    down = "postgresql+psycopg2://mlrb@127.0.0.1:1/none"  # nothing listens on port 1
    done = image_mode_run(delivering_image, runs, results, image, env=clean_env(DATABASE_URL=down))
    assert done.returncode == 6, done.stdout[-3000:] + done.stderr[-3000:]
    _, record = only_run(runs)
    link = record["evaluation"]
    assert link["exit_code"] == 6 and link["recorded"] is False
    assert (results / "stand-in-result.json").is_file()  # saved as JSON: nothing lost


@pytest.mark.docker
def test_image_mode_records_its_result_beside_an_unrelated_bad_results_file(
    tmp_path: Path, delivering_image: str, stand_in_eval_image: tuple[str, str]
) -> None:
    image, evaluation_id = stand_in_eval_image
    runs, results = tmp_path / "runs", tmp_path / "results"
    results.mkdir()
    (results / "someone-elses.json").write_text('{"evaluation_id": "x", "task": 3}')
    done = image_mode_run(delivering_image, runs, results, image)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _, record = only_run(runs)
    assert record["evaluation"]["recorded"] is True
    assert [r[0] for r in evaluation_rows(results)] == [evaluation_id]
    assert "someone-elses.json" in done.stdout + done.stderr  # the bad file is named, not hidden


@pytest.mark.docker
def test_an_evaluator_container_the_engine_refuses_is_exit_3_and_recorded(
    tmp_path: Path, delivering_image: str, docker_client: Any
) -> None:
    broken = session_image("e2e-broken-evaluator")
    context = tmp_path / "broken"
    context.mkdir()
    (context / "README").write_text("an image whose entrypoint does not exist\n")
    (context / "Dockerfile").write_text('FROM scratch\nCOPY README /README\nENTRYPOINT ["/nope"]\n')
    docker_client.images.build(path=str(context), tag=broken, network_mode="none", rm=True)
    runs, results = tmp_path / "runs", tmp_path / "results"
    done = image_mode_run(delivering_image, runs, results, broken)
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    run_dir, record = only_run(runs)
    link = record["evaluation"]
    assert link["exit_code"] == 3 and link["recorded"] is False and link["results"] == []
    assert "the evaluator container did not start" in link["message"]
    assert record["status"] == "completed"  # the agent's own run is unchanged
    left = docker_client.containers.list(
        all=True, filters={"label": f"mlrb.evaluates={run_dir.name}"}
    )
    assert left == []  # the refused container is not left behind


@pytest.mark.docker
def test_image_mode_records_a_failed_evaluations_error_result(
    tmp_path: Path, delivering_image: str, stand_in_eval_image: tuple[str, str]
) -> None:
    image, evaluation_id = stand_in_eval_image
    runs, results = tmp_path / "runs", tmp_path / "results"
    agent = "cp -r /model-src /app/output/model; touch /app/output/fail-evaluation"
    done = image_mode_run(delivering_image, runs, results, image, "--command", agent)
    assert done.returncode == 5, done.stdout[-3000:] + done.stderr[-3000:]
    _, record = only_run(runs)
    link = record["evaluation"]
    assert link["exit_code"] == 5 and link["recorded"] is True
    assert link["results"] == ["stand-in-error.json"]
    assert [r[0] for r in evaluation_rows(results)] == [f"{evaluation_id}-error"]
    assert "not recorded in the database" not in done.stdout + done.stderr


@pytest.mark.docker
def test_timed_out_run_with_a_deliverable_is_evaluated_anyway(
    tmp_path: Path, delivering_image: str
) -> None:
    runs, results = tmp_path / "runs", tmp_path / "results"
    agent = "cp -r /model-src /app/output/model; echo saved; sleep 60"
    docker = ("--runtime", "docker", "--network", "none")
    limits = ("--time-limit", "3s", "--grace", "1s")
    done = evaluated_run(delivering_image, runs, results, *docker, *limits, "--command", agent)
    assert done.returncode == 124, done.stdout[-3000:] + done.stderr[-3000:]
    _, record = only_run(runs)
    assert record["status"] == "timeout"
    assert record["evaluation"]["exit_code"] == 0
    (result,) = results_of(results)
    assert result["run_id"] == record["run_id"] and result["status"] == "ok"
    assert evaluation_rows(results)[0][1] == record["run_id"]


def test_run_without_deliverable_is_recorded_as_no_output_not_zero(tmp_path: Path) -> None:
    runs, results = tmp_path / "runs", tmp_path / "results"
    local = ("--runtime", "local", "--command", "echo nothing to deliver")
    done = evaluated_run("empty-agent", runs, results, *local, "--time-limit", "30s")
    assert done.returncode == 5, done.stdout[-3000:] + done.stderr[-3000:]
    _, record = only_run(runs)
    assert record["status"] == "completed" and record["deliverable"] is None
    assert record["evaluation"]["exit_code"] == 5
    (result,) = results_of(results)
    assert result["run_id"] == record["run_id"]
    assert result["status"] == "error"
    assert result["score"] is None and result["metrics"] == []
    assert "deliverable" in result["errors"][0]["message"]
    assert [(r[1], r[3]) for r in evaluation_rows(results)] == [(record["run_id"], "error")]
    # exit 5 alone does not say whether the error result was recorded; the report did
    assert record["evaluation"]["recorded"] is True
    assert "not recorded in the database" not in done.stdout + done.stderr
    board = cli(
        "agent-eval", "leaderboard", "--benchmark", "smoke", "--json", "--results-dir", str(results)
    )
    assert board.returncode == 0, board.stderr
    assert "L1" in board.stdout


def test_a_failed_evaluation_that_could_not_be_recorded_says_so(tmp_path: Path) -> None:
    runs, results = tmp_path / "runs", tmp_path / "results"
    down = "postgresql+psycopg2://mlrb@127.0.0.1:1/none"  # nothing listens on port 1
    done = evaluated_run(
        "empty-agent", runs, results, "--runtime", "local", "--command", "true",
        "--time-limit", "30s", env=clean_env(DATABASE_URL=down),
    )  # fmt: skip
    assert done.returncode == 5, done.stdout[-3000:] + done.stderr[-3000:]
    _, record = only_run(runs)
    assert record["evaluation"]["exit_code"] == 5 and record["evaluation"]["recorded"] is False
    (result,) = results_of(results)  # saved as JSON: nothing lost
    assert result["status"] == "error" and result["run_id"] == record["run_id"]
    said = done.stdout + done.stderr
    assert "(not recorded in the database)" in said
    assert f"load it later with 'agent-eval sync {results}'" in said


@pytest.mark.docker
def test_run_sh_gives_the_agent_its_key_and_keeps_it_out_of_the_run_folder(
    tmp_path: Path, delivering_image: str
) -> None:
    env_file = tmp_path / "agent.env"
    env_file.write_text(f"OPENAI={FAKE_KEY}\nDB_PASSWORD=db-FAKE-e2e\n")
    command = (
        'echo "$OPENAI_API_KEY" | sha256sum > /app/output/key.sha256; '
        'echo "$OPENAI" | sha256sum >> /app/output/key.sha256; '
        'echo "${DB_PASSWORD:-no-db-password}" > /app/output/db.txt; '
        'echo "the key is $OPENAI_API_KEY"'
    )

    done = subprocess.run(
        [
            "bash",
            str(REPO / "run.sh"),
            delivering_image,
            "smoke",
            "openai",
            "none",
            "tiny_lm",
            "1m",
            str(env_file),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env=clean_env(
            MLRB_RUN_ARGS="--runtime docker --network none --grace 1s --credentials direct "
            f"--command '{command}'"
        ),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir, record = only_run(tmp_path / "runs")
    digest = hashlib.sha256(f"{FAKE_KEY}\n".encode()).hexdigest()
    assert (run_dir / "output" / "key.sha256").read_text().split() == [digest, "-", digest, "-"]
    assert (run_dir / "output" / "db.txt").read_text().strip() == "no-db-password"
    assert FAKE_KEY not in done.stdout + done.stderr
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
    assert "the key is" in (run_dir / "agent.log").read_text()
    assert set(record["credentials"]) == {"OPENAI_API_KEY", "OPENAI"}


def test_the_run_record_the_harness_writes_becomes_a_runs_row_with_its_label(
    tmp_path: Path, tiny_model: Path
) -> None:
    import sqlite3

    runs, results = tmp_path / "runs", tmp_path / "results"
    done = evaluated_run(
        "ignored-for-local", runs, results, "--runtime", "local", "--time-limit", "1m",
        "--agent-label", "careful-agent", "--command", f"cp -r {tiny_model} $OUTPUT_DIR/model",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run_dir, record = only_run(runs)
    assert record["agent_label"] == "careful-agent"
    with sqlite3.connect(results / "mlrb.sqlite") as db:
        row = db.execute(
            "SELECT run_id, agent_label, task, status, exit_code, started_at, finished_at, "
            "duration_s FROM runs"
        ).fetchone()
        label = db.execute("SELECT agent_label FROM evaluations").fetchone()
    assert row[:5] == (run_dir.name, "careful-agent", "tiny_lm", "completed", 0)
    assert row[5] is not None and row[6] is not None and row[7] == record["duration_s"]
    assert label == ("careful-agent",)
