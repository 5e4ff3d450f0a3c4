"""The pipeline's named failures: bad input (the job fails with a message) and a job that stopped."""

from __future__ import annotations


class InputError(Exception):
    """The job's input cannot be processed; retrying will not help."""

    def __init__(self, message: str, *, code: str = "invalid_input") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class JobStopped(Exception):
    """The job left the `running` state (canceled) while it was being processed."""
