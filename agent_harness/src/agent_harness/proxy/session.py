"""One run's use of the proxy: start it, give the agent a token and base URL, account at the end.

The agent gets ``OPENAI_API_KEY``/``OPENAI`` (or ``ANTHROPIC_API_KEY``/``ANTHROPIC``) set to a
per-run token and ``OPENAI_BASE_URL`` (or ``ANTHROPIC_BASE_URL``) pointing at the proxy as the
agent reaches it; the real key stays in this process. When the run ends the token is revoked,
the forwarder's port closes and the proxy stops.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent_contracts.transcript import TRANSCRIPT_FILE
from agent_harness.proxy.account import CALLS_FILE, Account, Budget
from agent_harness.proxy.app import ANTHROPIC_UPSTREAM, OPENAI_UPSTREAM, Grant
from agent_harness.proxy.forwarder import Forwarder, bind_loopback
from agent_harness.proxy.prices import price_table
from agent_harness.proxy.server import ProxyServer
from agent_harness.proxy.transcript import Transcript
from agent_harness.run_json import ModelUsage
from agent_harness.secrets import PROVIDER_KEYS, Credentials, Redactor

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
    provider: str, credentials: Credentials, budget: Budget
) -> tuple[ProxyPlan, Credentials]:
    """Take the real key out of ``credentials``; the rest still goes to the agent (the runtime
    has checked that it can take the proxy, :meth:`Runtime.check_proxy`)."""
    modern, original = PROVIDER_KEYS[provider]
    key = credentials.values[modern]
    rest = {k: v for k, v in credentials.values.items() if k not in (modern, original)}
    plan = ProxyPlan(provider=provider, key=key, upstream=upstream_root(provider), budget=budget)
    return plan, Credentials(rest)


class ProxySession:
    """The proxy for one run, from before the agent starts until after it ends."""

    def __init__(self, plan: ProxyPlan, run_dir: Path) -> None:
        self.plan = plan
        self.account = Account(run_dir / CALLS_FILE, plan.budget, price_table())
        self.transcript = Transcript(run_dir / TRANSCRIPT_FILE)
        """Every metered call's request and answer, in the run folder (out of the agent's
        reach: only the output folder is the agent's)."""
        self.server = ProxyServer()
        self.token = ""
        self.forwarder: Forwarder | None = None

    def start(
        self, open_port: Callable[[ProxySession], int], secrets: list[str] | None = None
    ) -> dict[str, str]:
        """Start the proxy; the variables the agent gets (token under both key names, base URL
        with the port ``open_port`` gives: the agent's runtime's ``proxy_port``).

        ``secrets`` (the run's other credential values), the real key and the token are
        redacted from the transcript."""
        self.server.start()
        grant = Grant(
            self.plan.provider, self.plan.key, self.plan.upstream, self.account, self.transcript
        )
        self.token = self.server.grants.issue(grant)
        self.transcript.redact = Redactor([*(secrets or []), *self.secrets()])
        port = open_port(self)
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

    def listen_on_host(self) -> int:
        """Open the proxy's port on the host's loopback (an agent that shares the host's
        network); the port."""
        self.forwarder = Forwarder(bind_loopback(None), self.server.socket_path).start()
        return self.forwarder.port

    def attach(self, netns: str) -> None:
        """Open the proxy's port (:data:`CONTAINER_PORT`) on the loopback of the namespace at
        ``netns`` (a container runtime: the run's network holder, which the agent's container
        joins)."""
        listener = bind_loopback(netns, CONTAINER_PORT)
        self.forwarder = Forwarder(listener, self.server.socket_path).start()

    def close(self) -> ModelUsage:
        """Revoke the token, close the port, stop the proxy; the run's totals."""
        if self.token:
            self.server.grants.revoke(self.token)
        if self.forwarder is not None:
            self.forwarder.stop()
        self.server.stop()
        return self.account.totals().model_copy(
            update={
                "transcript_file": TRANSCRIPT_FILE,
                "transcript_cut_calls": self.transcript.cut_calls,
                "transcript_omitted_calls": self.transcript.omitted_calls,
                "transcript_lost_calls": self.transcript.lost_calls,
                "provider_stall_s": round(self.transcript.stall_s(), 3),
            }
        )
