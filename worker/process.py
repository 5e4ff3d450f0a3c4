"""The worker process: RQ's Heroku-aware worker, made safe for Django and for restarts.

RQ forks a work horse per job (here only for the split of a big job, see
below). A database connection (and its SSL state) inherited across fork()
is shared by two processes and breaks both, so the parent closes every
Django connection right before each fork; the horse opens its own on first
use.

Heroku sends SIGTERM to every process of a dyno, then SIGKILL 30 s later.
The horse ignores SIGTERM (HerokuWorker); the parent gives it
SHUTDOWN_GRACE seconds to finish the job in hand, then interrupts it. An
interrupted job goes back to the front of its queue, without using up one
of its retries, and the next worker resumes it from its last committed
chunk (worker/pipeline.py). The parent exits once the horse is gone.

Short jobs run in the worker process itself, without a horse: quick jobs
(estimated at most QUICK_MAX_SECONDS of analysis, the `quick` queue) and the chunks of
big jobs (at most CHUNK_SIZE texts and CHUNK_SECONDS of analysis, about a
second of analysis). Forking a horse cost more than a quick job (~20 ms of
fork and page faults, a new Postgres connection) and ~5 % of a chunk's time
(its copy-on-write page faults slow the analysis itself): with a horse per
chunk, one worker ran a 100,000-review job at 0.82x the analyzer's raw
speed, in process at 0.89x (tests/benchmarks/bench_throughput.py).

The horse's guarantees stay: a time limit holds (RQ's SIGALRM death penalty
works in this process); a thread keeps up the heartbeats and the
reconciler's passes, as the parent does while a horse works; a SIGTERM
gives the job SHUTDOWN_GRACE seconds, as it would a horse, then interrupts
it and puts it back at the front of its queue; a stop command (a cancel)
interrupts the job where a horse would be killed. The connection these
jobs use stays open between them, is closed after an interrupted one, and
before anything forks. The split of a big job still gets a horse: it
streams a whole upload, for minutes and tens of MB, and its memory goes
back to the system with the horse.

Every RECONCILE_INTERVAL seconds, between jobs, while idle or while a job
works (at each heartbeat), the worker runs the reconciler and,
hourly, the retention purge (worker/reconcile.py), so recovery needs no
process besides the workers.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connections
from django_rq.workers import get_exception_handlers
from redis.exceptions import RedisError
from rq.exceptions import ShutDownImminentException, StopRequested
from rq.worker import HerokuWorker, WorkerStatus
from rq.worker.base import SHUTDOWN_SIGNAL

from worker.analyzers.registry import analyzer_names, get_analyzer
from worker.queues import CHUNK_FUNC, QUEUE_NAMES, QUICK, get_queue, get_redis
from worker.reconcile import jobs_purge_if_due, reconcile_if_due

logger = logging.getLogger(__name__)

# Jobs that run in the worker process, not in a forked work horse: every job of
# these queues, and every job of these functions (whatever their queue).
IN_PROCESS_QUEUES = (QUICK,)
IN_PROCESS_FUNCS = (CHUNK_FUNC,)


# Seconds a worker keeps its Postgres connection once its queues are empty: a text
# sent right after another (a person's next one, a script's loop) finds it open
# instead of paying for a new one (on Heroku, TLS and authentication over the
# network), and an idle worker still holds none for long (README "Connections").
CONNECTION_LINGER = 5

# Sent to the main thread to interrupt a job running in this process (see kill_horse).
STOP_SIGNAL = signal.SIGUSR1


class JobStopRequested(BaseException):
    """Raised in a job running in this process when a stop command arrives for it.

    A BaseException, as RQ's own ShutDownImminentException: the job's code
    (worker/tasks.py) must not catch it as one of its own failures.
    """


def runs_in_process(job, queue) -> bool:
    """Whether this RQ job runs in the worker process (True) or in a forked horse."""
    return queue.name in IN_PROCESS_QUEUES or job.func_name in IN_PROCESS_FUNCS


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
        # True while a job runs in this process (see execute_job); set if it was interrupted.
        self._performing_in_process = False
        self._interrupted = False
        # Set when a job ran in this process and left the queues empty (see dequeue_job_and_maintain_ttl).
        self._lingering = False

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
            self._scheduler_connection_drop()
        self._reconcile_if_due()

    def _start_scheduler(self, *args, **kwargs):
        super()._start_scheduler(*args, **kwargs)
        self._scheduler_connection_drop()

    def _scheduler_connection_drop(self) -> None:
        """Close the Redis connection RQ's scheduler object keeps in a worker that lost the lock.

        One worker of all runs the scheduler (RQ's lock); every other keeps the
        connection its lock attempt opened, idle until its next attempt at RQ's
        maintenance (every 10 min): one Redis connection per worker process for
        nothing, against a plan that allows 20 (README "Connections"). The next
        attempt opens it again.
        """
        scheduler = self.scheduler
        if scheduler is not None and not scheduler.acquired_locks and scheduler._connection is not None:
            scheduler._connection.connection_pool.disconnect()

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
        if not runs_in_process(job, queue):
            super().execute_job(job, queue)
            return
        # As RQ's SimpleWorker, in this process; connections as Django handles them per request.
        close_old_connections()
        try:
            execution = self.prepare_execution(job)
            stop = threading.Event()
            beat = threading.Thread(
                target=self._heartbeats_in_process,
                args=(job, execution, stop),
                name="heartbeats",
                daemon=True,
            )
            self._interrupted = False
            signal.signal(STOP_SIGNAL, self._stop_interrupt)
            self._performing_in_process = True
            beat.start()
            try:
                self.perform_job(job, queue, execution)
            except (JobStopRequested, ShutDownImminentException):
                pass  # arrived as perform_job returned: the job had ended anyway
            finally:
                # A late stop signal or shutdown timer must not go off in the work loop.
                self._performing_in_process = False
                signal.signal(STOP_SIGNAL, signal.SIG_IGN)
                signal.alarm(0)
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                stop.set()
                beat.join()
        finally:
            if self._interrupted:
                # Interrupted anywhere, perhaps mid-query: start the next job on new connections.
                connections.close_all()
            else:
                close_old_connections()
                # About to wait on empty queues: the connection is kept CONNECTION_LINGER s at most.
                self._lingering = self._queues_empty()
        self.set_state(WorkerStatus.IDLE)

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """Wait for the next job; after a job left the queues empty, close the connection if none comes soon.

        An idle worker holds no Postgres connection (it counts against the
        plan's limit), but not at once: a job that comes within
        CONNECTION_LINGER seconds uses the one still open.
        """
        if self._lingering:
            self._lingering = False
            if timeout is not None and max_idle_time is None:
                # RQ's loop ends a wait of max_idle_time seconds with no job, instead of waiting on.
                found = super().dequeue_job_and_maintain_ttl(CONNECTION_LINGER, CONNECTION_LINGER)
                if found is not None:
                    return found
            connections.close_all()
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def _queues_empty(self) -> bool:
        """Whether no job waits on this worker's queues (False if Redis cannot say)."""
        try:
            with self.connection.pipeline(transaction=False) as pipe:
                for queue in self.queues:
                    pipe.llen(queue.key)
                return not any(pipe.execute())
        except RedisError:
            return False

    def _heartbeats_in_process(self, job, execution, stop: threading.Event) -> None:
        """While a job runs in this process, what the parent does while a horse works.

        Every HEARTBEAT_INTERVAL: RQ's heartbeats (so the job is not taken for
        lost) and, when due, the reconciler (so lost work is found even when
        every worker is busy). RQ's heartbeat only updates registry entries that
        still exist, so one racing the job's end leaves nothing behind.
        """
        while not stop.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception:
                logger.exception("heartbeat failed; the next in %s s", self.job_monitoring_interval)
            finally:
                connections.close_all()  # this thread's own connections

    def handle_warm_shutdown_request(self):
        if self.horse_pid or not self._performing_in_process:
            super().handle_warm_shutdown_request()
            return
        # What a horse does on the SIGRTMIN HerokuWorker sends it: finish within the grace,
        # or be interrupted (ShutDownImminentException) and go back to the front of the queue.
        logger.info(
            "warm shut down requested: the job in hand has %s s to finish", self.imminent_shutdown_delay
        )
        # A timer, not a raise from here: RQ's request_stop must still mark the stop afterwards.
        signal.signal(signal.SIGALRM, self._shutdown_interrupt)
        signal.setitimer(signal.ITIMER_REAL, max(self.imminent_shutdown_delay, 0.001))

    def _shutdown_interrupt(self, signum, frame):
        self._interrupt(ShutDownImminentException(f"shut down imminent (signal {signum})", {}), "shutdown")

    def _interrupt(self, exc: BaseException, why: str) -> None:
        """Raise exc in the job running in this process (from a signal handler); none running: nothing."""
        if not self._performing_in_process:
            return
        self._interrupted = True
        logger.warning("%s: interrupting the job in hand", why)
        raise exc

    def kill_horse(self, sig=SHUTDOWN_SIGNAL):
        """Stop the job in hand: kill its horse, or interrupt it if it runs in this process.

        RQ calls this for a stop command (a cancel), from its pubsub thread, having
        marked the job as stopped: its failure then ends it STOPPED, not retried.
        """
        if self.horse_pid:
            super().kill_horse(sig)
        elif self._performing_in_process:
            # Signal handlers run in the main thread, where the job runs.
            signal.pthread_kill(threading.main_thread().ident, STOP_SIGNAL)
        else:
            logger.info("no work horse to stop, and no job in hand")

    def _stop_interrupt(self, signum, frame):
        self._interrupt(JobStopRequested("stopped by a stop command (the job was canceled)"), "stop command")

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


def worker_run(*, name: str | None = None, burst: bool = False, max_jobs: int | None = None) -> int:
    """Run one worker on the quick queue first, then bulk, until it is stopped; return its exit status."""
    queues = [get_queue(queue_name) for queue_name in QUEUE_NAMES]
    # On the process's one Redis client (what our own code uses too), not django_rq's
    # get_worker(), which gives the worker a client of its own: two connection pools,
    # each keeping its connections open, where one serves (README "Connections").
    worker = SentimeterWorker(
        queues,
        connection=get_redis(),
        name=name,
        exception_handlers=get_exception_handlers() or None,
        job_class=queues[0].job_class,
        queue_class=type(queues[0]),
    )
    # The scheduler runs delayed retries (RETRY_INTERVALS).
    # Connections the worker opened are closed before each fork (above).
    worker.work(burst=burst, with_scheduler=True, max_jobs=max_jobs, logging_level="INFO")
    return 0
