"""Constraint checks: stored dtypes, quantization, parameters, memory."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import torch

from agent_contracts.results import ConstraintCheck
from agent_eval.constraints import CHECKERS
from agent_eval.evaluate import EvalOptions, evaluate
from agent_tasks.spec import Constraint, TaskSpec

CONSTRAINTS = [
    {"kind": "allowed_dtypes", "dtypes": ["float32"]},
    {"kind": "no_quantization"},
    {"kind": "max_parameters", "limit": 1000},
    {"kind": "max_memory_gb", "limit_gb": 1000.0, "device": "any"},
    {"kind": "max_runtime_s", "limit_s": 60, "phase": "training"},
]


def _checks(
    model: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> dict[str, ConstraintCheck]:
    spec = make_spec(
        "constrained", [{"name": "parameters", "direction": "lower"}], constraints=CONSTRAINTS
    )
    outcome = evaluate(
        EvalOptions(
            model_args=str(model),
            task="x",
            device="cpu",
            record=False,
            results_dir=tmp_path / "results",
        ),
        spec=spec,
    )
    return {c.kind: c for c in outcome.result.constraints}


def test_float32_model_passes_dtype_and_quantization(
    tiny_gpt2_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    checks = _checks(tiny_gpt2_dir, tmp_path, make_spec)
    assert checks["allowed_dtypes"].passed is True
    assert checks["allowed_dtypes"].measured == ["float32"]
    assert checks["no_quantization"].passed is True
    assert checks["max_parameters"].passed is False  # the tiny model is larger than 1000
    assert checks["max_memory_gb"].passed is True
    assert 0 < checks["max_memory_gb"].measured < 1000
    assert checks["max_runtime_s"].passed is None


def test_float16_weights_fail_when_only_float32_is_allowed(
    tiny_tokenizer: Any,
    tmp_path: Path,
    make_spec: Callable[..., TaskSpec],
    save_tiny_gpt2: Callable[..., Path],
) -> None:
    folder = save_tiny_gpt2(tmp_path / "fp16", tiny_tokenizer, dtype=torch.float16)
    check = _checks(folder, tmp_path, make_spec)["allowed_dtypes"]
    assert check.passed is False
    assert check.measured == ["float16"]
    assert "float16" in check.detail


def test_quantization_config_fails_no_quantization(
    tiny_gpt2_dir: Path, tmp_path: Path, make_spec: Callable[..., TaskSpec]
) -> None:
    folder = tmp_path / "quant"
    shutil.copytree(tiny_gpt2_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_8bit": False}
    (folder / "config.json").write_text(json.dumps(config))
    spec = make_spec(
        "constrained", [{"name": "parameters", "direction": "lower"}], constraints=CONSTRAINTS
    )
    outcome = evaluate(
        EvalOptions(
            model_args=str(folder),
            task="x",
            device="cpu",
            record=False,
            results_dir=tmp_path / "results",
        ),
        spec=spec,
    )
    checks = {c.kind: c for c in outcome.result.constraints}
    assert checks["no_quantization"].passed is False
    assert "quantization_config" in checks["no_quantization"].detail
    # Whether or not this transformers can load it, the verdict is recorded.
    assert checks["allowed_dtypes"].passed is True


def test_every_constraint_kind_of_the_spec_has_its_checker() -> None:
    union = get_args(get_args(Constraint)[0])  # Annotated[A | B | ..., Field(discriminator)]
    kinds = {model.model_fields["kind"].default for model in union}
    assert {c["kind"] for c in CONSTRAINTS} == kinds  # the checks above cover every kind
    assert set(CHECKERS) == kinds
