"""Reads: jobs and results as the pages and the API see them."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from redis.exceptions import RedisError

from web.exceptions import InvalidInput, JobConflict, JobNotFound
from web.models import Job, JobInput, Result
from worker.analyzers.base import AnalyzerSpec
from worker.analyzers.registry import UnknownAnalyzer, analyzer_specs, spec_get
from worker.queues import get_redis
from worker.summary import summary_compute

RESULT_FIELDS = ("idx", "text", "label", "compound", "pos", "neu", "neg")
MAX_PAGE = 500
DEFAULT_PAGE = 50
# Seconds a running job's summary is reused before it is computed again.
LIVE_SUMMARY_SECONDS = 5
# Rows fetched per round trip while streaming a download.
DOWNLOAD_BATCH = 2000
# Longest text search accepted (a search longer than any text finds nothing anyway).
MAX_QUERY_CHARS = 200
# Result orders by name: input order, most negative first, most positive first.
# `idx` breaks ties so paging through equal scores is stable.
SORTS = {"idx": ("idx",), "compound": ("compound", "idx"), "-compound": ("-compound", "idx")}


def analyzer_list() -> list[AnalyzerSpec]:
    """Return the analyzers a job may choose, in the registry's order."""
    return analyzer_specs()


def analyzer_of(job: Job) -> AnalyzerSpec | None:
    """Return the spec of the job's analyzer (None if it is no longer registered)."""
    try:
        return spec_get(job.analyzer)
    except UnknownAnalyzer:
        return None


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
    """Return this session's jobs, newest first, with their input's name and size (not its bytes)."""
    return (
        Job.objects.owned_by(session_key)
        .select_related("input")
        .defer("input__data", "input__options")
        .order_by("-created_at")[:limit]
    )


def job_input_describe(job: Job) -> dict | None:
    """Return the name and size of a job's input as uploaded, without reading its bytes.

    A workbook is stored as CSV once the worker has converted it: its size as uploaded is in the options.
    """
    found = JobInput.objects.filter(job=job).values("filename", "size", "options").first()
    if found is None:
        return None
    options = found.pop("options") or {}
    return {**found, "size": options.get("workbook_size", found["size"])}


def job_summary(job: Job) -> dict | None:
    """Return the job's summary; for a partial job (canceled or failed), one of the results it stored.

    A running job's page shows the summary of what is stored so far, without
    the extremes and drivers, computed at most once every LIVE_SUMMARY_SECONDS
    for every viewer together (a Redis key), so a page polled by many
    browsers costs the database one summary per interval.
    """
    if job.summary:
        return job.summary
    if job.is_partial:
        return summary_compute(job.pk)
    if job.status == Job.Status.RUNNING and job.done:
        return _live_summary(job)
    return None


def job_downloadable(job: Job) -> Job:
    """Return the job if its results can be downloaded; 409 while it runs.

    A download is the job's results as a whole: taken midway it would be a
    file that looks complete and is not. A canceled or failed job's results
    are final (and its file is named partial).
    """
    if not job.is_final:
        raise JobConflict(
            f"The job is still {job.status} ({job.done:,} of "
            f"{'?' if job.total is None else f'{job.total:,}'} texts analyzed). Download its results "
            "once it has finished, or cancel it to keep what is done.",
            code="job_not_finished",
        )
    return job


def _live_summary(job: Job) -> dict:
    key = f"sentimeter:live-summary:{job.pk}"
    try:
        cached = get_redis().get(key)
    except RedisError:
        # The page still shows the summary without Redis, computed for this view alone.
        return summary_compute(job.pk, details=False)
    if cached is not None:
        return json.loads(cached)
    summary = summary_compute(job.pk, details=False)
    with contextlib.suppress(RedisError):
        get_redis().set(key, json.dumps(summary), ex=LIVE_SUMMARY_SECONDS)
    return summary


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int | None
    percent: float
    elapsed: float | None  # seconds since a worker started the job (to its end, once final)
    rate: float | None  # texts per second over that time
    remaining: float | None  # estimated seconds left at that rate


def job_progress(job: Job, *, now: datetime) -> Progress:
    """Return how far a job is, how fast it goes and how long it may still take."""
    elapsed = rate = remaining = None
    if job.started_at:
        end = job.finished_at if job.is_final and job.finished_at else now
        elapsed = max((end - job.started_at).total_seconds(), 0.0)
        if elapsed > 0 and job.done:
            rate = job.done / elapsed
            if job.total is not None and not job.is_final:
                remaining = max(job.total - job.done, 0) / rate
    return Progress(
        done=job.done, total=job.total, percent=job.percent, elapsed=elapsed, rate=rate, remaining=remaining
    )


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


def _query_filter(q: str | None) -> str | None:
    q = (q or "").strip()
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(
            f"q is {len(q):,} characters; the limit is {MAX_QUERY_CHARS}.", code="invalid_parameter"
        )
    if "\x00" in q:
        raise InvalidInput("q contains a NUL character.", code="invalid_parameter")
    return q or None


def _sort_order(sort: str | None) -> tuple[str, ...]:
    if sort in (None, ""):
        return SORTS["idx"]
    if sort not in SORTS:
        raise InvalidInput(
            f"Unknown sort {sort!r}; use one of: {', '.join(SORTS)}.", code="invalid_parameter"
        )
    return SORTS[sort]


def results_queryset(
    *, job: Job, label: str | None = None, q: str | None = None, sort: str | None = None
) -> QuerySet[Result]:
    """Return a job's results, optionally of one label or containing `q` (any case), sorted by `sort`."""
    qs = Result.objects.filter(job=job).order_by(*_sort_order(sort))
    label = _label_filter(label)
    if label:
        qs = qs.filter(label=label)
    q = _query_filter(q)
    if q:
        qs = qs.filter(text__icontains=q)
    return qs


def results_count(*, job: Job, label: str | None = None, q: str | None = None) -> int:
    """Count a job's results matching the filters (the stored counter when there are none)."""
    if not _label_filter(label) and not _query_filter(q):
        return job.done
    return results_queryset(job=job, label=label, q=q).count()


def results_page(
    *,
    job: Job,
    offset: str | None,
    limit: str | None,
    label: str | None,
    q: str | None = None,
    sort: str | None = None,
) -> ResultPage:
    """Return one page of a job's results, validating the paging, filter and sort parameters."""
    off = _int_param(offset, name="offset", default=0, minimum=0, maximum=10**9)
    lim = _int_param(limit, name="limit", default=DEFAULT_PAGE, minimum=1, maximum=MAX_PAGE)
    qs = results_queryset(job=job, label=label, q=q, sort=sort)
    count = results_count(job=job, label=label, q=q)
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
