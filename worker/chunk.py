"""One chunk of a big job: its rows read back from its range of the input, analyzed, stored exactly once.

Exactly once: the chunk's results, its `done` status and the job's progress
counters are written in one transaction, guarded by compare-and-set on the
chunk and on the job's `running` status, so of two deliveries of a chunk
exactly one stores it, and a canceled job takes no more. What follows a
stored chunk (the next chunks queued, the job finalized) is the state
machine's (`pipeline`).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F

from web.models import Job, JobChunk
from worker.analyzers.registry import get_analyzer, spec_for_job
from worker.inputs import Row
from worker.results import results_copy
from worker.storedinput import input_get, range_texts

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChunkStored:
    """A stored chunk: by this run (its texts, the CPU seconds of its steps) or by an earlier one (no texts).

    `at` is this process's CPU clock when the chunk was committed, so the
    steps that follow can be timed on the same clock.
    """

    texts: int = 0
    load: float = 0.0
    analyze: float = 0.0
    store: float = 0.0
    at: float = 0.0


def chunk_store(job_id: uuid.UUID, seq: int) -> ChunkStored | None:
    """Analyze one chunk of a big job and store it exactly once; None if there is nothing more to do.

    A chunk stored already (by an earlier run that may have died before what
    follows) is reported as stored with no texts: what follows is
    idempotent, so a retry still moves the job on. None when the chunk is
    gone, the job is no longer running, or another delivery stored it.
    """
    chunk = JobChunk.objects.filter(job_id=job_id, seq=seq).first()
    if chunk is None:
        return None
    if chunk.status == JobChunk.Status.DONE:
        return ChunkStored()
    job = Job.objects.only("status", "analyzer").get(pk=job_id)
    if job.status != Job.Status.RUNNING:
        return None
    started = time.process_time()
    rows = _chunk_rows(job, chunk)
    if rows is None:
        logger.info("job %s: chunk %d: the input is gone, the job ended", job_id, seq)
        return None
    texts = [row.text for row in rows]
    loaded = time.process_time()
    scores = get_analyzer(spec_for_job(job.analyzer).name).analyze(texts)
    analyzed = time.process_time()
    with transaction.atomic():
        # Compare-and-set on the chunk: of two deliveries, exactly one stores it.
        won = JobChunk.objects.filter(pk=chunk.pk).exclude(status=JobChunk.Status.DONE)
        if not won.update(status=JobChunk.Status.DONE):
            return None
        inserted = results_copy(job_id=job_id, rows=rows, scores=scores)
        counted = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(
            done=F("done") + inserted, chunks_done=F("chunks_done") + 1
        )
        if not counted:
            transaction.set_rollback(True)
            return None
    stored = time.process_time()
    return ChunkStored(
        texts=len(texts), load=loaded - started, analyze=analyzed - loaded, store=stored - analyzed, at=stored
    )


def _chunk_rows(job: Job, chunk: JobChunk) -> list[Row] | None:
    """A chunk's rows with text, read and parsed from its range of the input; None if the job ended."""
    return range_texts(
        input_get(job),
        start=chunk.start,
        end=chunk.end,
        idx_first=chunk.idx_first,
        row_first=chunk.row_first,
        count=chunk.size,
        max_chars=settings.SENTIMETER["MAX_TEXT_CHARS"],
    )
