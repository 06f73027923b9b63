"""The LLM reference agent: a small ReAct loop that works on the task through a bash tool.

It follows the agent container contract (docs/agent-contract.md): it reads the task from
``$TASK_DIR``, keeps to ``$DEADLINE`` and leaves its deliverable under ``$OUTPUT_DIR``. Its model
calls go through the OpenAI SDK to ``$OPENAI_BASE_URL`` with ``$OPENAI_API_KEY``: under the
harness's default ``--credentials proxy`` that is the harness's proxy and a per-run token, so the
agent never holds the real key, and its budget is enforced there.

The loop:
1. A fallback deliverable first: when the task ships a starter that trains its model, the agent
   runs it briefly, so a timeout or a spent budget still leaves something to evaluate.
2. Then the model is shown the task and may call ``bash`` (one shell command, a per-command
   timeout, output truncated) or ``submit`` (done). Every step is appended to
   ``$OUTPUT_DIR/trajectory.jsonl``.
3. It stops on ``submit``, when the deadline comes close, after ``--max-steps``, or when the
   proxy says the budget is spent (HTTP 429); SIGTERM ends it at once, trajectory flushed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "gpt-4o-mini"
"""Model asked for unless ``--model`` or ``$LLM_AGENT_MODEL`` says otherwise."""

COMMAND_TIMEOUT_S = 300.0
"""Longest a single bash command may run (the model may ask for less)."""

OUTPUT_LIMIT_CHARS = 4000
"""A command's output shown to the model is cut to this many characters (head and tail)."""

STOP_BEFORE_DEADLINE_S = 10.0
"""The loop ends this long before ``$DEADLINE``, so the harness never has to kill the agent."""

FALLBACK_STEPS = 20
"""Training steps of the fallback run of the task's starter (seconds on a CPU)."""

MAX_COMPLETION_TOKENS = 2048
"""Output cap of each model call (it also bounds what a call reserves of a budget)."""

SYSTEM_PROMPT = """You are an ML research agent working in a Linux container.
The task is below. Work with the `bash` tool (one shell command per call; python3 is there).
The task's files are in {task_dir} (read-only); write everything to {output_dir}.
A fallback deliverable is already in place: {fallback}
Improve on it if you can, within the time left; then call `submit` with a short summary.
Each command may run at most {command_timeout:.0f} s and its output is truncated."""

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "bash",
            "description": "Run one shell command; returns its exit code and (truncated) output.",
            "parameters": {
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "the command"},
                    "timeout_s": {"type": "number", "description": "seconds it may run"},
                },
                "required": ["command"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "submit",
            "description": "Finish: the deliverable in the output folder is final.",
            "parameters": {
                "type": "object",
                "properties": {"summary": {"type": "string", "description": "what was done"}},
                "required": ["summary"],
            },
        },
    },
]


class Trajectory:
    """The agent's steps, one JSON line each, flushed as they happen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8")

    def add(self, kind: str, **fields: Any) -> None:
        """Append one step."""
        self._file.write(json.dumps({"time": round(time.time(), 3), "kind": kind, **fields}))
        self._file.write("\n")
        self._file.flush()


def log(message: str) -> None:
    """One progress line on stdout (the harness streams it into agent.log)."""
    print(f"[llm-agent] {message}", flush=True)


def truncate(text: str, limit: int = OUTPUT_LIMIT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, keeping its head and tail."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut ...]\n{text[-half:]}"


def run_command(command: str, timeout_s: float, cwd: Path) -> tuple[int | None, str]:
    """Run ``command`` in a shell of its own; kill its process group at the timeout."""
    child = subprocess.Popen(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = child.communicate(timeout=max(timeout_s, 1.0))
        return child.returncode, out.decode("utf-8", errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, _ = child.communicate()
        text = out.decode("utf-8", errors="replace")
        return None, f"{text}\n[timed out after {timeout_s:.0f} s; the command was killed]"


def write_fallback(task_dir: Path, output_dir: Path, spec: dict[str, Any], deadline: float) -> str:
    """Leave a deliverable before any model call; say what it is."""
    deliverable = spec.get("deliverable") or {}
    starter = task_dir / "starter" / "train.py"
    if deliverable.get("kind") != "hf_model" or not starter.is_file():
        return "none (this task has no starter that trains its model)"
    target = output_dir / deliverable.get("path", "model")
    budget = max(min((deadline - time.time()) / 4, 300.0), 5.0)
    command = (
        f"{sys.executable} {starter} --output {target} --steps {FALLBACK_STEPS} "
        f"--eval-every {FALLBACK_STEPS} --save-every {FALLBACK_STEPS}"
    )
    log(f"fallback: the starter for {FALLBACK_STEPS} steps -> {target} (at most {budget:.0f} s)")
    code, out = run_command(command, budget, output_dir)
    if (target / "config.json").is_file():
        return f"{target} (the task's starter, {FALLBACK_STEPS} steps)"
    log(f"the fallback run left no model (exit {code}): {truncate(out, 600)}")
    return "none (the starter failed)"


def main() -> int:
    """Run the loop; exit 0 when a deliverable is in place."""
    parser = argparse.ArgumentParser(description="LLM-driven reference agent (ReAct, bash tool).")
    parser.add_argument("--model", default=os.environ.get("LLM_AGENT_MODEL", DEFAULT_MODEL))
    parser.add_argument("--max-steps", type=int, default=30, help="model calls at most")
    args = parser.parse_args()

    import openai

    task_dir = Path(os.environ.get("TASK_DIR", "/task"))
    output_dir = Path(os.environ.get("OUTPUT_DIR", "/app/output"))
    deadline = float(os.environ.get("DEADLINE", time.time() + 3600))
    output_dir.mkdir(parents=True, exist_ok=True)
    trajectory = Trajectory(output_dir / "trajectory.jsonl")

    def on_term(signum: int, _frame: object) -> None:
        trajectory.add("stop", reason=f"signal {signum}")
        log("stopped by the harness; the deliverable in place stays")
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    spec = json.loads((task_dir / "task.json").read_text(encoding="utf-8"))
    task_text = (task_dir / "TASK.md").read_text(encoding="utf-8")
    log(f"task {spec.get('name')}: model {args.model}, {deadline - time.time():.0f} s left")
    fallback = write_fallback(task_dir, output_dir, spec, deadline)
    trajectory.add("fallback", deliverable=fallback)

    client = openai.OpenAI(max_retries=3, timeout=120.0)
    messages: list[dict[str, Any]] = [
        {
            "role": "system",
            "content": SYSTEM_PROMPT.format(
                task_dir=task_dir,
                output_dir=output_dir,
                fallback=fallback,
                command_timeout=COMMAND_TIMEOUT_S,
            ),
        },
        {"role": "user", "content": task_text},
    ]
    reason = "max steps"
    for step in range(1, args.max_steps + 1):
        left = deadline - time.time() - STOP_BEFORE_DEADLINE_S
        if left <= 0:
            reason = "deadline"
            break
        try:
            answer = client.chat.completions.create(
                model=args.model,
                messages=messages,  # type: ignore[arg-type]
                tools=TOOLS,  # type: ignore[arg-type]
                max_completion_tokens=MAX_COMPLETION_TOKENS,
                timeout=max(min(left, 120.0), 1.0),
            )
        except openai.RateLimitError as exc:
            reason = "budget spent" if "budget" in str(exc) else "rate limited"
            trajectory.add("error", step=step, error=str(exc)[:500])
            break
        except openai.APIError as exc:
            reason = "model API error"
            trajectory.add("error", step=step, error=str(exc)[:500])
            break
        message = answer.choices[0].message
        usage = answer.usage.model_dump() if answer.usage else None
        calls = message.tool_calls or []
        trajectory.add(
            "model",
            step=step,
            content=message.content,
            tool_calls=[{"name": c.function.name, "arguments": c.function.arguments}  # type: ignore[union-attr]
                        for c in calls],
            usage=usage,
        )  # fmt: skip
        messages.append(message.model_dump(exclude_none=True))
        if not calls:
            messages.append({"role": "user", "content": "Use a tool: bash or submit."})
            continue
        submitted = False
        for call in calls:
            name = call.function.name  # type: ignore[union-attr]
            try:
                arguments = json.loads(call.function.arguments or "{}")  # type: ignore[union-attr]
            except ValueError:
                arguments = {}
            if name == "submit":
                submitted = True
                result = "submitted"
                trajectory.add("submit", step=step, summary=str(arguments.get("summary", "")))
            elif name == "bash" and isinstance(arguments.get("command"), str):
                left = deadline - time.time() - STOP_BEFORE_DEADLINE_S
                limit = min(float(arguments.get("timeout_s") or COMMAND_TIMEOUT_S),
                            COMMAND_TIMEOUT_S, max(left, 1.0))  # fmt: skip
                log(f"step {step}: $ {arguments['command'][:200]}")
                code, out = run_command(arguments["command"], limit, output_dir)
                result = f"exit code: {code}\n{truncate(out)}"
                trajectory.add("tool", step=step, command=arguments["command"], exit_code=code,
                               output=truncate(out))  # fmt: skip
            else:
                result = f"unknown tool or bad arguments: {name}"
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        if submitted:
            reason = "submitted"
            break
    trajectory.add("stop", reason=reason)
    log(f"stopped: {reason}")
    produced = (output_dir / (spec.get("deliverable") or {}).get("path", "model")).exists()
    return 0 if produced or (output_dir / "submission.json").is_file() else 1


if __name__ == "__main__":
    sys.exit(main())
