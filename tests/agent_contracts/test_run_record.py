"""run.json's model reads what older harnesses wrote (fields are only ever added)."""

from __future__ import annotations

from agent_contracts.run_record import RunRecord

OLDER = {
    "run_id": "20261201T000000Z-tiny_lm-abcdef",
    "task": "tiny_lm",
    "benchmark": "smoke",
    "task_version": "1.0",
    "image": "lab/agent:1",
    "runtime": "docker",
    "provider": "none",
    "gpus": [],
    "limits": {"time_limit_s": 60, "grace_s": 2},
    "started_at": "2026-12-01T00:00:00.000Z",
    "deadline": 1796083260.0,
    "status": "completed",
    "deliverable": {"path": "output/model", "source": "spec"},
    # as a harness that cleaned the output in place wrote it
    "output_safety": {
        "owner": "0:0",
        "safe": True,
        "removed": {"link leaving the folder": 1},
        "removed_examples": ["x (link leaving the folder)"],
        "modes_changed": 1,
        "mode_examples": [],
        "owners_changed": 3,
        "unsafe_count": 0,
        "unsafe": [],
    },
}


def test_an_older_output_safety_reads_as_not_copied() -> None:
    record = RunRecord.model_validate(OLDER)
    assert record.output_safety is not None
    assert record.output_safety.safe is True and record.output_safety.copied is False
    assert record.output_safety.owners_changed == 3 and record.output_safety.failure is None


def test_a_record_without_output_safety_still_reads() -> None:
    older = {k: v for k, v in OLDER.items() if k != "output_safety"}
    assert RunRecord.model_validate(older).output_safety is None
