"""One agent, one row: the default leaderboard label does not depend on the runtime."""

from __future__ import annotations

from pathlib import Path

from harness_testkit import BASE_IMAGE, run_once


def test_the_default_label_is_the_same_under_docker_and_as_a_local_process(
    runtime: str, runs_dir: Path
) -> None:
    """The same image argument gives the same label (no tag) whichever runtime ran it, so the
    demo's docker and local runs are trials of one agent."""
    record, run_dir, _ = run_once(runtime, runs_dir, "true")
    assert record.runtime == runtime
    assert record.agent_label == BASE_IMAGE.rsplit(":", 1)[0] == "mlrb-test/harness-busybox"
    assert '"agent_label":"mlrb-test/harness-busybox"' in (run_dir / "run.json").read_text(
        "utf-8"
    ).replace(" ", "")


def test_a_registry_and_tag_never_split_a_local_agent_from_its_image(runs_dir: Path) -> None:
    """``ghcr.io/lab/agent:v2`` run as a local process is labelled like its image: lab/agent."""
    record, _, _ = run_once("local", runs_dir, "true", image="ghcr.io/lab/agent:v2")
    assert record.agent_label == "lab/agent"
