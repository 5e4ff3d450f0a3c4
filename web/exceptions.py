"""Failures a client can cause, each with a message a person can act on.

Views turn these into the contract's error body; nothing else maps to HTTP.
"""

from worker.exceptions import InputError, SentimeterError

# The base and the bad-input type live with the worker, which raises them too.
__all__ = [
    "InputError",
    "InputTooLarge",
    "JobConflict",
    "JobNotFound",
    "Overloaded",
    "RateLimited",
    "SentimeterError",
    "TokenNotFound",
    "UnsupportedMediaType",
]


class InputTooLarge(InputError):
    code = "too_large"
    status = 413


class UnsupportedMediaType(InputError):
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
