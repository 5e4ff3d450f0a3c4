"""The job's state machine: claim, analyze inline or split, store each chunk, finalize or fail.

queued -> running (job_claim) -> succeeded (job_finalize) or failed
(job_fail); a cancel (web/services.py) moves it to canceled. Every change
is compare-and-set on the status, so cancel-versus-finish and duplicate
deliveries cannot both win. A job that fits in one chunk is counted,
stored and marked succeeded in one transaction (the quick path). A bigger
one is split into chunks that chunk jobs on any worker store; the chunk
that completes the set finalizes the job (a row lock serializes them).

The parts it drives never import this module: `split` (the input read into
chunks and counted), `fanout` (chunk rows and their window on the queue),
`chunk` (one chunk analyzed and stored exactly once), `storedinput`,
`results` and `summary`.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Now

from web.models import Job
from worker.analyzers.base import Analyzer
from worker.analyzers.registry import get_analyzer, spec_for_job
from worker.breakdowns import breakdowns_store
from worker.chunk import chunk_store
from worker.exceptions import JobStopped
from worker.fanout import chunks_refill, chunks_requeue_lost
from worker.inputs import Row
from worker.messages import Message
from worker.results import results_store
from worker.split import Skips, job_counted, job_split, rows_with_cells, split_open
from worker.storedinput import input_free
from worker.summary import job_warnings, partial_summary_store, summary_compute
from worker.webhooks import webhook_schedule

logger = logging.getLogger(__name__)


def job_claim(job_id: uuid.UUID) -> Job | None:
    """Move a queued (or resumed running) job to running; None if it is already final.

    Its commit does not wait for the disk (synchronous_commit off, this
    transaction alone): lost in a database crash, the job is queued again with
    one attempt fewer, which the reconciler handles as any lost job. On a
    busy disk that wait was a good part of a single text's ~20 ms.
    """
    with transaction.atomic():
        _commit_without_flush()
        claimed = Job.objects.filter(pk=job_id, status__in=Job.ACTIVE_STATUSES).update(
            status=Job.Status.RUNNING,
            started_at=Coalesce(F("started_at"), Now()),
            attempts=F("attempts") + 1,
        )
        if not claimed:
            return None
        return Job.objects.get(pk=job_id)


def _commit_without_flush() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def job_finalize(job_id: uuid.UUID) -> bool:
    """Mark a job succeeded with its summary once every chunk is stored.

    Returns False while it is not running or not complete. Whichever chunk
    (or the splitter) gets here last does it: the row lock serializes them.
    """
    with transaction.atomic():
        total = _job_succeed(job_id)
    if total is None:
        return False
    _job_succeeded(job_id, total)
    return True


def _job_succeed(job_id: uuid.UUID, *, texts: list[str] | None = None) -> int | None:
    """job_finalize's writes, in the caller's transaction; the job's total if it succeeded.

    The inline path stores its results in the same transaction, and gives
    its `texts` (all of them, in input order) for the language warnings.
    """
    job = Job.objects.select_for_update().get(pk=job_id)
    if job.status != Job.Status.RUNNING or job.total is None or job.chunks_total is None:
        return None
    if job.chunks_done < job.chunks_total:
        return None
    if job.done != job.total:
        raise RuntimeError(f"job {job_id}: {job.done} results stored, {job.total} expected")
    summary = summary_compute(job_id)
    breakdowns_store(job_id, job=job)
    warnings = job_warnings(job_id, analyzer=job.analyzer, texts=texts)
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.SUCCEEDED, summary=summary, warnings=warnings, finished_at=Now()
    )
    return job.total


def _job_succeeded(job_id: uuid.UUID, total: int) -> None:
    """What follows a job's success once it is committed.

    Its input is dropped here, after the commit that shows the success (not
    before it: five statements on a single text's way); if that fails, the
    reconciler's sweep drops it (inputs_free_ended).
    """
    logger.info("job %s: succeeded with %d results", job_id, total)
    input_free(job_id)
    webhook_schedule(job_id)


def job_fail(job_id: uuid.UUID, *, code: str, message: Message | str) -> bool:
    """Mark an unfinished job failed with a message for the user; False if it had ended.

    The message is stored in English and as its template, to be said in each reader's language.
    """
    if isinstance(message, str):
        message = Message(message)
    failed = bool(
        Job.objects.filter(pk=job_id, status__in=Job.ACTIVE_STATUSES).update(
            status=Job.Status.FAILED,
            error_code=code,
            error_message=message.english(),
            error_text=message.to_json(),
            finished_at=Now(),
        )
    )
    if failed:
        partial_summary_store(job_id)
        breakdowns_store(job_id)
        input_free(job_id)
        webhook_schedule(job_id)
    return failed


def job_process(
    job_id: uuid.UUID, *, chunk_size: int | None = None, chunk_seconds: float | None = None
) -> None:
    """Read a job's input as a stream; analyze it inline if it is small, else fan it out.

    A job that fits in one chunk is analyzed and stored right here (the
    quick path). A bigger one is split into JobChunk rows that chunk jobs on
    the bulk queue analyze, on any worker. Running this twice is harmless:
    stored rows and chunks are skipped.
    """
    job = job_claim(job_id)
    if job is None:
        logger.info("job %s: already ended, nothing to do", job_id)
        return
    spec = spec_for_job(job.analyzer)
    skips = Skips(job_id)
    written, chunks, job_input = split_open(
        job, cost=spec.cost, skips=skips, chunk_size=chunk_size, chunk_seconds=chunk_seconds
    )
    try:
        if written.chunks:
            logger.info("job %s: resuming the split after %d chunks", job_id, written.chunks)
            chunks_requeue_lost(job_id)
            job_split(job, chunks, skips=skips, written=written)
        else:
            first = next(chunks, None)
            second = next(chunks, None) if first is not None else None
            if second is None:
                rows = rows_with_cells(job_input, first or [])
                total = _job_inline(job, rows, analyzer=get_analyzer(spec.name), skips=skips)
                if total is not None:
                    _job_succeeded(job_id, total)
                return
            job_split(job, itertools.chain([first, second], chunks), skips=skips, written=written)
    except JobStopped:
        # Canceled while splitting: the cancel dropped the input, unless a lock kept it from doing so then.
        input_free(job_id)
        logger.info("job %s: stopped (no longer running)", job_id)
        return
    job_finalize(job_id)


def _job_inline(job: Job, rows: list[Row], *, analyzer: Analyzer, skips: Skips) -> int | None:
    """Analyze and store a job that fits in one chunk, right here, and finalize it; its total if it succeeded.

    The count, the results and the success are one transaction, so one wait
    for the disk where there were three: most of a single pasted text's time
    from submit to `succeeded` was such waits. The analysis runs before it, so
    the job's row is locked only for the writes (a cancel does not wait on it).
    """
    if not rows:
        job_counted(job, total=0, chunks_total=0, skips=skips)  # raises: no text
    texts = [r.text for r in rows]
    scores = analyzer.analyze(texts)
    with transaction.atomic():
        job_counted(job, total=len(rows), chunks_total=0, skips=skips)
        results_store(job_id=job.pk, rows=rows, scores=scores)
        return _job_succeed(job.pk, texts=texts)


def chunk_process(job_id: uuid.UUID, seq: int) -> None:
    """Analyze one chunk of a big job and store it exactly once; finalize the job if it was the last."""
    stored = chunk_store(job_id, seq)
    if stored is None:
        return
    chunks_refill(job_id)
    job_finalize(job_id)
    if stored.texts:
        # CPU seconds of this process, so a busy machine does not blur where a chunk's time goes.
        logger.info(
            "job %s: chunk %d stored, %d texts; cpu s: load %.3f, analyze %.3f, store %.3f, refill %.3f",
            job_id,
            seq,
            stored.texts,
            stored.load,
            stored.analyze,
            stored.store,
            time.process_time() - stored.at,
        )
