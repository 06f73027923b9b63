"""One run's use of the proxy: start it, give the agent a token and base URL, account at the end.

The agent gets ``OPENAI_API_KEY``/``OPENAI`` (or ``ANTHROPIC_API_KEY``/``ANTHROPIC``) set to a
per-run token and ``OPENAI_BASE_URL`` (or ``ANTHROPIC_BASE_URL``) pointing at the proxy as the
agent reaches it; the real key stays in this process. When the run ends the token is revoked,
the forwarder's port closes and the proxy stops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from agent_harness.errors import ConfigError
from agent_harness.proxy.app import ANTHROPIC_UPSTREAM, OPENAI_UPSTREAM, Grant
from agent_harness.proxy.forwarder import Forwarder, bind_loopback
from agent_harness.proxy.ledger import CALLS_FILE, Budget, Ledger
from agent_harness.proxy.prices import price_table
from agent_harness.proxy.server import ProxyServer
from agent_harness.records import ModelUsage
from agent_harness.secrets import PROVIDER_KEYS, Credentials

CONTAINER_PORT = 47800
"""The proxy's port on the container's own loopback (its namespace is fresh, so it is free)."""

UPSTREAM_VARIABLES = {"openai": "MLRB_OPENAI_UPSTREAM", "anthropic": "MLRB_ANTHROPIC_UPSTREAM"}
"""Harness-side variables that redirect the proxy to another upstream (a compatible server)."""

BASE_URL_NAMES = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}
"""The variable each provider's SDK reads its base URL from."""


@dataclass(frozen=True)
class ProxyPlan:
    """What the proxy of one run needs: the provider, its real key, the upstream, the budget."""

    provider: str
    key: str = field(repr=False)
    upstream: str
    budget: Budget


def upstream_root(provider: str, environ: dict[str, str] | None = None) -> str:
    """The provider's API root, ``/v1`` included (``MLRB_*_UPSTREAM`` overrides the default)."""
    env = os.environ if environ is None else environ
    default = OPENAI_UPSTREAM if provider == "openai" else ANTHROPIC_UPSTREAM
    base = (env.get(UPSTREAM_VARIABLES[provider]) or default).rstrip("/")
    # OpenAI's base URL carries /v1, Anthropic's does not (each SDK's own convention).
    return base if provider == "openai" else f"{base}/v1"


def plan_proxy(
    provider: str,
    credentials: Credentials,
    budget: Budget,
    runtime: str,
    euid: int | None = None,
) -> tuple[ProxyPlan, Credentials]:
    """Take the real key out of ``credentials``; the rest still goes to the agent."""
    if runtime == "docker" and (os.geteuid() if euid is None else euid) != 0:
        raise ConfigError(
            "--credentials proxy needs a root harness under the docker runtime: it opens the "
            "proxy's port inside the container's own network namespace",
            hint="run the harness as root, or pass --credentials direct (the agent then gets "
            "the real key and a network; no budget or accounting)",
        )
    modern, original = PROVIDER_KEYS[provider]
    key = credentials.values[modern]
    rest = {k: v for k, v in credentials.values.items() if k not in (modern, original)}
    plan = ProxyPlan(provider=provider, key=key, upstream=upstream_root(provider), budget=budget)
    return plan, Credentials(rest)


class ProxySession:
    """The proxy for one run, from before the agent starts until after it ends."""

    def __init__(self, plan: ProxyPlan, run_dir: Path) -> None:
        self.plan = plan
        self.ledger = Ledger(run_dir / CALLS_FILE, plan.budget, price_table())
        self.server = ProxyServer()
        self.token = ""
        self.forwarder: Forwarder | None = None

    def start(self, runtime: str) -> dict[str, str]:
        """Start the proxy; the variables the agent gets (token under both key names, base URL)."""
        self.server.start()
        grant = Grant(self.plan.provider, self.plan.key, self.plan.upstream, self.ledger)
        self.token = self.server.grants.issue(grant)
        if runtime == "docker":
            port = CONTAINER_PORT  # opened by attach() once the container's namespace exists
        else:
            self.forwarder = Forwarder(bind_loopback(None), self.server.socket_path).start()
            port = self.forwarder.port
        root = f"http://127.0.0.1:{port}/{self.plan.provider}"
        # Each SDK's own convention: OpenAI's base URL carries /v1, Anthropic's does not.
        base = f"{root}/v1" if self.plan.provider == "openai" else root
        modern, original = PROVIDER_KEYS[self.plan.provider]
        return {
            modern: self.token,
            original: self.token,
            BASE_URL_NAMES[self.plan.provider]: base,
        }

    def secrets(self) -> list[str]:
        """The real key and the run's token: both are kept out of logs and records."""
        return [v for v in (self.plan.key, self.token) if v]

    def attach(self, netns: str) -> None:
        """Open the proxy's port on the loopback of the namespace at ``netns`` (docker runtime)."""
        listener = bind_loopback(netns, CONTAINER_PORT)
        self.forwarder = Forwarder(listener, self.server.socket_path).start()

    def close(self) -> ModelUsage:
        """Revoke the token, close the port, stop the proxy; the run's totals."""
        if self.token:
            self.server.grants.revoke(self.token)
        if self.forwarder is not None:
            self.forwarder.stop()
        self.server.stop()
        return self.ledger.totals()
