"""The worker process: RQ's Heroku-aware worker, made safe for Django and for restarts.

RQ forks a work horse per job. A database connection (and its SSL state)
inherited across fork() is shared by two processes and breaks both, so the
parent closes every Django connection right before each fork; the horse
opens its own on first use.

Heroku sends SIGTERM to every process of a dyno, then SIGKILL 30 s later.
The horse ignores SIGTERM (HerokuWorker); the parent gives it
SHUTDOWN_GRACE seconds to finish the chunk in hand, then interrupts it. An
interrupted job goes back to the front of its queue, without using up one
of its retries, and the next worker resumes it from its last committed
chunk (worker/pipeline.py). The parent exits once the horse is gone.

Quick jobs (at most QUICK_MAX_TEXTS pasted texts, the `quick` queue) run
in the worker process itself, without a horse: forking one cost more than
the job (~20 ms of fork and page faults, a new Postgres connection), and a
worker answering single texts spent most of its CPU on that. They take
milliseconds, so the horse's guarantees matter little for them: a time
limit still holds (RQ's SIGALRM death penalty works in this process), a
SIGTERM lets the job end and then stops the worker, and a cancel is seen at
the job's compare-and-set instead of by killing a horse. The connection they
use stays open between them and is closed before anything forks.

Every RECONCILE_INTERVAL seconds, between jobs, while idle or while its
horse works (at each heartbeat), the parent runs the reconciler and,
hourly, the retention purge (worker/reconcile.py), so recovery needs no
process besides the workers.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import close_old_connections, connections
from rq.exceptions import ShutDownImminentException, StopRequested
from rq.worker import HerokuWorker, WorkerStatus
from rq.worker.base import SHUTDOWN_SIGNAL

from worker.analyzers import analyzer_names, get_analyzer
from worker.queues import QUICK
from worker.reconcile import jobs_purge_if_due, reconcile_if_due

logger = logging.getLogger(__name__)

# Queues whose jobs run in the worker process, not in a forked work horse.
IN_PROCESS_QUEUES = (QUICK,)


class SentimeterWorker(HerokuWorker):
    """HerokuWorker that closes Django's DB connections before every fork and reconciles."""

    def __init__(self, *args, **kwargs) -> None:
        conf = settings.SENTIMETER
        self.reconcile_interval = conf["RECONCILE_INTERVAL"]
        kwargs.setdefault("job_monitoring_interval", conf["HEARTBEAT_INTERVAL"])
        # An idle worker wakes from its blocking dequeue every worker_ttl - 15 s.
        kwargs.setdefault("worker_ttl", self.reconcile_interval + 15)
        super().__init__(*args, **kwargs)
        self.imminent_shutdown_delay = conf["SHUTDOWN_GRACE"]
        self._reconciled_at: float | None = None

    @property
    def should_run_maintenance_tasks(self) -> bool:
        return super().should_run_maintenance_tasks or self._reconcile_due()

    def _reconcile_due(self) -> bool:
        return (
            self._reconciled_at is None or time.monotonic() - self._reconciled_at >= self.reconcile_interval
        )

    def run_maintenance_tasks(self):
        # RQ's own (registry cleaning, scheduler restart) on its own cadence; ours more often.
        if super().should_run_maintenance_tasks:
            # RQ may fork a new scheduler process here: no connection of a quick job crosses it.
            connections.close_all()
            super().run_maintenance_tasks()
        self._reconcile_if_due()

    def maintain_heartbeats(self, job, execution):
        # Also while a horse works (every HEARTBEAT_INTERVAL): if every worker is busy with
        # long or stuck jobs, lost work must still be found.
        super().maintain_heartbeats(job, execution)
        self._reconcile_if_due()

    def _reconcile_if_due(self) -> None:
        if not self._reconcile_due():
            return
        self._reconciled_at = time.monotonic()
        try:
            reconcile_if_due(worker_name=self.name)
            jobs_purge_if_due(worker_name=self.name)
        except StopRequested:
            # SIGTERM arrived meanwhile: RQ's way of ending the work loop.
            raise
        except Exception:
            # Never let the safety net take the worker down: try again next time.
            logger.exception("reconciler pass failed; it runs again in %s s", self.reconcile_interval)
        finally:
            # The parent holds no connection across the next fork (nor while it waits).
            connections.close_all()

    def execute_job(self, job, queue):
        if queue.name not in IN_PROCESS_QUEUES:
            super().execute_job(job, queue)
            return
        # As RQ's SimpleWorker, in this process; connections as Django handles them per request.
        close_old_connections()
        try:
            execution = self.prepare_execution(job)
            self.perform_job(job, queue, execution)
        finally:
            close_old_connections()
        self.set_state(WorkerStatus.IDLE)

    def kill_horse(self, sig=SHUTDOWN_SIGNAL):
        # A job running in this process has no horse: RQ would signal our own process group.
        if self.horse_pid:
            super().kill_horse(sig)
        else:
            logger.info("no work horse to stop: a job in this process ends at its next commit")

    def fork_work_horse(self, job, queue):
        connections.close_all()
        super().fork_work_horse(job, queue)

    def _finalize_failure(self, job, queue, execution, exc_info):
        """Put a job interrupted by shutdown back at the front of its queue; fail anything else."""
        if exc_info[0] is None or not issubclass(exc_info[0], ShutDownImminentException):
            return super()._finalize_failure(job, queue, execution, exc_info)
        logger.warning(
            "%s: interrupted by shutdown; back on queue %s to be resumed", job.description, queue.name
        )
        with self.connection.pipeline() as pipeline:
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            queue._enqueue_job(job, pipeline=pipeline, at_front=True)
            pipeline.execute()
        return None


def analyzers_preload() -> None:
    """Load every analyzer in the parent, so each forked horse starts warm."""
    for name in analyzer_names():
        get_analyzer(name)
