"""Reads: jobs and results as the pages and the API see them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import QuerySet

from web.exceptions import InvalidInput, JobNotFound
from web.models import Job, Result

RESULT_FIELDS = ("idx", "text", "label", "compound", "pos", "neu", "neg")
MAX_PAGE = 500
DEFAULT_PAGE = 50
# Rows fetched per round trip while streaming a download.
DOWNLOAD_BATCH = 2000


def job_get(*, job_id: object, session_key: str | None) -> Job:
    """Return this session's job, or raise JobNotFound (also for another session's job)."""
    try:
        pk = uuid.UUID(str(job_id))
    except ValueError:
        raise JobNotFound("No such job.") from None
    try:
        return Job.objects.owned_by(session_key).get(pk=pk)
    except Job.DoesNotExist:
        raise JobNotFound("No such job.") from None


def job_list(*, session_key: str | None, limit: int = 100) -> QuerySet[Job]:
    """Return this session's jobs, newest first."""
    return Job.objects.owned_by(session_key).order_by("-created_at")[:limit]


@dataclass(frozen=True, slots=True)
class ResultPage:
    count: int
    offset: int
    limit: int
    results: list[dict]


def _label_filter(label: str | None) -> str | None:
    if label in (None, ""):
        return None
    if label not in Result.Label.values:
        raise InvalidInput(
            f"Unknown label {label!r}; use one of: {', '.join(Result.Label.values)}.", code="invalid_label"
        )
    return label


def _int_param(value: str | None, *, name: str, default: int, minimum: int, maximum: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a whole number.", code="invalid_parameter") from None
    if not minimum <= number <= maximum:
        raise InvalidInput(f"{name} must be between {minimum} and {maximum}.", code="invalid_parameter")
    return number


def results_queryset(*, job: Job, label: str | None = None) -> QuerySet[Result]:
    """Return a job's results in input order, optionally of one label."""
    qs = Result.objects.filter(job=job).order_by("idx")
    label = _label_filter(label)
    if label:
        qs = qs.filter(label=label)
    return qs


def results_page(*, job: Job, offset: str | None, limit: str | None, label: str | None) -> ResultPage:
    """Return one page of a job's results, validating the paging parameters."""
    off = _int_param(offset, name="offset", default=0, minimum=0, maximum=10**9)
    lim = _int_param(limit, name="limit", default=DEFAULT_PAGE, minimum=1, maximum=MAX_PAGE)
    qs = results_queryset(job=job, label=label)
    count = qs.count() if label else job.done
    rows = list(qs.values(*RESULT_FIELDS)[off : off + lim])
    return ResultPage(count=count, offset=off, limit=lim, results=rows)


def results_iter(*, job: Job) -> Iterator[dict]:
    """Yield every result of a job in input order, a batch at a time (keyset paging)."""
    last = -1
    while True:
        batch = list(
            Result.objects.filter(job=job, idx__gt=last)
            .order_by("idx")
            .values(*RESULT_FIELDS)[:DOWNLOAD_BATCH]
        )
        if not batch:
            return
        yield from batch
        last = batch[-1]["idx"]
