"""What a user asks of one run, as frozen data (the CLI builds it; :func:`run_agent` uses it)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from agent_harness.choices import (
    DEFAULT_GRACE,
    CredentialsMode,
    EvalModeChoice,
    Network,
    Provider,
    Runtime,
)


class RunConfig(BaseModel):
    """One run as the user asked for it; options left out take the task spec's values."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    image: str = Field(min_length=1)
    """Agent image (docker runtime); a label for the agent under the local runtime."""
    task: str = Field(min_length=1)
    """Task name (or alias)."""
    benchmark: str | None = None
    """Benchmark the task is asked for under (``mini_benchmark`` selects mini variants)."""
    provider: Provider = "none"
    """Provider whose key the agent receives."""
    credentials: CredentialsMode = "proxy"
    """With a provider: ``proxy`` (a per-run token for the harness's model-API proxy, which holds
    the key, counts usage and cost and enforces the budget) or ``direct`` (the real key)."""
    budget_tokens: int | None = Field(default=None, gt=0)
    """Model-API token budget of the run, input plus output (proxy only; None: no limit)."""
    budget_usd: float | None = Field(default=None, gt=0)
    """Model-API cost budget of the run in USD, from the pinned price table (proxy only)."""
    gpus: str | None = None
    """``none``, ``all``, ``0`` or ``0,1``; None: as many as the task spec asks for."""
    time_limit: str | None = None
    """``24h``, ``90m``, ``1h30m``, ``45s`` or seconds; None: the task spec's limit."""
    grace: str = DEFAULT_GRACE
    """Time between SIGTERM and SIGKILL at the deadline."""
    disk_limit: str | None = None
    """Disk the agent may fill (``500M``, ``20G``, ``none``); None: the task spec's ``disk_gb``."""
    env_file: Path | None = None
    """Dotenv file with credentials; never mounted or copied."""
    pass_env: tuple[str, ...] = ()
    """More variable names to pass to the agent (from the environment or the env file)."""
    pass_env_unsafe: tuple[str, ...] = ()
    """Names passed although they replace the image's own (``PATH``, ``LD_*``, ``PYTHON*``)."""
    runtime: Runtime = "auto"
    """Where the agent runs."""
    runs_dir: Path = Path("runs")
    """Folder that receives ``<run_id>/``."""
    command: str | None = None
    """Shell command run as the agent (local runtime; overrides the image's command in docker)."""
    network: Network = "auto"
    """Container network mode."""
    user: str = "host"
    """Container user: ``host`` (the invoking uid:gid), ``image`` (the image's own), or
    ``UID[:GID]``."""
    echo: bool = True
    """Copy the agent's (redacted) output to the console."""
    evaluate: bool = False
    """Evaluate the deliverable right after the run (also after a timeout)."""
    eval_mode: EvalModeChoice = "auto"
    """Where the evaluator runs: its image (docker runtime), a process, or auto (the image when
    the run used docker and the image exists, else a process)."""
    eval_image: str | None = None
    """Evaluator image (default: $AGENT_EVAL_IMAGE, else mlrb/agent-eval:latest)."""
    results_dir: Path = Path("results")
    """Folder that receives the evaluation's results JSON."""
