"""Builders of the store tests, shared by every test that records results or runs.

``make_result`` and ``make_run`` build the contracts as the evaluator and the harness write
them; ``new_database`` makes an empty database of each backend (``BACKENDS``).
"""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from agent_contracts.results import (
    AgentInfo,
    Conditions,
    ConstraintCheck,
    Environment,
    EvaluationResult,
    MetricValue,
    ModelInfo,
    Score,
)
from agent_contracts.run_record import RunRecord
from agent_eval.store import Store

SECRET = "s3cr@t:/pw%"
DB_ENV = ("DATABASE_URL", "DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_NAME")
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def ranked_conditions(task: str | None = None) -> Conditions:
    """The conditions of a run the task's declaration ranks (its GPU count and class, its time
    limit, a contained run through the proxy, a $10 budget), as a results file the evaluator
    writes always carries them; without a known task, one A100 and 24 hours."""
    from agent_tasks.errors import UnknownTaskError
    from agent_tasks.registry import get_task

    try:
        spec = get_task(task) if task else None
    except UnknownTaskError:
        spec = None
    gpus = spec.resources.gpus if spec is not None else 1
    model = "NVIDIA A100-SXM4-40GB"
    return Conditions(
        hardware="gpu", gpu_model=model, gpu_count=max(gpus, 1), run_gpus=gpus,
        run_gpu_ids=",".join(str(i) for i in range(gpus)),
        run_gpu_model=model if gpus else None, run_runtime="docker",
        time_limit_s=spec.resources.time_limit_s if spec is not None else 86400,
        grace_s=30, network="none", credentials_mode="proxy", budget_usd=10.0,
    )  # fmt: skip


def make_result(
    task: str = "llm_efficiency",
    *,
    benchmark: str = "full_benchmark",
    run_id: str | None = None,
    minutes: int = 0,
    label: str = "agent-a",
    status: str = "ok",
    evaluation_id: str | None = None,
) -> EvaluationResult:
    """A complete result as the evaluator would write it, built without a model."""
    start = T0 + timedelta(minutes=minutes)
    extra: dict[str, Any] = {"evaluation_id": evaluation_id} if evaluation_id else {}
    return EvaluationResult(
        **extra,
        run_id=run_id,
        task=task,
        benchmark=benchmark,
        task_version="1.2.0",
        agent=AgentInfo(label=label, image="example/agent:1", provider="openai", model="gpt-x"),
        model=ModelInfo(
            path="/runs/r1/output/model",
            sha256=uuid.uuid4().hex * 2,
            format="hf_model",
            architecture="GPT2LMHeadModel",
            dtype="float32",
        ),
        status=status,  # type: ignore[arg-type]
        metrics=(
            MetricValue(
                name="mmlu",
                value=0.4127,
                stderr=0.0123,
                unit="accuracy",
                direction="higher",
                source="mmlu",
                details={"num_fewshot": 5, "samples": 14042},
            ),
            MetricValue(
                name="perplexity",
                value=23.75,
                unit="",
                direction="lower",
                source="perplexity",
                details={"tokens": 287644, "stride": 512},
            ),
            MetricValue(
                name="tokens_per_s", value=812.5, unit="tokens/s", direction="higher", source="s"
            ),
        ),
        primary_metric="mmlu",
        score=Score(
            metric="mmlu",
            raw=0.4127,
            normalised=61.2,
            absolute_improvement_pct=8.1,
            baseline=0.25,
            reference=0.5,
            method="anchors",
        ),
        constraints=(
            ConstraintCheck(kind="max_memory_gb", limit=8, measured=3.2, passed=True),
            ConstraintCheck(
                kind="allowed_dtypes",
                limit=["float16"],
                measured="float32",
                passed=False,
                detail="stored weights",
            ),
        ),
        environment=Environment(
            evaluator_version="0.1.0",
            lm_eval_version="0.4.13",
            torch_version="2.13.0",
            transformers_version="5.23.0",
            python_version="3.11.9",
            platform="Linux-x86_64",
            device="cpu",
            batch_size=8,
            num_fewshot=5,
        ),
        conditions=ranked_conditions(task),
        started_at=start,
        finished_at=start + timedelta(seconds=95.5),
        duration_s=95.5,
    )


def make_run(run_id: str, **overrides: Any) -> RunRecord:
    """A run record as the harness writes it: the shared model, validated."""
    run: dict[str, Any] = {
        "run_id": run_id,
        "task": "llm_efficiency",
        "benchmark": "full_benchmark",
        "task_version": "1.0",
        "image": "example/agent:1",
        "agent_label": "example/agent",
        "image_id": "sha256:" + "b" * 64,
        "image_digest": "example/agent@sha256:" + "c" * 64,
        "runtime": "docker",
        "provider": "openai",
        "credentials_mode": "proxy",
        "network": "none",
        "gpus": ["0"],
        "limits": {"time_limit_s": 86400, "grace_s": 30},
        "started_at": "2026-03-01T09:00:00.000Z",
        "deadline": 1772442000.0,
        "ended_at": "2026-03-01T11:30:00.000Z",
        "duration_s": 9000.0,
        "status": "completed",
        "exit_code": 0,
        "agent_exit_code": 0,
        "deliverable": {"path": "output/model", "source": "spec"},
        "output_safety": {"owner": "0:0", "safe": True, "copied": True},
        "ended_by": "harness",
    }
    run.update(overrides)
    if "gpu_models" not in overrides and isinstance(run["gpus"], list):  # one name per GPU
        run["gpu_models"] = ["NVIDIA A100-SXM4-40GB"] * len(run["gpus"])
    return RunRecord.model_validate(run)


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def down_url() -> str:
    """A PostgreSQL URL (password SECRET) of a server that is not there: the database is down."""
    return sa.engine.URL.create(
        "postgresql+psycopg2",
        username="mlrb",
        password=SECRET,
        host="127.0.0.1",
        port=closed_port(),
        database="bench",
    ).render_as_string(hide_password=False)


def clear_database_env(monkeypatch: pytest.MonkeyPatch, results: Path) -> Path:
    """Remove every database setting from the environment; results folder ``results``."""
    for name in DB_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AGENT_EVAL_RESULTS_DIR", str(results))
    return results


def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of the backend named by ``request.param`` (dropped after the test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'mlrb.sqlite'}"
    server = make_url(str(request.getfixturevalue("postgres_url")))
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    request.addfinalizer(drop)
    return server.set(database=name).render_as_string(hide_password=False)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""Every test taking ``db_url`` runs on both."""


def count(store: Store, table: str) -> int:
    """Rows in a table."""
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
