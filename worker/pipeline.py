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
from django.db import connection, transaction
from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce, Now

from web.models import Job, JobChunk
from worker.analyzers.base import Analyzer, AnalyzerSpec
from worker.analyzers.registry import UnknownAnalyzer, analyzer_names, get_analyzer, spec_get
from worker.breakdowns import breakdowns_store
from worker.chunking import chunks_of, tail_bound
from worker.chunks import (
    chunk_write,
    chunks_refill,
    chunks_requeue_lost,
    workers_count,
)
from worker.exceptions import InputError, JobStopped
from worker.inputs import Row
from worker.messages import Message, gettext_noop
from worker.results import SKIPPED_BATCH, results_copy, results_store, skipped_store
from worker.storedinput import input_free, input_get, input_rows, input_workbook_convert, range_rows
from worker.summary import job_warnings, partial_summary_store, summary_compute
from worker.webhooks import webhook_schedule

logger = logging.getLogger(__name__)

# Skipped rows reported on the job, with their row numbers.
SKIPPED_EXAMPLES = 10
# The splitter tops up the queue after each of the first chunks, then every so often.
SPLIT_REFILL_EVERY = 4


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


@dataclass(slots=True)
class _Skips:
    """Rows of an upload that have no usable text: a count, the first examples, and the rows stored.

    Each skipped row is kept (SkippedRow, written a batch at a time) so the
    downloads give back every row of the upload.
    """

    job_id: uuid.UUID
    count: int = 0
    examples: list[dict] = field(default_factory=list)
    pending: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.count += 1
        if len(self.examples) < SKIPPED_EXAMPLES:
            reason = row.problem or Message("")
            self.examples.append(
                {"row": row.row_number, "reason": reason.english(), "text": reason.to_json()}
            )
        self.pending.append(row)
        if len(self.pending) >= SKIPPED_BATCH:
            self.flush()

    def flush(self) -> None:
        """Store the skipped rows not stored yet."""
        if self.pending:
            skipped_store(job_id=self.job_id, rows=self.pending)
            self.pending = []


def _spec_for(job: Job) -> AnalyzerSpec:
    try:
        return spec_get(job.analyzer)
    except UnknownAnalyzer:
        # The words of a submit's refusal (web.services.analyzer_validate), in the reader's language.
        raise InputError(
            gettext_noop("Unknown analyzer %(analyzer)s; choose one of: %(names)s."),
            params={"analyzer": repr(job.analyzer), "names": ", ".join(analyzer_names())},
            code="unknown_analyzer",
        ) from None


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
    skips = _Skips(job_id)
    rows, unread = input_rows(input_workbook_convert(input_get(job)), max_chars=conf["MAX_TEXT_CHARS"])
    # A split interrupted earlier resumes after the texts its chunks cover
    # (whatever the chunk settings are now), numbering on from its last chunk.
    # A first attempt has none to look for.
    written = (
        JobChunk.objects.filter(job_id=job_id).aggregate(count=Count("id"), texts=Sum("size"))
        if job.attempts > 1
        else {"count": 0, "texts": 0}
    )
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
                total = _job_inline(job, first or [], analyzer=get_analyzer(spec.name), skips=skips)
                if total is not None:
                    _job_succeeded(job_id, total)
                return
            _job_split(job, itertools.chain([first, second], chunks), skips=skips)
    except JobStopped:
        # Canceled while splitting: the cancel dropped the input, unless a lock kept it from doing so then.
        input_free(job_id)
        logger.info("job %s: stopped (no longer running)", job_id)
        return
    job_finalize(job_id)


def _job_counted(job: Job, *, total: int, chunks_total: int, skips: _Skips) -> None:
    """Record how many texts the input holds (and what was skipped); fail if none."""
    skips.flush()
    if total == 0:
        # The failure's message names one skipped row; the job shows them all, as when it succeeds.
        Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
            skipped=skips.count, skipped_examples=skips.examples
        )
        if not skips.examples:
            raise InputError(gettext_noop("There is no text to analyze in the input."), code="no_texts")
        first = skips.examples[0]
        raise InputError(
            gettext_noop(
                "There is no text to analyze in the input: all %(count)s rows were skipped "
                "(row %(row)s: %(reason)s)."
            ),
            params={
                "count": skips.count,
                "row": first["row"],
                "reason": Message.from_json(first["text"]) or first["reason"],
            },
            code="no_texts",
        )
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


def _job_inline(job: Job, rows: list[Row], *, analyzer: Analyzer, skips: _Skips) -> int | None:
    """Analyze and store a job that fits in one chunk, right here, and finalize it; its total if it succeeded.

    The count, the results and the success are one transaction, so one wait
    for the disk where there were three: most of a single pasted text's time
    from submit to `succeeded` was such waits. The analysis runs before it, so
    the job's row is locked only for the writes (a cancel does not wait on it).
    """
    if not rows:
        _job_counted(job, total=0, chunks_total=0, skips=skips)  # raises: no text
    texts = [r.text for r in rows]
    scores = analyzer.analyze(texts)
    with transaction.atomic():
        _job_counted(job, total=len(rows), chunks_total=0, skips=skips)
        results_store(job_id=job.pk, rows=rows, scores=scores)
        return _job_succeed(job.pk, texts=texts)


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


def _chunk_rows(job: Job, chunk: JobChunk) -> list[Row] | None:
    """A chunk's rows with text, read and parsed from its range of the input; None if the job ended."""
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
    return rows


def chunk_process(job_id: uuid.UUID, seq: int) -> None:
    """Analyze one chunk of a big job and store it exactly once; finalize if it was the last."""
    chunk = JobChunk.objects.filter(job_id=job_id, seq=seq).first()
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
    rows = _chunk_rows(job, chunk)
    if rows is None:
        logger.info("job %s: chunk %d: the input is gone, the job ended", job_id, seq)
        return
    texts = [row.text for row in rows]
    loaded = time.process_time()
    scores = _analyzer_for(job).analyze(texts)
    analyzed = time.process_time()
    with transaction.atomic():
        # Compare-and-set on the chunk: of two deliveries, exactly one stores it.
        won = JobChunk.objects.filter(pk=chunk.pk).exclude(status=JobChunk.Status.DONE)
        if not won.update(status=JobChunk.Status.DONE):
            return
        inserted = results_copy(job_id=job_id, rows=rows, scores=scores)
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
