"""What the end of a run says about agent output the console could not show."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from agent_harness.agentlog import AgentLog
from agent_harness.console import Progress
from agent_harness.secrets import Redactor


class _SlowTerminal(io.StringIO):
    """A terminal that takes nothing until released, then everything."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.release.wait(30)
        return super().write(text)


@pytest.mark.parametrize("log_limit", [10_000_000, 5_000])
def test_a_capped_flood_is_described_truthfully(tmp_path: Path, log_limit: int) -> None:
    terminal = _SlowTerminal()
    progress = Progress(stream=terminal, queue_chars=1_000)
    log = AgentLog(tmp_path / "agent.log", Redactor([]), progress, log_limit)
    for _ in range(500):
        log(b"x" * 99 + b"\n")
    summary = log.close()
    terminal.release.set()
    progress.note_dropped()
    assert progress.drain(10)
    said = terminal.getvalue().splitlines()[-1]
    assert said.startswith("agent-harness: the console could not keep up: ")
    if summary.truncated:
        assert "agent.log has them" not in said
        assert f"agent.log may lack some of them too: it reached its limit of {log_limit}" in said
    else:
        assert said.endswith("(agent.log has them)")
        assert (tmp_path / "agent.log").read_bytes() == (b"x" * 99 + b"\n") * 500
    assert summary.truncated == (log_limit < 50_000)
