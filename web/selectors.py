"""Reads: jobs and results as the pages and the API see them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, QuerySet
from redis.exceptions import RedisError

from web.exceptions import InputError, JobConflict, JobNotFound
from web.models import Job, JobInput, Result
from web.tokens import token_check, token_job, token_use_note
from worker.analyzers.base import AnalyzerSpec
from worker.analyzers.registry import UnknownAnalyzer, analyzer_specs, spec_get
from worker.breakdowns import (
    Columns,
    Groups,
    Trend,
    UnknownColumn,
    columns_of,
    group_count,
    group_filter,
    groups_of,
    trend_of,
)
from worker.dates import BUCKETS
from worker.messages import Message, gettext_noop
from worker.queues import get_redis
from worker.summary import group_details, summary_compute

RESULT_FIELDS = ("idx", "row", "text", "label", "compound", "pos", "neu", "neg")
# The column whose cell a result of the API carries as "id" (a JSON submit's objects, a table's id column).
ID_COLUMN = "id"
MAX_PAGE = 500
DEFAULT_PAGE = 50
# Seconds a running job's summary is reused before it is computed again.
LIVE_SUMMARY_SECONDS = 5
# Seconds one group's drivers are kept in Redis: a finished job's results no longer change
# (a running job's are kept LIVE_SUMMARY_SECONDS).
GROUP_DRIVERS_SECONDS = 3600
# Rows fetched per round trip while streaming a download.
DOWNLOAD_BATCH = 2000
# Longest text search accepted (a search longer than any text finds nothing anyway).
MAX_QUERY_CHARS = 200
# Result orders by name: input order, most negative first, most positive first.
# `idx` breaks ties so paging through equal scores is stable.
SORTS = {"idx": ("idx",), "compound": ("compound", "idx"), "-compound": ("-compound", "idx")}
# The page's sort while a job runs: about the rows stored last first. Results have no
# insertion order of their own (no id); chunks are stored about in input order, so the
# highest idx stored are among the newest, and the (job, idx) key serves it read backwards.
LATEST_ORDER = ("-idx",)


def analyzer_list() -> list[AnalyzerSpec]:
    """Return the analyzers a job may choose, in the registry's order."""
    return analyzer_specs()


def analyzer_of(job: Job) -> AnalyzerSpec | None:
    """Return the spec of the job's analyzer (None if it is no longer registered)."""
    try:
        return spec_get(job.analyzer)
    except UnknownAnalyzer:
        return None


_NO_SUCH_JOB = gettext_noop("No such job.")


def job_get(*, job_id: object, session_key: str | None) -> Job:
    """Return this session's job, or raise JobNotFound (also for another session's job)."""
    try:
        pk = uuid.UUID(str(job_id))
    except ValueError:
        raise JobNotFound(_NO_SUCH_JOB) from None
    try:
        return Job.objects.owned_by(session_key).get(pk=pk)
    except Job.DoesNotExist:
        raise JobNotFound(_NO_SUCH_JOB) from None


def job_get_by_token(*, job_id: object, token_hash: str) -> Job | None:
    """Return the job if the working token with this hash may see it, checking the token in the same query.

    None when the token does not work (revoked or unknown); JobNotFound when it
    works but the job is not its owner's. The poll is most of the API's traffic:
    one statement, as a session's poll, where a check of its own would add one.
    """
    try:
        pk = uuid.UUID(str(job_id))
    except ValueError:
        pk = None
    job = None if pk is None else token_job(token_hash, pk)
    if job is None:
        # Not found: tell a token that does not work (401) from a job it may not see (404).
        if token_check(token_hash) is None:
            return None
        raise JobNotFound(_NO_SUCH_JOB)
    token_use_note(hashed=token_hash, last_used_at=job.token_last_used_at)
    return job


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
        if job.status == Job.Status.QUEUED:
            template = gettext_noop(
                "The job is still queued (%(done)s of %(total)s texts analyzed). Download its results "
                "once it has finished, or cancel it to keep what is done."
            )
        else:
            template = gettext_noop(
                "The job is still running (%(done)s of %(total)s texts analyzed). Download its results "
                "once it has finished, or cancel it to keep what is done."
            )
        raise JobConflict(
            template,
            params={"done": job.done, "total": "?" if job.total is None else job.total},
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


def group_drivers(job: Job, *, by: str | None, group: str | None) -> dict:
    """What drives one group of a job (the rows whose column `by` holds `group`), or the whole job.

    Returns {"by", "group", "count", "positive", "negative", "extremes",
    "drivers"}. Without `by`, the job's own (its stored summary's, once it
    has one). A group's are computed once per GROUP_DRIVERS_SECONDS for
    every viewer (a Redis key; without Redis, for this request alone).
    """
    if not by:
        if group:
            raise InputError(
                gettext_noop("group needs by: the column the groups are of."), code="invalid_parameter"
            )
        if job.summary and "drivers" in job.summary:
            keys = ("count", "positive", "negative", "extremes", "drivers")
            return {"by": None, "group": None, **{k: job.summary[k] for k in keys}}
        return {"by": None, "group": None, **_group_details_cached(job, column=None, group=None)}
    if by not in job.columns or by == job.text_column:
        kept = [c for c in job.columns if c != job.text_column]
        raise InputError(
            gettext_noop("The job has no column %(by)s to group by; its columns are: %(kept)s.")
            if kept
            else gettext_noop("The job has no column %(by)s to group by; its input had no other columns."),
            params={"by": repr(by), "kept": ", ".join(kept)},
            code="invalid_parameter",
        )
    if group is None:
        raise InputError(
            gettext_noop("Name the group: ?group=<a value of the column> (empty for empty cells)."),
            code="invalid_parameter",
        )
    details = _group_details_cached(job, column=job.columns.index(by), group=group)
    return {"by": by, "group": group, **details}


def _group_details_cached(job: Job, *, column: int | None, group: str | None) -> dict:
    seconds = GROUP_DRIVERS_SECONDS if job.is_final else LIVE_SUMMARY_SECONDS
    digest = hashlib.sha256(f"{column}\0{group}".encode()).hexdigest()[:32]
    key = f"sentimeter:group-drivers:{job.pk}:{job.status}:{digest}"
    try:
        cached = get_redis().get(key)
    except RedisError:
        cached = None
    if cached is not None:
        details = json.loads(cached)
    else:
        details = group_details(job.pk, column=column, value=group)
        with contextlib.suppress(RedisError):
            get_redis().set(key, json.dumps(details), ex=seconds)
    return details


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
        raise InputError(
            gettext_noop("Unknown label %(label)s; use one of: %(labels)s."),
            params={"label": repr(label), "labels": ", ".join(Result.Label.values)},
            code="invalid_label",
        )
    return label


def _int_param(value: str | None, *, name: str, default: int, minimum: int, maximum: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InputError(
            gettext_noop("%(name)s must be a whole number."), params={"name": name}, code="invalid_parameter"
        ) from None
    if not minimum <= number <= maximum:
        raise InputError(
            gettext_noop("%(name)s must be between %(minimum)s and %(maximum)s."),
            params={"name": name, "minimum": str(minimum), "maximum": str(maximum)},
            code="invalid_parameter",
        )
    return number


def _query_filter(q: str | None) -> str | None:
    q = (q or "").strip()
    if len(q) > MAX_QUERY_CHARS:
        raise InputError(
            gettext_noop("q is %(chars)s characters; the limit is %(limit)s."),
            params={"chars": len(q), "limit": MAX_QUERY_CHARS},
            code="invalid_parameter",
        )
    if "\x00" in q:
        raise InputError(gettext_noop("q contains a NUL character."), code="invalid_parameter")
    return q or None


def _sort_order(sort: str | None) -> tuple[str, ...]:
    if sort in (None, ""):
        return SORTS["idx"]
    if sort not in SORTS:
        raise InputError(
            gettext_noop("Unknown sort %(sort)s; use one of: %(sorts)s."),
            params={"sort": repr(sort), "sorts": ", ".join(SORTS)},
            code="invalid_parameter",
        )
    return SORTS[sort]


def results_queryset(
    *,
    job: Job,
    label: str | None = None,
    q: str | None = None,
    sort: str | None = None,
    group: str | None = None,
    by: str | None = None,
) -> QuerySet[Result]:
    """Return a job's results, optionally of one label, containing `q` (any case) or whose cell in
    column `by` (the job's group_by by default) is `group`, sorted by `sort`."""
    qs = Result.objects.filter(job=job).order_by(*_sort_order(sort))
    label = _label_filter(label)
    if label:
        qs = qs.filter(label=label)
    q = _query_filter(q)
    if q:
        qs = qs.filter(text__icontains=q)
    if group:
        column = _group_column(job, by)
        try:
            qs = group_filter(qs, job=job, column=column, value=group)
        except UnknownColumn as exc:
            raise _unknown_column(column, exc.allowed, code="unknown_column") from None
    return qs


def results_count(
    *,
    job: Job,
    label: str | None = None,
    q: str | None = None,
    group: str | None = None,
    by: str | None = None,
    cap: int | None = None,
) -> int:
    """Count a job's results matching the filters, from stored counts when they have them.

    Counting a million results takes most of a second; a finished job's
    summary has its label counts, and its stored groups their own. Other
    filters are counted up to `cap` when given (the scan stops there).
    """
    label, q = _label_filter(label), _query_filter(q)
    if not q and not group:
        if not label:
            return job.done
        if job.is_final and job.summary and not job.is_partial and label in job.summary:
            return job.summary[label]
    if group and not q:
        stored = group_count(job=job, column=_group_column(job, by), value=group, label=label)
        if stored is not None:
            return stored
    matching = results_queryset(job=job, label=label, q=q, group=group, by=by)
    return (matching[:cap] if cap else matching).count()


@dataclass(frozen=True, slots=True)
class SearchScan:
    """What one bounded search of a job's texts found: the matches among texts start to end - 1 (by idx)."""

    matches: list[int]  # the matches' idx, in the view's order, at most the cap
    start: int  # the first idx searched
    end: int  # the idx the search stopped before
    span: int  # the job's last idx + 1: the search is whole when it ran from 0 to here
    more: bool  # more matches than the cap in the texts searched

    @property
    def complete(self) -> bool:
        return self.start == 0 and self.end >= self.span


def results_search(
    *,
    job: Job,
    q: str,
    label: str | None = None,
    order: tuple[str, ...] = SORTS["idx"],
    group: str | None = None,
    by: str | None = None,
    start: int = 0,
    cap: int,
    seconds: float,
    slice_rows: int,
) -> SearchScan:
    """Search a job's texts from idx `start` in slices of `slice_rows` until `seconds` are spent.

    Each slice is a range scan of the (job, idx) index, so a search costs
    what it reads, not the job's size: a rare word in a million texts is
    searched a few hundred thousand texts a request, with a cursor (`end`)
    to go on from. The first slice always runs; another runs only if the
    time spent so far plus the last slice's time stays within `seconds`.
    In input order the search stops at the cap: the range then holds
    exactly `cap` matches and the rest start at `end`. A sort by score
    keeps the best `cap` of every match in the range.
    """
    last = Result.objects.filter(job=job).order_by("-idx").values_list("idx", flat=True).first()
    span = 0 if last is None else last + 1
    if not 0 <= start < span:
        start = 0  # past the end (a stale link): search from the first text
    matching = results_queryset(job=job, label=label, q=q, group=group, by=by)
    in_order = order == SORTS["idx"]
    # Sorted by an expression, not the column: Postgres would otherwise walk the job's
    # (job, compound) index through every result to find a slice's few (README, "Benchmarks").
    ordering = [
        (F(name[1:]) * 1).desc() if name.startswith("-") else (F(name) * 1).asc()
        for name in order
        if name != "idx"
    ] + ["idx"]
    fields = [name.lstrip("-") for name in order if name != "idx"]
    found: list[tuple] = []
    more = False
    began = time.monotonic()
    lo = start
    while lo < span:
        hi = min(lo + slice_rows, span)
        sliced = matching.filter(idx__gte=lo, idx__lt=hi).order_by(*ordering)
        slice_began = time.monotonic()
        if in_order:
            found += [(i,) for i in sliced.values_list("idx", flat=True)[: cap + 1 - len(found)]]
            if len(found) > cap:
                # Stop before the first match past the cap: the range holds exactly `cap`.
                return SearchScan(
                    matches=[k[-1] for k in found[:cap]], start=start, end=found[cap][0], span=span, more=True
                )
        else:
            found = _best(found + list(sliced.values_list(*fields, "idx")[: cap + 1]), order=order)
            more = more or len(found) > cap
            found = found[:cap]
        lo = hi
        now = time.monotonic()
        if now - began + (now - slice_began) > seconds:
            break
    return SearchScan(matches=[k[-1] for k in found], start=start, end=lo, span=span, more=more)


def _best(rows: list[tuple], *, order: tuple[str, ...]) -> list[tuple]:
    """Sort (sort fields..., idx) rows as `order` says, idx breaking ties."""
    signs = [-1 if name.startswith("-") else 1 for name in order if name != "idx"]
    return sorted(rows, key=lambda r: (*(s * v for s, v in zip(signs, r, strict=False)), r[-1]))


def results_at(*, job: Job, idxs: list[int]) -> list[Result]:
    """Return a job's results at these idx, in that order."""
    by_idx = {r.idx: r for r in Result.objects.filter(job=job, idx__in=idxs)}
    return [by_idx[i] for i in idxs if i in by_idx]


def results_dense(job: Job) -> bool:
    """Whether a job's results are numbered 0 to done - 1 without a gap, so page n starts at idx 50 (n - 1).

    (job, idx) is unique and idx never negative: a last idx of done - 1 and
    none beyond leave no room for a gap. Two index lookups.
    """
    if not job.done:
        return True
    results = Result.objects.filter(job=job)
    return results.filter(idx=job.done - 1).exists() and not results.filter(idx__gte=job.done).exists()


def _group_column(job: Job, by: str | None) -> str:
    column = by or job.group_by
    if not column:
        raise InputError(
            gettext_noop(
                "Say which column the group is a value of: by=<column>, "
                "or choose a grouping on the job's page."
            ),
            code="invalid_parameter",
        )
    return column


def job_columns(job: Job) -> Columns:
    """Return the columns a job can be grouped by (suggested ones first) and its date columns."""
    return columns_of(job)


def job_group_by(job: Job) -> str:
    """The column the job's page groups by: the job's choice when it is one of its columns, else none."""
    if job.group_by and job.group_by in columns_of(job).groupable:
        return job.group_by
    return ""


def job_groups(*, job: Job, by: str | None) -> Groups:
    """Break a job's results down by a column's values; 400 naming the columns for any other."""
    try:
        return groups_of(job, by)
    except UnknownColumn as exc:
        raise _unknown_column(by, exc.allowed, code="unknown_column") from None


def job_trend(*, job: Job, by: str | None, bucket: str | None) -> Trend:
    """Break a job's results down over time by a date column; 400 naming the date columns or buckets."""
    if bucket not in (None, "", *BUCKETS):
        raise InputError(
            gettext_noop("Unknown bucket %(bucket)s; use one of: %(buckets)s."),
            params={"bucket": repr(bucket), "buckets": ", ".join(BUCKETS)},
            code="invalid_bucket",
        )
    try:
        return trend_of(job, by, bucket or None)
    except UnknownColumn as exc:
        raise _unknown_column(
            by,
            exc.allowed,
            dates=True,
            code="not_a_date_column" if by in (job.columns or []) else "unknown_column",
        ) from None


def _unknown_column(by: str | None, allowed: list[str], *, code: str, dates: bool = False) -> InputError:
    """The error for a column a job cannot be broken down by (of dates, with `dates`), naming those it can."""
    if not by:
        start = Message(gettext_noop("Give the column as by=<column>"))
    elif dates:
        start = Message(gettext_noop("%(by)s is not a column of dates"), {"by": repr(by)})
    else:
        start = Message(gettext_noop("%(by)s is not a column of this job"), {"by": repr(by)})
    if allowed:
        return InputError(
            gettext_noop("%(start)s; use one of: %(listed)s."),
            params={"start": start, "listed": ", ".join(allowed)},
            code=code,
        )
    if dates:
        reason = Message(gettext_noop("this job's input has no column of dates"))
    else:
        reason = Message(gettext_noop("this job's input has no columns besides its text"))
    return InputError(
        gettext_noop("%(start)s: %(reason)s."), params={"start": start, "reason": reason}, code=code
    )


def results_page(
    *,
    job: Job,
    offset: str | None,
    limit: str | None,
    label: str | None,
    q: str | None = None,
    sort: str | None = None,
    group: str | None = None,
    by: str | None = None,
) -> ResultPage:
    """Return one page of a job's results, validating the paging, filter and sort parameters."""
    off = _int_param(offset, name="offset", default=0, minimum=0, maximum=10**9)
    lim = _int_param(limit, name="limit", default=DEFAULT_PAGE, minimum=1, maximum=MAX_PAGE)
    qs = results_queryset(job=job, label=label, q=q, sort=sort, group=group, by=by)
    count = results_count(job=job, label=label, q=q, group=group, by=by)
    id_index = _id_index(job)
    if id_index is None:
        rows = list(qs.values(*RESULT_FIELDS)[off : off + lim])
    else:
        rows = []
        for row in qs.values(*RESULT_FIELDS, "cells")[off : off + lim]:
            cells = row.pop("cells") or []
            row["id"] = cells[id_index] if id_index < len(cells) else None
            rows.append(row)
    return ResultPage(count=count, offset=off, limit=lim, results=rows)


def _id_index(job: Job) -> int | None:
    """Where the job's id column is among its columns (None without one, or when it is the text)."""
    columns = job.columns or []
    if ID_COLUMN not in columns or job.text_column == ID_COLUMN:
        return None
    return columns.index(ID_COLUMN)


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
