"""One run's model-API account: the budget check before a call, the usage after it.

Policy (docs/proxy.md, "Budgets"): a call is admitted while what the run has spent plus what
its calls in flight have reserved is below each budget. A call reserves an estimate before it
is forwarded (its request's bytes / 4 as input tokens, plus its output cap, 4096 without one)
and is charged what the provider reports once it ends; a call whose usage never arrives (a
stream cut short) is charged its reservation. So a sequential agent overshoots a budget by at
most its last call, and concurrent calls by at most what they use beyond their reservations.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from agent_harness.proxy.prices import Price, PriceTable
from agent_harness.proxy.usage import Api, Usage
from agent_harness.records import ModelUsage

CALLS_FILE = "model_calls.jsonl"
"""One line per model call, in the run folder."""

BYTES_PER_TOKEN_ESTIMATE = 4
"""Request bytes per input token for a call's reservation (English text and JSON: about 4)."""

UNCAPPED_OUTPUT_RESERVE = 4096
"""Output tokens a call reserves when its request sets no output cap (``max_tokens`` ...)."""


@dataclass(frozen=True)
class Budget:
    """A run's limits on model use (None: no limit)."""

    tokens: int | None = None
    usd: float | None = None


@dataclass
class Reservation:
    """An admitted call, until it is settled."""

    api: Api
    model: str
    stream: bool
    tokens: int
    usd: float
    price: Price | None
    started: float


class Refused(Exception):
    """A call the budget does not admit; the message says why."""


class Ledger:
    """Counts one run's calls, tokens and cost, enforces its budget and writes the calls file."""

    def __init__(self, calls_file: Path, budget: Budget, prices: PriceTable) -> None:
        self._file = calls_file
        self.budget = budget
        self._prices = prices
        self._lock = threading.Lock()
        self._reserved_tokens = 0
        self._reserved_usd = 0.0
        self.calls = 0
        self.refused = 0
        self.unpriced = 0
        self.usage_totals = Usage()
        self.cost_usd = 0.0
        self.exhausted: str | None = None

    def _spent_reason(self) -> str | None:
        tokens = self.usage_totals.total_tokens + self._reserved_tokens
        usd = self.cost_usd + self._reserved_usd
        if self.budget.tokens is not None and tokens >= self.budget.tokens:
            return f"token budget spent: {tokens} of {self.budget.tokens} tokens used or reserved"
        if self.budget.usd is not None and usd >= self.budget.usd:
            return f"cost budget spent: ${usd:.4f} of ${self.budget.usd:.4f} used or reserved"
        return None

    def admit(
        self, api: Api, model: str, stream: bool, request_bytes: int, max_output: int
    ) -> Reservation:
        """Reserve a call's estimate, or raise :class:`Refused` when the budget is spent."""
        price = self._prices.find(model)
        with self._lock:
            reason = self._spent_reason()
            if reason is not None and self.exhausted is None:
                self.exhausted = reason
            if reason is None and self.budget.usd is not None and price is None:
                reason = f"model {model!r} has no price in the table, so a cost budget cannot hold"
            if reason is not None:
                self.refused += 1
                self._write({"api": api, "model": model, "stream": stream, "refused": reason})
                raise Refused(reason)
            output = max_output if max_output > 0 else UNCAPPED_OUTPUT_RESERVE
            tokens = request_bytes // BYTES_PER_TOKEN_ESTIMATE + output
            usd = price.cost_usd(Usage(input_tokens=tokens)) if price is not None else 0.0
            self._reserved_tokens += tokens
            self._reserved_usd += usd
        return Reservation(api, model, stream, tokens, usd, price, time.monotonic())

    def settle(self, held: Reservation, status: int, usage: Usage | None) -> None:
        """Charge a finished call what the provider reported (its reservation when it did not)."""
        source = "provider"
        if usage is None:
            # An error answer costs nothing; a success without usage (a cut stream) is charged
            # its reservation, so an agent cannot dodge the count by hanging up early.
            source = "none" if status >= 400 else "reserved"
            usage = Usage() if status >= 400 else Usage(input_tokens=held.tokens)
        cost = held.price.cost_usd(usage) if held.price is not None else None
        with self._lock:
            self._reserved_tokens -= held.tokens
            self._reserved_usd -= held.usd
            self.calls += 1
            if cost is None:
                self.unpriced += 1
            self.cost_usd += cost or 0.0
            t = self.usage_totals
            self.usage_totals = Usage(
                input_tokens=t.input_tokens + usage.input_tokens,
                output_tokens=t.output_tokens + usage.output_tokens,
                cached_input_tokens=t.cached_input_tokens + usage.cached_input_tokens,
                cache_write_tokens=t.cache_write_tokens + usage.cache_write_tokens,
                reasoning_tokens=t.reasoning_tokens + usage.reasoning_tokens,
            )
            if self.exhausted is None:
                self.exhausted = self._spent_reason()
            self._write(
                {
                    "api": held.api,
                    "model": held.model,
                    "stream": held.stream,
                    "status": status,
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "cached_input_tokens": usage.cached_input_tokens,
                    "cache_write_tokens": usage.cache_write_tokens,
                    "reasoning_tokens": usage.reasoning_tokens,
                    "usage_source": source,
                    "cost_usd": None if cost is None else round(cost, 8),
                    "duration_s": round(time.monotonic() - held.started, 4),
                }
            )

    def _write(self, line: dict[str, object]) -> None:  # under the lock
        stamped = {"time": round(time.time(), 3), **line}
        with self._file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(stamped) + "\n")

    def totals(self) -> ModelUsage:
        """The run's totals, as run.json records them."""
        with self._lock:
            t = self.usage_totals
            return ModelUsage(
                calls=self.calls,
                refused_calls=self.refused,
                input_tokens=t.input_tokens,
                output_tokens=t.output_tokens,
                cached_input_tokens=t.cached_input_tokens,
                cache_write_tokens=t.cache_write_tokens,
                reasoning_tokens=t.reasoning_tokens,
                cost_usd=round(self.cost_usd, 8),
                unpriced_calls=self.unpriced,
                budget_tokens=self.budget.tokens,
                budget_usd=self.budget.usd,
                budget_exhausted=self.exhausted is not None,
                budget_message=self.exhausted,
                price_table=self._prices.as_of,
                calls_file=CALLS_FILE,
            )
