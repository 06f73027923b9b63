"""The container backend of code re-runs, on a real engine, with a busybox task environment.

The image stands in for an MLRC-Bench environment image: a pristine task folder at /task
(`main.sh`, a read-only framework that runs a method by name, `constants.py`, `score.sh`, the
task's scorer). The agent's deliverable is a `methods/` folder; one method probes the sandbox
from inside and answers the task, one never ends.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from support.images import session_image

from agent_eval.coderun import rerun
from agent_eval.coderun.rerun import score_in_image
from agent_eval.evaluate import EvalOptions, evaluate
from agent_tasks.registry import get_task
from agent_tasks.spec import CodeRun, TaskSpec

pytestmark = pytest.mark.docker

IMAGE = session_image("h5-codedeliv-mlrc-env")
KEY = "h5-codedeliv-probe"
LABEL_MARKER = "LABEL-7f3a9c"

MAIN = """\
#!/bin/sh
# The pristine framework: main.sh METHOD runs methods/METHOD.sh in the test phase.
. ./constants.py && export PHASE
[ "$PHASE" = test ] || { echo "not the test constants"; exit 5; }
exec /bin/sh "methods/$1.sh"
"""
SCORE = """\
#!/bin/sh
# score.sh --predictions DIR --labels DIR: prints {"score": 1} when the answer is right.
got=$(cat "$2/test_predictions.json")
want=$(cat "$4/answer.txt")
if [ "{\\"answer\\": \\"$want\\"}" = "$got" ]; then echo '{"score": 1.0}'
else echo '{"score": 0.0}'; fi
"""
PROBE = """\
echo "uid=$(id -u)"
echo "ifaces=$(grep -c : /proc/net/dev)"
for f in /task/x /task/methods/x /work/x /inputs/x /x; do
  if touch "$f" 2>/dev/null; then echo "writable=$f"; fi
done
echo "label_files=$(find / -xdev -name 'answer.txt' 2>/dev/null | wc -l)"
echo "label_marker=$(grep -rl "LABEL-$(echo 7f3a9c)" /inputs /task /work /tmp 2>/dev/null | wc -l)"
echo "constants=$PHASE"
q=$(cat /inputs/question.txt)
printf '{"answer": "%s"}' "$((q))" > "$MLRB_OUTPUT/test_predictions.json"
"""


@pytest.fixture(scope="module")
def env_image(
    docker_client: Any, busybox_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The stand-in environment image, built FROM scratch with busybox."""
    context = tmp_path_factory.mktemp("h5-env-image")
    shutil.copy2(busybox_path, context / "busybox")
    task = context / "task"
    (task / "methods").mkdir(parents=True)
    (task / "main.sh").write_text(MAIN)
    (task / "score.sh").write_text(SCORE)
    (task / "constants.py").write_text("PHASE=dev\n")
    (task / "methods" / "__init__.py").write_text("")
    (context / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY busybox /bin/sh\nCOPY task /task\n"
    )
    docker_client.images.build(path=str(context), tag=IMAGE, network_mode="none", rm=True)
    yield IMAGE
    docker_client.images.remove(IMAGE, force=True)


def _spec(time_limit_s: int = 30) -> TaskSpec:
    base = get_task("mlrc_machine_unlearning")
    code_run = CodeRun(
        command=("/bin/sh", "main.sh", "{method}"),
        inputs=f"mlrc-bench/{KEY}:test",
        output_file="test_predictions.json",
        pristine="/task",
        protected=("main.sh", "constants.py"),
        test_constants=f"mlrc/{KEY}/constants_test.py",
        method_file="methods/{method}.sh",
        image=IMAGE,
        scorer=("/bin/sh", "score.sh", "--predictions", "{output}", "--labels", "{labels}"),
        labels=f"mlrc/{KEY}/labels",
        time_limit_s=time_limit_s,
        memory_gb=0.25,
    )
    evaluation = base.evaluation.model_copy(update={"code_run": code_run})
    return base.model_copy(update={"evaluation": evaluation})


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The evaluator's data folder: test inputs, test constants, and the labels."""
    data = tmp_path / "data"
    inputs = data / "code_inputs" / f"mlrc-bench__{KEY}" / "test"
    inputs.mkdir(parents=True)
    (inputs / "question.txt").write_text("6*7\n")
    (data / "mlrc" / KEY / "labels").mkdir(parents=True)
    (data / "mlrc" / KEY / "labels" / "answer.txt").write_text("42\n")
    (data / "mlrc" / KEY / "labels" / "marker.txt").write_text(LABEL_MARKER)
    (data / "mlrc" / KEY / "constants_test.py").write_text("PHASE=test\n")
    return data


def _deliver(tmp_path: Path, method: str, body: str) -> Path:
    out = tmp_path / "output"
    (out / "methods").mkdir(parents=True)
    (out / "methods" / "__init__.py").write_text("")
    (out / "methods" / f"{method}.sh").write_text(body)
    (out / "submission.json").write_text(json.dumps({"method": method}))
    # The agent's own copy of the framework: never used, the image's pristine one runs.
    (out / "main.sh").write_text("echo tampered; exit 9\n")
    return out


def _containers(docker_client: Any) -> list[Any]:
    found = docker_client.containers.list(all=True, filters={"label": "mlrb.coderun"})
    return [c for c in found if "machine-unlearning" in c.name]


def test_container_rerun_is_offline_read_only_and_label_free(
    env_image: str, docker_client: Any, data_dir: Path, tmp_path: Path
) -> None:
    out = _deliver(tmp_path, "probe", PROBE)
    with tempfile.TemporaryDirectory() as scratch:
        spec = _spec()
        outcome = rerun(spec, out, data_dir, Path(scratch), choice="docker")
        assert outcome.failure is None, outcome.sandbox.log_tail
        log = dict(
            line.split("=", 1) for line in outcome.sandbox.log_tail.splitlines() if "=" in line
        )
        assert outcome.sandbox.backend == "docker"
        assert log["uid"] == "65534"
        assert log["ifaces"] == "1"  # loopback only
        assert "writable" not in log  # code, framework, inputs and root all read-only
        assert log["label_files"] == "0" and log["label_marker"] == "0"
        assert log["constants"] == "test"  # the test constants were swapped in
        assert outcome.method == "probe" and outcome.method_statements is None  # not Python
        assert score_in_image(spec, outcome, data_dir) == 1.0
    assert _containers(docker_client) == []


def test_container_rerun_scores_end_to_end(env_image: str, data_dir: Path, tmp_path: Path) -> None:
    out = _deliver(
        tmp_path, "answer", 'printf \'{"answer": "42"}\' > "$MLRB_OUTPUT/test_predictions.json"\n'
    )
    outcome = evaluate(
        EvalOptions(
            model_args=str(out),
            task="mlrc_machine_unlearning",
            record=False,
            results_dir=tmp_path / "results",
            data_dir=data_dir,
        ),
        spec=_spec(),
    )
    result = outcome.result
    # A shell method has no Python statements to count: that side metric alone fails.
    assert result.status == "partial" and outcome.exit_code == 0, result.errors
    (error,) = result.errors
    assert error.stage == "metric:code_statements" and "not Python" in error.message
    score = result.metric("mlrc_score")
    assert score is not None and score.value == 1.0 and score.details["method"] == "answer"
    runtime = result.metric("code_runtime")
    assert runtime is not None and 0 < runtime.value < 30
    assert result.score is not None and result.score.raw == 1.0


def test_container_past_its_limit_is_killed_and_removed(
    env_image: str, docker_client: Any, data_dir: Path, tmp_path: Path
) -> None:
    out = _deliver(tmp_path, "sleeper", "sleep 300\n")
    started = time.monotonic()
    outcome = evaluate(
        EvalOptions(
            model_args=str(out),
            task="mlrc_machine_unlearning",
            record=False,
            results_dir=tmp_path / "results",
            data_dir=data_dir,
        ),
        spec=_spec(time_limit_s=3),
    )
    assert time.monotonic() - started < 30
    assert outcome.result.status == "error" and outcome.result.score is None
    assert "exceeded its time limit of 3 s" in outcome.result.errors[0].message
    assert _containers(docker_client) == []


def test_container_over_its_memory_limit_gets_no_score(
    env_image: str, docker_client: Any, data_dir: Path, tmp_path: Path
) -> None:
    # tail keeps a newline-free stream in memory: 600 MB against a 256 MB limit.
    hog = (
        "set -e\nhead -c 600000000 /dev/zero | tail > /dev/null\n"
        'printf \'{"answer": "42"}\' > "$MLRB_OUTPUT/test_predictions.json"\n'
    )
    out = _deliver(tmp_path, "hog", hog)
    with tempfile.TemporaryDirectory() as scratch:
        outcome = rerun(_spec(), out, data_dir, Path(scratch), choice="docker")
    assert outcome.failure is not None and outcome.output_file is None
    assert outcome.sandbox.exit_code == 137  # the engine's OOM killer: SIGKILL
    assert "Killed" in outcome.sandbox.log_tail
    assert _containers(docker_client) == []
