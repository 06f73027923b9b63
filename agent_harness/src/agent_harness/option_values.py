"""Closed sets of option values, kept apart from the models so ``--help`` stays instant."""

from __future__ import annotations

from typing import Literal

Runtime = str
"""Where the agent runs: a registered runtime's name (``docker``, ``local``, or an installed
plugin's; see :mod:`agent_harness.runtimes.registry`), or ``auto`` (docker when an engine
answers, else local when a command is given). Checked when the run starts (exit 2)."""

Network = Literal["auto", "none", "bridge", "host"]
"""The container's network: ``auto`` is ``none`` for ``--provider none``, else ``bridge``."""

Provider = Literal["openai", "anthropic", "none"]
"""Whose API the agent calls; ``none`` for scripted agents that need no key."""

DEFAULT_GRACE = "30s"
"""Time between SIGTERM and SIGKILL at the deadline."""

DEFAULT_LOG_LIMIT = "100M"
"""The default cap of agent.log (``--log-limit``)."""

DEFAULT_SNAPSHOT_LIMIT = "20G"
"""The default bound of all snapshots of a run together (``--snapshot-limit``)."""

EvalModeChoice = Literal["auto", "image", "process"]
"""Where ``--evaluate`` runs the evaluator: its image, a process, or the image when available."""

CredentialsMode = Literal["proxy", "direct"]
"""How the agent reaches its provider: through the harness's model-API proxy with a per-run
token (the key stays on the host), or with the real key handed over (the original behaviour)."""
