"""The failures a person can act on, and a job that stopped.

SentimeterError carries a code, a message and the HTTP status the API
answers with; InputError is bad input wherever it is found: inputs.py and
workbooks.py raise it reading a file, the worker fails the job with its
message, and the API answers 400 (or its subclass's status) with it. No
Django here: the pure readers raise it too. The message is a template and
its parameters (worker.messages), so the web says it in the reader's
language and the worker stores it to be said so later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.messages import Message


class SentimeterError(Exception):
    """Base of every user-facing failure: a code, a message, an HTTP status."""

    code = "error"
    status = 400
    # Seconds after which trying again may succeed (sent as Retry-After).
    retry_after: int | None = None

    def __init__(
        self,
        message: str,
        *,
        params: Mapping[str, Any] | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        # The template, said in any language; `message` is its English, as logs and old clients read it.
        self.localizable = Message(message, dict(params or {}))
        self.message = self.localizable.english()
        super().__init__(self.message)
        if code is not None:
            self.code = code
        if retry_after is not None:
            self.retry_after = retry_after


class InputError(SentimeterError, ValueError):
    """The input (a request's, or a job's file) cannot be processed as given; retrying will not help."""

    code = "invalid_input"
    status = 400


class JobStopped(Exception):
    """The job left the `running` state (canceled) while it was being processed."""
