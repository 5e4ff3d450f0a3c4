"""Failures a client can cause, each with a message a person can act on.

Views turn these into the contract's error body; nothing else maps to HTTP.
"""


class SentimeterError(Exception):
    """Base of every user-facing failure: a code, a message, an HTTP status."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(SentimeterError):
    code = "invalid_input"
    status = 400


class InputTooLarge(SentimeterError):
    code = "too_large"
    status = 413


class UnsupportedMediaType(SentimeterError):
    code = "unsupported_media_type"
    status = 415


class JobNotFound(SentimeterError):
    code = "not_found"
    status = 404


class JobConflict(SentimeterError):
    code = "conflict"
    status = 409
