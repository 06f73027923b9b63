"""The run's transcript: every metered call's request and answer, written as each call ends.

The proxy sees every model call whatever the agent's scaffold, so it records what a scaffold's
own log may not: the request (messages, tools, parameters) and the answer, assembled from the
stream when streamed, with timing, status, tokens and cost. Lines follow
:class:`agent_contracts.transcript.TranscriptCall`; bounds (docs/evidence.md):

* every string is redacted (the run's credential values, the proxy's token) and cut at
  :data:`STRING_CHARS` characters, a body at :data:`BODY_BYTES` (the earliest conversation items
  go first, then the text's tail), each cut marked in place (``CUT_MARKER``);
* a stream is kept for assembly up to :data:`STREAM_KEEP_BYTES`;
* the whole file holds bodies up to :data:`TRANSCRIPT_MAX_BYTES`; later calls are recorded
  without them (``omitted``), so the file stays under that bound plus about 1 KiB per call.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_contracts.transcript import CUT_MARKER, TranscriptCall, stall_s
from agent_harness.proxy.usage import Api, Usage

STRING_CHARS = 65_536
"""Longest string kept whole in a recorded body (a longer one keeps its head and a marker)."""

BODY_BYTES = 1_048_576
"""Largest recorded body, as JSON text (a request or an answer)."""

STREAM_KEEP_BYTES = 4 * 1_048_576
"""Bytes of a streamed answer kept to assemble its message (the rest passes, unrecorded)."""

TRANSCRIPT_MAX_BYTES = 256 * 1_048_576
"""Bytes of bodies a run's transcript holds at most; later calls are recorded without them."""

Redact = Callable[[str], str]


def _cut_text(text: str, limit: int) -> str:
    return f"{text[:limit]}{CUT_MARKER}{len(text) - limit} more characters]"


def _shrink(value: Any, redact: Redact, cut: list[bool]) -> Any:
    """``value`` with every string redacted and cut at :data:`STRING_CHARS`."""
    if isinstance(value, str):
        text = redact(value)
        if len(text) > STRING_CHARS:
            cut[0] = True
            return _cut_text(text, STRING_CHARS)
        return text
    if isinstance(value, list):
        return [_shrink(item, redact, cut) for item in value]
    if isinstance(value, dict):
        return {redact(str(k)): _shrink(v, redact, cut) for k, v in value.items()}
    return value


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False))


def _fit_conversation(body: dict[str, Any], room: int) -> bool:
    """Drop the earliest items of the body's conversation (``messages`` or ``input``), keeping a
    leading system message, until the body fits ``room``; False when it cannot."""
    for key in ("messages", "input"):
        items = body.get(key)
        if not isinstance(items, list) or len(items) < 2:
            continue
        head = items[:1] if isinstance(items[0], dict) and items[0].get("role") in (
            "system", "developer") else []  # fmt: skip
        rest = items[len(head) :]
        fixed = _size(body) - _size(rest) + _size(head) + 100
        kept: list[Any] = []
        total = fixed
        for item in reversed(rest):
            total += _size(item) + 1
            if total > room:
                break
            kept.append(item)
        if not kept:
            return False
        kept.reverse()
        marker = f"{CUT_MARKER}{len(rest) - len(kept)} earlier items]"
        body[key] = [*head, marker, *kept]
        return True
    return False


def cap_body(value: Any, redact: Redact) -> tuple[Any, bool]:
    """A body as the transcript keeps it, and whether anything was cut."""
    cut = [False]
    kept = _shrink(value, redact, cut)
    if _size(kept) <= BODY_BYTES:
        return kept, cut[0]
    if isinstance(kept, dict) and _fit_conversation(kept, BODY_BYTES):
        return kept, True
    text = json.dumps(kept, ensure_ascii=False)
    return _cut_text(text, BODY_BYTES), True


def _events(raw: bytes) -> list[dict[str, Any]]:
    found = []
    for line in raw.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if not data or data == b"[DONE]":
            continue
        try:
            event = json.loads(data)
        except ValueError:
            continue
        if isinstance(event, dict):
            found.append(event)
    return found


def _chat_message(events: list[dict[str, Any]]) -> dict[str, Any]:
    text: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish, usage, first = None, None, events[0] if events else {}
    for event in events:
        if isinstance(event.get("usage"), dict):
            usage = event["usage"]
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            finish = choice.get("finish_reason") or finish
            if isinstance(delta.get("content"), str):
                text.append(delta["content"])
            if isinstance(delta.get("reasoning_content"), str):
                reasoning.append(delta["reasoning_content"])
            for part in delta.get("tool_calls") or []:
                slot = calls.setdefault(
                    int(part.get("index") or 0),
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                slot["id"] = part.get("id") or slot["id"]
                function = part.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {
        "id": first.get("id"),
        "object": "chat.completion",
        "model": first.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


def _response(events: list[dict[str, Any]]) -> dict[str, Any]:
    for event in reversed(events):
        if event.get("type") in ("response.completed", "response.incomplete", "response.failed"):
            response = event.get("response")
            if isinstance(response, dict):
                return response
    text = "".join(
        str(e.get("delta") or "") for e in events if e.get("type") == "response.output_text.delta"
    )
    content = [{"type": "output_text", "text": text}]
    return {"status": "incomplete", "output": [{"type": "message", "content": content}]}


def _anthropic_message(events: list[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": []}
    blocks: dict[int, dict[str, Any]] = {}
    partial: dict[int, list[str]] = {}
    for event in events:
        kind = event.get("type")
        index = int(event.get("index") or 0)
        if kind == "message_start" and isinstance(event.get("message"), dict):
            message = {**event["message"], "content": []}
        elif kind == "content_block_start" and isinstance(event.get("content_block"), dict):
            blocks[index] = dict(event["content_block"])
        elif kind == "content_block_delta" and isinstance(event.get("delta"), dict):
            delta, block = event["delta"], blocks.setdefault(index, {"type": "text", "text": ""})
            if delta.get("type") == "text_delta":
                block["text"] = str(block.get("text") or "") + str(delta.get("text") or "")
            elif delta.get("type") == "thinking_delta":
                block["thinking"] = str(block.get("thinking") or "") + str(
                    delta.get("thinking") or ""
                )
            elif delta.get("type") == "input_json_delta":
                partial.setdefault(index, []).append(str(delta.get("partial_json") or ""))
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            message.update(
                {k: v for k, v in delta.items() if k in ("stop_reason", "stop_sequence")}
            )
            if isinstance(event.get("usage"), dict):
                usage = dict(message.get("usage") or {})
                usage.update({k: v for k, v in event["usage"].items() if v is not None})
                message["usage"] = usage
    for index, pieces in partial.items():
        text = "".join(pieces)
        try:
            blocks[index]["input"] = json.loads(text) if text else {}
        except ValueError:
            blocks[index]["input"] = text
    message["content"] = [blocks[i] for i in sorted(blocks)]
    return message


def assemble_stream(api: Api, raw: bytes) -> dict[str, Any]:
    """The answer a stream carried, in the provider's non-streamed shape."""
    events = _events(raw)
    if api == "chat":
        return _chat_message(events)
    if api == "responses":
        return _response(events)
    return _anthropic_message(events)


class StreamKeeper:
    """Keeps the first :data:`STREAM_KEEP_BYTES` of a stream as it passes, while ``room``
    (the proxy's memory bound) lets it take them; past either it keeps nothing more."""

    def __init__(self, room: Callable[[int], bool]) -> None:
        self._room = room
        self._chunks: list[bytes] = []
        self._size = 0
        self.cut = False

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes."""
        if self.cut:
            return
        if self._size + len(chunk) > STREAM_KEEP_BYTES or not self._room(len(chunk)):
            self.cut = True
            return
        self._chunks.append(chunk)
        self._size += len(chunk)

    def text(self) -> bytes:
        """What was kept."""
        return b"".join(self._chunks)


class Transcript:
    """Writes one run's ``transcript.jsonl``; one line per metered call, fsynced as it ends."""

    def __init__(self, path: Path, max_bytes: int = TRANSCRIPT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.redact: Redact = str
        """Replaces credential values in text (the run's Redactor, set before the agent starts)."""
        self._lock = threading.Lock()
        self.calls = 0
        self.bytes = 0
        self.cut_calls = 0
        self.omitted_calls = 0
        self.lost_calls = 0
        self._stalled: list[TranscriptCall] = []

    def keep_request(self, body: Any) -> tuple[Any, bool]:
        """The request as recorded (redacted and capped), and whether it was cut."""
        return cap_body(body, self.redact)

    def keep_answer(
        self, api: Api, stream: bool, content: bytes | None, kept_cut: bool = False
    ) -> tuple[Any, bool]:
        """The answer as recorded, from its body (or the stream's kept bytes)."""
        if content is None or not content:
            return None, kept_cut
        value: Any
        if stream:
            try:
                value = assemble_stream(api, content)
            except (ValueError, TypeError, AttributeError, KeyError):
                # Events of an unexpected shape: the stream is kept as it came, as text.
                value = content.decode("utf-8", errors="replace")
        else:
            try:
                value = json.loads(content)
            except ValueError:
                value = content.decode("utf-8", errors="replace")
        kept, cut = cap_body(value, self.redact)
        return kept, cut or kept_cut

    def record(
        self,
        *,
        provider: str,
        api: Api,
        model: str,
        stream: bool,
        started_at: float,
        latency_s: float,
        upstream_s: float,
        status: int,
        refused_by: str | None,
        request: Any,
        response: Any,
        cut: bool,
        usage: Usage | None,
        usage_source: str,
        cost_usd: float | None,
    ) -> TranscriptCall:
        """Append the line of one ended call and make it durable (flush and fsync)."""
        usage = usage or Usage()
        with self._lock:
            self.calls += 1
            line = TranscriptCall(
                call=self.calls,
                started_at=round(started_at, 4),
                ended_at=round(started_at + latency_s, 4),
                latency_s=round(latency_s, 4),
                upstream_s=round(upstream_s, 4),
                provider=self.redact(provider),
                api=api,
                model=self.redact(model),
                stream=stream,
                status=status,
                refused_by=refused_by,
                request=request,
                response=response,
                cut=cut,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cached_input_tokens=usage.cached_input_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                usage_source=usage_source,
                cost_usd=None if cost_usd is None else round(cost_usd, 8),
            )
            text = line.model_dump_json()
            if self.bytes + len(text) > self.max_bytes:
                line = line.model_copy(update={"request": None, "response": None, "omitted": True})
                text = line.model_dump_json()
                self.omitted_calls += 1
            self.cut_calls += int(cut)
            if line.stalled:
                self._stalled.append(line.model_copy(update={"request": None, "response": None}))
            self.bytes += len(text) + 1
            try:
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(text + "\n")
                    out.flush()
                    os.fsync(out.fileno())
            except OSError:
                # A full disk costs the record, never the agent's call (already answered and
                # charged in model_calls.jsonl); run.json counts what was lost.
                self.lost_calls += 1
            return line

    def stall_s(self) -> float:
        """Seconds stalled on the provider so far (:func:`agent_contracts.transcript.stall_s`)."""
        with self._lock:
            return stall_s(self._stalled)
