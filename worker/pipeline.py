"""The job pipeline: stream a job's input, analyze it in chunks, store every result.

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
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Avg, Count, F, Q, Sum
from django.db.models.functions import Coalesce, Mod, Now

from web.models import Job, JobChunk, JobInput, Result
from worker.analyzers.base import LABELS, Analyzer, AnalyzerSpec, Scores
from worker.analyzers.registry import UnknownAnalyzer, analyzer_specs, get_analyzer, spec_get
from worker.chunking import chunks_of, tail_bound
from worker.drivers import drivers
from worker.inputs import InputProblem, InputSpec, Row, iter_rows
from worker.languages import language_mix, warnings_for
from worker.queues import chunk_enqueue, chunk_rq_id, get_redis
from worker.webhooks import webhook_schedule

logger = logging.getLogger(__name__)

HISTOGRAM_BINS = 20
# Bytes read from a stored upload per query while streaming it.
READ_SLICE_BYTES = 1024 * 1024
# Skipped rows reported on the job, with their row numbers.
SKIPPED_EXAMPLES = 10
# The splitter tops up the queue after each of the first chunks, then every so often.
SPLIT_REFILL_EVERY = 4
# Texts (the first ones, in input order) whose language is guessed when a job ends.
LANGUAGE_SAMPLE = 1000
# Texts of each label read to rank what drives a job's sentiment, spread over the job:
# enough for any term worth naming, and a second or two of work at most.
DRIVERS_SAMPLE = 5000
# The most positive and most negative texts a summary keeps, each clipped to this many characters.
EXTREMES = 5
EXTREME_CHARS = 300


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


class InputReader(io.RawIOBase):
    """Read a stored input as a stream, one slice per query (bounded memory).

    It keeps the last slice itself: callers (TextIOWrapper through a
    BufferedReader) ask for 8 KB at a time, which would be a query each.
    """

    def __init__(self, job_id: uuid.UUID, size: int, *, slice_bytes: int = READ_SLICE_BYTES) -> None:
        super().__init__()
        self._job_id = job_id
        self._size = size
        self._offset = 0  # of the next slice to fetch
        self._slice = slice_bytes
        self._buffer = b""
        self._position = 0  # in _buffer

    def readable(self) -> bool:
        return True

    @property
    def unread(self) -> int:
        """Bytes not handed out yet: the slices still to fetch and the rest of the current one."""
        return self._size - self._offset + len(self._buffer) - self._position

    def readinto(self, buffer) -> int:
        if self._position >= len(self._buffer):
            self._buffer, self._position = self._fetch(), 0
            if not self._buffer:
                return 0
        n = min(len(buffer), len(self._buffer) - self._position)
        buffer[:n] = self._buffer[self._position : self._position + n]
        self._position += n
        return n

    def _fetch(self) -> bytes:
        if self._offset >= self._size:
            return b""
        table = JobInput._meta.db_table
        job_param = self._job_id if connection.vendor == "postgresql" else self._job_id.hex
        with connection.cursor() as cursor:
            # substr() is 1-based; Postgres and SQLite both slice bytes with it,
            # and Postgres reads only the slice of an uncompressed value.
            cursor.execute(
                f"SELECT substr(data, %s, %s) FROM {table} WHERE job_id = %s",  # noqa: S608
                [self._offset + 1, self._slice, job_param],
            )
            row = cursor.fetchone()
        data = bytes(row[0]) if row and row[0] is not None else b""
        self._offset += len(data)
        return data


def input_get(job: Job) -> JobInput:
    """Return the job's input row, without loading its data."""
    try:
        return JobInput.objects.defer("data").get(job_id=job.pk)
    except JobInput.DoesNotExist:
        raise InputError(
            "The job's input is missing; please submit it again.", code="input_missing"
        ) from None


def input_rows(job_input: JobInput, *, max_chars: int) -> tuple[Iterator[Row], Callable[[], int]]:
    """The input's rows in order (pasted/JSON texts, or a stored file streamed), and how much is unread.

    The second item tells, whenever asked, roughly how much of the input the
    rows handed out so far have not covered: characters of pasted texts,
    bytes of a file (a few KB of read-ahead aside).
    """
    if job_input.format == JobInput.Format.TEXTS:
        raw = JobInput.objects.values_list("data", flat=True).get(pk=job_input.pk)
        try:
            texts = json.loads(bytes(raw))
        except ValueError:
            raise InputError("The stored texts are not valid JSON; please submit them again.") from None
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise InputError("The stored input is not a list of texts; please submit it again.")
        left = [sum(map(len, texts))]

        def pasted() -> Iterator[Row]:
            for i, text in enumerate(texts):
                left[0] -= len(text)
                yield Row(idx=i, row_number=i + 1, text=text)

        return pasted(), lambda: left[0]
    options = job_input.options or {}
    try:
        spec = InputSpec(
            format=job_input.format,
            encoding=options["encoding"],
            delimiter=options.get("delimiter", ","),
            column=options.get("column"),
            column_index=options.get("column_index"),
            has_header=options.get("has_header", True),
            lenient=options.get("lenient", False),
        )
    except KeyError:
        raise InputError("The stored file has no reading options; please upload it again.") from None
    reader = InputReader(job_input.pk, job_input.size)
    stream = io.BufferedReader(reader)
    return iter_rows(stream, spec, max_chars=max_chars), lambda: reader.unread


def results_store(
    *, job_id: uuid.UUID, idxs: Sequence[int], texts: Sequence[str], scores: Sequence[Scores]
) -> int:
    """Store results and advance the progress counter, in one transaction.

    Rows already stored are skipped (ON CONFLICT), so a retry stores nothing
    twice. Raises JobStopped (and stores nothing) if the job is no longer
    running. Returns the number of rows newly stored.
    """
    with transaction.atomic():
        inserted = _results_insert(job_id=job_id, idxs=idxs, texts=texts, scores=scores)
        # Compare-and-set: a canceled job takes no more results.
        updated = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(done=F("done") + inserted)
        if not updated:
            transaction.set_rollback(True)
            raise JobStopped(str(job_id))
    return inserted


_RESULT_COLUMNS = "job_id, idx, text, label, compound, pos, neu, neg"
# The Postgres types of those columns, for binary COPY (label is a varchar: text's binary form).
_RESULT_TYPES = ["uuid", "int4", "text", "text", "float8", "float8", "float8", "float8"]


def _results_insert(
    *, job_id: uuid.UUID, idxs: Sequence[int], texts: Sequence[str], scores: Sequence[Scores]
) -> int:
    table = Result._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement per chunk: arrays unnest server-side into rows.
            cursor.execute(
                f"INSERT INTO {table} ({_RESULT_COLUMNS}) "  # noqa: S608 - table name is ours, values are parameters
                "SELECT %s, * FROM unnest(%s::int[], %s::text[], %s::text[], "
                "%s::float8[], %s::float8[], %s::float8[], %s::float8[]) "
                "ON CONFLICT (job_id, idx) DO NOTHING",
                [
                    job_id,
                    list(idxs),
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
        for idx, text, s in zip(idxs, texts, scores, strict=True):
            cursor.execute(
                f"INSERT INTO {table} ({_RESULT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "  # noqa: S608
                "ON CONFLICT (job_id, idx) DO NOTHING",
                [job_id.hex, idx, text, s.label, s.compound, s.pos, s.neu, s.neg],
            )
            inserted += cursor.rowcount
        return inserted


def _results_copy(
    *, job_id: uuid.UUID, idxs: Sequence[int], texts: Sequence[str], scores: Sequence[Scores]
) -> int:
    """Write results with COPY: several times faster than INSERT for big chunks.

    COPY has no ON CONFLICT: callers first win the chunk's compare-and-set
    in the same transaction, so no row of it can exist yet. Binary COPY:
    psycopg sends the floats as they are instead of formatting them as
    text (under half the client's CPU of the text format, and less work
    for the server).
    """
    if connection.vendor != "postgresql":
        return _results_insert(job_id=job_id, idxs=idxs, texts=texts, scores=scores)
    table = Result._meta.db_table
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({_RESULT_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_RESULT_TYPES)
            for idx, text, s in zip(idxs, texts, scores, strict=True):
                copy.write_row((job_id, idx, text, s.label, s.compound, s.pos, s.neu, s.neg))
    return len(idxs)


def summary_compute(job_id: uuid.UUID, *, details: bool = True) -> dict:
    """Summarize a job's stored results: label counts, mean compound, histogram.

    With `details`, also the extremes and what drives the sentiment (reading
    texts: a second or two on a big job, so a running job's page goes without).
    """
    results = Result.objects.filter(job_id=job_id)
    agg = results.aggregate(
        count=Count("idx"),
        positive=Count("idx", filter=Q(label=Result.Label.POSITIVE)),
        neutral=Count("idx", filter=Q(label=Result.Label.NEUTRAL)),
        negative=Count("idx", filter=Q(label=Result.Label.NEGATIVE)),
        mean_compound=Avg("compound"),
    )
    counts = [dict.fromkeys(("count", *LABELS), 0) for _ in range(HISTOGRAM_BINS)]
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
            f"SELECT {bin_expr} AS bin, label, COUNT(*) FROM {table} "  # noqa: S608
            "WHERE job_id = %s GROUP BY bin, label",
            [HISTOGRAM_BINS / 2.0, job_param],
        )
        for bin_index, label, n in cursor.fetchall():
            counted = counts[min(max(int(bin_index), 0), HISTOGRAM_BINS - 1)]
            counted["count"] += n
            if label in counted:
                counted[label] += n
    mean = agg["mean_compound"]
    return {
        "count": agg["count"],
        "positive": agg["positive"],
        "neutral": agg["neutral"],
        "negative": agg["negative"],
        "mean_compound": round(mean, 4) if mean is not None else None,
        # Each bin also counts its texts by label: an analyzer that labels by more than its
        # score (e5) can have neutral and positive texts with the same score.
        "histogram": [
            {"start": round(-1.0 + i * width, 2), "end": round(-1.0 + (i + 1) * width, 2), **n}
            for i, n in enumerate(counts)
        ],
    } | ({"extremes": job_extremes(job_id), "drivers": job_drivers(job_id, counts=agg)} if details else {})


def job_drivers(job_id: uuid.UUID, *, counts: dict) -> dict[str, list[dict]]:
    """The terms that set a job's negative texts apart from its positive ones (worker/drivers.py).

    Reads at most DRIVERS_SAMPLE texts of each label, every n-th by row, so a
    big job's sample spans all of it.
    """
    texts: list[tuple[str, str]] = []
    for label in (Result.Label.NEGATIVE, Result.Label.POSITIVE):
        step = max(-(-counts[label] // DRIVERS_SAMPLE), 1)
        rows = Result.objects.filter(job_id=job_id, label=label)
        if step > 1:
            rows = rows.alias(nth=Mod("idx", step)).filter(nth=0)
        texts += ((text, label) for text in rows.values_list("text", flat=True)[:DRIVERS_SAMPLE])
    return drivers(texts)


def job_extremes(job_id: uuid.UUID) -> dict[str, list[dict]]:
    """The most positive and the most negative texts of a job (by score, among those so labelled)."""
    results = Result.objects.filter(job_id=job_id)
    sides = {
        "positive": results.filter(label=Result.Label.POSITIVE).order_by("-compound", "idx"),
        "negative": results.filter(label=Result.Label.NEGATIVE).order_by("compound", "idx"),
    }
    return {
        side: [
            {"idx": idx, "text": _clipped(text), "compound": compound}
            for idx, text, compound in rows.values_list("idx", "text", "compound")[:EXTREMES]
        ]
        for side, rows in sides.items()
    }


def _clipped(text: str) -> str:
    return text if len(text) <= EXTREME_CHARS else text[: EXTREME_CHARS - 1].rstrip() + "…"


def job_warnings(job_id: uuid.UUID, *, analyzer: str) -> list[dict]:
    """What the user should know about a job's results: texts its analyzer cannot read."""
    try:
        spec = spec_get(analyzer)
    except UnknownAnalyzer:
        return []
    texts = Result.objects.filter(job_id=job_id).order_by("idx").values_list("text", flat=True)
    mix = language_mix(texts[:LANGUAGE_SAMPLE])
    return warnings_for(mix, spec=spec, alternatives=analyzer_specs())


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
        webhook_schedule(job_id)
    return failed


def partial_summary_store(job_id: uuid.UUID) -> None:
    """Store the summary of the results a job kept when it ended early (canceled, or failed midway).

    Its results no longer change (a chunk commits only while the job is
    running), so the API shows the summary its page computes, once.
    """
    if Job.objects.filter(pk=job_id, done__gt=0, summary__isnull=True).exists():
        Job.objects.filter(pk=job_id, summary__isnull=True).update(summary=summary_compute(job_id))


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
    rows, unread = input_rows(input_get(job), max_chars=conf["MAX_TEXT_CHARS"])
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
        _chunk_write(job.pk, seq, chunk)
        if seq < SPLIT_REFILL_EVERY or seq % SPLIT_REFILL_EVERY == 0:
            if not chunks_refill(job.pk):
                raise JobStopped(str(job.pk))
    _job_counted(job, total=total, chunks_total=seq + 1, skips=skips)
    logger.info("job %s: %d chunks, %d texts, %d rows skipped", job.pk, seq + 1, total, skips.count)
    chunks_refill(job.pk)


def chunks_requeue_lost(job_id: uuid.UUID) -> int:
    """Enqueue again the job's queued chunks whose RQ job Redis no longer has."""
    from rq.job import Job as RQJob

    lost = 0
    seqs = JobChunk.objects.filter(job_id=job_id, status=JobChunk.Status.QUEUED).values_list("seq", flat=True)
    for seq in seqs:
        if not RQJob.exists(chunk_rq_id(str(job_id), seq), connection=get_redis()):
            chunk_enqueue(job_id=str(job_id), seq=seq)
            lost += 1
    if lost:
        logger.warning("job %s: %d queued chunks were missing from Redis; enqueued again", job_id, lost)
    return lost


def _chunk_write(job_id: uuid.UUID, seq: int, rows: list[Row]) -> None:
    """Store one chunk's texts (kept if a resumed split writes it again)."""
    data = JobChunk.pack([r.idx for r in rows], [r.text for r in rows])
    if connection.vendor != "postgresql":
        JobChunk.objects.bulk_create(
            [JobChunk(job_id=job_id, seq=seq, data=data, size=len(rows))], ignore_conflicts=True
        )
        return
    # A binary parameter: client-side binding would quote the bytes as hex text.
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"INSERT INTO {JobChunk._meta.db_table} (job_id, seq, status, data, size) "  # noqa: S608
            "VALUES (%s, %s, %s, %b, %s) ON CONFLICT (job_id, seq) DO NOTHING",
            [job_id, seq, JobChunk.Status.PENDING, data, len(rows)],
        )


def chunk_data(chunk_pk: int) -> bytes:
    """Read a chunk's packed texts, as binary: the ORM's text protocol doubles bytea as hex."""
    if connection.vendor != "postgresql":
        data = JobChunk.objects.filter(pk=chunk_pk).values_list("data", flat=True).first()
        return bytes(data) if data else b""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"SELECT data FROM {JobChunk._meta.db_table} WHERE id = %s",  # noqa: S608 - our table name
            [chunk_pk],
            binary=True,
        )
        row = cursor.fetchone()
    return row[0] if row else b""


def workers_count() -> int:
    """How many RQ workers are running now (0 if Redis cannot say): a sizing hint."""
    from rq import Worker

    try:
        return Worker.count(connection=get_redis())
    except Exception:  # noqa: BLE001 - only a sizing hint
        return 0


def chunks_window() -> int:
    """How many chunks of one job may wait on the queue: enough to keep every worker busy."""
    return max(settings.SENTIMETER["CHUNK_WINDOW"], 2 * workers_count())


def chunks_refill(job_id: uuid.UUID) -> bool:
    """Queue the job's next pending chunks up to the window; False if the job is not running."""
    window = chunks_window()
    with transaction.atomic():
        status = Job.objects.select_for_update().values_list("status", flat=True).get(pk=job_id)
        if status != Job.Status.RUNNING:
            return False
        chunks = JobChunk.objects.filter(job_id=job_id)
        free = window - chunks.filter(status=JobChunk.Status.QUEUED).count()
        if free <= 0:
            return True
        seqs = list(
            chunks.filter(status=JobChunk.Status.PENDING).order_by("seq").values_list("seq", flat=True)[:free]
        )
        if seqs:
            chunks.filter(seq__in=seqs).update(status=JobChunk.Status.QUEUED)
            for seq in seqs:
                chunk_enqueue(job_id=str(job_id), seq=seq)
    return True


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
    idxs, texts = JobChunk.unpack(chunk_data(chunk.pk))
    loaded = time.process_time()
    scores = _analyzer_for(job).analyze(texts)
    analyzed = time.process_time()
    with transaction.atomic():
        # Compare-and-set on the chunk: of two deliveries, exactly one stores it.
        won = JobChunk.objects.filter(pk=chunk.pk).exclude(status=JobChunk.Status.DONE)
        if not won.update(status=JobChunk.Status.DONE, data=b""):
            return
        inserted = _results_copy(job_id=job_id, idxs=idxs, texts=texts, scores=scores)
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
