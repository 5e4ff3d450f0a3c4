"""The safety net: Postgres says what must run; make Redis agree. And the retention purge.

Postgres is the source of truth; Redis only holds work in flight. Redis can
lose it (a flush, a failover, an enqueue that failed after the commit), and
a worker can die holding it (kill -9, a lost dyno). The reconciler looks at
every `queued` or `running` job and puts back on the queue whatever should
be there and is not:

- the job itself (`job_run`) while it is queued, or running but not yet
  split (or analyzed inline), if its RQ job is gone, ended, or started on a
  worker whose heartbeat stopped more than STALE_AFTER seconds ago;
- each of its chunks marked `queued` in Postgres, by the same test (a chunk
  lost that way as many times as a job may be started fails the job);
- and it tops up the job's chunk window and finalizes a job whose chunks
  are all stored, in case the worker that should have done so died first.

Running something twice is harmless (worker/pipeline.py stores every
result exactly once), so the reconciler errs on the side of enqueueing.
Every worker runs it between jobs every RECONCILE_INTERVAL seconds; a Redis
lock keeps it to one pass per interval across all of them.
`python manage.py reconcile` runs one pass by hand.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError, StopRequested
from rq.job import Job as RQJob
from rq.job import JobStatus

from web.models import Job, JobChunk
from worker.fanout import chunks_refill
from worker.messages import Message, gettext_noop
from worker.pipeline import job_fail, job_finalize
from worker.queues import chunk_enqueue_now, chunk_rq_id, get_queue, get_redis, job_enqueue_now
from worker.storedinput import inputs_free_ended

logger = logging.getLogger(__name__)

RECONCILE_LOCK = "sentimeter:reconcile:lock"
PURGE_LOCK = "sentimeter:purge:lock"
# The retention purge runs at most this often (seconds).
PURGE_INTERVAL = 3600
# Jobs deleted per transaction by the purge.
PURGE_BATCH = 100

_WAITING = (JobStatus.SCHEDULED, JobStatus.DEFERRED)


@dataclass(slots=True)
class ReconcileReport:
    """What one reconciler pass found and did."""

    checked: int = 0
    jobs_enqueued: list[str] = field(default_factory=list)
    chunks_enqueued: list[str] = field(default_factory=list)
    finalized: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    freed: int = 0  # ended jobs' inputs this pass dropped

    @property
    def changed(self) -> bool:
        return bool(self.jobs_enqueued or self.chunks_enqueued or self.finalized or self.failed)


def rq_alive(rq_id: str, *, now: datetime | None = None) -> bool:
    """Return whether Redis still has this RQ job waiting, or running on a live worker."""
    now = now or datetime.now(UTC)
    try:
        rq_job = RQJob.fetch(rq_id, connection=get_redis())
    except NoSuchJobError:
        return False
    status = rq_job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        # Queued, or taken off the queue by a worker that died before it started it (then it
        # sits in RQ's intermediate list until RQ's own, much slower, cleanup).
        return get_redis().lpos(get_queue(rq_job.origin).key, rq_id) is not None
    if status in _WAITING:
        return True
    if status != JobStatus.STARTED:
        # Finished, failed, stopped or canceled while Postgres still wants it run.
        return False
    beat = rq_job.last_heartbeat or rq_job.started_at
    if beat is None:
        return True
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    return (now - beat).total_seconds() < settings.SENTIMETER["STALE_AFTER"]


def reconcile(*, now: datetime | None = None) -> ReconcileReport:
    """Enqueue again every piece of unfinished work that Redis lost or a dead worker held."""
    conf = settings.SENTIMETER
    now = now or timezone.now()
    grace = timedelta(seconds=conf["ENQUEUE_GRACE"])
    report = ReconcileReport()
    max_attempts = max_starts()
    jobs = Job.objects.active().values_list("pk", "status", "queue", "chunks_total", "created_at", "attempts")
    for pk, status, queue_name, chunks_total, created_at, attempts in jobs.order_by("created_at"):
        report.checked += 1
        job_id = str(pk)
        try:
            # chunks_total is None until the input is counted; 0 means analyzed inline.
            needs_job_run = not chunks_total
            just_stored = status == Job.Status.QUEUED and now - created_at < grace
            if needs_job_run and not just_stored and not rq_alive(job_id, now=now):
                if attempts >= max_attempts:
                    # Its worker died every time it ran it (out of memory, say): stop trying.
                    job_fail(pk, code="worker_lost", message=_worker_lost_text(job_id, attempts))
                    report.failed.append(job_id)
                elif job_enqueue_now(job_id=job_id, queue_name=queue_name):
                    report.jobs_enqueued.append(job_id)
            if status == Job.Status.RUNNING:
                _chunks_reconcile(
                    pk, report, now=now, split_done=bool(chunks_total), max_attempts=max_attempts
                )
        except (RedisError, StopRequested):
            # Redis is down: nothing to do this pass. A stop signal: the worker is leaving.
            raise
        except Exception:
            # One job's trouble must not keep the others from being looked after.
            logger.exception("reconciler: could not check job %s", job_id)
    try:
        # Space a cancel or a failure could not free at once (a lock was held): free it now.
        report.freed = inputs_free_ended()
    except (RedisError, StopRequested):
        raise
    except Exception:
        logger.exception("reconciler: could not free the space of ended jobs")
    if report.freed:
        logger.info("reconciler: dropped the stored input of %d ended jobs", report.freed)
    if report.changed:
        logger.warning(
            "reconciler: %d active jobs; enqueued again %d jobs %s and %d chunks %s; finalized %s; failed %s",
            report.checked,
            len(report.jobs_enqueued),
            report.jobs_enqueued,
            len(report.chunks_enqueued),
            report.chunks_enqueued,
            report.finalized,
            report.failed,
        )
    return report


def max_starts() -> int:
    """How many times a job may be started, or one of its chunks lost, before the job fails.

    Twice the runs RQ's retries allow: a lost run is usually a dyno
    restarted or killed, not the work's fault.
    """
    return 2 * (settings.SENTIMETER["JOB_RETRIES"] + 1)


# What a failed job's message calls the work that never ended.
_THE_ANALYSIS = Message(gettext_noop("The analysis"))


def _worker_lost_text(job_id: str, attempts: int, *, part: Message = _THE_ANALYSIS) -> Message:
    return Message(
        gettext_noop(
            "%(part)s was started %(attempts)s times and its worker stopped each time before it "
            "ended (it may need more memory than a worker has). Please submit the job again, perhaps "
            "split into smaller files; if it keeps failing, report job id %(job_id)s."
        ),
        {"part": part, "attempts": attempts, "job_id": job_id},
    )


def _chunks_reconcile(
    job_id: uuid.UUID, report: ReconcileReport, *, now: datetime, split_done: bool, max_attempts: int
) -> None:
    queued = (
        JobChunk.objects.filter(job_id=job_id, status=JobChunk.Status.QUEUED)
        .order_by("seq")
        .values_list("pk", "seq")
    )
    for chunk_pk, seq in queued:
        rq_id = chunk_rq_id(str(job_id), seq)
        if rq_alive(rq_id, now=now):
            continue
        lost = _lost_run_counted(chunk_pk)
        if lost is None:
            continue
        if lost >= max_attempts:
            message = _worker_lost_text(str(job_id), lost, part=_chunk_part(chunk_pk))
            if job_fail(job_id, code="worker_lost", message=message):
                report.failed.append(str(job_id))
            return
        if chunk_enqueue_now(job_id=str(job_id), seq=seq):
            report.chunks_enqueued.append(rq_id)
    if split_done:
        with transaction.atomic():
            busy = not Job.objects.select_for_update(skip_locked=True).filter(pk=job_id).exists()
        if busy:
            # A chunk is being stored or the job finalized right now: not stuck, and not worth a wait.
            return
        # The chunk (or splitter) that should have done these may have died first; both are idempotent.
        chunks_refill(job_id)
        if job_finalize(job_id):
            report.finalized.append(str(job_id))


def _lost_run_counted(chunk_pk: int) -> int | None:
    """Count a lost run of a queued chunk; return how many it has had (this one included).

    Counted before the chunk is enqueued again, so a pass that dies in
    between loses no count. None if its row is locked (a worker is storing
    the chunk right now: not lost after all) or it is no longer queued.
    """
    with transaction.atomic():
        chunk = JobChunk.objects.select_for_update(skip_locked=True).filter(
            pk=chunk_pk, status=JobChunk.Status.QUEUED
        )
        requeues = chunk.values_list("requeues", flat=True).first()
        if requeues is None:
            return None
        chunk.update(requeues=requeues + 1)
    return requeues + 1


def _chunk_part(chunk_pk: int) -> Message:
    """Name a chunk for a person: the texts it holds, numbered from 1."""
    first, last = JobChunk.objects.values_list("idx_first", "idx_last").get(pk=chunk_pk)
    if first is None:
        return Message(gettext_noop("Part of the analysis"))
    return Message(
        gettext_noop("Part of the analysis (texts %(first)s to %(last)s)"),
        {"first": first + 1, "last": last + 1},
    )


def _lock(name: str, *, seconds: int, owner: str) -> bool:
    """Take a Redis lock that simply expires: one holder per period across all workers."""
    return bool(get_redis().set(name, owner, nx=True, ex=max(1, seconds)))


def reconcile_if_due(*, worker_name: str) -> ReconcileReport | None:
    """Run a reconciler pass unless another worker ran one within RECONCILE_INTERVAL."""
    interval = settings.SENTIMETER["RECONCILE_INTERVAL"]
    try:
        if not _lock(RECONCILE_LOCK, seconds=interval - 1, owner=worker_name):
            return None
        return reconcile()
    except RedisError as exc:
        logger.warning("reconciler: Redis is not answering (%s); trying again in %s s", exc, interval)
        return None


def jobs_purge(*, days: int, now: datetime | None = None, batch: int = PURGE_BATCH) -> int:
    """Delete jobs (with their input, chunks and results) that ended more than `days` days ago."""
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    ended = Job.objects.exclude(status__in=Job.ACTIVE_STATUSES).filter(finished_at__lt=cutoff)
    deleted = 0
    while True:
        with transaction.atomic():
            pks = list(ended.order_by("finished_at").values_list("pk", flat=True)[:batch])
            if not pks:
                break
            Job.objects.filter(pk__in=pks).delete()
        deleted += len(pks)
    if deleted:
        logger.info("retention: deleted %d jobs that ended before %s", deleted, cutoff.isoformat())
    return deleted


def jobs_purge_if_due(*, worker_name: str) -> int | None:
    """Run the retention purge at most once per PURGE_INTERVAL across all workers."""
    days = settings.SENTIMETER["RETENTION_DAYS"]
    if days <= 0:
        return None
    try:
        if not _lock(PURGE_LOCK, seconds=PURGE_INTERVAL, owner=worker_name):
            return None
    except RedisError:
        return None
    return jobs_purge(days=days)
