"""The job's state machine: claim, analyze inline or split, store each chunk, finalize or fail.

A job that fits in one chunk is analyzed inline by its RQ job (the quick
path). A bigger one is split: its texts are written as JobChunk rows, and
chunk jobs on the `bulk` queue, on any worker, analyze them; a job keeps at
most a window of chunks on the queue, so big jobs take turns. The chunk
that completes the set finalizes the job (a row lock serializes them).

Exactly once: each chunk's results, its `done` status and the job's
progress counters are written in one transaction, guarded by
compare-and-set on the chunk and on the job's `running` status; inline
results are inserted with ON CONFLICT DO NOTHING on `(job, idx)`. So
`Job.done` always equals the number of stored results, a retried or
duplicated chunk stores nothing twice, and a canceled job takes no more.

The parts it drives live in their own modules, which never import this
one: `storedinput` (reading the stored input back), `chunks` (chunk rows
and their window on the queue), `results` (storing results) and `summary`
(statistics and warnings when a job ends).
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce, Now

from web.models import Job, JobChunk
from worker.analyzers.base import Analyzer, AnalyzerSpec
from worker.analyzers.registry import UnknownAnalyzer, get_analyzer, spec_get
from worker.chunking import chunks_of, tail_bound
from worker.chunks import (
    chunk_data,
    chunk_write,
    chunks_free,
    chunks_refill,
    chunks_requeue_lost,
    workers_count,
)
from worker.exceptions import InputError, JobStopped
from worker.inputs import InputProblem, Row
from worker.results import results_copy, results_store
from worker.storedinput import input_free, input_get, input_rows, input_workbook_convert, range_rows
from worker.summary import job_warnings, partial_summary_store, summary_compute
from worker.webhooks import webhook_schedule

logger = logging.getLogger(__name__)

# Skipped rows reported on the job, with their row numbers.
SKIPPED_EXAMPLES = 10
# The splitter tops up the queue after each of the first chunks, then every so often.
SPLIT_REFILL_EVERY = 4


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


def job_finalize(job_id: uuid.UUID) -> bool:
    """Mark a job succeeded with its summary once every chunk is stored.

    Returns False while it is not running or not complete. Whichever chunk
    (or the splitter) gets here last does it: the row lock serializes them.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.status != Job.Status.RUNNING or job.total is None or job.chunks_total is None:
            return False
        if job.chunks_done < job.chunks_total:
            return False
        if job.done != job.total:
            raise RuntimeError(f"job {job_id}: {job.done} results stored, {job.total} expected")
        summary = summary_compute(job_id)
        warnings = job_warnings(job_id, analyzer=job.analyzer)
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.SUCCEEDED, summary=summary, warnings=warnings, finished_at=Now()
        )
        input_free(job_id)
    logger.info("job %s: succeeded with %d results", job_id, job.total)
    webhook_schedule(job_id)
    return True


def job_fail(job_id: uuid.UUID, *, code: str, message: str) -> bool:
    """Mark an unfinished job failed with a message for the user; False if it had ended."""
    failed = bool(
        Job.objects.filter(pk=job_id, status__in=Job.ACTIVE_STATUSES).update(
            status=Job.Status.FAILED, error_code=code, error_message=message, finished_at=Now()
        )
    )
    if failed:
        partial_summary_store(job_id)
        chunks_free(job_id)
        input_free(job_id)
        webhook_schedule(job_id)
    return failed


@dataclass(slots=True)
class _Skips:
    """Rows of an upload that have no usable text: a count and the first examples."""

    count: int = 0
    examples: list[dict] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.count += 1
        if len(self.examples) < SKIPPED_EXAMPLES:
            self.examples.append({"row": row.row_number, "reason": row.problem})


def _spec_for(job: Job) -> AnalyzerSpec:
    try:
        return spec_get(job.analyzer)
    except UnknownAnalyzer as exc:
        raise InputError(str(exc), code="unknown_analyzer") from None


def _analyzer_for(job: Job) -> Analyzer:
    return get_analyzer(_spec_for(job).name)


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
    conf = settings.SENTIMETER
    spec = _spec_for(job)
    skips = _Skips()
    rows, unread = input_rows(input_workbook_convert(input_get(job)), max_chars=conf["MAX_TEXT_CHARS"])
    # A split interrupted earlier resumes after the texts its chunks cover
    # (whatever the chunk settings are now), numbering on from its last chunk.
    written = JobChunk.objects.filter(job_id=job_id).aggregate(count=Count("id"), texts=Sum("size"))
    covered = written["texts"] or 0
    chunks = chunks_of(
        _texts_skip(rows, covered),
        cost=spec.cost,
        max_texts=chunk_size or conf["CHUNK_SIZE"],
        bound=tail_bound(chunk_seconds or conf["CHUNK_SECONDS"], unread=unread, workers=workers_count()),
        on_skip=skips.add,
    )
    try:
        if written["count"]:
            logger.info("job %s: resuming the split after %d chunks", job_id, written["count"])
            chunks_requeue_lost(job_id)
            _job_split(job, chunks, skips=skips, first_seq=written["count"], covered=covered)
        else:
            first = next(chunks, None)
            second = next(chunks, None) if first is not None else None
            if second is None:
                _job_inline(job, first or [], analyzer=get_analyzer(spec.name), skips=skips)
            else:
                _job_split(job, itertools.chain([first, second], chunks), skips=skips)
    except InputProblem as exc:
        raise InputError(exc.message, code=exc.code) from None
    except JobStopped:
        # Canceled while splitting: the cancel freed the chunks written by then, not those written since.
        chunks_free(job_id)
        input_free(job_id)
        logger.info("job %s: stopped (no longer running)", job_id)
        return
    job_finalize(job_id)


def _job_counted(job: Job, *, total: int, chunks_total: int, skips: _Skips) -> None:
    """Record how many texts the input holds (and what was skipped); fail if none."""
    if total == 0:
        # The failure's message names one skipped row; the job shows them all, as when it succeeds.
        Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
            skipped=skips.count, skipped_examples=skips.examples
        )
        message = "There is no text to analyze in the input."
        if skips.examples:
            first = skips.examples[0]
            message = (
                f"There is no text to analyze in the input: all {skips.count} rows were skipped "
                f"(row {first['row']}: {first['reason']})."
            )
        raise InputError(message, code="no_texts")
    updated = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        total=total, chunks_total=chunks_total, skipped=skips.count, skipped_examples=skips.examples
    )
    if not updated:
        raise JobStopped(str(job.pk))


def _texts_skip(rows: Iterator[Row], covered: int) -> Iterator[Row]:
    """Pass rows on, except the first `covered` rows with text (skipped rows still count)."""
    for row in rows:
        if row.text is not None and covered > 0:
            covered -= 1
            continue
        yield row


def _job_inline(job: Job, rows: list[Row], *, analyzer: Analyzer, skips: _Skips) -> None:
    """Analyze and store a job that fits in one chunk, right here."""
    _job_counted(job, total=len(rows), chunks_total=0, skips=skips)
    if rows:
        texts = [r.text for r in rows]
        results_store(job_id=job.pk, idxs=[r.idx for r in rows], texts=texts, scores=analyzer.analyze(texts))


def _job_split(
    job: Job, chunks: Iterator[list[Row]], *, skips: _Skips, first_seq: int = 0, covered: int = 0
) -> None:
    """Write each chunk as a JobChunk row and keep a window of them queued."""
    total = covered
    seq = first_seq - 1
    for seq, chunk in enumerate(chunks, start=first_seq):
        total += len(chunk)
        chunk_write(job.pk, seq, chunk)
        if seq < SPLIT_REFILL_EVERY or seq % SPLIT_REFILL_EVERY == 0:
            if not chunks_refill(job.pk):
                raise JobStopped(str(job.pk))
    _job_counted(job, total=total, chunks_total=seq + 1, skips=skips)
    logger.info("job %s: %d chunks, %d texts, %d rows skipped", job.pk, seq + 1, total, skips.count)
    chunks_refill(job.pk)


def _chunk_texts(job: Job, chunk: JobChunk) -> tuple[list[int], list[str]] | None:
    """A chunk's idxs and texts, read and parsed from its range of the input; None if the job ended.

    A chunk written before ranges holds its texts itself.
    """
    if chunk.end is None:
        return JobChunk.unpack(chunk_data(chunk.pk))
    rows = range_rows(
        input_get(job),
        start=chunk.start,
        end=chunk.end,
        idx_first=chunk.idx_first,
        row_first=chunk.row_first,
        max_chars=settings.SENTIMETER["MAX_TEXT_CHARS"],
    )
    rows = [row for row in rows if row.text is not None]
    if len(rows) != chunk.size:
        if not Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).exists():
            return None  # its input was dropped when it ended
        raise RuntimeError(f"job {job.pk}: chunk {chunk.seq} read {len(rows)} texts, its split {chunk.size}")
    return [row.idx for row in rows], [row.text for row in rows]


def chunk_process(job_id: uuid.UUID, seq: int) -> None:
    """Analyze one chunk of a big job and store it exactly once; finalize if it was the last."""
    chunk = JobChunk.objects.filter(job_id=job_id, seq=seq).defer("data").first()
    if chunk is None:
        return
    if chunk.status == JobChunk.Status.DONE:
        # Stored by an earlier run that may have died before these steps:
        # both are idempotent, so a retry still moves the job on.
        chunks_refill(job_id)
        job_finalize(job_id)
        return
    job = Job.objects.only("status", "analyzer").get(pk=job_id)
    if job.status != Job.Status.RUNNING:
        return
    started = time.process_time()
    read = _chunk_texts(job, chunk)
    if read is None:
        logger.info("job %s: chunk %d: the input is gone, the job ended", job_id, seq)
        return
    idxs, texts = read
    loaded = time.process_time()
    scores = _analyzer_for(job).analyze(texts)
    analyzed = time.process_time()
    with transaction.atomic():
        # Compare-and-set on the chunk: of two deliveries, exactly one stores it.
        won = JobChunk.objects.filter(pk=chunk.pk).exclude(status=JobChunk.Status.DONE)
        if not won.update(status=JobChunk.Status.DONE, data=b""):
            return
        inserted = results_copy(job_id=job_id, idxs=idxs, texts=texts, scores=scores)
        counted = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(
            done=F("done") + inserted, chunks_done=F("chunks_done") + 1
        )
        if not counted:
            transaction.set_rollback(True)
            return
    stored = time.process_time()
    chunks_refill(job_id)
    job_finalize(job_id)
    # CPU seconds of this process, so a busy machine does not blur where a chunk's time goes.
    logger.info(
        "job %s: chunk %d stored, %d texts; cpu s: load %.3f, analyze %.3f, store %.3f, refill %.3f",
        job_id,
        seq,
        len(texts),
        loaded - started,
        analyzed - loaded,
        stored - analyzed,
        time.process_time() - stored,
    )
