"""``run.sh``: the original command line, its usage message, and every bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import BASE_IMAGE, FAKE_HF, FAKE_KEY, MISSING_IMAGE, clean_environ, run_sh

from agent_harness.gpus import visible_gpus

TASK = "edge_llm_training"
BENCH = "full_benchmark"


def _env(runs_dir: Path, extra: str = "") -> dict[str, str]:
    return clean_environ(MLRB_RUN_ARGS=f"--runs-dir {runs_dir} --network none {extra}")


@pytest.mark.parametrize("count", [0, 1, 6, 9])
def test_wrong_argument_count_prints_usage(count: int) -> None:
    result = run_sh(*["x"] * count)
    assert result.returncode == 2
    assert f"got {count}" in result.stderr
    assert "usage: bash run.sh IMAGE BENCHMARK PROVIDER GPU_IDS TASK TIME_LIMIT" in result.stderr


def test_bad_time_limit(env_file: Path, runs_dir: Path) -> None:
    result = run_sh(BASE_IMAGE, BENCH, "openai", "none", TASK, "24hs", str(env_file),
                    env=_env(runs_dir))  # fmt: skip
    assert result.returncode == 2 and "invalid time limit '24hs'" in result.stderr


@pytest.mark.parametrize(
    ("limit", "said"),
    [
        ("24h\t", "spaces, tabs or line ends around it"),
        (" 45s ", "spaces, tabs or line ends around it"),
        ("1H", "units are lower case: h, m, s"),
        ("24", "did you mean 24h? write 24s for seconds"),
        ("59", "did you mean 59h? write 59s for seconds"),
    ],
)
def test_near_miss_time_limits_are_refused_naming_the_accepted_forms(
    env_file: Path, runs_dir: Path, limit: str, said: str
) -> None:
    result = run_sh(BASE_IMAGE, BENCH, "openai", "none", TASK, limit, str(env_file),
                    env=_env(runs_dir))  # fmt: skip
    assert result.returncode == 2
    assert f"invalid time limit {limit!r}" in result.stderr and said in result.stderr
    assert "24h, 90m, 1h30m, 45s, 1h30m15s, or a plain number of seconds from 60" in result.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.parametrize("image", ["--help", "--runtime=local", "-q"])
def test_an_image_that_looks_like_an_option_is_refused(
    env_file: Path, runs_dir: Path, image: str
) -> None:
    result = run_sh(image, BENCH, "openai", "none", TASK, "24h", str(env_file),
                    env=_env(runs_dir))  # fmt: skip
    assert result.returncode == 2
    assert f"error: IMAGE '{image}' starts with '-'" in result.stderr
    assert (
        "usage: bash run.sh IMAGE" in result.stderr and "Usage: agent-harness" not in result.stderr
    )
    assert not runs_dir.exists()


def test_unknown_task_and_benchmark(env_file: Path, runs_dir: Path) -> None:
    result = run_sh(BASE_IMAGE, BENCH, "openai", "none", "edge_llm_trainin", "24h",
                    str(env_file), env=_env(runs_dir))  # fmt: skip
    assert result.returncode == 2 and "did you mean 'edge_llm_training'" in result.stderr
    result = run_sh(BASE_IMAGE, "full_benchmarks", "openai", "none", TASK, "24h",
                    str(env_file), env=_env(runs_dir))  # fmt: skip
    assert result.returncode == 2 and "unknown benchmark 'full_benchmarks'" in result.stderr


def test_missing_env_file_and_missing_key(tmp_path: Path, runs_dir: Path) -> None:
    result = run_sh(BASE_IMAGE, BENCH, "openai", "none", TASK, "24h",
                    str(tmp_path / "absent.env"), env=_env(runs_dir))  # fmt: skip
    assert result.returncode == 2 and "does not exist" in result.stderr
    keyless = tmp_path / "keyless.env"
    keyless.write_text("HF_TOKEN=hf_x\n", encoding="utf-8")
    result = run_sh(BASE_IMAGE, BENCH, "anthropic", "none", TASK, "24h", str(keyless),
                    env=_env(runs_dir))  # fmt: skip
    assert result.returncode == 2 and "ANTHROPIC_API_KEY" in result.stderr


@pytest.mark.docker
def test_gpus_absent_and_image_missing(
    agent_images: dict[str, str], env_file: Path, runs_dir: Path
) -> None:
    if not visible_gpus():
        result = run_sh(BASE_IMAGE, BENCH, "openai", "0", TASK, "24h", str(env_file),
                        env=_env(runs_dir))  # fmt: skip
        assert result.returncode == 3 and "none is visible" in result.stderr
    result = run_sh(MISSING_IMAGE, BENCH, "openai", "none", TASK, "24h", str(env_file),
                    env=_env(runs_dir))  # fmt: skip
    assert result.returncode == 3 and "cannot be pulled" in result.stderr


@pytest.mark.docker
def test_eight_argument_form_passes_the_token_by_environment(
    agent_images: dict[str, str], env_file: Path, runs_dir: Path, docker_client: Any
) -> None:
    command = "--command 'echo token=$HF_TOKEN; echo key=$OPENAI_API_KEY' --json"
    result = run_sh(BASE_IMAGE, BENCH, "openai", "none", TASK, "1m", FAKE_HF, str(env_file),
                    env=_env(runs_dir, command))  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["status"] == "completed" and record["task"] == TASK
    assert "HF_TOKEN" in record["credentials"]
    log = (runs_dir / record["run_id"] / "agent.log").read_text(encoding="utf-8")
    assert "token=[REDACTED]" in log and "key=[REDACTED]" in log
    for text in (log, result.stdout, result.stderr):
        assert FAKE_HF not in text and FAKE_KEY not in text


def test_run_args_are_words_never_shell_code(
    env_file: Path, runs_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    for attack in (f"$(touch {marker})", f"`touch {marker}`", f"; touch {marker}"):
        env = clean_environ(MLRB_RUN_ARGS=f"--runs-dir {runs_dir} {attack}")
        result = run_sh(BASE_IMAGE, BENCH, "none", "none", TASK, "1m", str(env_file), env=env)
        assert result.returncode == 2, result.stderr  # the harness sees stray words, not code
        assert not marker.exists(), attack
    words = (
        f"--runs-dir '{runs_dir}' --runtime local --network none --grace \"10s\" "
        "--command 'echo \"two words\" $TASK_NAME' --json"
    )
    result = run_sh(BASE_IMAGE, BENCH, "none", "none", TASK, "1m", str(env_file),
                    env=clean_environ(MLRB_RUN_ARGS=words))  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["limits"]["grace_s"] == 10 and record["runtime"] == "local"
    log = (runs_dir / record["run_id"] / "agent.log").read_text(encoding="utf-8")
    assert f"two words {TASK}" in log  # $TASK_NAME expanded by the agent's shell, not run.sh's
    result = run_sh(BASE_IMAGE, BENCH, "none", "none", TASK, "1m", str(env_file),
                    env=clean_environ(MLRB_RUN_ARGS="--grace '10s"))  # fmt: skip
    assert result.returncode == 2 and "cannot be split into words" in result.stderr
