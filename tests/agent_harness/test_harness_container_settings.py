"""Container settings are built by a pure function: checked here without an engine."""

from __future__ import annotations

from pathlib import Path

from agent_harness.gpus import parse_gpus
from agent_harness.runtimes.base import DEFAULT_PIDS_LIMIT, Launch
from agent_harness.runtimes.container import LABEL_RUN_ID, ROOT_CAPABILITIES, container_settings


def _launch(tmp_path: Path, **changes: object) -> Launch:
    fields: dict[str, object] = {
        "run_id": "20261122T113000Z-tiny_lm-abcdef",
        "image": "my/agent:latest",
        "task_dir": tmp_path / "task",
        "output_dir": tmp_path / "output",
        "environment": {"TASK_DIR": "/task", "OPENAI_API_KEY": "sk-FAKE"},
        "network": "none",
        "user": "1000:1000",
        "labels": {"mlrb.task": "tiny_lm"},
    }
    fields.update(changes)
    return Launch(**fields)  # type: ignore[arg-type]


def test_mounts_name_labels_network(tmp_path: Path) -> None:
    s = container_settings(_launch(tmp_path))
    assert s["name"] == "mlrb-20261122T113000Z-tiny_lm-abcdef"
    assert s["labels"][LABEL_RUN_ID] == "20261122T113000Z-tiny_lm-abcdef"
    assert s["labels"]["mlrb.task"] == "tiny_lm"
    volumes = {v["bind"]: v["mode"] for v in s["volumes"].values()}
    assert volumes == {"/task": "ro", "/app/output": "rw"}
    assert s["network_mode"] == "none"
    assert s["user"] == "1000:1000"
    assert "device_requests" not in s and "mem_limit" not in s and "command" not in s
    assert s["environment"]["OPENAI_API_KEY"] == "sk-FAKE"  # environment, never the command


def test_limits_gpus_and_command(tmp_path: Path) -> None:
    s = container_settings(
        _launch(
            tmp_path,
            memory_bytes=8 * 1024**3,
            cpus=2.0,
            gpus=parse_gpus("0,1"),
            command="python agent.py",
        )
    )
    assert s["mem_limit"] == 8 * 1024**3
    assert s["nano_cpus"] == 2_000_000_000
    assert s["device_requests"] == [{"device_ids": ["0", "1"], "capabilities": [["gpu"]]}]
    assert s["command"] == ["/bin/sh", "-c", "python agent.py"]
    all_gpus = container_settings(_launch(tmp_path, gpus=parse_gpus("all")))
    assert all_gpus["device_requests"] == [{"count": -1, "capabilities": [["gpu"]]}]


def test_capabilities_process_limit_and_log_are_bounded(tmp_path: Path) -> None:
    for user in ("0:0", "0", "root", None):
        s = container_settings(_launch(tmp_path, user=user))
        assert s["cap_drop"] == ["ALL"] and s["cap_add"] == list(ROOT_CAPABILITIES)
    s = container_settings(_launch(tmp_path, user="1000:1000"))
    assert s["cap_drop"] == ["ALL"] and "cap_add" not in s
    for never in ("MKNOD", "SYS_ADMIN", "SETFCAP", "FSETID", "NET_RAW", "SYS_PTRACE"):
        assert never not in ROOT_CAPABILITIES
    assert s["security_opt"] == ["no-new-privileges"]
    assert s["pids_limit"] == DEFAULT_PIDS_LIMIT
    assert container_settings(_launch(tmp_path, pids_limit=64))["pids_limit"] == 64
    assert s["log_config"] == {"type": "json-file", "config": {"max-size": "512m", "max-file": "2"}}
