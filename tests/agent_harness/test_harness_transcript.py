"""The proxy's transcript: every call's request and answer, redacted, bounded, durable.

Stock SDKs call the scripted upstream through the proxy; the test then reads
``transcript.jsonl`` with the contract's own reader, as the evaluator does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness_testkit import FAKE_KEY, agent_python, run_once
from scripted_upstream import OUTPUT_TOKENS, ScriptedUpstream

from agent_contracts.run_record import Limits, RunRecord
from agent_contracts.transcript import CUT_MARKER, TRANSCRIPT_FILE, read_transcript
from agent_harness.proxy import Budget
from agent_harness.proxy.account import usage_on_file
from agent_harness.proxy.session import ProxyPlan, ProxySession
from agent_harness.proxy.transcript import BODY_BYTES, STRING_CHARS, Transcript, assemble_stream
from agent_harness.runtimes.local import LocalRuntime

MODEL = "gpt-4o-mini"
OTHER_SECRET = "hf_OTHERsecret0123456789"


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    """The scripted provider, knowing only the real key."""
    server = ScriptedUpstream(FAKE_KEY).start()
    yield server
    server.stop()


def _session(
    upstream: ScriptedUpstream, folder: Path, provider: str = "openai"
) -> tuple[ProxySession, dict[str, str]]:
    plan = ProxyPlan(provider, FAKE_KEY, f"{upstream.url}/v1", Budget())
    session = ProxySession(plan, folder)
    return session, session.start(LocalRuntime().proxy_port, [OTHER_SECRET])


def test_openai_calls_streamed_or_not_are_recorded_whole_and_redacted(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    import openai

    upstream.script = [{"tool": "run_shell", "args": {"cmd": "ls /app"}}] * 2
    session, env = _session(upstream, tmp_path)
    client = openai.OpenAI(api_key=env["OPENAI_API_KEY"], base_url=env["OPENAI_BASE_URL"])
    # The agent pastes its credentials into a prompt: the transcript must not keep them.
    leak = f"my keys are {FAKE_KEY} and {OTHER_SECRET} and {env['OPENAI_API_KEY']}"
    messages: Any = [{"role": "system", "content": "be brief"}, {"role": "user", "content": leak}]
    tools: Any = [{"type": "function", "function": {"name": "run_shell", "parameters": {}}}]
    client.chat.completions.create(model=MODEL, messages=messages, tools=tools, temperature=0.2)
    list(client.chat.completions.create(model=MODEL, messages=messages, tools=tools, stream=True))
    client.chat.completions.create(model=MODEL, messages=messages)
    chunks = client.chat.completions.create(model=MODEL, messages=messages, stream=True)
    list(chunks)
    with client.responses.stream(model=MODEL, input="hi") as stream:
        stream.get_final_response()
    usage = session.close()

    text = (tmp_path / TRANSCRIPT_FILE).read_text()
    for secret in (FAKE_KEY, OTHER_SECRET, env["OPENAI_API_KEY"]):
        assert secret not in text
    calls = list(read_transcript(tmp_path / TRANSCRIPT_FILE))
    assert [c.call for c in calls] == [1, 2, 3, 4, 5]
    assert [(c.api, c.stream, c.status) for c in calls] == [
        ("chat", False, 200), ("chat", True, 200), ("chat", False, 200), ("chat", True, 200),
        ("responses", True, 200),
    ]  # fmt: skip
    first = calls[0]
    assert first.request["messages"][1]["content"] == (
        "my keys are [REDACTED] and [REDACTED] and [REDACTED]"
    )
    assert first.request["tools"] == tools and first.request["temperature"] == 0.2
    for call in calls[:2]:  # a tool call, whole, from the answer or assembled from the stream
        tool_call = call.response["choices"][0]["message"]["tool_calls"][0]
        assert tool_call["function"]["name"] == "run_shell"
        assert json.loads(tool_call["function"]["arguments"]) == {"cmd": "ls /app"}
        assert call.response["choices"][0]["finish_reason"] == "tool_calls"
    assert calls[2].response["choices"][0]["message"]["content"] == upstream.default_text
    assert calls[3].response["choices"][0]["message"]["content"].strip() == upstream.default_text
    assert calls[4].response["output"][0]["content"][0]["text"] == upstream.default_text
    # Tokens and cost agree with the usage file, call by call.
    lines = [json.loads(x) for x in (tmp_path / "model_calls.jsonl").read_text().splitlines()]
    assert [(c.input_tokens, c.output_tokens, c.cost_usd) for c in calls] == [
        (x["input_tokens"], x["output_tokens"], x["cost_usd"]) for x in lines
    ]
    assert all(c.output_tokens == OUTPUT_TOKENS and c.usage_source == "provider" for c in calls)
    assert all(0 < c.upstream_s <= c.latency_s and c.ended_at >= c.started_at for c in calls)
    assert usage.transcript_file == TRANSCRIPT_FILE and usage.provider_stall_s == 0


def test_anthropic_calls_streamed_or_not_are_recorded(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    import anthropic

    session, env = _session(upstream, tmp_path, provider="anthropic")
    client = anthropic.Anthropic(
        api_key=env["ANTHROPIC_API_KEY"], base_url=env["ANTHROPIC_BASE_URL"]
    )
    messages: Any = [{"role": "user", "content": "<script>alert(1)</script> hi"}]
    client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=messages)
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=50, messages=messages, system="you are terse"
    ) as stream:
        stream.get_final_text()
    session.close()
    calls = list(read_transcript(tmp_path / TRANSCRIPT_FILE))
    assert [(c.provider, c.api, c.stream) for c in calls] == [
        ("anthropic", "messages", False),
        ("anthropic", "messages", True),
    ]
    assert calls[1].request["system"] == "you are terse"
    assert calls[0].request["messages"] == messages
    for call in calls:
        assert call.response["content"] == [{"type": "text", "text": upstream.default_text}]
        assert call.response["stop_reason"] == "end_turn"
        assert call.response["usage"]["output_tokens"] == OUTPUT_TOKENS
        assert call.output_tokens == OUTPUT_TOKENS and call.input_tokens > 0


def test_bodies_are_capped_with_a_marker_and_the_run_total_is_bounded(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    import openai

    session, env = _session(upstream, tmp_path)
    client = openai.OpenAI(api_key=env["OPENAI_API_KEY"], base_url=env["OPENAI_BASE_URL"])
    huge = "A" * (STRING_CHARS * 3)
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": huge}])
    # A long conversation: its earliest turns go first, its latest stay.
    turns: Any = [{"role": "system", "content": "sys"}] + [
        {"role": "user", "content": f"turn {i} " + "x" * 60_000} for i in range(40)
    ]
    client.chat.completions.create(model=MODEL, messages=turns)
    session.transcript.max_bytes = session.transcript.bytes + 100  # the run's bound is reached
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "late"}])
    usage = session.close()

    calls = list(read_transcript(tmp_path / TRANSCRIPT_FILE))
    content = calls[0].request["messages"][0]["content"]
    assert content.startswith("A" * 100) and f"{CUT_MARKER}{STRING_CHARS * 2} more" in content
    kept = calls[1].request["messages"]
    assert kept[0] == {"role": "system", "content": "sys"}
    assert kept[1].startswith(CUT_MARKER) and "earlier items" in kept[1]
    assert kept[-1]["content"].startswith("turn 39 ")
    assert len(json.dumps(calls[1].request)) <= BODY_BYTES
    assert calls[0].cut and calls[1].cut and not calls[2].cut
    assert calls[2].omitted and calls[2].request is None and calls[2].status == 200
    assert calls[2].output_tokens == OUTPUT_TOKENS  # the call is still counted
    assert (usage.transcript_cut_calls, usage.transcript_omitted_calls) == (2, 1)


def test_upstream_refusals_are_stall_time_and_a_run_records_its_working_time(
    upstream: ScriptedUpstream, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The provider answers 503 twice, slowly; the SDK retries, then gets its answer.
    upstream.delay_s = 0.5
    upstream.script = [{"status": 503}, {"status": 429}]
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("MLRB_OPENAI_UPSTREAM", f"{upstream.url}/v1")
    script = (
        "import openai; c = openai.OpenAI(max_retries=3); "
        "print(c.chat.completions.create(model='gpt-4o-mini', "
        "messages=[{'role': 'user', 'content': 'hi'}]).choices[0].message.content)"
    )
    record, run_dir, _ = run_once(
        "local", runs_dir, f'{agent_python()} -c "{script}"', provider="openai"
    )
    assert record.status == "completed", (run_dir / "agent.log").read_text()
    calls = list(read_transcript(run_dir / TRANSCRIPT_FILE))
    assert [(c.status, c.refused_by) for c in calls] == [
        (503, "upstream"), (429, "upstream"), (200, None),
    ]  # fmt: skip
    usage = record.model_usage
    assert usage is not None and usage.transcript_file == TRANSCRIPT_FILE
    stalled = calls[0].upstream_s + calls[1].upstream_s
    assert usage.provider_stall_s == pytest.approx(stalled, abs=0.01)
    assert usage.provider_stall_s >= 1.0
    assert record.duration_s is not None and record.working_time_s is not None
    assert record.working_time_s == pytest.approx(
        record.duration_s - usage.provider_stall_s, abs=0.05
    )
    saved = json.loads((run_dir / "run.json").read_text())
    assert saved["working_time_s"] == record.working_time_s
    # The transcript is in the run folder, not in the output the agent wrote.
    assert (run_dir / TRANSCRIPT_FILE).is_file()
    assert not list((run_dir / "output").rglob(TRANSCRIPT_FILE))


def test_a_run_whose_harness_was_killed_gets_its_working_time_from_the_watchdog(
    upstream: ScriptedUpstream, runs_dir: Path
) -> None:
    import signal
    import subprocess
    import time

    from harness_testkit import BASE_IMAGE, BENCHMARK, HARNESS, TASK, clean_environ, wait_for_line

    from agent_harness.run_json import read_record

    # The provider refuses twice, slowly; then the agent waits for the test to let it end.
    upstream.delay_s = 0.5
    upstream.script = [{"status": 503}, {"status": 429}]
    script = (
        "import openai; c = openai.OpenAI(max_retries=3); "
        "print(c.chat.completions.create(model='gpt-4o-mini', "
        "messages=[{'role': 'user', 'content': 'hi'}]).choices[0].message.content)"
    )
    command = (
        f'{agent_python()} -c "{script}" && echo calls-done; while [ ! -f go ]; do sleep 0.1; done'
    )
    proc = subprocess.Popen(
        [str(HARNESS), "run", BASE_IMAGE, "--task", TASK, "--benchmark", BENCHMARK,
         "--runtime", "local", "--network", "none", "--provider", "openai",
         "--runs-dir", str(runs_dir), "--time-limit", "60", "--grace", "2s",
         "--command", command],
        env=clean_environ(OPENAI_API_KEY=FAKE_KEY, MLRB_OPENAI_UPSTREAM=f"{upstream.url}/v1",
                          MLRB_GPU_LOCK_DIR=str(runs_dir.parent / "gpu-locks")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        run_dir = wait_for_line(runs_dir, "calls-done")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        (run_dir / "staging" / "go").write_text("")  # the agent ends; its watchdog records
        end = time.monotonic() + 60
        while (final := read_record(run_dir)) is not None and final.status == "running":
            assert time.monotonic() < end, "the watchdog did not record the run"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert final is not None and (final.status, final.ended_by) == ("error", "watchdog")
    usage = final.model_usage
    assert usage is not None and usage.transcript_file == TRANSCRIPT_FILE
    calls = list(read_transcript(run_dir / TRANSCRIPT_FILE))
    assert [c.status for c in calls] == [503, 429, 200]
    assert usage.provider_stall_s == pytest.approx(
        calls[0].upstream_s + calls[1].upstream_s, abs=0.01
    )
    assert usage.provider_stall_s >= 1.0
    # The watchdog's record carries the run's wall time and its working time, computed alike.
    assert final.duration_s is not None and final.duration_s > usage.provider_stall_s
    assert final.working_time_s == pytest.approx(final.duration_s - usage.provider_stall_s)
    saved = json.loads((run_dir / "run.json").read_text())
    assert saved["working_time_s"] == final.working_time_s


def test_a_transcript_that_cannot_be_written_never_costs_the_call(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    import openai

    session, env = _session(upstream, tmp_path)
    session.transcript.path = tmp_path  # a folder: every write fails, like a full disk
    client = openai.OpenAI(api_key=env["OPENAI_API_KEY"], base_url=env["OPENAI_BASE_URL"])
    answer = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == upstream.default_text
    usage = session.close()
    assert usage.calls == 1 and usage.transcript_lost_calls == 1


def _sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events)


def test_streams_are_assembled_into_the_answers_they_carried() -> None:
    # OpenAI chat: two tool calls, their names and arguments split over chunks.
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": delta,
                                                       "finish_reason": finish}]}  # fmt: skip

    chat = (
        _sse(
            chunk({"role": "assistant", "content": "Let me "}),
            chunk({"content": "look."}),
            chunk(
                {
                    "tool_calls": [
                        {"index": 0, "id": "a", "function": {"name": "ba", "arguments": ""}}
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"name": "sh", "arguments": '{"c":'}}]}),
            chunk(
                {
                    "tool_calls": [
                        {"index": 1, "id": "b", "function": {"name": "ls", "arguments": "{}"}}
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "ls"}'}}]}),
            chunk({}, "tool_calls"),
            {"id": "c1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}},
        )
        + b"data: [DONE]\n\n"
    )
    answer = assemble_stream("chat", chat)
    message = answer["choices"][0]["message"]
    assert (
        message["content"] == "Let me look."
        and answer["choices"][0]["finish_reason"] == "tool_calls"
    )
    calls = [(c["id"], c["function"]["name"], c["function"]["arguments"])
             for c in message["tool_calls"]]  # fmt: skip
    assert calls == [("a", "bash", '{"c": "ls"}'), ("b", "ls", "{}")]
    assert answer["usage"] == {"prompt_tokens": 5, "completion_tokens": 3}

    # Anthropic: a thinking block, text, and a tool_use whose input arrives as JSON pieces.
    messages = _sse(
        {"type": "message_start", "message": {"id": "msg", "role": "assistant", "model": "c",
                                              "content": [], "usage": {"input_tokens": 9}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking",
                                                                     "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta",
                                                             "thinking": "hmm"}},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Run"}},
        {"type": "content_block_start", "index": 2, "content_block": {
            "type": "tool_use", "id": "t1", "name": "bash", "input": {}}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta",
                                                             "partial_json": '{"command": '}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta",
                                                             "partial_json": '"nvidia-smi"}'}},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
         "usage": {"output_tokens": 12}},
        {"type": "message_stop"},
    )  # fmt: skip
    answer = assemble_stream("messages", messages)
    assert answer["stop_reason"] == "tool_use"
    assert answer["usage"] == {"input_tokens": 9, "output_tokens": 12}
    assert answer["content"] == [
        {"type": "thinking", "thinking": "hmm"},
        {"type": "text", "text": "Run"},
        {"type": "tool_use", "id": "t1", "name": "bash", "input": {"command": "nvidia-smi"}},
    ]

    # OpenAI responses: the completed event carries the whole response; a cut stream keeps
    # the text it had.
    call = {"type": "function_call", "name": "bash", "arguments": "{}"}
    done = {"id": "r", "status": "completed", "output": [call]}
    completed = _sse({"type": "response.completed", "response": done})
    assert assemble_stream("responses", completed) == done
    # Events of a shape nobody expected are kept as the text they came as.
    odd = _sse({"choices": [{"delta": {"tool_calls": ["not an object"]}}]})
    kept, _ = Transcript(Path("unused")).keep_answer("chat", True, odd)
    assert kept == odd.decode()
    cut = _sse({"type": "response.output_text.delta", "delta": "half an ans"})
    assert assemble_stream("responses", cut)["output"][0]["content"][0]["text"] == "half an ans"


def test_a_run_whose_harness_died_still_records_its_stall_time(tmp_path: Path) -> None:
    # Two overlapping refusals (10-14 s and 12-16 s) and a success: stalled 6 s, not 8.
    transcript = Transcript(tmp_path / TRANSCRIPT_FILE)
    for start, length, status in ((10.0, 4.0, 503), (12.0, 4.0, 429), (20.0, 3.0, 200)):
        transcript.record(
            provider="openai", api="chat", model=MODEL, stream=False, started_at=start,
            latency_s=length, upstream_s=length, status=status, refused_by=None if status == 200
            else "upstream", request={}, response=None, cut=False, usage=None,
            usage_source="none", cost_usd=None,
        )  # fmt: skip
    record = RunRecord(
        run_id="r", task="t", benchmark="b", task_version="1", image="i", runtime="local",
        provider="openai", credentials_mode="proxy", gpus=[], started_at="2026-12-01T00:00:00Z",
        deadline=0.0, limits=Limits(time_limit_s=60, grace_s=1),
    )  # fmt: skip
    usage = usage_on_file(tmp_path, record)
    assert usage is not None and usage.transcript_file == TRANSCRIPT_FILE
    assert usage.provider_stall_s == pytest.approx(6.0)
