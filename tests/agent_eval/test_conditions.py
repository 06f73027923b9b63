"""Conditions are part of every result; only comparable, attributable results are ranked.

Each test drives the real ``agent-eval`` CLI on a real tiny model and reads what a user reads:
the results file, the evaluate output, ``history`` and ``leaderboard --json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.store import make_run

from agent_contracts.results import EvaluationResult

Run = Callable[..., subprocess.CompletedProcess[str]]


def _run_folder(root: Path, model: Path, run_id: str, **run: Any) -> Path:
    shutil.copytree(model, root / "output" / "model")
    record = make_run(run_id, **run)
    (root / "run.json").write_text(record.model_dump_json(), "utf-8")
    return root


def _evaluate(run_cli: Run, target: Path, task: str, results: Path) -> dict[str, Any]:
    proc = run_cli("--model_args", str(target), "--task", task, "--results-dir", str(results))
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    saved = max(results.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    data: dict[str, Any] = json.loads(saved.read_text("utf-8"))
    data["_stdout"] = proc.stdout
    return data


def _board(run_cli: Run, results: Path) -> dict[str, Any]:
    proc = run_cli(
        "leaderboard", "--benchmark", "evaltest", "--json", "--results-dir", str(results)
    )
    assert proc.returncode == 0, proc.stderr
    board: dict[str, Any] = json.loads(proc.stdout)
    return board


def _ranked_agents(board: dict[str, Any]) -> set[str]:
    return {
        row["agent"]
        for bench in board["benchmarks"]
        for row in bench["rows"]
        if row.get("kind", "agent") == "agent"
    }


def test_a_run_without_the_tasks_gpu_is_recorded_not_comparable_and_not_ranked(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    """The task gives 1 A100; a run given no GPU (and more time) is shown, never ranked."""
    results = tmp_path / "results"
    cpu_run = _run_folder(
        tmp_path / "runs" / "r-cpu",
        tiny_gpt2_dir,
        "r-cpu",
        task="evaltest_gpu_params",
        agent_label="cpu-agent",
        gpus=[],
        network="none",
        credentials_mode="proxy",
        limits={"time_limit_s": 7200, "grace_s": 30, "budget_usd": 2.5},
    )
    gpu_run = _run_folder(
        tmp_path / "runs" / "r-gpu",
        tiny_gpt2_dir,
        "r-gpu",
        task="evaltest_gpu_params",
        agent_label="gpu-agent",
        gpus=["0"],
        gpu_models=["NVIDIA A100-SXM4-40GB"],
        limits={"time_limit_s": 3600, "grace_s": 30},
    )
    off = _evaluate(run_cli, cpu_run, "evaltest_gpu_params", results)
    on = _evaluate(run_cli, gpu_run, "evaltest_gpu_params", results)

    conditions = off["conditions"]
    assert conditions["comparable"] is False
    assert conditions["run_gpus"] == 0 and conditions["hardware"] == "cpu"
    assert conditions["time_limit_s"] == 7200 and conditions["network"] == "none"
    assert conditions["credentials_mode"] == "proxy" and conditions["budget_usd"] == 2.5
    assert conditions["agent_image_digest"] == "example/agent@sha256:" + "c" * 64
    assert conditions["packages"]["torch"] and conditions["packages"]["transformers"]
    assert conditions["required"]["run_gpus"] == 1
    reasons = " ".join(conditions["reasons"])
    assert "no GPU" in reasons and "A100" in reasons and "7200 s exceeds" in reasons
    assert "not ranked: not comparable" in " ".join(off["_stdout"].split())
    assert on["conditions"]["comparable"] is True and on["conditions"]["reasons"] == []
    assert "ranked: yes" in on["_stdout"]

    board = _board(run_cli, results)
    assert _ranked_agents(board) == {"gpu-agent"}
    left = {e["agent"]: e["why"] for e in board["not_ranked"]}
    assert set(left) == {"cpu-agent"} and "not comparable" in left["cpu-agent"]
    table = run_cli("leaderboard", "--benchmark", "evaltest", "--results-dir", str(results))
    assert "not ranked: 1 evaluation" in table.stdout and "cpu-agent" in table.stdout
    # The page carries it too, with its reason (the page's test shows how it is listed).
    page = tmp_path / "board.html"
    run_cli("leaderboard", "--html", str(page), "--results-dir", str(results))
    embedded = page.read_text()
    assert "cpu-agent" in embedded and "not comparable" in embedded
    assert '"not_ranked_total": 1' in embedded

    history = run_cli("history", "--json", "--results-dir", str(results))
    rows = {row["run_id"]: row for row in json.loads(history.stdout)}
    assert rows["r-cpu"]["comparable"] is False
    assert "no GPU" in rows["r-cpu"]["not_ranked"]
    assert rows["r-gpu"]["not_ranked"] is None


def test_runs_outside_the_benchmarks_declared_network_credentials_and_budget_are_not_ranked(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    """A task that ranks contained runs ($5 at most, model API through the proxy, no network):
    an agent given the real key and an open network, or a larger budget, is recorded with its
    reason and left off the board; the contained run is ranked. A local process, a run with no
    budget and one that used no model API are judged by the same rules (no CLI round trip)."""
    from plugin_tasks import specs

    from agent_contracts.results import Conditions
    from agent_eval.conditions import collect, judge
    from agent_eval.environment import collect as environment

    results = tmp_path / "results"
    runs: dict[str, dict[str, Any]] = {
        "contained": {"network": "none", "credentials_mode": "proxy", "budget_usd": 5.0},
        "open-key": {"network": "bridge", "credentials_mode": "direct"},
        "rich": {"network": "none", "credentials_mode": "proxy", "budget_usd": 50.0},
    }
    judged: dict[str, dict[str, Any]] = {}
    for name, facts in runs.items():
        budget = facts.pop("budget_usd", None)
        folder = _run_folder(
            tmp_path / "runs" / name, tiny_gpt2_dir, f"r-{name}", task="evaltest_contained",
            agent_label=name, limits={"time_limit_s": 60, "grace_s": 5, "budget_usd": budget},
            gpus=[], **facts,
        )  # fmt: skip
        judged[name] = _evaluate(run_cli, folder, "evaltest_contained", results)

    reasons = {name: " ".join(data["conditions"]["reasons"]) for name, data in judged.items()}
    assert judged["contained"]["conditions"]["comparable"] is True
    assert "network 'bridge'" in reasons["open-key"]
    assert "credentials 'direct'" in reasons["open-key"]
    assert "no model-API cost budget" in reasons["open-key"]
    assert "$50 exceeds the benchmark's $5" in reasons["rich"]
    required = judged["rich"]["conditions"]["required"]
    assert required["networks"] == ["none"] and required["max_budget_usd"] == 5.0
    assert "not comparable: the agent had network 'bridge'" in " ".join(
        judged["open-key"]["_stdout"].split()
    )
    board = _board(run_cli, results)
    assert _ranked_agents(board) == {"contained"}
    left = {e["agent"]: e["why"] for e in board["not_ranked"]}
    assert set(left) == {"open-key", "rich"}
    assert "exceeds the benchmark's $5" in left["rich"]

    spec = next(s for s in specs() if s.name == "evaltest_contained")
    env = environment(
        device="cpu", dtype=None, batch_size=None, num_fewshot=None, sample_limit=None
    )
    others = {
        "local": {"network": None, "runtime": "local", "limits": {"time_limit_s": 60,
                  "grace_s": 5, "budget_usd": 1.0}},
        "unlimited": {"limits": {"time_limit_s": 60, "grace_s": 5}},
        "no-model": {"credentials_mode": None, "provider": "none",
                     "limits": {"time_limit_s": 60, "grace_s": 5}},
    }  # fmt: skip
    found: dict[str, Conditions] = {
        name: collect(spec, make_run(f"r-{name}", task=spec.name, gpus=[], **facts), env)
        for name, facts in others.items()
    }
    assert found["no-model"].comparable  # no model API: any budget
    assert "this machine's network" in " ".join(found["local"].reasons)
    assert "'local'" in " ".join(found["local"].reasons)
    assert "no model-API cost budget" in " ".join(found["unlimited"].reasons)
    assert judge(spec, found["local"]).reasons == found["local"].reasons


@pytest.mark.parametrize(
    ("task", "run", "said"),
    [
        ("llm_efficiency", {"network": "none", "credentials_mode": "proxy"}, None),
        ("llm_efficiency", {"network": "bridge", "credentials_mode": "direct"},
         "credentials 'direct'"),
        ("mini_llm_efficiency", {"network": None, "run_runtime": "local"},
         "this machine's network"),
        ("tiny_lm", {"network": None, "run_runtime": "local", "credentials_mode": "direct"},
         None),
        ("mlrc_llm_merging", {"network": "none", "credentials_mode": "proxy", "budget_usd": 10.0},
         None),
        ("mlrc_llm_merging", {"network": "none", "credentials_mode": "proxy", "budget_usd": 15.0},
         "$15 exceeds the benchmark's $10"),
        ("mlrc_rainfall_prediction",
         {"network": "none", "credentials_mode": "proxy", "budget_usd": 15.0}, None),
        ("mlrc_rainfall_prediction",
         {"network": "none", "credentials_mode": "proxy", "budget_usd": 25.0}, "exceeds"),
        # No run.json: a policy's network, credentials and budget cannot be shown to be met.
        ("llm_efficiency", {"run_gpu_ids": None, "run_gpus": None}, "no run record"),
        ("tiny_lm", {"run_gpu_ids": None, "run_gpus": None}, None),
    ],
)  # fmt: skip
def test_each_benchmark_judges_runs_by_the_conditions_it_declares(
    task: str, run: dict[str, Any], said: str | None
) -> None:
    """The research benchmarks rank contained runs (no network, the model API through the
    proxy); MLRC-Bench also caps the API budget ($10, the rainfall task $20); the smoke tasks
    rank any run, local ones included."""
    from agent_contracts.results import Conditions
    from agent_eval.conditions import judge
    from agent_tasks.registry import get_task

    spec = get_task(task)
    facts = Conditions(
        hardware="gpu", gpu_model="NVIDIA A100-SXM4-80GB", gpu_count=spec.resources.gpus,
        run_gpus=spec.resources.gpus, run_gpu_ids=",".join("0" * spec.resources.gpus),
        run_gpu_model="NVIDIA A100-SXM4-40GB" if spec.resources.gpus else None,
        run_runtime="docker", time_limit_s=spec.resources.time_limit_s,
    ).model_copy(update=run)  # fmt: skip
    verdict = judge(spec, facts)
    assert verdict.comparable is (said is None), verdict.reasons
    if said is not None:
        assert said in " ".join(verdict.reasons)


def test_an_evaluation_naming_no_run_is_shown_apart_and_a_model_is_not_counted_twice(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path, tiny_tokenizer: Any, save_tiny_gpt2: Any
) -> None:
    """The README's step 4 (the evaluator on output/model) adds no "unknown agent" row."""
    results = tmp_path / "results"
    run = _run_folder(
        tmp_path / "runs" / "r-1",
        tiny_gpt2_dir,
        "r-1",
        task="evaltest_params",
        agent_label="the-agent",
        gpus=[],
        limits={"time_limit_s": 60, "grace_s": 5},
    )
    _evaluate(run_cli, run, "evaltest_params", results)
    again = _evaluate(run_cli, run / "output" / "model", "evaltest_params", results)
    other = save_tiny_gpt2(tmp_path / "other", tiny_tokenizer, seed=3)
    loose = _evaluate(run_cli, other, "evaltest_params", results)
    assert "no run or agent named" in " ".join(loose["_stdout"].split())

    board = _board(run_cli, results)
    assert _ranked_agents(board) == {"the-agent"}
    rows = next(b for b in board["benchmarks"])["rows"]
    assert [row["trials"] for row in rows if row["agent"] == "the-agent"] == [1]
    left = {e["evaluation_id"]: e["why"] for e in board["not_ranked"]}
    assert "already counted under a run" in left[again["evaluation_id"]]
    assert "no run or agent named" in left[loose["evaluation_id"]]
    # The evaluate output and history say so too (only the database knows the duplicate).
    assert "already counted under a run" in " ".join(again["_stdout"].split())
    history = run_cli("history", "--json", "--results-dir", str(results))
    said = {row["evaluation_id"]: row["not_ranked"] for row in json.loads(history.stdout)}
    assert "already counted under a run" in said[again["evaluation_id"]]

    # The run under a second name: refused before anything is evaluated or written.
    files = sorted(results.glob("*.json"))
    renamed = run_cli(
        "--model_args", str(run), "--task", "evaltest_params", "--agent-label", "better-agent",
        "--results-dir", str(results),
    )  # fmt: skip
    assert renamed.returncode == 2, renamed.stderr
    assert "'the-agent'" in renamed.stderr and "second name" in renamed.stderr
    assert "Traceback" not in renamed.stderr and sorted(results.glob("*.json")) == files


def test_an_evaluation_without_the_primary_metric_is_said_not_ranked_everywhere(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    """``--metrics parameters`` on a run of a task ranked by perplexity: said not ranked in the
    evaluate output, ``history`` and the board (so it never stands as the run's latest)."""
    results = tmp_path / "results"
    run = _run_folder(
        tmp_path / "runs" / "r-lm", tiny_gpt2_dir, "r-lm", task="evaltest_lm",
        agent_label="lm-agent", gpus=[], limits={"time_limit_s": 60, "grace_s": 5},
    )  # fmt: skip
    proc = run_cli(
        "--model_args", str(run), "--task", "evaltest_lm", "--metrics", "parameters",
        "--results-dir", str(results),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    said = " ".join(proc.stdout.split())
    assert "not ranked" in said and "primary metric perplexity not computed" in said
    history = run_cli("history", "--json", "--results-dir", str(results))
    (row,) = json.loads(history.stdout)
    assert "primary metric perplexity not computed" in row["not_ranked"]
    board = _board(run_cli, results)
    assert _ranked_agents(board) == set()
    assert [e["agent"] for e in board["not_ranked"]] == ["lm-agent"]


def _file_hash(folder: Path) -> str:
    """The deliverable hash as docs/contracts.md defines it, computed here independently."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def test_a_weights_file_the_evaluator_may_not_read_is_exit_5_with_a_hint(
    cli_env: dict[str, str], tmp_path: Path, tiny_tokenizer: Any, save_tiny_gpt2: Any
) -> None:
    """model.safetensors 0600 owned by another user: an error result and --user, no traceback."""
    model = save_tiny_gpt2(tmp_path / "model", tiny_tokenizer)
    weights = model / "model.safetensors"
    weights.chmod(0o600)
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv cannot drop its right to read every file")
        os.chown(weights, 65534, 65534)  # another user's file; root loses DAC override below
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    else:
        weights.chmod(0o000)
    results = tmp_path / "results"
    proc = subprocess.run(
        [*prefix, str(Path(sys.executable).parent / "agent-eval"), "--model_args", str(model),
         "--task", "tiny_lm", "--no-db", "--device", "cpu", "--results-dir", str(results)],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 5, proc.stderr
    assert "cannot be read" in proc.stderr and "--user" in proc.stderr
    (saved,) = results.glob("*.json")
    data = json.loads(saved.read_text("utf-8"))
    assert data["status"] == "error" and data["metrics"] == [] and data["score"] is None
    load_error = next(e for e in data["errors"] if e["stage"] == "load")
    assert "Permission denied" in load_error["message"] and "--user" in load_error["message"]
    assert data["model"]["sha256"] is None  # not computable: a file cannot be read


def test_a_load_failure_result_carries_the_model_hash(
    run_cli: Run, tmp_path: Path, tiny_tokenizer: Any, save_tiny_gpt2: Any
) -> None:
    """A model that cannot load (config asks for bitsandbytes) is still identified by sha256."""
    model = save_tiny_gpt2(tmp_path / "model", tiny_tokenizer)
    config = json.loads((model / "config.json").read_text("utf-8"))
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_8bit": True}
    (model / "config.json").write_text(json.dumps(config), "utf-8")
    results = tmp_path / "results"
    proc = run_cli(
        "--model_args", str(model), "--task", "tiny_lm", "--no-db", "--device", "cpu",
        "--results-dir", str(results),
    )  # fmt: skip
    assert proc.returncode == 5, proc.stderr
    (saved,) = results.glob("*.json")
    data = json.loads(saved.read_text("utf-8"))
    assert data["status"] == "error"
    assert data["model"]["sha256"] == _file_hash(model)
    load_error = next(e for e in data["errors"] if e["stage"] == "load")
    # tiny_lm has no dtype rule: the hint names none (no "FP16/FP32 only")
    assert "unquantized" in load_error["message"]
    assert "FP16" not in load_error["message"] and "allows" not in load_error["message"]


def test_a_results_file_without_conditions_still_reads(
    run_cli: Run, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    """A file written before conditions (no ``conditions``, no ``outcome``) reads, comparable."""
    results = tmp_path / "results"
    data = _evaluate(run_cli, tiny_gpt2_dir, "evaltest_lm", results)
    data.pop("_stdout")
    data.pop("conditions")
    for check in data["constraints"]:
        check.pop("outcome")
    old = EvaluationResult.model_validate(data)
    assert old.conditions is None and old.comparable
    assert [c.outcome for c in old.constraints] == [
        "passed" if c.passed else "failed" if c.passed is False else "unchecked"
        for c in old.constraints
    ]
    older = tmp_path / "older"
    older.mkdir()
    (older / "old.json").write_text(json.dumps(data), "utf-8")
    proc = run_cli("sync", str(older))
    assert proc.returncode == 0, proc.stderr
    history = run_cli("history", "--json", "--results-dir", str(older))
    (row,) = json.loads(history.stdout)
    assert row["comparable"] is True
    assert row["not_ranked"] == "no run or agent named: shown apart, never ranked"


def test_an_mlrc_result_made_elsewhere_and_synced_carries_the_condition_fields(
    run_cli: Run, tmp_path: Path
) -> None:
    """MLRC tasks need environments this machine cannot build: a result made on a GPU machine
    is synced here. Its conditions, judged against the MLRC spec there, arrive as columns."""
    import sqlite3

    from support.store import make_result

    from agent_contracts.results import Conditions
    from agent_eval.conditions import judge
    from agent_tasks.registry import get_task

    spec = get_task("mlrc_llm_merging")
    made = make_result("mlrc_llm_merging", benchmark="mlrc_bench", run_id=None)
    on_gpu = judge(
        spec,
        Conditions(
            hardware="gpu", gpu_model="NVIDIA A100-SXM4-40GB", gpu_count=1, run_gpus=1,
            run_gpu_ids="0", run_runtime="docker", time_limit_s=spec.resources.time_limit_s,
            network="none", credentials_mode="proxy", budget_usd=10.0,
            packages={"agent_eval": "0.1.0"},
        ),
    )  # fmt: skip
    on_cpu = judge(spec, on_gpu.model_copy(update={"run_gpus": 0, "run_gpu_ids": ""}))
    assert on_gpu.comparable and not on_cpu.comparable
    folder = tmp_path / "imported"
    folder.mkdir()
    for name, conditions in (("gpu", on_gpu), ("cpu", on_cpu)):
        result = made.model_copy(
            update={"evaluation_id": name * 8, "conditions": conditions, "run_id": f"r-{name}"}
        )
        (folder / f"{name}.json").write_text(result.model_dump_json(), "utf-8")
    proc = run_cli("sync", str(folder))
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(folder / "mlrb.sqlite") as db:
        rows = {
            row[0]: row[1:]
            for row in db.execute(
                "SELECT evaluation_id, comparable, hardware, gpu_model, run_gpus, time_limit_s,"
                " network, credentials_mode, budget_usd, not_ranked FROM evaluations"
            )
        }
    assert rows["gpu" * 8][:8] == (
        1, "gpu", "NVIDIA A100-SXM4-40GB", 1, spec.resources.time_limit_s, "none", "proxy", 10.0
    )  # fmt: skip
    assert rows["gpu" * 8][8] is None  # ranked
    assert rows["cpu" * 8][0] == 0 and rows["cpu" * 8][3] == 0
    assert "not comparable: the run was given no GPUs" in rows["cpu" * 8][8]


@pytest.mark.parametrize(
    ("hardware", "gpu_model", "comparable", "said"),
    [
        ("cpu", None, False, "evaluated on CPU: the task's timed re-run is specified on a GPU "
         "(A100)"),
        ("gpu", "NVIDIA H100 80GB HBM3", False, "evaluated on NVIDIA H100 80GB HBM3: the task's "
         "timed re-run is specified on A100"),
        ("gpu", "NVIDIA A1000", False, "is specified on A100"),  # a word, not a prefix
        ("gpu", "NVIDIA A100-SXM4-80GB", True, None),
        ("gpu", "nvidia a100 80gb pcie", True, None),
    ],
)  # fmt: skip
def test_a_timed_rerun_on_other_hardware_than_the_tasks_is_not_comparable(
    hardware: str, gpu_model: str | None, comparable: bool, said: str | None
) -> None:
    """budget_model_inference times its re-run on an A100: a CPU or another GPU class gives a
    time that is not comparable, so the result is shown but never ranked."""
    from agent_contracts.results import Conditions
    from agent_eval.conditions import judge
    from agent_tasks.registry import get_task

    spec = get_task("budget_model_inference")
    contained = {  # a run that meets the benchmark's policy (no model API used)
        "run_gpus": 1, "run_gpu_ids": "0", "run_gpu_model": "NVIDIA A100-SXM4-80GB",
        "network": "none",
        "time_limit_s": spec.resources.time_limit_s,
    }  # fmt: skip
    judged = judge(
        spec,
        Conditions(
            hardware=hardware, gpu_model=gpu_model, gpu_count=1 if gpu_model else 0, **contained
        ),
    )
    assert judged.comparable is comparable
    assert (said is None) == (judged.reasons == ())
    if said is not None:
        assert said in judged.reasons[0]
    # A task that names no GPU class takes any GPU for its re-run.
    merging = get_task("mlrc_llm_merging")
    mlrc = judge(
        merging,
        Conditions(
            hardware=hardware,
            gpu_model=gpu_model,
            **{**contained, "time_limit_s": merging.resources.time_limit_s},
        ),
    )
    assert mlrc.comparable is (hardware == "gpu")


@pytest.mark.parametrize(
    ("run", "said"),
    [
        ({"run_gpus": 1, "run_gpu_ids": "0", "run_gpu_model": "NVIDIA A100-SXM4-40GB"}, None),
        ({"run_gpus": 4, "run_gpu_ids": "0,1,2,3", "run_gpu_model": "NVIDIA A100-SXM4-40GB"},
         "the run was given 4 GPUs; the task gives 1 A100 GPU"),
        ({"run_gpus": None, "run_gpu_ids": "all", "run_gpu_model": "NVIDIA A100-SXM4-40GB"},
         "--gpus all"),
        ({"run_gpus": 1, "run_gpu_ids": "0", "run_gpu_model": None},
         "the run's GPU model is not recorded"),
        ({"run_gpus": 1, "run_gpu_ids": "0", "run_gpu_model": "NVIDIA A100-SXM4-40GB, "
          "NVIDIA H100 80GB HBM3"}, "the task's limits are set for A100"),
        ({"run_gpus": 1, "run_gpu_ids": "0", "run_gpu_model": "NVIDIA A100-SXM4-40GB",
          "grace_s": 36000}, "the run's grace period 36000 s exceeds 300 s"),
        ({"run_gpus": 1, "run_gpu_ids": "0", "run_gpu_model": "NVIDIA A100-SXM4-40GB",
          "grace_s": 30}, None),
    ],
)  # fmt: skip
def test_a_run_given_other_gpus_than_the_task_gives_is_not_comparable(
    run: dict[str, Any], said: str | None
) -> None:
    """budget_model_training gives one A100: more GPUs, every GPU of the machine, or GPUs the
    driver did not name (so their class is unknown) are not the task's conditions; nor is a
    grace period long enough to work on after the limit."""
    from agent_contracts.results import Conditions
    from agent_eval.conditions import judge
    from agent_tasks.registry import get_task

    spec = get_task("budget_model_training")
    verdict = judge(
        spec,
        Conditions(
            hardware="gpu", gpu_model="NVIDIA A100-SXM4-40GB", gpu_count=1, network="none",
            time_limit_s=spec.resources.time_limit_s, **run,
        ),
    )  # fmt: skip
    assert verdict.comparable is (said is None), verdict.reasons
    if said is not None:
        assert any(said in reason for reason in verdict.reasons), verdict.reasons


def test_a_run_recorded_with_every_gpu_counts_the_gpus_its_driver_named(tmp_path: Path) -> None:
    """``--gpus all`` holds no count, but the driver named each GPU: that is the count."""
    from agent_eval.conditions import collect
    from agent_eval.environment import collect as environment
    from agent_tasks.registry import get_task

    spec = get_task("budget_model_training")
    two = make_run("r-all", gpus="all", gpu_models=["NVIDIA A100-SXM4-40GB"] * 2)
    env = environment(
        device="cpu", dtype=None, batch_size=None, num_fewshot=None, sample_limit=None
    )
    found = collect(spec, two, env)
    assert found.run_gpus == 2 and not found.comparable
    assert any("given 2 GPUs" in reason for reason in found.reasons)


def test_a_results_files_own_comparable_is_not_taken_on_trust() -> None:
    """Conditions edited down to a bare ``{"hardware": "gpu"}`` (every other field at its
    default, so ``comparable: true``) are judged again against the task: no run record."""
    from support.store import make_result

    from agent_contracts.results import Conditions
    from agent_eval.ranking import not_ranked

    honest = make_result("llm_efficiency")
    assert not_ranked(honest) == []
    edited = honest.model_copy(update={"conditions": Conditions(hardware="gpu")})
    assert edited.comparable  # what the file says
    (reason,) = not_ranked(edited)
    assert reason.startswith("not comparable: no run record (run.json)")


def test_only_an_unchecked_gpu_memory_rule_keeps_a_result_off_the_board() -> None:
    """budget_model_training's 6 GB rule is on the GPU: unchecked, the result is not ranked.
    A host-memory rule of the same size, which the sandbox enforces itself, is not a reason."""
    from support.store import make_result

    from agent_contracts.results import ConstraintCheck
    from agent_eval.ranking import not_ranked

    made = make_result("budget_model_training", benchmark="full_benchmark")
    gpu = ConstraintCheck(
        kind="max_memory_gb",
        limit=6,
        measured=None,
        passed=None,
        detail="unchecked: no run.json records the run's GPU memory",
    )
    host = gpu.model_copy(update={"limit": 12})
    assert not_ranked(made.model_copy(update={"constraints": (host,)})) == []
    (reason,) = not_ranked(made.model_copy(update={"constraints": (gpu,)}))
    assert reason == "memory rule (6 GB) unchecked: no run.json records the run's GPU memory"
