"""Put the request id (web) or the job id (worker) on every log line.

Heroku's router sets X-Request-ID on each request
(devcenter.heroku.com/articles/http-request-id); RQ knows the job a work
horse runs. Both end up in `%(context)s` of the log format.
"""

from __future__ import annotations

import contextvars
import logging
import re

from rq import get_current_job

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Heroku's ids are UUIDs; accept what a proxy may send, but nothing that could
# forge a log line.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,200}$")


def request_id_clean(value: str | None) -> str | None:
    """Return the header's request id if it is safe to log, else None."""
    if value and _REQUEST_ID.match(value):
        return value
    return None


class ContextFilter(logging.Filter):
    """Add `context` ("request_id=…" or "job_id=…", else "-") to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        parts = []
        request_id = request_id_var.get()
        if request_id:
            parts.append(f"request_id={request_id}")
        job_id = _current_job_id()
        if job_id:
            parts.append(f"job_id={job_id}")
        record.context = " ".join(parts) or "-"
        return True


def _current_job_id() -> str | None:
    job = get_current_job()
    return job.id if job is not None else None
