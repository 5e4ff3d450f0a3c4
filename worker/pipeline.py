"""The job pipeline: read a job's input, analyze it in chunks, store every result.

Each chunk's results and the job's progress counter are written in one
transaction, so `Job.done` always equals the number of stored results and a
job interrupted anywhere resumes from its last committed chunk. Result rows
are inserted with ON CONFLICT DO NOTHING on `(job, idx)`, so running a chunk
twice (a retry, a duplicate delivery) stores it once.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Avg, Count, F, Q
from django.db.models.functions import Coalesce, Now

from web.models import Job, JobInput, Result
from worker.analyzers import Scores, UnknownAnalyzer, get_analyzer

logger = logging.getLogger(__name__)

HISTOGRAM_BINS = 20


class InputError(Exception):
    """The job's input cannot be processed; retrying will not help."""

    def __init__(self, message: str, *, code: str = "invalid_input") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class JobStopped(Exception):
    """The job left the `running` state (canceled) while it was being processed."""


def job_claim(job_id: uuid.UUID) -> Job | None:
    """Move a queued (or resumed running) job to running; None if it is already final."""
    claimed = Job.objects.filter(pk=job_id, status__in=Job.ACTIVE_STATUSES).update(
        status=Job.Status.RUNNING,
        started_at=Coalesce(F("started_at"), Now()),
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return None
    return Job.objects.get(pk=job_id)


def input_texts(job: Job) -> list[str]:
    """Load and decode the job's stored input."""
    try:
        job_input = JobInput.objects.get(job_id=job.pk)
    except JobInput.DoesNotExist:
        raise InputError(
            "The job's input is missing; please submit it again.", code="input_missing"
        ) from None
    if job_input.format == JobInput.Format.TEXTS:
        try:
            texts = json.loads(bytes(job_input.data))
        except ValueError:
            raise InputError("The stored texts are not valid JSON; please submit them again.") from None
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise InputError("The stored input is not a list of texts; please submit it again.")
        return texts
    raise InputError(f"Unsupported input format {job_input.format!r}.", code="unsupported_format")


def results_store(*, job_id: uuid.UUID, start: int, texts: Sequence[str], scores: Sequence[Scores]) -> int:
    """Store one chunk of results and advance the progress counter, in one transaction.

    Raises JobStopped (and stores nothing) if the job is no longer running.
    Returns the number of rows newly stored (0 when the chunk was stored before).
    """
    with transaction.atomic():
        inserted = _results_insert(job_id=job_id, start=start, texts=texts, scores=scores)
        # Compare-and-set: a canceled job takes no more results.
        updated = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(done=F("done") + inserted)
        if not updated:
            transaction.set_rollback(True)
            raise JobStopped(str(job_id))
    return inserted


def _results_insert(*, job_id: uuid.UUID, start: int, texts: Sequence[str], scores: Sequence[Scores]) -> int:
    table = Result._meta.db_table
    columns = "job_id, idx, text, label, compound, pos, neu, neg"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement per chunk: arrays unnest server-side into rows.
            cursor.execute(
                f"INSERT INTO {table} ({columns}) "  # noqa: S608 - table name is ours, values are parameters
                "SELECT %s, * FROM unnest(%s::int[], %s::text[], %s::text[], "
                "%s::float8[], %s::float8[], %s::float8[], %s::float8[]) "
                "ON CONFLICT (job_id, idx) DO NOTHING",
                [
                    job_id,
                    list(range(start, start + len(texts))),
                    list(texts),
                    [s.label for s in scores],
                    [s.compound for s in scores],
                    [s.pos for s in scores],
                    [s.neu for s in scores],
                    [s.neg for s in scores],
                ],
            )
            return cursor.rowcount
        # SQLite (local try-out): same semantics, one row at a time.
        inserted = 0
        for i, (text, s) in enumerate(zip(texts, scores, strict=True)):
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "  # noqa: S608
                "ON CONFLICT (job_id, idx) DO NOTHING",
                [job_id.hex, start + i, text, s.label, s.compound, s.pos, s.neu, s.neg],
            )
            inserted += cursor.rowcount
        return inserted


def summary_compute(job_id: uuid.UUID) -> dict:
    """Summarize a job's stored results: label counts, mean compound, histogram."""
    results = Result.objects.filter(job_id=job_id)
    agg = results.aggregate(
        count=Count("idx"),
        positive=Count("idx", filter=Q(label=Result.Label.POSITIVE)),
        neutral=Count("idx", filter=Q(label=Result.Label.NEUTRAL)),
        negative=Count("idx", filter=Q(label=Result.Label.NEGATIVE)),
        mean_compound=Avg("compound"),
    )
    counts = [0] * HISTOGRAM_BINS
    width = 2.0 / HISTOGRAM_BINS
    table = Result._meta.db_table
    # Bin i holds [-1 + i*width, -1 + (i+1)*width). Scores have 4 decimals,
    # so a nudge far below that keeps -0.9 out of the bin below it despite
    # float error; compound == 1.0 gives bin 20, folded into the last one.
    if connection.vendor == "postgresql":
        # Postgres rounds when casting float to integer: floor() first.
        bin_expr, job_param = "CAST(FLOOR((compound + 1.0) * %s + 1e-9) AS INTEGER)", job_id
    else:
        # SQLite's CAST truncates, which is floor() for non-negative values.
        bin_expr, job_param = "CAST((compound + 1.0) * %s + 1e-9 AS INTEGER)", job_id.hex
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {bin_expr} AS bin, COUNT(*) FROM {table} WHERE job_id = %s GROUP BY bin",  # noqa: S608
            [HISTOGRAM_BINS / 2.0, job_param],
        )
        for bin_index, n in cursor.fetchall():
            counts[min(max(int(bin_index), 0), HISTOGRAM_BINS - 1)] += n
    mean = agg["mean_compound"]
    return {
        "count": agg["count"],
        "positive": agg["positive"],
        "neutral": agg["neutral"],
        "negative": agg["negative"],
        "mean_compound": round(mean, 4) if mean is not None else None,
        "histogram": [
            {"start": round(-1.0 + i * width, 2), "end": round(-1.0 + (i + 1) * width, 2), "count": n}
            for i, n in enumerate(counts)
        ],
    }


def job_finalize(job_id: uuid.UUID) -> bool:
    """Mark a fully processed job succeeded with its summary; False if it was not running."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.status != Job.Status.RUNNING:
            return False
        if job.total is None or job.done != job.total:
            raise RuntimeError(f"job {job_id}: {job.done} results stored, {job.total} expected")
        summary = summary_compute(job_id)
        Job.objects.filter(pk=job_id).update(status=Job.Status.SUCCEEDED, summary=summary, finished_at=Now())
    return True


def job_fail(job_id: uuid.UUID, *, code: str, message: str) -> bool:
    """Mark an unfinished job failed with a message for the user; False if it had ended."""
    return bool(
        Job.objects.filter(pk=job_id, status__in=Job.ACTIVE_STATUSES).update(
            status=Job.Status.FAILED, error_code=code, error_message=message, finished_at=Now()
        )
    )


def job_process(job_id: uuid.UUID, *, chunk_size: int | None = None) -> None:
    """Run a job from its last committed chunk to the end."""
    job = job_claim(job_id)
    if job is None:
        logger.info("job %s: already ended, nothing to do", job_id)
        return
    chunk_size = chunk_size or settings.SENTIMETER["CHUNK_SIZE"]
    try:
        analyzer = get_analyzer(job.analyzer)
    except UnknownAnalyzer as exc:
        raise InputError(str(exc), code="unknown_analyzer") from None
    texts = input_texts(job)
    if job.total is None:
        Job.objects.filter(pk=job_id, total__isnull=True).update(total=len(texts))
    if job.done:
        logger.info("job %s: resuming at %d of %d", job_id, job.done, len(texts))
    try:
        for start in range(job.done, len(texts), chunk_size):
            chunk = texts[start : start + chunk_size]
            results_store(job_id=job_id, start=start, texts=chunk, scores=analyzer.analyze(chunk))
    except JobStopped:
        logger.info("job %s: stopped (no longer running)", job_id)
        return
    if job_finalize(job_id):
        logger.info("job %s: succeeded with %d results", job_id, len(texts))
