"""Load failures are recorded: a results file with status error, what the files say, exit 5."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_bitsandbytes_quantized_deliverable_is_a_recorded_error(
    run_cli: Run, tmp_path: Path, tiny_tokenizer: Any, save_tiny_gpt2: Callable[..., Path]
) -> None:
    """config.json names bitsandbytes (absent here): an error in the results, never a crash."""
    model = save_tiny_gpt2(tmp_path / "model", tiny_tokenizer, dtype=None)
    config = json.loads((model / "config.json").read_text("utf-8"))
    config["quantization_config"] = {
        "quant_method": "bitsandbytes",
        "load_in_8bit": True,
        "load_in_4bit": False,
    }
    (model / "config.json").write_text(json.dumps(config), "utf-8")
    results = tmp_path / "results"
    proc = run_cli(
        "--model_args",
        str(model),
        "--task",
        "mini_edge_llm_compression",
        "--no-db",
        "--results-dir",
        str(results),
        "--device",
        "cpu",
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 5, proc.stderr
    files = list(results.glob("*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text("utf-8"))
    assert data["status"] == "error"
    assert data["score"] is None and data["metrics"] == []
    load_error = next(e for e in data["errors"] if e["stage"] == "load")
    assert "bitsandbytes" in load_error["message"]
    assert "this task allows float32, float16 only" in load_error["message"]  # its dtype rule
    assert data["model"]["sha256"] and len(data["model"]["sha256"]) == 64
    assert data["model"]["dtype"] == "float32"
    assert any("bitsandbytes" in sign for sign in data["model"]["quantization"])
    checks = {c["kind"]: c for c in data["constraints"]}
    assert checks["no_quantization"]["passed"] is False
    assert checks["allowed_dtypes"]["passed"] is True
