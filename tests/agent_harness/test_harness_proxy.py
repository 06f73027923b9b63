"""The model-API proxy: stock SDKs through it, usage and cost counted, budgets, the key kept out.

A scripted OpenAI- and Anthropic-compatible upstream on 127.0.0.1 refuses any key but the real
one, so a call that succeeds proves the proxy swapped the run's token for the key.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import FAKE_KEY, TASK, agent_python, run_once
from scripted_upstream import OUTPUT_TOKENS, ScriptedUpstream

from agent_harness.errors import ConfigError
from agent_harness.proxy import Budget, StreamMeter, Usage, price_table, usage_of_answer
from agent_harness.proxy.session import ProxyPlan, ProxySession, plan_proxy
from agent_harness.run_json import ModelUsage
from agent_harness.runtimes.container import DockerRuntime
from agent_harness.runtimes.local import LocalRuntime
from agent_harness.secrets import Credentials

MODEL = "gpt-4o-mini"


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    """The scripted provider, knowing only the real key."""
    server = ScriptedUpstream(FAKE_KEY).start()
    yield server
    server.stop()


def _session(
    upstream: ScriptedUpstream, folder: Path, provider: str = "openai", **budget: Any
) -> tuple[ProxySession, dict[str, str]]:
    plan = ProxyPlan(provider, FAKE_KEY, f"{upstream.url}/v1", Budget(**budget))
    session = ProxySession(plan, folder)
    return session, session.start(LocalRuntime().proxy_port)


def _calls(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "model_calls.jsonl").read_text().splitlines()]


def _reported(upstream: ScriptedUpstream) -> tuple[int, int]:
    ok = [r.reported for r in upstream.received if r.key == FAKE_KEY]
    return sum(i for i, _ in ok), sum(o for _, o in ok)


def test_openai_sdk_chat_and_responses_streamed_or_not_are_counted(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    import openai

    session, env = _session(upstream, tmp_path)
    assert env["OPENAI_API_KEY"] == env["OPENAI"] != FAKE_KEY
    client = openai.OpenAI(api_key=env["OPENAI_API_KEY"], base_url=env["OPENAI_BASE_URL"])
    messages: Any = [{"role": "user", "content": "hi"}]
    answer = client.chat.completions.create(model=MODEL, messages=messages)
    assert answer.choices[0].message.content == upstream.default_text
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == upstream.default_text
    assert client.responses.create(model=MODEL, input="hi").output_text == upstream.default_text
    with client.responses.stream(model=MODEL, input="hi") as stream:
        assert stream.get_final_response().output_text == upstream.default_text
    totals = session.close()

    assert [r.key for r in upstream.received] == [FAKE_KEY] * 4  # the token never went upstream
    # A chat stream without stream_options got include_usage added, so its usage was reported.
    assert upstream.received[1].body["stream_options"] == {"include_usage": True}
    inputs, outputs = _reported(upstream)
    assert (totals.calls, totals.input_tokens, totals.output_tokens) == (4, inputs, outputs)
    price = price_table().find(MODEL)
    assert price is not None
    expected = (inputs * price.input + outputs * price.output) / 1e6
    assert totals.cost_usd == pytest.approx(expected)
    lines = _calls(tmp_path)
    assert [(c["api"], c["stream"], c["usage_source"]) for c in lines] == [
        ("chat", False, "provider"),
        ("chat", True, "provider"),
        ("responses", False, "provider"),
        ("responses", True, "provider"),
    ]
    assert all(c["output_tokens"] == OUTPUT_TOKENS for c in lines)
    assert FAKE_KEY not in (tmp_path / "model_calls.jsonl").read_text()


def test_anthropic_sdk_messages_streamed_or_not_are_counted(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    import anthropic

    session, env = _session(upstream, tmp_path, provider="anthropic")
    assert env["ANTHROPIC_API_KEY"] == env["ANTHROPIC"] != FAKE_KEY
    client = anthropic.Anthropic(
        api_key=env["ANTHROPIC_API_KEY"], base_url=env["ANTHROPIC_BASE_URL"]
    )
    messages: Any = [{"role": "user", "content": "hi"}]
    answer = client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=messages)
    assert answer.content[0].text == upstream.default_text  # type: ignore[union-attr]
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=50, messages=messages
    ) as stream:
        assert stream.get_final_text() == upstream.default_text
    totals = session.close()
    inputs, outputs = _reported(upstream)
    assert (totals.calls, totals.input_tokens, totals.output_tokens) == (2, inputs, outputs)
    assert [c["stream"] for c in _calls(tmp_path)] == [False, True]
    assert totals.cost_usd > 0


def test_stream_usage_survives_any_split_of_the_bytes() -> None:
    stream = (
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":'
        b'{"input_tokens":11,"cache_read_input_tokens":5,"output_tokens":1}}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":9}}\n\n'
    )
    for size in (1, 3, 7, len(stream)):
        meter = StreamMeter("messages")
        for at in range(0, len(stream), size):
            meter.feed(stream[at : at + size])
        assert meter.usage == Usage(input_tokens=16, output_tokens=9, cached_input_tokens=5)
    chat = usage_of_answer(
        "chat",
        {"usage": {"prompt_tokens": 10, "completion_tokens": 4,
                   "prompt_tokens_details": {"cached_tokens": 6}}},
    )  # fmt: skip
    assert chat == Usage(input_tokens=10, output_tokens=4, cached_input_tokens=6)


def test_a_budget_spent_mid_run_answers_429_and_the_record_says_so(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    import openai

    session, env = _session(upstream, tmp_path, tokens=60)
    client = openai.OpenAI(api_key=env["OPENAI_API_KEY"], base_url=env["OPENAI_BASE_URL"])
    messages: Any = [{"role": "user", "content": "hi"}]
    answered = 0
    with pytest.raises(openai.RateLimitError) as refused:
        for _ in range(20):
            client.chat.completions.create(model=MODEL, messages=messages)
            answered += 1
    assert 1 <= answered < 20
    assert "budget is spent" in str(refused.value) and "token budget" in str(refused.value)
    forwarded = len(upstream.received)
    assert forwarded == answered  # the refused call never reached the provider, nor was retried
    totals = session.close()
    assert totals.budget_exhausted and totals.refused_calls == 1
    assert totals.budget_message is not None and "of 60 tokens" in totals.budget_message
    # Overshoot: at most the last admitted call past the budget (calls are sequential here).
    last = _calls(tmp_path)[-2]
    assert totals.total_tokens - 60 < last["input_tokens"] + last["output_tokens"]


def test_the_token_is_dead_once_the_run_ends(upstream: ScriptedUpstream, tmp_path: Path) -> None:
    import openai

    session, env = _session(upstream, tmp_path)
    client = openai.OpenAI(
        api_key="mlrb-run-guessed", base_url=env["OPENAI_BASE_URL"], max_retries=0
    )
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert upstream.received == []  # an unknown token never reaches the provider
    session.server.grants.revoke(session.token)
    live = openai.OpenAI(api_key=env["OPENAI_API_KEY"], base_url=env["OPENAI_BASE_URL"])
    with pytest.raises(openai.AuthenticationError):
        live.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    session.close()
    port = int(env["OPENAI_BASE_URL"].split(":")[2].split("/")[0])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # the port is closed
    assert not session.server.socket_path.exists()


def test_proxy_mode_needs_a_root_harness_under_docker() -> None:
    creds = Credentials({"OPENAI_API_KEY": FAKE_KEY, "OPENAI": FAKE_KEY, "HF_TOKEN": "hf"})
    with pytest.raises(ConfigError) as refused:
        DockerRuntime(client=None).check_proxy(euid=1000)
    assert refused.value.exit_code == 2 and "--credentials direct" in (refused.value.hint or "")
    LocalRuntime().check_proxy(euid=1000)  # the proxy listens on the host's loopback
    plan, rest = plan_proxy("openai", creds, Budget())
    assert plan.key == FAKE_KEY and rest.names == ["HF_TOKEN"] and FAKE_KEY not in repr(plan)


def test_a_local_run_gets_a_token_and_records_usage(
    upstream: ScriptedUpstream, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("MLRB_OPENAI_UPSTREAM", f"{upstream.url}/v1")
    script = (
        "import openai, os; c = openai.OpenAI(); "
        "print(c.chat.completions.create(model='gpt-4o-mini', "
        "messages=[{'role': 'user', 'content': 'hi'}]).choices[0].message.content)"
    )
    command = f'env | sort; {agent_python()} -c "{script}"'
    record, run_dir, console = run_once(
        "local", runs_dir, command, provider="openai", budget_tokens=100_000
    )
    assert record.status == "completed", (run_dir / "agent.log").read_text()
    log = (run_dir / "agent.log").read_text()
    assert upstream.default_text in log
    assert "OPENAI_BASE_URL=http://127.0.0.1:" in log and "OPENAI_API_KEY=[REDACTED]" in log
    assert record.credentials_mode == "proxy"
    assert record.limits.budget_tokens == 100_000
    usage = record.model_usage
    assert isinstance(usage, ModelUsage) and usage.calls == 1
    assert (usage.input_tokens, usage.output_tokens) == _reported(upstream)
    saved = json.loads((run_dir / "run.json").read_text())
    assert saved["model_usage"]["calls"] == 1 and saved["model_usage"]["cost_usd"] > 0
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
    assert FAKE_KEY not in console


def test_budgets_need_the_proxy(runs_dir: Path) -> None:
    with pytest.raises(ConfigError, match="need a provider"):
        run_once("local", runs_dir, "true", budget_usd=1.0)


@pytest.mark.docker
def test_a_container_reaches_the_proxy_and_nothing_else(
    agent_images: dict[str, str],
    upstream: ScriptedUpstream,
    runs_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    docker_client: Any,
) -> None:
    import os

    if os.geteuid() != 0:
        pytest.skip("the proxy's forwarder needs a root harness under docker")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("MLRB_OPENAI_UPSTREAM", f"{upstream.url}/v1")
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    command = (
        "env | sort > /app/output/env.txt; cat /proc/net/dev > /app/output/netdev.txt; "
        f"wget -q -O /app/output/answer.json --header 'Content-Type: application/json' "
        f"--header \"Authorization: Bearer $OPENAI_API_KEY\" --post-data '{body}' "
        "$OPENAI_BASE_URL/chat/completions; "
        f"wget -q -T 3 -O /app/output/outside.txt {upstream.url}/v1/models "
        "&& echo REACHED-HOST || echo NO-HOST"
    )
    seen: dict[str, Any] = {}

    def spy(self: Any, launch: Any, sink: Any) -> Any:
        started = original(self, launch, sink)
        seen["inspect"] = json.dumps(docker_client.api.inspect_container(f"mlrb-{launch.run_id}"))
        return started

    original = DockerRuntime.start
    monkeypatch.setattr(DockerRuntime, "start", spy)
    record, run_dir, console = run_once(
        "docker", runs_dir, command, image=agent_images["base"], provider="openai"
    )
    assert record.status == "completed", (run_dir / "agent.log").read_text()
    assert record.network == "none"
    answer = json.loads((run_dir / "output" / "answer.json").read_text())
    assert answer["choices"][0]["message"]["content"] == upstream.default_text
    assert "NO-HOST" in (run_dir / "agent.log").read_text()  # the host's loopback is not reachable
    interfaces = (run_dir / "output" / "netdev.txt").read_text().splitlines()[2:]
    assert [line.split(":")[0].strip() for line in interfaces] == ["lo"]
    env = (run_dir / "output" / "env.txt").read_text()
    assert "OPENAI_BASE_URL=http://127.0.0.1:47800/openai/v1" in env
    assert FAKE_KEY not in env and FAKE_KEY not in seen["inspect"] and FAKE_KEY not in console
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
    assert record.model_usage is not None and record.model_usage.calls == 1
    assert [r.key for r in upstream.received] == [FAKE_KEY]
    assert record.task == TASK
    assert not docker_client.containers.list(all=True, filters={"name": record.run_id})


def test_a_run_whose_budget_is_spent_mid_run_says_so_in_run_json(
    upstream: ScriptedUpstream, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("MLRB_ANTHROPIC_UPSTREAM", upstream.url)
    script = (
        "import anthropic\n"
        "c = anthropic.Anthropic()\n"
        "for i in range(10):\n"
        "    try:\n"
        "        c.messages.create(model='claude-haiku-4-5', max_tokens=20,\n"
        "                          messages=[{'role': 'user', 'content': 'hi'}])\n"
        "        print('answered', i, flush=True)\n"
        "    except anthropic.RateLimitError as exc:\n"
        "        print('refused', i, exc.status_code, exc.body, flush=True)\n"
        "        break\n"
    )
    (runs_dir.parent / "agent.py").write_text(script, encoding="utf-8")
    record, run_dir, _ = run_once(
        "local", runs_dir, f"{agent_python()} {runs_dir.parent / 'agent.py'}",
        provider="anthropic", budget_tokens=100,
    )  # fmt: skip
    log = (run_dir / "agent.log").read_text()
    assert record.status == "completed", log
    assert "answered 0" in log and "refused" in log and "429" in log
    assert "the run's model budget is spent" in log
    saved = json.loads((run_dir / "run.json").read_text())
    usage = saved["model_usage"]
    assert usage["budget_exhausted"] is True and usage["refused_calls"] == 1
    assert usage["budget_tokens"] == 100 and "of 100 tokens" in usage["budget_message"]
    assert usage["calls"] == len(upstream.received) >= 1
    assert saved["limits"]["budget_tokens"] == 100
    lines = _calls(run_dir)
    assert "refused" in lines[-1] and len(lines) == usage["calls"] + 1


@pytest.mark.docker
def test_the_agents_first_instruction_finds_the_proxy_ready(
    agent_images: dict[str, str],
    upstream: ScriptedUpstream,
    runs_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    docker_client: Any,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("MLRB_OPENAI_UPSTREAM", f"{upstream.url}/v1")
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    # No retry: the very first instruction calls the proxy, once.
    command = (
        f"wget -q -O /app/output/answer.json --header 'Content-Type: application/json' "
        f"--header \"Authorization: Bearer $OPENAI_API_KEY\" --post-data '{body}' "
        "$OPENAI_BASE_URL/chat/completions"
    )
    record, run_dir, _ = run_once(
        "docker", runs_dir, command, image=agent_images["base"], provider="openai"
    )
    assert (record.status, record.exit_code, record.agent_exit_code) == ("completed", 0, 0)
    answer = json.loads((run_dir / "output" / "answer.json").read_text())
    assert answer["choices"][0]["message"]["content"] == upstream.default_text
    assert record.credentials_mode == "proxy" and record.network == "none"
    assert record.model_usage is not None and record.model_usage.calls == 1
    assert not docker_client.containers.list(all=True, filters={"name": record.run_id})


@pytest.mark.docker
def test_an_agent_that_exits_at_once_is_a_completed_run_with_its_deliverable(
    agent_images: dict[str, str], runs_dir: Path, env_file: Path, docker_client: Any
) -> None:
    # The test image's own command: write the model and exit, a few milliseconds of work.
    record, run_dir, _ = run_once(
        "docker", runs_dir, None, image=agent_images["agent"], provider="openai",
        env_file=env_file,
    )  # fmt: skip
    assert (record.status, record.exit_code, record.agent_exit_code) == ("completed", 0, 0)
    assert record.credentials_mode == "proxy"
    assert record.deliverable is not None and record.deliverable_rejected is None
    assert (run_dir / "output" / "model" / "weights.bin").read_text() == "weights\n"
    assert record.model_usage is not None and record.model_usage.calls == 0
    assert not docker_client.containers.list(all=True, filters={"name": record.run_id})


def _memory_kib() -> tuple[int, int]:
    """This process's resident memory now and at its peak (VmRSS, VmHWM), KiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _post(port: int, token: str, framing: str, chunks: Iterator[bytes], chunked: bool) -> str:
    """Play an agent's raw HTTP client: send until the proxy answers or hangs up; its answer's
    status, or ``reset``/``closed`` when it hung up before an answer could be read."""
    import select

    head = (
        "POST /openai/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n{framing}\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            sock.sendall(head)
            for chunk in chunks:
                if select.select([sock], [], [], 0)[0]:
                    break  # the proxy has answered (or hung up): stop sending, as a client does
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
            answer = sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            return "reset"
    return answer.split(b" ", 2)[1].decode() if answer else "closed"


def _mib(count: int) -> Iterator[bytes]:
    block = b"x" * (1024 * 1024)
    for _ in range(count):
        yield block


def test_hostile_bodies_are_refused_and_the_proxys_memory_stays_bounded(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from agent_harness.proxy.app import IN_FLIGHT_BYTES

    session, env = _session(upstream, tmp_path)
    assert session.forwarder is not None
    port, token = session.forwarder.port, env["OPENAI_API_KEY"]
    mib = 1024 * 1024
    bomb = b'{"model":"gpt-4o-mini","messages":[' + b"{}," * (31 * mib // 3) + b"{}]}"
    Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from here
    rss_before, _ = _memory_kib()
    try:
        # A 1 GiB body declared by its Content-Length: refused before a byte of it is read.
        assert _post(port, token, f"Content-Length: {1024 * mib}\r\n", iter(()), False) == "413"
        # A chunked body of up to 1 GiB: refused once it passes 32 MiB, never held whole.
        chunked = "Transfer-Encoding: chunked\r\n"
        assert _post(port, token, chunked, _mib(1024), True) in ("413", "reset")
        # 31 MiB of empty objects (about 0.8 GB once parsed): refused before parsing.
        framing = f"Content-Length: {len(bomb)}\r\n"
        assert _post(port, token, framing, iter((bomb,)), False) == "413"
        # 16 connections at once, each a chunked body of up to 256 MiB.
        with ThreadPoolExecutor(16) as pool:
            outcomes = list(
                pool.map(lambda _: _post(port, token, chunked, _mib(256), True), range(16))
            )
        assert set(outcomes) <= {"413", "503", "reset", "closed"}, outcomes
        # None of it reached the provider, and an ordinary call is still answered.
        assert upstream.received == []
        import openai

        client = openai.OpenAI(api_key=token, base_url=env["OPENAI_BASE_URL"])
        answer = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content == upstream.default_text
    finally:
        session.close()
    _, peak = _memory_kib()
    # The proxy held at most IN_FLIGHT_BYTES of bodies (plus buffers), never a whole body.
    assert (peak - rss_before) * 1024 < IN_FLIGHT_BYTES + 64 * mib, (peak - rss_before) // 1024


def _three_calls_then_wait(
    image: str, upstream: ScriptedUpstream, runs_dir: Path, docker_client: Any
) -> tuple[Any, Path, Path]:
    """A harness whose agent makes three proxied calls, then waits for ``output/go``: the
    harness process, the run folder (once the calls are done) and the proxy's folder."""
    import subprocess

    from harness_testkit import HARNESS, clean_environ, wait_for_line

    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    command = (
        f"for i in $(seq {CALLS}); do wget -q -O /app/output/answer-$i.json "
        "--header 'Content-Type: application/json' "
        f"--header \"Authorization: Bearer $OPENAI_API_KEY\" --post-data '{body}' "
        "$OPENAI_BASE_URL/chat/completions || exit 9; done; echo calls-done; "
        "while [ ! -f /app/output/go ]; do sleep 0.1; done"
    )
    harness_proc = subprocess.Popen(
        [str(HARNESS), "run", image, "--task", TASK, "--benchmark", "smoke",
         "--provider", "openai", "--runs-dir", str(runs_dir), "--time-limit", "60",
         "--grace", "2s", "--command", command],
        env=clean_environ(OPENAI_API_KEY=FAKE_KEY, MLRB_OPENAI_UPSTREAM=f"{upstream.url}/v1",
                          MLRB_GPU_LOCK_DIR=str(runs_dir.parent / "gpu-locks")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        run_dir = wait_for_line(runs_dir, "calls-done")
        holder = docker_client.api.inspect_container(f"mlrb-{run_dir.name}-net")
    except BaseException:
        harness_proc.kill()
        raise
    folder = Path(holder["Mounts"][0]["Source"]).parent  # the proxy's /tmp/mlrb-proxy-*
    assert folder.name.startswith("mlrb-proxy-") and folder.is_dir()
    return harness_proc, run_dir, folder


CALLS = 3


def _assert_spend_kept(usage: ModelUsage | None, upstream: ScriptedUpstream) -> None:
    assert usage is not None and usage.calls == CALLS == len(upstream.received)
    inputs, outputs = _reported(upstream)
    assert (usage.input_tokens, usage.output_tokens) == (inputs, outputs)
    price = price_table().find(MODEL)
    assert price is not None
    assert usage.cost_usd == pytest.approx((inputs * price.input + outputs * price.output) / 1e6)


@pytest.mark.docker
def test_spend_is_recorded_and_the_proxy_folder_removed_when_the_harness_is_killed(
    agent_images: dict[str, str], upstream: ScriptedUpstream, runs_dir: Path, docker_client: Any
) -> None:
    import signal
    import time
    from datetime import UTC, datetime

    from agent_contracts.run_record import RunRecord
    from agent_eval.store.rows import run_row
    from agent_harness.run_json import read_record
    from agent_harness.runtimes.container import LABEL_RUN_ID

    harness_proc, run_dir, folder = _three_calls_then_wait(
        agent_images["base"], upstream, runs_dir, docker_client
    )
    try:
        harness_proc.send_signal(signal.SIGKILL)
        harness_proc.wait(10)
        (run_dir / "staging" / "go").write_text("")  # the agent ends; its watchdog records
        end = time.monotonic() + 60
        while (final := read_record(run_dir)) is not None and final.status == "running":
            assert time.monotonic() < end, "the watchdog did not record the run"
            time.sleep(0.2)
    finally:
        if harness_proc.poll() is None:
            harness_proc.kill()
    assert final is not None and (final.status, final.ended_by) == ("error", "watchdog")
    usage = final.model_usage
    _assert_spend_kept(usage, upstream)
    assert usage is not None
    # The transcript kept every call answered before the kill; the record names it.
    assert usage.transcript_file == "transcript.jsonl" and usage.provider_stall_s == 0
    lines = (run_dir / "transcript.jsonl").read_text().splitlines()
    assert [json.loads(line)["call"] for line in lines] == list(range(1, CALLS + 1))
    assert not folder.exists()
    assert not docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN_ID}={run_dir.name}"}
    )
    # The database's row of the run carries the spend.
    saved = RunRecord.model_validate_json((run_dir / "run.json").read_text())
    row = run_row(saved, datetime.now(UTC))
    assert (row.model_calls, row.cost_usd) == (CALLS, usage.cost_usd)


@pytest.mark.docker
def test_spend_is_kept_when_a_fence_closes_a_run_whose_harness_and_watchdog_died(
    agent_images: dict[str, str], upstream: ScriptedUpstream, runs_dir: Path, docker_client: Any
) -> None:
    """kill -9 of the harness and of its watchdog (a supervisor killing the whole cgroup): the
    run set's fence kills the agent, closes the record with the spend on file, and removes the
    proxy's folder."""
    import os
    import signal
    import time

    from agent_harness.run_json import read_record
    from agent_harness.runset.fencing import Fence, watchdog_pids
    from agent_harness.runtimes.container import LABEL_RUN_ID

    harness_proc, run_dir, folder = _three_calls_then_wait(
        agent_images["base"], upstream, runs_dir, docker_client
    )
    try:
        watchdogs = watchdog_pids(run_dir)
        assert watchdogs
        harness_proc.send_signal(signal.SIGKILL)
        harness_proc.wait(10)
        for pid in watchdogs:
            os.kill(pid, signal.SIGKILL)
        fence, end = Fence(runs_dir), time.monotonic() + 60
        while (proof := fence.check()) is None:
            assert time.monotonic() < end, fence.waiting_for
            time.sleep(0.3)
    finally:
        if harness_proc.poll() is None:
            harness_proc.kill()
    assert proof.how == "gone" and proof.killed_by == "scheduler", proof
    final = read_record(run_dir)
    assert final is not None and (final.status, final.ended_by) == ("error", "cleanup")
    _assert_spend_kept(final.model_usage, upstream)
    assert not folder.exists()
    # The agent gone, its output was copied out and the staging file system unmounted.
    assert final.output_safety is not None and final.output_safety.copied
    assert final.deliverable is None and (run_dir / "output" / "answer-1.json").is_file()
    assert str(run_dir) not in Path("/proc/self/mounts").read_text()
    assert not docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN_ID}={run_dir.name}"}
    )


def test_only_this_users_abandoned_proxy_folders_are_removed(tmp_path: Path) -> None:
    import os
    import time

    from agent_harness.proxy.server import SOCKET_NAME, remove_folder, stale_folders

    old = time.time() - 3600

    def folder(name: str, *, listening: bool = False) -> tuple[Path, socket.socket]:
        path = tmp_path / name
        path.mkdir(mode=0o700)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path / SOCKET_NAME))
        if listening:
            sock.listen(1)
        else:
            sock.close()  # the file stays; nobody answers on it
        os.utime(path, (old, old))
        return path, sock

    dead, _ = folder("mlrb-proxy-dead")
    live, server = folder("mlrb-proxy-live", listening=True)
    # Another user's planted folder, and a link to a victim folder of root's.
    theirs = tmp_path / "mlrb-proxy-theirs"
    theirs.mkdir()
    (theirs / "keep").write_text("theirs")
    os.chown(theirs, 1000, 1000)
    os.utime(theirs, (old, old))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("precious")
    link = tmp_path / "mlrb-proxy-link"
    link.symlink_to(victim)
    try:
        found = stale_folders(tmp_path)
        assert found == [dead]  # the live proxy's folder is not stale
        for path in (*found, theirs, link):  # removing what is not ours does nothing
            remove_folder(path)
    finally:
        server.close()
    assert not dead.exists()
    assert (victim / "precious").read_text() == "precious" and link.is_symlink()
    assert (theirs / "keep").read_text() == "theirs"
    assert (live / SOCKET_NAME).exists()


def test_models_are_priced_by_exact_name_or_listed_alias_only() -> None:
    table = price_table()
    for dearer in ("gpt-5-pro", "o3-pro", "o3-deep-research", "gpt-4o-2024-05-13"):
        assert table.find(dearer) is None, dearer  # no prefix: each costs more than its stem
    snapshot, named = table.find("gpt-4o-mini-2024-07-18"), table.find("gpt-4o-mini")
    assert snapshot is not None and snapshot == named
    assert all(name in table.models for name in table.aliases.values())


def test_an_unpriced_model_is_refused_under_a_cost_budget_and_counted_without_one(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    import openai

    messages: Any = [{"role": "user", "content": "hi"}]
    (tmp_path / "budget").mkdir()
    (tmp_path / "free").mkdir()
    session, env = _session(upstream, tmp_path / "budget", usd=1.0)
    client = openai.OpenAI(api_key=env["OPENAI_API_KEY"], base_url=env["OPENAI_BASE_URL"])
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="gpt-5-pro", messages=messages)
    totals = session.close()
    assert "'gpt-5-pro' has no price in" in str(refused.value)
    assert "agent_harness/src/agent_harness/proxy/prices.json" in str(refused.value)
    assert upstream.received == [] and (totals.calls, totals.refused_calls) == (0, 1)

    session, env = _session(upstream, tmp_path / "free")
    client = openai.OpenAI(api_key=env["OPENAI_API_KEY"], base_url=env["OPENAI_BASE_URL"])
    client.chat.completions.create(model="o3-pro", messages=messages)
    totals = session.close()
    assert (totals.calls, totals.unpriced_calls, totals.cost_usd) == (1, 1, 0.0)


def test_eight_concurrent_streams_overshoot_a_cost_budget_by_at_most_one_calls_bound(
    tmp_path: Path,
) -> None:
    import threading

    import openai

    # Each answer uses its whole output cap: the worst case a reservation has to hold.
    cap = 1000
    upstream = ScriptedUpstream(FAKE_KEY, delay_s=0.05, output_tokens=cap).start()
    budget = 0.004
    try:
        session, env = _session(upstream, tmp_path, usd=budget)
        client = openai.OpenAI(
            api_key=env["OPENAI_API_KEY"], base_url=env["OPENAI_BASE_URL"], max_retries=0
        )
        messages: Any = [{"role": "user", "content": "Say hello in five words. " * 8}]
        refusals = []

        def agent() -> None:
            while True:
                try:
                    stream = client.chat.completions.create(
                        model=MODEL, messages=messages, max_tokens=cap, stream=True
                    )
                    for _ in stream:
                        pass
                except openai.RateLimitError as exc:
                    refusals.append(exc)
                    return

        threads = [threading.Thread(target=agent) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        totals = session.close()
    finally:
        upstream.stop()
    price = price_table().find(MODEL)
    assert price is not None
    request_bytes = max(len(json.dumps(r.body)) for r in upstream.received)
    one_call = price.bound_usd(request_bytes, cap)  # every input byte a token: generous
    assert len(refusals) == 8 and totals.calls >= 2 and totals.budget_exhausted
    assert totals.cost_usd <= budget + one_call, (totals.cost_usd, one_call)


def test_the_network_holder_is_confined_and_labelled_for_cleanup(tmp_path: Path) -> None:
    from agent_harness.errors import LaunchError
    from agent_harness.runtimes.base import Launch
    from agent_harness.runtimes.container import (
        LABEL_RUN_ID,
        holder_program,
        holder_settings,
    )

    launch = Launch(run_id="r1", image="any/agent:1", task_dir=tmp_path, output_dir=tmp_path,
                    environment={"OPENAI_API_KEY": "mlrb-run-token"}, network="none")  # fmt: skip
    settings = holder_settings(launch, tmp_path / "netns-holder")
    assert settings["name"] == "mlrb-r1-net" and settings["labels"][LABEL_RUN_ID] == "r1"
    assert settings["network_mode"] == "none" and settings["user"] == "65534:65534"
    assert settings["cap_drop"] == ["ALL"] and settings["read_only"] is True
    assert "environment" not in settings  # the run's token never reaches the holder
    for machine, e_machine in (("x86_64", 0x3E), ("aarch64", 0xB7)):
        program = holder_program(machine)
        assert program[:4] == b"\x7fELF" and int.from_bytes(program[18:20], "little") == e_machine
    with pytest.raises(LaunchError) as refused:
        holder_program("riscv64")
    assert refused.value.exit_code == 3 and "--credentials direct" in (refused.value.hint or "")


@pytest.mark.docker
def test_a_holder_whose_first_start_fails_is_removed_and_started_again(
    agent_images: dict[str, str], docker_client: Any, tmp_path: Path
) -> None:
    """The engine can fail a start once on a loaded host ("container process is already
    dead"): the holder is removed and started again, and the run goes on with one holder."""
    from docker.errors import APIError

    from agent_harness.runtimes.base import Launch
    from agent_harness.runtimes.container import LABEL_RUN_ID, remove_container

    class FirstStartFails:
        """The real engine, whose first container start answers as runc did under load."""

        def __init__(self, client: Any) -> None:
            self.client, self.api, self.failed = client, client.api, []

        @property
        def containers(self) -> Any:
            return self

        def create(self, **settings: Any) -> Any:
            container = self.client.containers.create(**settings)
            if not self.failed:
                self.failed.append(container.id)
                container.start = lambda: (_ for _ in ()).throw(
                    APIError("OCI runtime start failed: container process is already dead")
                )
            return container

    run_id = f"holder-retry-{tmp_path.name[-8:]}"
    launch = Launch(run_id=run_id, image=agent_images["base"], task_dir=tmp_path,
                    output_dir=tmp_path, environment={}, network="none")  # fmt: skip
    engine = FirstStartFails(docker_client)
    holder = DockerRuntime(engine).hold_network(launch, tmp_path)
    try:
        (failed,) = engine.failed
        labelled = docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_RUN_ID}={run_id}"}
        )
        assert [c.id for c in labelled] == [holder.id] != [failed]
        assert labelled[0].status == "running" and Path(holder.netns).exists()
    finally:
        remove_container(docker_client, holder.id)


def test_cleanup_names_the_proxy_folder_it_removes(tmp_path: Path) -> None:
    """`agent-harness cleanup` says which proxy folder it removed (never an empty run id)."""
    import os
    import subprocess
    import sys
    import time

    dead = tmp_path / "mlrb-proxy-gone1234"
    dead.mkdir(mode=0o700)
    os.utime(dead, (time.time() - 3600,) * 2)
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "agent_harness", "cleanup", "--runs-dir", str(tmp_path / "runs")],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"removed: proxy folder {dead} (its proxy is gone)" in done.stdout.splitlines()
    assert not dead.exists()
    again = subprocess.run(
        [sys.executable, "-m", "agent_harness", "cleanup", "--runs-dir", str(tmp_path / "runs"),
         "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert not [item for item in json.loads(again.stdout) if item["folder"]]  # removed once
