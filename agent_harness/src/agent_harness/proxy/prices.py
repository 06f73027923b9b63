"""The price table pinned in the repository (``prices.json``: its date and sources inside).

A model is priced only by its exact name, or by an alias the table lists (a dated snapshot the
provider prices as the model it names): never by a prefix, since ``gpt-5-pro``, ``o3-pro`` and
``o3-deep-research`` cost many times ``gpt-5`` and ``o3``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from agent_harness.proxy.usage import Usage

PER_TOKENS = 1_000_000
"""Prices in the table are per this many tokens."""

PRICE_FILE = "agent_harness/src/agent_harness/proxy/prices.json"
"""Where the table lives in the repository (named in the messages of unpriced models)."""


@dataclass(frozen=True)
class Price:
    """What one model costs, in USD per million tokens."""

    model: str
    input: float
    output: float
    cached_input: float
    cache_write: float

    def cost_usd(self, usage: Usage) -> float:
        """The cost of ``usage`` at this price."""
        plain = max(usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens, 0)
        total = (
            plain * self.input
            + usage.cached_input_tokens * self.cached_input
            + usage.cache_write_tokens * self.cache_write
            + usage.output_tokens * self.output
        )
        return total / PER_TOKENS

    def bound_usd(self, input_tokens: int, output_tokens: int) -> float:
        """The most ``input_tokens`` in and ``output_tokens`` out can cost (dearest input rate)."""
        dearest = max(self.input, self.cache_write)
        return (input_tokens * dearest + output_tokens * self.output) / PER_TOKENS


@dataclass(frozen=True)
class PriceTable:
    """The pinned prices and where they come from."""

    as_of: str
    sources: dict[str, str]
    models: dict[str, Price]
    aliases: dict[str, str] = field(default_factory=dict)
    """Other names of listed models (dated snapshots): alias -> model."""

    def find(self, model: str) -> Price | None:
        """The price of ``model``: its exact name, else a listed alias, else None."""
        if model in self.models:
            return self.models[model]
        named = self.aliases.get(model)
        return self.models.get(named) if named is not None else None


@lru_cache(maxsize=1)
def price_table() -> PriceTable:
    """The price table shipped with the harness."""
    text = resources.files("agent_harness.proxy").joinpath("prices.json").read_text("utf-8")
    data = json.loads(text)
    models = {
        name: Price(
            model=name,
            input=float(row["input"]),
            output=float(row["output"]),
            cached_input=float(row.get("cached_input", row["input"])),
            cache_write=float(row.get("cache_write", row["input"])),
        )
        for name, row in data["models"].items()
    }
    aliases = {alias: str(name) for alias, name in data.get("aliases", {}).items()}
    unknown = sorted(alias for alias, name in aliases.items() if name not in models)
    if unknown:
        raise ValueError(f"{PRICE_FILE}: aliases of unlisted models: {', '.join(unknown)}")
    return PriceTable(
        as_of=data["as_of"], sources=dict(data["sources"]), models=models, aliases=aliases
    )
