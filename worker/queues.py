"""The RQ queues, and how a job is put on them.

Two queues: `quick` for small jobs and `bulk` for the rest. Workers listen
to `quick` first, so a single sentence never waits behind a big upload.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import django_rq
from django.conf import settings
from django.db import transaction
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus

logger = logging.getLogger(__name__)

QUICK = "quick"
BULK = "bulk"
# Order matters: RQ's worker takes from the first non-empty queue.
QUEUE_NAMES = (QUICK, BULK)

# The RQ job functions, by dotted path: RQ imports them in the worker, and this module
# need not import worker.tasks (which imports the pipeline, which enqueues through here).
JOB_FUNC = "worker.tasks.job_run"
CHUNK_FUNC = "worker.tasks.chunk_run"

# Keep RQ's record of a failure long enough to inspect it on the dashboard.
FAILURE_TTL = 7 * 24 * 3600
# The result of a job lives in Postgres; RQ's copy is only for the dashboard.
RESULT_TTL = 3600


@functools.cache
def get_redis() -> Redis:
    """Return the process's shared Redis connection (pooled, created on first use)."""
    return django_rq.get_connection(QUICK)


def get_queue(name: str) -> Queue:
    """Return the named queue, on the shared connection."""
    return django_rq.get_queue(name, connection=get_redis())


def queue_for(*, seconds: float | None) -> str:
    """Choose the queue for a job of an estimated `seconds` of analysis (None: not known yet)."""
    if seconds is not None and seconds <= settings.SENTIMETER["QUICK_MAX_SECONDS"]:
        return QUICK
    return BULK


def job_enqueue(*, job_id: str, queue_name: str) -> None:
    """Put a job on its queue once the current transaction commits.

    The RQ job id is the Job's UUID. If Redis fails at that moment the Job
    row is already committed: it stays `queued` in Postgres, the error is
    logged, never raised into the request that created it, and the
    reconciler (worker/reconcile.py) enqueues it later. Running a job twice
    is harmless (worker/pipeline.py stores each result once).
    """
    transaction.on_commit(functools.partial(job_enqueue_now, job_id=job_id, queue_name=queue_name))


def chunk_enqueue(*, job_id: str, seq: int) -> None:
    """Put one chunk of a big job on the bulk queue once the current transaction commits."""
    transaction.on_commit(functools.partial(chunk_enqueue_now, job_id=job_id, seq=seq))


def chunk_rq_id(job_id: str, seq: int) -> str:
    """Return the RQ job id of a chunk: stable, so a re-enqueue replaces it."""
    return f"{job_id}_chunk{seq}"


def _retry() -> Retry | None:
    retries = settings.SENTIMETER["JOB_RETRIES"]
    return Retry(max=retries, interval=settings.SENTIMETER["RETRY_INTERVALS"]) if retries else None


def job_enqueue_now(*, job_id: str, queue_name: str) -> bool:
    """Put a job on its queue now (the reconciler's path); False if Redis refused."""
    return _enqueue(
        queue_name,
        JOB_FUNC,
        (job_id,),
        rq_id=job_id,
        timeout=settings.SENTIMETER["JOB_TIMEOUT"],
        description=f"sentiment job {job_id}",
    )


def chunk_enqueue_now(*, job_id: str, seq: int) -> bool:
    """Put one chunk of a big job on the bulk queue now; False if Redis refused."""
    return _enqueue(
        BULK,
        CHUNK_FUNC,
        (job_id, seq),
        rq_id=chunk_rq_id(job_id, seq),
        timeout=settings.SENTIMETER["CHUNK_TIMEOUT"],
        description=f"chunk {seq} of sentiment job {job_id}",
    )


def _enqueue(queue_name: str, func: str, args: tuple, *, rq_id: str, timeout: int, description: str) -> bool:
    try:
        get_queue(queue_name).enqueue(
            func,
            *args,
            job_id=rq_id,
            job_timeout=timeout,
            retry=_retry(),
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            description=description,
        )
    except RedisError:
        logger.exception("%s: not enqueued on %s; it stays queued in Postgres", description, queue_name)
        return False
    return True


def rq_work_stop(rq_ids: Iterable[str]) -> None:
    """Take these RQ jobs off their queues, and stop the ones a worker is running now.

    Best effort, for a canceled job: if Redis fails, the compare-and-set on
    the job's status still stops the work at the next chunk boundary.
    """
    redis = get_redis()
    try:
        for rq_id in rq_ids:
            try:
                rq_job = RQJob.fetch(rq_id, connection=redis)
            except NoSuchJobError:
                continue
            status = rq_job.get_status(refresh=False)
            if status == JobStatus.STARTED and rq_job.worker_name:
                send_stop_job_command(redis, rq_id)
            elif status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
                rq_job.cancel()
    except (RedisError, InvalidJobOperation):
        logger.warning("could not stop RQ jobs %s; they will stop at their next chunk boundary", rq_ids)


@dataclass(frozen=True, slots=True)
class QueueStats:
    name: str
    depth: int
    oldest_age_seconds: float | None
    running: int
    failed: int


def queue_stats(*, now: datetime | None = None) -> list[QueueStats]:
    """Return depth, age of the oldest queued job, running and failed counts per queue."""
    now = now or datetime.now(UTC)
    stats = []
    for name in QUEUE_NAMES:
        queue = get_queue(name)
        oldest_age = None
        first_ids = queue.get_job_ids(0, 1)
        if first_ids:
            oldest = queue.fetch_job(first_ids[0])
            if oldest is not None and oldest.enqueued_at is not None:
                enqueued = oldest.enqueued_at
                if enqueued.tzinfo is None:
                    enqueued = enqueued.replace(tzinfo=UTC)
                oldest_age = round(max(0.0, (now - enqueued).total_seconds()), 1)
        stats.append(
            QueueStats(
                name=name,
                depth=queue.count,
                oldest_age_seconds=oldest_age,
                running=queue.started_job_registry.count,
                failed=queue.failed_job_registry.count,
            )
        )
    return stats
