"""The transcript of a run's model calls, ``runs/<run_id>/transcript.jsonl``: written by the
harness's model-API proxy, read by the evaluator (``agent-eval view``, ``agent-eval export``).

One JSON line per call, appended and fsynced as the call ends; one model, :class:`TranscriptCall`,
for both sides. Bodies are the provider's own wire format (OpenAI chat completions or responses,
Anthropic messages), credentials redacted, each capped with a visible marker
(:data:`CUT_MARKER`); see docs/evidence.md for the bounds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

TRANSCRIPT_FILE = "transcript.jsonl"
"""The transcript, relative to the run folder."""

TRANSCRIPT_VERSION = 1
"""Version of a line's layout (new optional fields keep it; a change of meaning bumps it)."""

CUT_MARKER = "[mlrb: cut by the proxy: "
"""How every cut in a recorded body begins (``... N more characters]``, ``... N earlier
items]``), so a reader sees that something is missing and how much."""


class TranscriptCall(BaseModel):
    """One model call as the proxy saw it."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    version: int = TRANSCRIPT_VERSION
    """Layout of this line."""
    call: int
    """Number of the call in the run, from 1, in the order calls ended."""
    started_at: float
    """When the proxy received the request, Unix seconds."""
    ended_at: float
    """When its answer ended (the last byte of a stream), Unix seconds."""
    latency_s: float
    """Seconds from the request's arrival to the answer's end."""
    upstream_s: float
    """Seconds spent waiting on the provider: from sending it the request to the answer's end
    (0 when the proxy answered itself, e.g. a spent budget)."""
    provider: str
    """``openai`` or ``anthropic``."""
    api: Literal["chat", "responses", "messages"]
    """The endpoint: OpenAI chat completions or responses, Anthropic messages."""
    model: str
    """The model the request named."""
    stream: bool
    """Whether the answer was streamed (the response below is then assembled from the stream)."""
    status: int
    """HTTP status the agent received."""
    refused_by: Literal["budget", "upstream"] | None = None
    """``budget``: the proxy refused the call (the run's budget is spent); ``upstream``: the
    provider refused or failed it (429, 5xx, unreachable); None: answered."""
    request: Any = None
    """The request body (messages, tools, parameters), redacted and capped; a string when it
    was not JSON or had to be cut as text; None when omitted (``omitted``)."""
    response: Any = None
    """The answer body, or for a stream the message assembled from its events (the provider's
    non-streamed shape); redacted and capped; None when there was none or it was omitted."""
    cut: bool = False
    """Something in ``request`` or ``response`` was cut to its bound (marked in place)."""
    omitted: bool = False
    """Bodies left out: the run's transcript had reached its size bound."""
    input_tokens: int = 0
    """Prompt tokens as the provider reported them, cached ones included."""
    output_tokens: int = 0
    """Output tokens as the provider reported them."""
    cached_input_tokens: int = 0
    """Prompt tokens read from the provider's cache."""
    cache_write_tokens: int = 0
    """Prompt tokens written to the provider's cache (Anthropic)."""
    reasoning_tokens: int = 0
    """Reasoning tokens (part of ``output_tokens``)."""
    usage_source: Literal["provider", "reserved", "none"] = "none"
    """Where the counts come from: the provider's report, the call's reservation (a cut
    stream), or none (an error)."""
    cost_usd: float | None = None
    """Cost from the pinned price table (None: the model is not priced)."""

    @property
    def stalled(self) -> bool:
        """The provider kept the agent waiting for nothing: it refused or failed the call."""
        return self.refused_by == "upstream"


def read_transcript(path: Path) -> Iterator[TranscriptCall]:
    """Every readable line of a transcript, in order (none when the file is missing).

    A torn last line (the harness killed mid-write) or a line of another layout is skipped."""
    try:
        lines = path.open(encoding="utf-8")
    except FileNotFoundError:
        return
    with lines:
        for text in lines:
            try:
                yield TranscriptCall.model_validate(json.loads(text))
            except (ValueError, ValidationError):
                continue


def stall_s(calls: list[TranscriptCall]) -> float:
    """Seconds during which at least one call was stalled on the provider (the union of the
    refused calls' upstream waits, so concurrent refusals count once)."""
    spans = sorted((c.ended_at - c.upstream_s, c.ended_at) for c in calls if c.stalled)
    total, reach = 0.0, float("-inf")
    for start, end in spans:
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total
