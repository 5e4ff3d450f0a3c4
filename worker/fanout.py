"""A big job's chunks: their rows in Postgres, and keeping a window of them on the queue."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import transaction
from rq import Worker
from rq.job import Job as RQJob

from web.models import Job, JobChunk
from worker.inputs import Row
from worker.queues import chunk_enqueue, chunk_rq_id, get_redis

logger = logging.getLogger(__name__)


def chunks_requeue_lost(job_id: uuid.UUID) -> int:
    """Enqueue again the job's queued chunks whose RQ job Redis no longer has."""
    lost = 0
    seqs = JobChunk.objects.filter(job_id=job_id, status=JobChunk.Status.QUEUED).values_list("seq", flat=True)
    for seq in seqs:
        if not RQJob.exists(chunk_rq_id(str(job_id), seq), connection=get_redis()):
            chunk_enqueue(job_id=str(job_id), seq=seq)
            lost += 1
    if lost:
        logger.warning("job %s: %d queued chunks were missing from Redis; enqueued again", job_id, lost)
    return lost


def chunk_write(job_id: uuid.UUID, seq: int, rows: list[Row]) -> None:
    """Store one chunk as the range of the input its rows cover (kept if a resumed split writes it again)."""
    chunk = JobChunk(
        job_id=job_id,
        seq=seq,
        start=rows[0].start,
        end=rows[-1].end,
        idx_first=rows[0].idx,
        idx_last=rows[-1].idx,
        row_first=rows[0].row_number,
        size=len(rows),
    )
    JobChunk.objects.bulk_create([chunk], ignore_conflicts=True)


def workers_count() -> int:
    """How many RQ workers are running now (0 if Redis cannot say): a sizing hint."""
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
