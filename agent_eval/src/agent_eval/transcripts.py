"""A run's transcript read provider-neutrally: each call's messages and reply as turns.

The proxy records bodies in each provider's wire format (OpenAI chat completions and responses,
Anthropic messages; :class:`agent_contracts.transcript.TranscriptCall`). The run page and the
Inspect export both read them through :func:`request_turns` and :func:`reply_turns`, so the
shapes are known in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agent_contracts.transcript import TranscriptCall


@dataclass
class ToolUse:
    """A tool call the model asked for."""

    name: str
    arguments: Any
    """Parsed JSON arguments when they parse, else the text."""
    id: str = ""


@dataclass
class Turn:
    """One message of a conversation: ``system``, ``user``, ``assistant``, ``tool`` or ``note``
    (a marker the proxy left where it cut something)."""

    role: str
    text: str = ""
    tools: list[ToolUse] = field(default_factory=list)
    tool_call_id: str = ""


def _text(content: Any) -> str:
    """The text of a content value: a string, or a list of parts of any provider."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                kind = part.get("type")
                if kind in ("text", "input_text", "output_text", "summary_text", "refusal"):
                    out.append(str(part.get("text") or part.get("refusal") or ""))
                elif kind == "thinking":
                    out.append(f"(thinking) {part.get('thinking') or ''}")
                elif kind == "tool_result":
                    out.append(_text(part.get("content")))
                elif kind in ("image_url", "input_image", "image"):
                    out.append("[image]")
                elif kind not in ("tool_use", "function_call"):
                    out.append(json.dumps(part, ensure_ascii=False))
        return "\n".join(p for p in out if p)
    return json.dumps(content, ensure_ascii=False)


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _chat_turn(message: Any) -> Turn:
    if not isinstance(message, dict):
        return Turn("note", _text(message))
    tools = [
        ToolUse(
            str((c.get("function") or {}).get("name") or ""),
            _arguments((c.get("function") or {}).get("arguments")),
            str(c.get("id") or ""),
        )
        for c in message.get("tool_calls") or []
        if isinstance(c, dict)
    ]
    return Turn(
        str(message.get("role") or "user"),
        _text(message.get("content")),
        tools,
        str(message.get("tool_call_id") or ""),
    )


def _anthropic_turns(message: Any) -> list[Turn]:
    if not isinstance(message, dict):
        return [Turn("note", _text(message))]
    role = str(message.get("role") or "user")
    content = message.get("content")
    if not isinstance(content, list):
        return [Turn(role, _text(content))]
    turns: list[Turn] = []
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            turns.append(
                Turn("tool", _text(block.get("content")), [], str(block.get("tool_use_id") or ""))
            )
    rest = [b for b in content if not (isinstance(b, dict) and b.get("type") == "tool_result")]
    tools = [
        ToolUse(str(b.get("name") or ""), b.get("input"), str(b.get("id") or ""))
        for b in rest
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
    if rest:
        turns.append(Turn(role, _text(rest), tools))
    return turns


def _response_items(items: Any) -> list[Turn]:
    """OpenAI responses' input or output items."""
    if isinstance(items, str):
        return [Turn("user", items)]
    turns: list[Turn] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            turns.append(Turn("note", _text(item)))
            continue
        kind = item.get("type")
        if kind == "function_call":
            use = ToolUse(str(item.get("name") or ""), _arguments(item.get("arguments")),
                          str(item.get("call_id") or ""))  # fmt: skip
            if turns and turns[-1].role == "assistant":
                turns[-1].tools.append(use)
            else:
                turns.append(Turn("assistant", "", [use]))
        elif kind == "function_call_output":
            turns.append(
                Turn("tool", _text(item.get("output")), [], str(item.get("call_id") or ""))
            )
        elif kind == "reasoning":
            turns.append(Turn("assistant", _text(item.get("summary"))))
        else:
            turns.append(Turn(str(item.get("role") or "assistant"), _text(item.get("content"))))
    return turns


def request_turns(call: TranscriptCall) -> list[Turn]:
    """The conversation a call sent, system prompt first (empty when not recorded)."""
    body = call.request
    if isinstance(body, str):
        return [Turn("note", body)]
    if not isinstance(body, dict):
        return []
    if call.api == "chat":
        return [_chat_turn(m) for m in body.get("messages") or []]
    if call.api == "responses":
        head = [Turn("system", str(body["instructions"]))] if body.get("instructions") else []
        return head + _response_items(body.get("input"))
    system = body.get("system")
    head = [Turn("system", _text(system))] if system else []
    return head + [t for m in body.get("messages") or [] for t in _anthropic_turns(m)]


def reply_turns(call: TranscriptCall) -> list[Turn]:
    """What the model answered (empty for a refusal or when not recorded)."""
    body = call.response
    if isinstance(body, str):
        return [Turn("note", body)]
    if not isinstance(body, dict) or call.refused_by is not None or call.status >= 400:
        return []
    if call.api == "chat":
        choices = body.get("choices") or []
        first = choices[0] if choices and isinstance(choices[0], dict) else {}
        return [_chat_turn(first.get("message") or {"role": "assistant"})]
    if call.api == "responses":
        return _response_items(body.get("output"))
    return _anthropic_turns({**body, "role": "assistant"})


def new_turns(turns: list[Turn]) -> tuple[list[Turn], int]:
    """The turns a call added to its conversation (after its last assistant turn: the previous
    reply), and how many came before them."""
    for index in range(len(turns) - 1, -1, -1):
        if turns[index].role == "assistant":
            return turns[index + 1 :], index + 1
    return turns, 0


def tool_names(call: TranscriptCall) -> list[str]:
    """The tools a call offered the model."""
    body = call.request if isinstance(call.request, dict) else {}
    names = []
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            name = tool.get("name") or (tool.get("function") or {}).get("name")
            if name:
                names.append(str(name))
    return names
