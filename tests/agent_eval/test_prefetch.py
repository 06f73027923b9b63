"""``agent-eval prefetch`` without network: a clear error within seconds, exit 3."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent_eval.errors import HubUnreachableError
from agent_eval.prefetch import check_hub_reachable

Run = Callable[..., subprocess.CompletedProcess[str]]


def _hub_reachable() -> bool:
    try:
        check_hub_reachable(2.0)
    except HubUnreachableError:
        return False
    return True


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://hub.invalid",  # a reserved name that never resolves: unreachable everywhere
        None,  # the real Hub: unreachable on these machines (skips where it answers)
    ],
)
def test_prefetch_without_network_fails_fast_with_exit_3(
    run_cli: Run, tmp_path: Path, endpoint: str | None
) -> None:
    extra = {"HF_ENDPOINT": endpoint} if endpoint else {}
    if endpoint is None and _hub_reachable():
        pytest.skip("the Hugging Face Hub is reachable from this machine")
    started = time.perf_counter()
    proc = run_cli("prefetch", "--tasks", "mini_pile", "--data-dir", str(tmp_path), env=extra)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cannot be reached" in proc.stderr and "prefetch" in proc.stderr
    assert elapsed < 6.0  # the process start and imports included
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_what_prefetch_fetches_is_what_the_metrics_declare() -> None:
    from agent_eval.prefetch import needs
    from agent_tasks.registry import get_task

    assert needs(get_task("llm_efficiency")) == [("mmlu", {}), ("wikitext2", {})]
    assert needs(get_task("mini_pile")) == [("superglue", {}), ("wikitext2", {})]
    (hidden,) = needs(get_task("budget_model_inference"))
    assert hidden[0] == "hf" and hidden[1]["split"] == "test"
    # The split a code task re-runs on: its images are fetched too, as the re-run's inputs.
    assert hidden[1]["code_inputs"] is True
    (held_out,) = needs(get_task("math_reasoning"))
    assert held_out[0] == "hf" and "code_inputs" not in held_out[1]
    # Data that ships inside the evaluator is never fetched.
    assert needs(get_task("tiny_lm")) == []
    assert needs(get_task("digit_sums")) == []


def test_a_hub_address_that_answers_but_serves_nothing_is_exit_3_not_a_traceback(
    run_cli: Run, tmp_path: Path
) -> None:
    """A proxy or a wrong mirror: the connection opens, every request fails (HTTP 502)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked: list[str] = []

    class BadGateway(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_error(502, "bad gateway")

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), BadGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # A folder named like the dataset where prefetch is started: `datasets` would read it
    # before the Hub, and it would become the evaluation data.
    here = tmp_path / "here"
    planted = here / "aps" / "super_glue"
    planted.mkdir(parents=True)
    (planted / "validation.jsonl").write_text('{"question": "planted?", "label": 1}\n')
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        proc = run_cli(
            "prefetch", "--tasks", "mini_pile", "--data-dir", "data", cwd=here,
            env={"HF_ENDPOINT": endpoint, "HF_HUB_ETAG_TIMEOUT": "2",
                 "HF_HUB_DOWNLOAD_TIMEOUT": "2"},
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "error: fetching" in proc.stderr and "failed" in proc.stderr
    assert "HF_ENDPOINT" in proc.stderr  # the hint says what to check
    assert any(p.startswith("/datasets/aps/super_glue/") for p in asked)  # the Hub, not ./aps
    assert not (here / "data" / "superglue").exists()  # nothing laid out from the planted rows


def test_a_hub_address_that_accepts_and_never_answers_gives_up_with_exit_3(
    run_cli: Run, tmp_path: Path
) -> None:
    """A stuck proxy: connections open (the kernel's backlog) and nothing ever answers. prefetch
    gives up within its probe's bound (HUB_PROBE_TIMEOUT_S); the subprocess guard of 60 s (the
    former behaviour retried past 90 s) fails the test if it does not."""
    import socket

    from agent_eval.prefetch import HUB_PROBE_TIMEOUT_S

    assert HUB_PROBE_TIMEOUT_S <= 10
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # never accepted, never answered
    try:
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        proc = run_cli(
            "prefetch", "--tasks", "mini_pile", "--data-dir", str(tmp_path / "data"),
            env={"HF_ENDPOINT": endpoint}, timeout=60,
        )  # fmt: skip
    finally:
        silent.close()
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cannot be reached (no answer within the timeout)" in proc.stderr
    assert not (tmp_path / "data").exists()
