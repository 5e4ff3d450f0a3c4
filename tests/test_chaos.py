"""Chaos: real Procfile workers are killed, stopped the Heroku way, cut off from Redis and Postgres.

Every test starts workers with the Procfile command against the test
database and Redis, does something bad to them mid-job, and checks that
every job still ends `succeeded` with exactly one correct result per input
(or, for the cancel races, that exactly one of cancel and finish won). The
workers run with short reliability intervals (CHAOS_ENV) so recovery takes
seconds, not the production minute; one test checks recovery from kill -9
with the production defaults.

What survived, and how long recovery took, is printed at the end of the run
("chaos report", see conftest.py). Each started worker is one process unless
TEST_WORKER_CONCURRENCY says more (tests/procs.py): with 2, every worker here
is a dyno of two processes under its supervisor.
"""

from __future__ import annotations

import os
import random
import threading
import time

import psycopg
import pytest
from django.db import connection, transaction
from rq.job import Job as RQJob
from rq.job import JobStatus

from tests.builders import make_job
from tests.procs import (  # noqa: F401 - fixtures
    CHAOS_ENV,
    HEROKU_GRACE,
    START_TIMEOUT,
    WORKER_READY,
    database_url,
    descendants,
    heroku_stop,
    horses,
    kill_all,
    lock_waiters,
    procs_fixture,
    reap,
    update_waiters,
    update_waiting,
    wait_for,
    worker_proc_fixture,
    worker_processes,
)
from tests.workerjobs import (
    PHRASES,
    assert_exactly_once,
    chunk_take,
    chunk_update_waiting,
    chunks_ok,
    jobs_wait_final,
    plain_log,
    workers_start,
)
from web import services
from web.models import Job, JobChunk, Result
from worker import pipeline
from worker.queues import BULK, QUICK, chunk_rq_id, get_redis, job_enqueue_now

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SESSION = "chaos-session"
# The bound for picking up the work of a worker killed outright.
RECOVERY_LIMIT = 120.0
# Lines for the report printed at the end of the run (conftest.pytest_terminal_summary).
CHAOS_REPORT: list[str] = []
SEED = int(os.environ.get("CHAOS_SEED", "0")) or random.SystemRandom().randrange(1, 10**6)


def reviews(count: int, *, tag: str, words: int = 60) -> list[str]:
    """Review-length texts (~`words` words), distinct, with known VADER scores."""
    texts = []
    for i in range(count):
        parts, n = [], 0
        while n < words:
            phrase = PHRASES[(i + len(parts)) % len(PHRASES)]
            parts.append(phrase)
            n += len(phrase.split())
        texts.append(f"{' '.join(parts)} ({tag} {i})")
    return texts


def submit(texts: list[str]) -> Job:
    """Submit through the same service as the API (enqueued at once: tests run in autocommit)."""
    return services.job_create(session_key=SESSION, texts=texts)


def in_flight(job: Job) -> tuple[set[int], bool]:
    """The job's chunks queued or running now, and whether its split is still going on."""
    job.refresh_from_db()
    seqs = set(JobChunk.objects.filter(job=job, status=JobChunk.Status.QUEUED).values_list("seq", flat=True))
    return seqs, job.chunks_total is None


def recovered(job: Job, seqs: set[int], splitting: bool) -> bool:
    """Whether every chunk that was in flight is stored (and the split, if it was going on, ended)."""
    job.refresh_from_db()
    if job.status != Job.Status.RUNNING:
        return True
    if splitting and job.chunks_total is None:
        return False
    done = set(
        JobChunk.objects.filter(job=job, seq__in=seqs, status=JobChunk.Status.DONE).values_list(
            "seq", flat=True
        )
    )
    return done == seqs


def wait_recovered(job: Job, seqs: set[int], splitting: bool, *, since: float, log) -> float:
    """Wait until the work in flight at `since` is stored again; return the seconds it took."""
    wait_for(
        lambda: recovered(job, seqs, splitting),
        timeout=RECOVERY_LIMIT,
        interval=0.2,
        what=lambda: f"chunks {sorted(seqs)} (split going on: {splitting}) to be stored again; log:\n{log()}",
    )
    return time.monotonic() - since


def report(line: str) -> None:
    CHAOS_REPORT.append(line)


def lock_job_row(job: Job):
    """Hold the Job row's lock (a context): chunk commits, refills and finalize wait on it."""
    return _RowLock('SELECT 1 FROM "web_job" WHERE id = %s FOR UPDATE', [job.pk])


class _RowLock:
    def __init__(self, sql: str, params: list) -> None:
        self.sql, self.params = sql, params

    def __enter__(self):
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params)
        return self

    def __exit__(self, *exc):
        return self.atomic.__exit__(*exc)


def backends() -> set[int]:
    """Backend pids of every session of this database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return {pid for (pid,) in cursor.fetchall()}


def progress(job: Job, *, chunks_done: int) -> bool:
    job.refresh_from_db()
    return job.chunks_done >= chunks_done or job.is_final


# --- kill -9 ----------------------------------------------------------------------


class Recoveries:
    """Kills whose work in flight is not stored again yet, and how long each one took."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.pending: list[tuple[float, set[int], bool]] = []
        self.took: list[float] = []

    def killed(self) -> None:
        seqs, splitting = in_flight(self.job)
        self.pending.append((time.monotonic(), seqs, splitting))

    def poll(self) -> None:
        for entry in list(self.pending):
            since, seqs, splitting = entry
            if recovered(self.job, seqs, splitting):
                self.took.append(time.monotonic() - since)
                self.pending.remove(entry)
            else:
                late = f"chunks {sorted(seqs)} not recovered (seed {SEED})"
                assert time.monotonic() - since < RECOVERY_LIMIT, late

    def sleep(self, seconds: float) -> None:
        """Sleep, watching for recoveries meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.poll()
            time.sleep(0.1)

    def wait_all(self, log) -> None:
        wait_for(lambda: self.poll() or not self.pending, timeout=RECOVERY_LIMIT, what=log)


def test_workers_killed_at_random_points_lose_and_duplicate_nothing(procs):
    rnd = random.Random(SEED)
    texts = reviews(3000, tag="kill", words=150)
    env = {"LOG_LEVEL": "INFO", "CHUNK_SIZE": "50", **CHAOS_ENV}
    workers = workers_start(procs, 2, **env)
    job = submit(texts)
    recoveries = Recoveries(job)
    kills = 0

    # Two kills at random points of the job's progress (chunks stored: 0 may still be in the
    # split), all within its first two thirds, so the job cannot end before the chaos does on a
    # fast machine; the seed changes every run, so the points covered grow run by run (two, not
    # five: each kill costs the suite ~10 s of restart and recovery, and the suite must stay
    # under 10 minutes on 2 cores). A replacement starts at once
    # and is not waited for: a victim is always a worker that is listening, so it may be anywhere
    # in a chunk.
    for point in sorted(rnd.sample(range(40), 2)):
        wait_for(
            lambda point=point: recoveries.poll() or progress(job, chunks_done=point),
            timeout=RECOVERY_LIMIT,
            interval=0.05,
            what=lambda point=point: f"{point} chunks stored (seed {SEED}); log:\n{workers[0].log_tail()}",
        )
        assert not job.is_final, f"the job ended before the chaos was over (seed {SEED})"
        listening = wait_for(
            lambda: [proc for proc in workers if WORKER_READY in proc.log()],
            timeout=START_TIMEOUT,
            what="a replacement worker to listen",
        )
        victim = listening[rnd.randrange(len(listening))]
        workers.remove(victim)
        recoveries.killed()
        kill_all(victim)
        reap(victim)
        kills += 1
        workers.append(procs.start("worker", env=env))

    # Once more during the commit of a chunk: every worker at once, one inside the
    # transaction that stores a chunk (waiting on the Job row's lock, after its COPY).
    job.refresh_from_db()
    assert not job.is_final, f"the job ended before the chaos was over (seed {SEED})"
    with lock_job_row(job):
        wait_for(lambda: update_waiting("web_job"), what="a chunk to wait at its commit")
        recoveries.killed()
        for victim in workers:
            kill_all(victim)
            reap(victim)
            kills += 1
    workers = workers_start(procs, 2, **env)

    recoveries.wait_all(log=lambda: workers[0].log_tail())
    (job,) = jobs_wait_final([job.pk], worker=workers[0])
    assert_exactly_once(job, texts, chunks=60)
    took = recoveries.took
    report(
        f"kill -9 (seed {SEED}): {kills} worker kills survived, recovery max {max(took):.1f} s "
        f"(each: {', '.join(f'{r:.1f}' for r in took)} s); 3000 rows, 3000 results, none duplicated"
    )


def test_kill_9_is_recovered_within_two_minutes_with_production_settings(procs):
    texts = reviews(1500, tag="prod")
    job = split_here(texts, chunk_size=100)
    with lock_chunk_row(job, 0):
        # The worker takes chunk 0 and waits at its compare-and-set, inside its transaction.
        first = procs.start_worker()
        wait_for(chunk_update_waiting, what=lambda: f"a worker to hold chunk 0; log:\n{first.log_tail()}")
        # Killed outright: chunk 0's RQ job stays "started", its heartbeat stops.
        killed_at = time.monotonic()
        kill_all(first)
        reap(first)
    second = procs.start_worker()
    wait_for(
        lambda: JobChunk.objects.filter(job=job, seq=0, status=JobChunk.Status.DONE).exists(),
        timeout=RECOVERY_LIMIT,
        interval=0.2,
        what=lambda: f"chunk 0 to be run again; log:\n{second.log_tail()}",
    )
    took = time.monotonic() - killed_at

    (job,) = jobs_wait_final([job.pk], worker=second)
    assert_exactly_once(job, texts, chunks=15)
    assert took <= RECOVERY_LIMIT
    report(
        "kill -9 with production settings (HEARTBEAT 10 s, STALE_AFTER 45 s, RECONCILE 30 s): "
        f"recovered in {took:.1f} s"
    )


# --- Heroku shutdown ------------------------------------------------------------------


def test_sigterm_finishes_the_chunk_in_hand_and_the_job_resumes_where_it_stopped(procs):
    texts = reviews(1200, tag="term")
    job = split_here(texts, chunk_size=200)
    # Chunk 2's row is locked from another connection, so the worker is surely in the middle
    # of chunk 2 when SIGTERM comes; the lock goes 2 s later, well within SHUTDOWN_GRACE.
    locker = psycopg.connect(database_url(), autocommit=False)
    locker.execute('SELECT 1 FROM "web_jobchunk" WHERE job_id = %s AND seq = 2 FOR UPDATE', [job.pk])
    try:
        worker = procs.start_worker(CHAOS_ENV)
        wait_for(chunk_update_waiting, what=lambda: f"a worker in chunk 2; log:\n{worker.log_tail()}")
        threading.Timer(2.0, locker.rollback).start()
        took = heroku_stop(worker)
    finally:
        locker.close()
    job.refresh_from_db()
    assert took < HEROKU_GRACE, f"the worker needed SIGKILL:\n{worker.log_tail()}"
    assert "interrupted by shutdown" not in plain_log(worker)
    assert job.status == Job.Status.RUNNING
    stored = set(chunks_ok(worker, job))
    if worker_processes(worker) == 1:
        assert stored == {0, 1, 2}  # chunks 0 and 1, and the one in hand when SIGTERM came
    else:
        # The other process of the dyno went on meanwhile, and finished the chunk it had in hand.
        assert {0, 1, 2} <= stored
    assert job.chunks_done == len(stored)
    assert job.done == Result.objects.filter(job=job).count() == 200 * len(stored)

    second = procs.start_worker(CHAOS_ENV)
    (job,) = jobs_wait_final([job.pk], worker=second)
    assert_exactly_once(job, texts, chunks=6)
    # Resumed, not restarted: the new worker ran only the chunks not stored before the stop.
    # (A set: with two processes the reconciler may catch a chunk between one's dequeue and
    # its start and enqueue it again; the second run stores nothing, as checked above. For
    # the same reason, with two processes a chunk stored before the stop may run again: RQ
    # logs "Job OK" for that run too, though it stores nothing.)
    if worker_processes(worker) == 1:
        assert set(chunks_ok(second, job)) == set(range(6)) - stored
    else:
        assert set(chunks_ok(second, job)) >= set(range(6)) - stored
    report(
        f"SIGTERM (chunk in hand finished within the grace period): worker exited in {took:.1f} s; "
        f"resumed after {len(stored)}/6 chunks"
    )


def test_sigterm_interrupts_a_long_chunk_which_goes_back_on_the_queue_without_using_a_retry(procs):
    texts = reviews(600, tag="interrupt")
    job = split_here(texts, chunk_size=200)
    chunk_take(job, 0)
    with lock_chunk_row(job, 1):
        # Chunk 1 takes longer than SHUTDOWN_GRACE: it waits at the chunk's commit.
        worker = procs.start_worker({"SHUTDOWN_GRACE": "1", **CHAOS_ENV})
        wait_for(chunk_update_waiting, what=lambda: f"a worker to hold chunk 1; log:\n{worker.log_tail()}")
        took = heroku_stop(worker)
    assert took < HEROKU_GRACE, f"the worker needed SIGKILL:\n{worker.log_tail()}"
    log = plain_log(worker)
    assert "interrupted by shutdown; back on queue bulk" in log
    interrupted = RQJob.fetch(chunk_rq_id(str(job.pk), 1), connection=get_redis())
    assert interrupted.get_status() == JobStatus.QUEUED
    assert interrupted.retries_left == 3

    second = procs.start_worker(CHAOS_ENV)
    (job,) = jobs_wait_final([job.pk], worker=second)
    assert_exactly_once(job, texts, chunks=3)
    # Chunk 1 was interrupted; chunk 2 too was left to the next worker, unless the stopped
    # dyno's other process ran it meanwhile. (With two processes a chunk may also run twice:
    # the reconciler's requeue; the second run stores nothing, as checked above.)
    left = {1, 2} - set(chunks_ok(worker, job))
    if worker_processes(second) == 1:
        assert sorted(chunks_ok(second, job)) == sorted(left)
    else:
        assert set(chunks_ok(second, job)) == left
    report(
        f"SIGTERM (chunk interrupted after SHUTDOWN_GRACE=1 s): worker exited in {took:.1f} s; "
        "chunk requeued, retries intact"
    )


# --- Redis and Postgres trouble -------------------------------------------------------


def test_redis_losing_everything_mid_job_and_before_a_job_starts(procs):
    texts = reviews(3000, tag="flush")
    waiting_texts = reviews(50, tag="waiting")
    job = split_here(texts, chunk_size=100)  # 30 chunks
    # Chunk 5 waits at its commit, so the job is surely mid-way at the first flush.
    locker = row_locker(job, 5)
    workers = workers_start(procs, 2, **CHAOS_ENV)
    flushes = []
    try:
        wait_for(chunk_update_waiting, what=lambda: f"a commit to wait; log:\n{workers[0].log_tail()}")
        seqs, splitting = in_flight(job)
        flushed_at = time.monotonic()
        # FLUSHDB, not FLUSHALL: the suite's Redis database holds every key of the app under
        # test, and other databases of this server may belong to other runs.
        get_redis().flushdb()
    finally:
        locker.close()
    flushes.append(wait_recovered(job, seqs, splitting, since=flushed_at, log=workers[0].log_tail))
    # Once more, right away, if the job is still going.
    seqs, splitting = in_flight(job)
    if seqs:
        flushed_at = time.monotonic()
        get_redis().flushdb()
        flushes.append(wait_recovered(job, seqs, splitting, since=flushed_at, log=workers[0].log_tail))
    # A job stored while its enqueue is lost (as when Redis fails right after the commit).
    for proc in workers:
        proc.stop()
    waiting = submit(waiting_texts)
    get_redis().flushdb()
    worker = procs.start_worker(CHAOS_ENV)

    job, waiting = jobs_wait_final([job.pk, waiting.pk], worker=worker)
    assert_exactly_once(job, texts, chunks=30)
    assert waiting.status == Job.Status.SUCCEEDED
    assert waiting.done == Result.objects.filter(job=waiting).count() == 50
    assert "reconciler:" in plain_log(worker)
    report(
        f"Redis FLUSHDB: {len(flushes)} flushes mid-job survived (recovery max {max(flushes):.1f} s), "
        "and a lost enqueue"
    )


def terminate_backends(*, spare: list[int]) -> int:
    """pg_terminate_backend every session of the test database but ours and `spare` (the workers')."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND NOT pid = ANY(%s)",
            [spare],
        )
        return cursor.fetchone()[0]


def row_locker(job: Job, seq: int) -> psycopg.Connection:
    """Lock a chunk's row from a connection of its own (release: close it): its commit waits."""
    locker = psycopg.connect(database_url(), autocommit=False)
    locker.execute('SELECT 1 FROM "web_jobchunk" WHERE job_id = %s AND seq = %s FOR UPDATE', [job.pk, seq])
    return locker


def test_database_connections_terminated_mid_job(procs, sentimeter_settings):
    sentimeter_settings["RETRY_INTERVALS"] = [1]
    texts = reviews(1500, tag="pgkill")
    job = split_here(texts, chunk_size=50)  # 30 chunks
    # Three chunks wait at their commit in turn: a worker surely holds a transaction then.
    lockers = [row_locker(job, seq) for seq in (3, 12, 21)]
    spare = [locker.info.backend_pid for locker in lockers]
    workers = workers_start(procs, 2, **CHAOS_ENV)
    terminated = 0
    try:
        for locker in lockers:
            wait_for(chunk_update_waiting, what=lambda: f"a commit to wait; log:\n{workers[0].log_tail()}")
            terminated += terminate_backends(spare=spare)
            locker.close()
    finally:
        for locker in lockers:
            locker.close()

    (job,) = jobs_wait_final([job.pk], worker=workers[0])
    assert_exactly_once(job, texts, chunks=30)
    assert terminated >= 3
    assert all(proc.alive() for proc in workers)
    assert "OperationalError" in plain_log(workers[0]) + plain_log(workers[1])
    report(f"pg_terminate_backend: {terminated} worker connections terminated (3 rounds, mid-commit); exact")


def test_an_idle_worker_finds_a_job_that_was_never_enqueued(procs):
    worker = procs.start_worker(CHAOS_ENV)
    # Stored after the worker's first pass, and never put on a queue (an enqueue lost
    # after the commit): the idle worker wakes from its dequeue every interval to look.
    lost = make_job(texts=reviews(20, tag="idle"), session_key=SESSION)
    (lost,) = jobs_wait_final([lost.pk], worker=worker)
    assert lost.status == Job.Status.SUCCEEDED
    assert lost.done == Result.objects.filter(job=lost).count() == 20
    assert f"enqueued again 1 jobs ['{lost.pk}']" in plain_log(worker)


def test_the_reconciler_runs_while_every_worker_is_busy(procs):
    held = split_here(reviews(400, tag="busy"), chunk_size=200)
    lost = make_job(texts=reviews(20, tag="lost"), session_key=SESSION)  # stored, never enqueued
    locker = row_locker(held, 0)
    try:
        worker = procs.start_worker(CHAOS_ENV)
        wait_for(
            chunk_update_waiting,
            what=lambda: f"the only worker's chunk to be stuck; log:\n{worker.log_tail()}",
        )
        # The worker runs the reconciler at its heartbeats while its chunk waits.
        wait_for(
            lambda: RQJob.exists(str(lost.pk), connection=get_redis()),
            what=lambda: f"the lost job to be enqueued; log:\n{worker.log_tail()}",
        )
        assert chunk_update_waiting(), "the chunk should still be stuck"
    finally:
        locker.close()
    held, lost = jobs_wait_final([held.pk, lost.pk], worker=worker)
    assert held.status == lost.status == Job.Status.SUCCEEDED
    assert lost.done == Result.objects.filter(job=lost).count() == 20


# --- hangs and time limits ------------------------------------------------------------


def split_here(texts: list[str], *, chunk_size: int) -> Job:
    """Store a job and split it in this process (its chunks queued), before any worker runs."""
    job = make_job(texts=texts, queue=BULK, total=None, session_key=SESSION)
    pipeline.job_process(job.pk, chunk_size=chunk_size)
    return job


def lock_chunk_row(job: Job, seq: int):
    """Hold a chunk's row lock (a context): its compare-and-set waits on it."""
    return _RowLock('SELECT 1 FROM "web_jobchunk" WHERE job_id = %s AND seq = %s FOR UPDATE', [job.pk, seq])


def test_a_hanging_chunk_is_killed_by_its_time_limit_and_retried(procs, sentimeter_settings):
    sentimeter_settings.update(CHUNK_TIMEOUT=2, RETRY_INTERVALS=[1])
    texts = reviews(400, tag="hang")
    job = split_here(texts, chunk_size=100)
    with lock_chunk_row(job, 2):
        worker = procs.start_worker(CHAOS_ENV)
        # Chunk 2 hangs at its compare-and-set until its time limit; wait for one timeout.
        wait_for(
            lambda: "JobTimeoutException" in plain_log(worker),
            what=lambda: f"the time limit to kill the chunk; log:\n{worker.log_tail()}",
        )
    (job,) = jobs_wait_final([job.pk], worker=worker)
    assert_exactly_once(job, texts, chunks=4)
    assert "RQ will retry it" in plain_log(worker)


def test_a_chunk_that_always_hangs_fails_the_job_with_a_readable_message(procs, sentimeter_settings):
    sentimeter_settings.update(CHUNK_TIMEOUT=1, JOB_RETRIES=1, RETRY_INTERVALS=[1])
    texts = reviews(400, tag="hang-forever")
    job = split_here(texts, chunk_size=100)
    with lock_chunk_row(job, 3):
        worker = procs.start_worker(CHAOS_ENV)
        (job,) = jobs_wait_final([job.pk], worker=worker)
    assert job.status == Job.Status.FAILED
    assert job.error_code == "timeout"
    assert "took longer than 1 s" in job.error_message and str(job.pk) in job.error_message
    assert job.is_partial and job.done == Result.objects.filter(job=job).count() == 300


def test_a_chunk_that_kills_its_worker_every_time_fails_the_job_instead_of_looping(
    procs, sentimeter_settings
):
    # A job may be started, or one of its chunks lost, 2 x (JOB_RETRIES + 1) = 2 times.
    env = {**CHAOS_ENV, "JOB_RETRIES": "0"}
    sentimeter_settings["CHUNK_SECONDS"] = 10**9  # chunks of exactly 100 texts, long or not
    # Chunk 2 (texts 201 to 300) is the poison: long texts, seconds of analysis, and whichever
    # worker takes it is killed while it analyzes them (as if they ran it out of memory).
    texts = [*reviews(200, tag="before"), *reviews(100, tag="long", words=1400), *reviews(100, tag="after")]
    job = split_here(texts, chunk_size=100)
    kills = 0
    while True:
        worker = procs.start_worker(env)
        wait_for(
            lambda worker=worker: (
                "bulk: chunk 2 of" in plain_log(worker) or Job.objects.get(pk=job.pk).is_final
            ),
            interval=0.02,
            what=lambda worker=worker: (
                f"chunk 2 to be taken again, or the job to end; log:\n{worker.log_tail()}"
            ),
        )
        if Job.objects.get(pk=job.pk).is_final:
            break
        if worker_processes(worker) > 1:
            # The dyno's other process has chunk 3 in hand, or soon: let it store it, or the
            # kill loses it too and counts against it (a dyno killed for memory loses every
            # chunk in flight; this test is about the one that causes it).
            wait_for(
                lambda: (
                    not JobChunk.objects.filter(job=job)
                    .exclude(seq=2)
                    .exclude(status=JobChunk.Status.DONE)
                    .exists()
                ),
                what=lambda worker=worker: f"the chunks other than 2 to be stored; log:\n{worker.log_tail()}",
            )
        kill_all(worker)
        reap(worker)
        kills += 1
        assert kills <= 2, "chunk 2 was run again after it had been lost twice"
    (job,) = jobs_wait_final([job.pk], worker=worker)

    assert kills == 2
    assert (job.status, job.error_code) == (Job.Status.FAILED, "worker_lost"), job.error_message
    assert job.error_message.startswith("Part of the analysis (texts 201 to 300) was started 2 times")
    assert str(job.pk) in job.error_message
    assert JobChunk.objects.get(job=job, seq=2).status == JobChunk.Status.QUEUED
    # The other chunks were stored exactly once, and kept.
    assert job.is_partial and job.done == Result.objects.filter(job=job).count() == 300
    stored = sorted(Result.objects.filter(job=job).values_list("idx", flat=True))
    assert stored == [*range(200), *range(300, 400)]
    report(f"a chunk that killed its worker every time: the job failed after {kills} lost runs (worker_lost)")


# --- cancel races ---------------------------------------------------------------------


def test_cancel_while_queued_runs_nothing(procs):
    job = submit(reviews(300, tag="cancel-queued"))
    services.job_cancel(job=job)
    worker = procs.start_worker(CHAOS_ENV)
    time.sleep(3)  # three reconciler passes: none may bring the job back
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert job.started_at is None and job.done == 0
    assert not Result.objects.filter(job=job).exists()
    assert str(job.pk) not in plain_log(worker)
    assert RQJob.fetch(str(job.pk), connection=get_redis()).get_status() == JobStatus.CANCELED


def test_cancel_of_a_running_job_stops_its_work_at_once(procs):
    texts = reviews(600, tag="cancel-running")
    job = split_here(texts, chunk_size=200)
    # Every chunk's row is locked: each process of the worker takes one (0, then 1 if the
    # dyno has two) and waits there, inside its transaction (at the commit).
    locker = psycopg.connect(database_url(), autocommit=False)
    locker.execute('SELECT 1 FROM "web_jobchunk" WHERE job_id = %s FOR UPDATE', [job.pk])
    try:
        worker = procs.start_worker(CHAOS_ENV)
        held = worker_processes(worker)
        wait_for(
            lambda: len(update_waiters("web_jobchunk")) >= held,
            what=lambda: f"{held} worker process(es) in a chunk; log:\n{worker.log_tail()}",
        )
        in_chunk = update_waiters("web_jobchunk")
        canceled_at = time.monotonic()
        services.job_cancel(job=Job.objects.get(pk=job.pk))
        # RQ's stop command interrupts the chunks without waiting for their commit.
        in_hand = [RQJob.fetch(chunk_rq_id(str(job.pk), seq), connection=get_redis()) for seq in range(held)]
        wait_for(
            lambda: all(chunk.get_status(refresh=True) == JobStatus.STOPPED for chunk in in_hand),
            interval=0.02,
            what=lambda: f"the chunks in hand to stop; log:\n{worker.log_tail()}",
        )
        took = time.monotonic() - canceled_at
    finally:
        locker.close()
    # The interrupted chunk's connection was closed, not reused: once its statement got the
    # lock, its session found no client and ended.
    wait_for(lambda: not in_chunk & backends(), what=lambda: f"session {in_chunk} to end")
    time.sleep(2)  # two reconciler passes: none may bring the work back
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert job.done == Result.objects.filter(job=job).count() == 0
    for seq in range(held):
        assert RQJob.fetch(chunk_rq_id(str(job.pk), seq), connection=get_redis()).get_status() == (
            JobStatus.STOPPED
        )
    assert not horses(worker)
    assert f"{job.pk}_chunk{held}" not in plain_log(worker)
    # And the worker goes on, on new connections.
    after = submit(reviews(5, tag="after-cancel"))
    (after,) = jobs_wait_final([after.pk], worker=worker)
    assert after.status == Job.Status.SUCCEEDED
    report(f"cancel of a running job: work stopped {took:.2f} s after the cancel")


def test_a_job_interrupted_outside_a_transaction_leaves_the_next_job_a_working_connection(procs):
    # A quick job runs in the worker process. Its read of the stored input (a plain SELECT, in
    # no transaction) waits behind a table lock when the cancel's stop command interrupts it:
    # the query is still in flight on that connection, which must not serve the next job. Two
    # guards: the worker closes its connections after an interrupted job, and the health check
    # (config/postgres: Django's SELECT 1 for a connection that is not idle) drops it; this
    # fails only without both. No reconciler pass in between: it starts on new connections.
    worker = procs.start_worker({**CHAOS_ENV, "RECONCILE_INTERVAL": "120"})
    job = make_job(texts=reviews(3, tag="interrupted"), session_key=SESSION)
    locker = psycopg.connect(database_url(), autocommit=False)
    try:
        locker.execute('LOCK TABLE "web_jobinput" IN ACCESS EXCLUSIVE MODE')
        assert job_enqueue_now(job_id=str(job.pk), queue_name=QUICK)
        wait_for(
            lambda: select_waiting("web_jobinput"),
            what=lambda: f"the job's read to wait; log:\n{worker.log_tail()}",
        )
        services.job_cancel(job=Job.objects.get(pk=job.pk))
        wait_for(
            lambda: (
                RQJob.fetch(str(job.pk), connection=get_redis()).get_status(refresh=True) == JobStatus.STOPPED
            ),
            what=lambda: f"the job to stop; log:\n{worker.log_tail()}",
        )
    finally:
        locker.close()

    after = submit(reviews(4, tag="after-interrupt"))
    (after,) = jobs_wait_final([after.pk], worker=worker)

    assert (after.status, after.attempts) == (Job.Status.SUCCEEDED, 1), after.error_message
    assert "attempt failed" not in plain_log(worker)
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELED


def select_waiting(table: str) -> bool:
    """Whether another session waits on a lock to read `table`."""
    return bool(lock_waiters(f'SELECT %FROM "{table}"%'))


def test_cancel_and_the_final_chunk_exactly_one_wins(procs):
    texts = reviews(400, tag="cancel-final")
    job = split_here(texts, chunk_size=200)
    chunk_take(job, 0)
    outcome = {}
    with lock_job_row(job):
        worker = procs.start_worker(CHAOS_ENV)
        # The final chunk has stored its rows and waits to count them; a cancel arrives meanwhile.
        wait_for(
            lambda: update_waiting("web_job"), what=lambda: f"the final commit; log:\n{worker.log_tail()}"
        )

        def cancel():
            from django.db import connections

            try:
                outcome["job"] = services.job_cancel(job=Job.objects.get(pk=job.pk))
            except Exception as exc:  # noqa: BLE001 - the conflict is one of the outcomes
                outcome["error"] = exc
            finally:
                connections.close_all()

        canceller = threading.Thread(target=cancel)
        canceller.start()
        wait_for(lambda: update_waiting("web_job"), what="the cancel to wait as well")
    canceller.join(timeout=30)
    time.sleep(1)
    job.refresh_from_db()
    assert job.done == Result.objects.filter(job=job).count()
    if job.status == Job.Status.SUCCEEDED:
        assert "error" in outcome and job.summary["count"] == 400
    else:
        assert job.status == Job.Status.CANCELED and "job" in outcome
        # Not a finished job's summary: the one of the results the cancel kept (any stored before it).
        assert job.summary is None if job.done == 0 else job.summary["count"] == job.done
    report(f"cancel vs final chunk: {job.status} won, {job.done} results kept")
