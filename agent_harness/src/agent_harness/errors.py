"""The harness's errors: every one tells the user what went wrong and what to do next.

``HarnessError`` derives from :class:`agent_contracts.errors.MLRBError`; usage problems exit 2,
an environment that is not ready exits 3 (see docs/harness.md, "Exit codes").
"""

from __future__ import annotations

from agent_contracts.errors import ExitCode, MLRBError


class HarnessError(MLRBError):
    """Base of the harness's errors."""

    exit_code = ExitCode.USAGE


class ConfigError(HarnessError):
    """An option that cannot be used as given (exit 2)."""


class TimeLimitError(ConfigError):
    """A time limit or grace period that is not one of the accepted forms (exit 2)."""


class CredentialError(ConfigError):
    """An env file that cannot be read, or a credential that is missing or refused (exit 2)."""


class RunsFolderError(ConfigError):
    """A runs folder that cannot be written (exit 2)."""


class EngineNotReadyError(HarnessError):
    """No container engine answers (exit 3)."""

    exit_code = ExitCode.ENVIRONMENT


class EvaluatorNotStartedError(EngineNotReadyError):
    """The engine refused the evaluator's container (exit 3, as for the agent's own)."""


class ImageError(HarnessError):
    """The agent image is neither present nor pullable (exit 3)."""

    exit_code = ExitCode.ENVIRONMENT


class GPUError(HarnessError):
    """GPUs were requested that this machine does not have (exit 3)."""

    exit_code = ExitCode.ENVIRONMENT


class LaunchError(HarnessError):
    """The agent could not be started or watched (exit 3)."""

    exit_code = ExitCode.ENVIRONMENT


class UnknownRuntimeError(ConfigError):
    """``--runtime`` (or a run record) names no registered runtime (exit 2)."""


class RuntimePluginError(ConfigError):
    """An installed runtime plugin cannot be loaded (exit 2: fix or uninstall it)."""
