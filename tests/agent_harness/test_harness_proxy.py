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
from harness_testkit import FAKE_KEY, TASK, run_once
from scripted_upstream import OUTPUT_TOKENS, ScriptedUpstream

from agent_harness.errors import ConfigError
from agent_harness.proxy import Budget, StreamMeter, Usage, price_table, usage_of_answer
from agent_harness.proxy.session import ProxyPlan, ProxySession, plan_proxy
from agent_harness.records import ModelUsage
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
    return session, session.start("local")


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
        plan_proxy("openai", creds, Budget(), "docker", euid=1000)
    assert refused.value.exit_code == 2 and "--credentials direct" in (refused.value.hint or "")
    plan, rest = plan_proxy("openai", creds, Budget(), "local", euid=1000)
    assert plan.key == FAKE_KEY and rest.names == ["HF_TOKEN"] and FAKE_KEY not in repr(plan)


def test_a_local_run_gets_a_token_and_records_usage(
    upstream: ScriptedUpstream, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("MLRB_OPENAI_UPSTREAM", f"{upstream.url}/v1")
    script = (
        "import openai, os; c = openai.OpenAI(); "
        "print(c.chat.completions.create(model='gpt-4o-mini', "
        "messages=[{'role': 'user', 'content': 'hi'}]).choices[0].message.content)"
    )
    command = f'env | sort; {sys.executable} -c "{script}"'
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
    # The port opens just after the container starts: retry briefly, as the SDKs do.
    command = (
        "env | sort > /app/output/env.txt; cat /proc/net/dev > /app/output/netdev.txt; "
        "for i in $(seq 50); do "
        f"wget -q -O /app/output/answer.json --header 'Content-Type: application/json' "
        f"--header \"Authorization: Bearer $OPENAI_API_KEY\" --post-data '{body}' "
        "$OPENAI_BASE_URL/chat/completions && break; sleep 0.1; done; "
        f"wget -q -T 3 -O /app/output/outside.txt {upstream.url}/v1/models "
        "&& echo REACHED-HOST || echo NO-HOST"
    )
    seen: dict[str, Any] = {}

    def spy(self: Any, netns: str) -> None:
        name = f"mlrb-{self.ledger._file.parent.name}"
        seen["inspect"] = json.dumps(docker_client.api.inspect_container(name))
        original(self, netns)

    original = ProxySession.attach
    monkeypatch.setattr(ProxySession, "attach", spy)
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
    import sys

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
        "local", runs_dir, f"{sys.executable} {runs_dir.parent / 'agent.py'}",
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
