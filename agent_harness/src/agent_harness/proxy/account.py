"""One run's model-API account: the budget check before a call, the usage after it.

Policy (docs/proxy.md, "Budgets"): a call is admitted while what the run has spent plus what
its calls in flight have reserved is below each budget. A call reserves its bound before it
is forwarded (its request's bytes / 4 as input tokens at the dearest input rate, plus its
output cap, 4096 without one, at the output rate) and is charged what the provider reports once
it ends; a call whose usage never arrives (a stream cut short) is charged its reservation. So a
run, sequential or concurrent, overshoots a budget by at most one call's reservation, plus
whatever its calls use beyond their reservations (an input the provider counts above bytes / 4,
an uncapped answer above 4096 tokens).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from agent_harness.proxy.prices import PRICE_FILE, Price, PriceTable
from agent_harness.proxy.usage import Api, Usage
from agent_harness.run_json import ModelUsage, RunRecord

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
    input_tokens: int
    """The request's bytes / :data:`BYTES_PER_TOKEN_ESTIMATE`."""
    output_tokens: int
    """Its output cap (:data:`UNCAPPED_OUTPUT_RESERVE` without one)."""
    usd: float
    """The most those tokens can cost (:meth:`Price.bound_usd`); 0 for an unpriced model."""
    price: Price | None
    started: float

    @property
    def tokens(self) -> int:
        """Input and output tokens reserved."""
        return self.input_tokens + self.output_tokens


_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
"""The token counts of a settled call's line (the fields of :class:`Usage`)."""


class Refused(Exception):
    """A call the budget does not admit; the message says why."""


class Account:
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
                reason = (
                    f"model {model!r} has no price in {PRICE_FILE} (exact names and listed "
                    "aliases only), so a cost budget cannot hold; add it there, or run without "
                    "--budget-usd"
                )
            if reason is not None:
                self.refused += 1
                self._write({"api": api, "model": model, "stream": stream, "refused": reason})
                raise Refused(reason)
            output = max_output if max_output > 0 else UNCAPPED_OUTPUT_RESERVE
            given = request_bytes // BYTES_PER_TOKEN_ESTIMATE
            # The output cap at the output rate, the input at its dearest (cache writes).
            usd = price.bound_usd(given, output) if price is not None else 0.0
            self._reserved_tokens += given + output
            self._reserved_usd += usd
        return Reservation(api, model, stream, given, output, usd, price, time.monotonic())

    def settle(
        self, held: Reservation, status: int, usage: Usage | None
    ) -> tuple[Usage, str, float | None]:
        """Charge a finished call what the provider reported (its reservation when it did not);
        the usage charged, where it came from (``provider``, ``reserved``, ``none``) and its
        cost (None: unpriced)."""
        source = "provider"
        if usage is None:
            # An error answer costs nothing; a success without usage (a cut stream) is charged
            # its reservation, so an agent cannot dodge the count by hanging up early.
            source = "none" if status >= 400 else "reserved"
            usage = (
                Usage()
                if status >= 400
                else Usage(input_tokens=held.input_tokens, output_tokens=held.output_tokens)
            )
        cost = held.price.cost_usd(usage) if held.price is not None else None
        with self._lock:
            self._reserved_tokens -= held.tokens
            self._reserved_usd -= held.usd
            self._count(usage, cost)
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
        return usage, source, cost

    def _count(self, usage: Usage, cost: float | None) -> None:  # under the lock
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

    def _write(self, line: dict[str, object]) -> None:  # under the lock
        """Append one line and make it durable (flush and fsync) before the call's answer ends:
        whoever records the run after a crash reads every settled call back (:meth:`replay`)."""
        stamped = {"time": round(time.time(), 3), **line}
        with self._file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(stamped) + "\n")
            out.flush()
            os.fsync(out.fileno())

    @classmethod
    def replay(cls, calls_file: Path, budget: Budget, prices: PriceTable) -> Account:
        """The account a calls file describes, for the record of a run whose harness died.

        Every complete line counts as it did when written (a refused call, or a settled call's
        tokens and cost); a torn last line (the harness killed mid-write) is skipped. Calls in
        flight when the harness died never reached the file, and were never answered.
        """
        account = cls(calls_file, budget, prices)
        with contextlib.suppress(FileNotFoundError), calls_file.open(encoding="utf-8") as lines:
            for text in lines:
                try:
                    line = json.loads(text)
                except ValueError:
                    continue
                if not isinstance(line, dict):
                    continue
                if "refused" in line:
                    account.refused += 1
                    account.exhausted = account.exhausted or account._spent_reason()
                    continue
                usage = Usage(**{k: int(line.get(k) or 0) for k in _TOKEN_FIELDS})
                cost = line.get("cost_usd")
                account._count(usage, float(cost) if isinstance(cost, int | float) else None)
        return account

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


def usage_on_file(run_dir: Path, record: RunRecord) -> ModelUsage | None:
    """The model usage of a run whose harness died, from its calls file (None without the
    proxy), with the transcript's name and stall time when it has one: what the watchdog or
    ``agent-harness cleanup`` records as ``model_usage``."""
    from agent_harness.proxy.prices import price_table

    if record.credentials_mode != "proxy":
        return None
    from agent_contracts.transcript import TRANSCRIPT_FILE, read_transcript, stall_s

    budget = Budget(tokens=record.limits.budget_tokens, usd=record.limits.budget_usd)
    totals = Account.replay(run_dir / CALLS_FILE, budget, price_table()).totals()
    if not (run_dir / TRANSCRIPT_FILE).is_file():
        return totals
    stalled = [c for c in read_transcript(run_dir / TRANSCRIPT_FILE) if c.stalled]
    return totals.model_copy(
        update={"transcript_file": TRANSCRIPT_FILE, "provider_stall_s": round(stall_s(stalled), 3)}
    )
