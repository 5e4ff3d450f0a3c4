"""Failures a client can cause, each with a message a person can act on.

Views turn these into the contract's error body; nothing else maps to HTTP.
"""


class SentimeterError(Exception):
    """Base of every user-facing failure: a code, a message, an HTTP status."""

    code = "error"
    status = 400
    # Seconds after which trying again may succeed (sent as Retry-After).
    retry_after: int | None = None

    def __init__(self, message: str, *, code: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retry_after is not None:
            self.retry_after = retry_after


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


class TokenNotFound(SentimeterError):
    code = "not_found"
    status = 404


class JobConflict(SentimeterError):
    code = "conflict"
    status = 409


class RateLimited(SentimeterError):
    code = "rate_limited"
    status = 429


class Overloaded(SentimeterError):
    code = "overloaded"
    status = 503
