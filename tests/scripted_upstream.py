"""A scripted stand-in for the OpenAI and Anthropic APIs on 127.0.0.1, for tests and benchmarks.

It answers chat completions, responses and messages (streamed or not) in each provider's wire
format, reports usage the way each provider does, and refuses any key but the real one it was
given, so a test sees whether the proxy swapped the run's token for the key. Replies come from a
script (a list of tool calls, texts or refusals, one per call), then a default text.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

OUTPUT_TOKENS = 7
"""Output tokens every answer reports (unless the upstream is told otherwise)."""


def input_tokens_for(body: bytes) -> int:
    """Input tokens the upstream reports for a request: a quarter of its bytes (deterministic)."""
    return max(len(body) // 4, 1)


@dataclass
class Received:
    """One request the upstream got."""

    path: str
    key: str
    body: dict[str, Any]
    reported: tuple[int, int] = (0, 0)


@dataclass
class ScriptedUpstream:
    """The server; each ``script`` item is ``{"tool": name, "args": {...}}``, ``{"text": s}``
    or ``{"status": 429}`` (a refusal with that status, after ``delay_s``)."""

    key: str
    script: list[dict[str, Any]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    default_text: str = "hello from the scripted upstream"
    delay_s: float = 0.0
    output_tokens: int = OUTPUT_TOKENS

    def __post_init__(self) -> None:
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (append ``/v1`` for OpenAI's base URL form)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ScriptedUpstream:
        """Serve in a background thread until :meth:`stop`."""
        import uvicorn

        # IPPROTO_TCP: asyncio then sets TCP_NODELAY on each connection, as servers do.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._app(), log_config=None, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def _next(self) -> dict[str, Any]:
        with self._lock:
            return self.script.pop(0) if self.script else {"text": self.default_text}

    def _app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, StreamingResponse
        from starlette.routing import Route

        async def handle(request: Request) -> Any:
            import asyncio

            raw = await request.body()
            auth = request.headers.get("authorization", "")
            key = auth[7:] if auth.startswith("Bearer ") else request.headers.get("x-api-key", "")
            body = json.loads(raw) if raw else {}
            path = request.url.path
            if key != self.key:
                self.received.append(Received(path, key, body))
                return JSONResponse({"error": {"message": "bad key", "type": "auth"}}, 401)
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            usage = (input_tokens_for(raw), self.output_tokens)
            self.received.append(Received(path, key, body, usage))
            reply = self._next()
            if "status" in reply:
                error = {"type": "error", "error": {"type": "overloaded", "message": "busy"}}
                return JSONResponse(error, reply["status"])
            model = body.get("model", "scripted")
            if path.endswith("/chat/completions"):
                make = _chat_stream if body.get("stream") else _chat
            elif path.endswith("/responses"):
                make = _responses_stream if body.get("stream") else _responses
            else:
                make = _messages_stream if body.get("stream") else _messages
            if body.get("stream"):
                events = make(model, reply, usage, body)

                async def gen() -> AsyncIterator[bytes]:
                    for event in events:
                        yield event.encode()

                return StreamingResponse(gen(), media_type="text/event-stream")
            return JSONResponse(make(model, reply, usage, body))

        routes = [
            Route("/v1/chat/completions", handle, methods=["POST"]),
            Route("/v1/responses", handle, methods=["POST"]),
            Route("/v1/messages", handle, methods=["POST"]),
        ]
        return Starlette(routes=routes)


def _sse(data: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


def _chat_usage(usage: tuple[int, int]) -> dict[str, int]:
    return {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}


def _chat_message(reply: dict[str, Any]) -> tuple[dict[str, Any], str]:
    if "tool" in reply:
        call = {
            "id": f"call_{time.monotonic_ns()}",
            "type": "function",
            "function": {"name": reply["tool"], "arguments": json.dumps(reply.get("args", {}))},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    return {"role": "assistant", "content": reply["text"]}, "stop"


def _chat(model: str, reply: dict[str, Any], usage: tuple[int, int], body: Any) -> Any:
    message, finish = _chat_message(reply)
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": _chat_usage(usage),
    }


def _chat_stream(model: str, reply: dict[str, Any], usage: tuple[int, int], body: Any) -> list[str]:
    base = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0}
    base["model"] = model
    message, finish = _chat_message(reply)
    events = []
    if "tool_calls" in message:
        call = dict(message["tool_calls"][0], index=0)
        delta: dict[str, Any] = {"role": "assistant", "tool_calls": [call]}
        events.append(_sse({**base, "choices": [{"index": 0, "delta": delta}]}))
    else:
        for word in message["content"].split(" "):
            delta = {"content": word + " "}
            events.append(_sse({**base, "choices": [{"index": 0, "delta": delta}]}))
    events.append(_sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append(_sse({**base, "choices": [], "usage": _chat_usage(usage)}))
    events.append("data: [DONE]\n\n")
    return events


def _response_object(model: str, reply: dict[str, Any], usage: tuple[int, int]) -> Any:
    text = reply.get("text", json.dumps(reply))
    return {
        "id": "resp_scripted",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": [
            {
                "type": "message",
                "id": "msg_scripted",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": usage[0],
            "output_tokens": usage[1],
            "total_tokens": sum(usage),
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _responses(model: str, reply: dict[str, Any], usage: tuple[int, int], body: Any) -> Any:
    return _response_object(model, reply, usage)


def _responses_stream(
    model: str, reply: dict[str, Any], usage: tuple[int, int], body: Any
) -> list[str]:
    done = _response_object(model, reply, usage)
    started = {**done, "status": "in_progress", "output": [], "usage": None}
    item = done["output"][0]
    text = item["content"][0]["text"]
    empty_item = {**item, "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    return [
        _sse({"type": "response.created", "sequence_number": 0, "response": started}),
        _sse(
            {
                "type": "response.output_item.added",
                "sequence_number": 0,
                "output_index": 0,
                "item": empty_item,
            }
        ),
        _sse(
            {
                "type": "response.content_part.added",
                "sequence_number": 0,
                "item_id": item["id"],
                "output_index": 0,
                "content_index": 0,
                "part": part,
            }
        ),
        _sse(
            {
                "type": "response.output_text.delta",
                "sequence_number": 1,
                "item_id": "msg_scripted",
                "output_index": 0,
                "content_index": 0,
                "delta": text,
                "logprobs": [],
            }
        ),
        _sse({"type": "response.completed", "sequence_number": 2, "response": done}),
    ]


def _messages(model: str, reply: dict[str, Any], usage: tuple[int, int], body: Any) -> Any:
    return {
        "id": "msg_scripted",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": reply.get("text", json.dumps(reply))}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def _messages_stream(
    model: str, reply: dict[str, Any], usage: tuple[int, int], body: Any
) -> list[str]:
    whole = _messages(model, reply, usage, body)
    start = {**whole, "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": usage[0], "output_tokens": 1}
    text = whole["content"][0]["text"]
    return [
        _sse({"type": "message_start", "message": start}, "message_start"),
        _sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
        _sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            },
            "content_block_delta",
        ),
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage[1]},
            },
            "message_delta",
        ),
        _sse({"type": "message_stop"}, "message_stop"),
    ]
