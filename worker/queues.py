"""The RQ queues, and how a job is put on them.

Two queues: `quick` for small jobs and `bulk` for the rest. Workers listen
to `quick` first, so a single sentence never waits behind a big upload.
"""

from __future__ import annotations

from functools import cache

import django_rq
from django.conf import settings
from redis import Redis
from rq import Queue, Retry

QUICK = "quick"
BULK = "bulk"
# Order matters: RQ's worker takes from the first non-empty queue.
QUEUE_NAMES = (QUICK, BULK)

# Seconds between retries of a job that failed for a reason other than its
# input (a dropped database connection, a Redis timeout).
RETRY_INTERVALS = [5, 30, 120]
# Keep RQ's record of a failure long enough to inspect it on the dashboard.
FAILURE_TTL = 7 * 24 * 3600
# The result of a job lives in Postgres; RQ's copy is only for the dashboard.
RESULT_TTL = 3600


@cache
def get_redis() -> Redis:
    """Return the process's shared Redis connection (pooled, created on first use)."""
    return django_rq.get_connection(QUICK)


def get_queue(name: str) -> Queue:
    """Return the named queue, on the shared connection."""
    return django_rq.get_queue(name, connection=get_redis())


def queue_for(*, total: int | None) -> str:
    """Choose the queue for a job of `total` texts (None: not counted yet)."""
    if total is not None and total <= settings.SENTIMETER["QUICK_MAX_TEXTS"]:
        return QUICK
    return BULK


def job_enqueue(*, job_id: str, queue_name: str) -> None:
    """Put a job on its queue once the current transaction commits.

    The RQ job id is the Job's UUID, so enqueueing twice replaces rather
    than duplicates it.
    """
    from worker.tasks import job_run

    retries = settings.SENTIMETER["JOB_RETRIES"]
    get_queue(queue_name).enqueue(
        job_run,
        job_id,
        job_id=job_id,
        retry=Retry(max=retries, interval=RETRY_INTERVALS[:retries]) if retries else None,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        description=f"sentiment job {job_id}",
    )
