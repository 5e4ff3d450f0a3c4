"""The split: a job's input read once into chunks, its rows without text set aside, its texts counted.

The input is streamed and grouped into chunks (sized by `chunking`); a job
of one chunk is analyzed inline by the state machine (`pipeline`), a bigger
one is written here as JobChunk ranges with a window of them on the queue
(`fanout`). Either way the count of texts and the skipped rows are recorded
on the job once the input is read. A split interrupted earlier resumes after
the texts its chunks cover.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.db.models import Count, Sum

from web.models import Job, JobChunk, JobInput
from worker.analyzers.base import CostModel
from worker.chunking import chunks_of, tail_bound
from worker.exceptions import InputError, JobStopped
from worker.fanout import chunk_write, chunks_refill, workers_count
from worker.inputs import Row
from worker.messages import Message, gettext_noop
from worker.results import SKIPPED_BATCH, skipped_store
from worker.storedinput import input_get, input_rows, input_workbook_convert, range_texts

logger = logging.getLogger(__name__)

# Skipped rows reported on the job, with their row numbers.
SKIPPED_EXAMPLES = 10
# The splitter tops up the queue after each of the first chunks, then every so often.
SPLIT_REFILL_EVERY = 4


@dataclass(slots=True)
class Skips:
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


@dataclass(frozen=True, slots=True)
class Written:
    """What an earlier, interrupted split of the job wrote: its chunks, and the texts they cover."""

    chunks: int = 0
    texts: int = 0


class Opened(NamedTuple):
    """A job's input opened for its split: what an earlier split wrote, and the chunks after it."""

    written: Written
    # Chunks of rows with text. A file's rows come without their cells: the
    # split only needs where each row lies, and a chunk job parses its range
    # again, cells included (rows_with_cells, for a chunk analyzed right here).
    chunks: Iterator[list[Row]]
    job_input: JobInput


def split_open(
    job: Job, *, cost: CostModel, skips: Skips, chunk_size: int | None, chunk_seconds: float | None
) -> Opened:
    """What an earlier split wrote, and the job's input as chunks of rows with text after it.

    chunk_size and chunk_seconds override the settings (None: CHUNK_SIZE,
    CHUNK_SECONDS). Rows without text go to skips, with their cells.
    """
    conf = settings.SENTIMETER
    job_input = input_workbook_convert(input_get(job))
    rows, unread = input_rows(job_input, max_chars=conf["MAX_TEXT_CHARS"], text_cells=False)
    # A split interrupted earlier resumes after the texts its chunks cover
    # (whatever the chunk settings are now), numbering on from its last chunk.
    # A first attempt has none to look for.
    written = Written()
    if job.attempts > 1:
        found = JobChunk.objects.filter(job_id=job.pk).aggregate(count=Count("id"), texts=Sum("size"))
        written = Written(chunks=found["count"], texts=found["texts"] or 0)
    chunks = chunks_of(
        texts_skip(rows, written.texts),
        cost=cost,
        max_texts=chunk_size or conf["CHUNK_SIZE"],
        bound=tail_bound(chunk_seconds or conf["CHUNK_SECONDS"], unread=unread, workers=workers_count()),
        on_skip=skips.add,
    )
    return Opened(written, chunks, job_input)


def rows_with_cells(job_input: JobInput, rows: list[Row]) -> list[Row]:
    """One chunk's rows as split_open gave them, with their cells: a file's are read again from their range.

    For a job analyzed in one go (the state machine's quick path). Pasted
    texts, and files without columns, have nothing to add. Raises
    JobStopped if the input was dropped meanwhile (its job was canceled).
    """
    if not rows or rows[0].cells is not None or not (job_input.options or {}).get("headers"):
        return rows
    read = range_texts(
        job_input,
        start=rows[0].start,
        end=rows[-1].end,
        idx_first=rows[0].idx,
        row_first=rows[0].row_number,
        count=len(rows),
        max_chars=settings.SENTIMETER["MAX_TEXT_CHARS"],
    )
    if read is None:
        raise JobStopped(str(job_input.job_id))
    return read


def texts_skip(rows: Iterator[Row], covered: int) -> Iterator[Row]:
    """Pass rows on, except the first `covered` rows with text (skipped rows still count)."""
    for row in rows:
        if row.text is not None and covered > 0:
            covered -= 1
            continue
        yield row


def job_counted(job: Job, *, total: int, chunks_total: int, skips: Skips) -> None:
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


def job_split(job: Job, chunks: Iterator[list[Row]], *, skips: Skips, written: Written) -> None:
    """Write each chunk as a JobChunk row, numbered on after what was written, and keep a window queued.

    Once every chunk is written the texts are counted. Raises JobStopped when
    a refill finds the job no longer running (canceled).
    """
    total = written.texts
    seq = written.chunks - 1
    for seq, chunk in enumerate(chunks, start=written.chunks):
        total += len(chunk)
        chunk_write(job.pk, seq, chunk)
        if seq < SPLIT_REFILL_EVERY or seq % SPLIT_REFILL_EVERY == 0:
            if not chunks_refill(job.pk):
                raise JobStopped(str(job.pk))
    job_counted(job, total=total, chunks_total=seq + 1, skips=skips)
    logger.info("job %s: %d chunks, %d texts, %d rows skipped", job.pk, seq + 1, total, skips.count)
    chunks_refill(job.pk)
