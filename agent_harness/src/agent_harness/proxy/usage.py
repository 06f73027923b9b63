"""Token usage as the provider reports it, from a JSON answer or from a server-sent-event stream.

Three wire formats: OpenAI chat completions (``usage.prompt_tokens``; in a stream, the final
chunk when ``stream_options.include_usage`` is set), OpenAI responses (``usage.input_tokens``;
in a stream, the ``response.completed`` event) and Anthropic messages (``usage.input_tokens``
without the cache; in a stream, ``message_start`` then cumulative ``message_delta`` counts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

Api = Literal["chat", "responses", "messages"]
"""The metered endpoints: OpenAI chat completions and responses, Anthropic messages."""


@dataclass(frozen=True)
class Usage:
    """Tokens of one call. ``input_tokens`` counts every prompt token, cached ones included."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output: what a token budget counts."""
        return self.input_tokens + self.output_tokens


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and value > 0 else 0


def _openai_usage(raw: dict[str, Any], *, chat: bool) -> Usage:
    details_in = raw.get("prompt_tokens_details" if chat else "input_tokens_details") or {}
    details_out = raw.get("completion_tokens_details" if chat else "output_tokens_details") or {}
    return Usage(
        input_tokens=_int(raw.get("prompt_tokens" if chat else "input_tokens")),
        output_tokens=_int(raw.get("completion_tokens" if chat else "output_tokens")),
        cached_input_tokens=_int(details_in.get("cached_tokens")),
        reasoning_tokens=_int(details_out.get("reasoning_tokens")),
    )


def _anthropic_usage(raw: dict[str, Any]) -> Usage:
    cached = _int(raw.get("cache_read_input_tokens"))
    written = _int(raw.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=_int(raw.get("input_tokens")) + cached + written,
        output_tokens=_int(raw.get("output_tokens")),
        cached_input_tokens=cached,
        cache_write_tokens=written,
    )


def usage_of_answer(api: Api, body: Any) -> Usage | None:
    """The usage a (non-streamed) JSON answer reports, or None when it reports none."""
    raw = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(raw, dict):
        return None
    if api == "messages":
        return _anthropic_usage(raw)
    return _openai_usage(raw, chat=api == "chat")


class StreamMeter:
    """Reads usage out of a server-sent-event stream as its bytes pass through."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.usage: Usage | None = None
        self._buffer = b""
        self._anthropic: dict[str, Any] = {}

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the stream (any split)."""
        self._buffer += chunk
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            line = line.rstrip(b"\r")
            if line.startswith(b"data:"):
                self._event(line[5:].strip())

    def _event(self, data: bytes) -> None:
        if not data or data == b"[DONE]" or b"usage" not in data:
            return  # most chunks carry text only: skip parsing them
        try:
            event = json.loads(data)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        if self.api == "chat":
            raw = event.get("usage")
            if isinstance(raw, dict):
                self.usage = _openai_usage(raw, chat=True)
        elif self.api == "responses":
            response = event.get("response")
            if isinstance(response, dict) and isinstance(response.get("usage"), dict):
                self.usage = _openai_usage(response["usage"], chat=False)
        else:
            message = event.get("message")
            raw = message.get("usage") if isinstance(message, dict) else event.get("usage")
            if isinstance(raw, dict):
                # message_start carries the input counts, message_delta cumulative output ones.
                self._anthropic.update({k: v for k, v in raw.items() if v is not None})
                self.usage = _anthropic_usage(self._anthropic)
