"""The evaluator's errors: each names what went wrong and what to do, with its exit code."""

from __future__ import annotations

from agent_contracts.errors import ExitCode, MLRBError


class EvalError(MLRBError):
    """Base of the evaluator's errors: the evaluation failed (exit 5)."""

    exit_code = ExitCode.EVALUATION_FAILED


class EvalUsageError(EvalError):
    """A bad argument or configuration (exit 2)."""

    exit_code = ExitCode.USAGE


class ModelLoadError(EvalError):
    """The deliverable is missing, not a model, corrupt, unsupported, or lacks a tokenizer."""


class DatasetMissingError(EvalError):
    """An evaluation dataset is not on disk (evaluation never downloads)."""


class HubUnreachableError(EvalError):
    """``prefetch`` cannot reach the Hugging Face Hub (exit 3: the environment is not ready)."""

    exit_code = ExitCode.ENVIRONMENT


class FetchError(EvalError):
    """``prefetch`` reached the Hub but a dataset could not be fetched or laid out: the Hub (or a
    proxy, a mirror) answered wrongly, or the data folder could not be written (exit 3)."""

    exit_code = ExitCode.ENVIRONMENT


class DatasetFormatError(EvalError):
    """A fetched dataset cannot be laid out as its task needs (no image column, an image id
    that is not a safe file name, a repeated id, an unreadable image); nothing is written."""

    exit_code = ExitCode.ENVIRONMENT


class MetricError(EvalError):
    """A metric could not be computed."""


class ResultsWriteError(EvalError):
    """The results file could not be written; ``document`` is the JSON that was not saved."""

    def __init__(self, message: str, *, document: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.document = document


class DatabaseError(EvalError):
    """The database could not be reached or written; the JSON result is kept (exit 6)."""

    exit_code = ExitCode.DATABASE_FAILED


class ImportFileError(EvalUsageError):
    """A reference-results file in the wrong shape (exit 2; nothing is imported)."""


class CodeEnvironmentError(EvalError):
    """A code deliverable cannot be re-run here: its image, data or sandbox is missing (exit 3)."""

    exit_code = ExitCode.ENVIRONMENT
