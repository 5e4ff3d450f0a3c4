"""WORKER_CONCURRENCY: how many worker processes a dyno runs, and the supervisor that runs them.

The choice is a pure function, tested on a table of fake dynos and on fake
cgroup trees. The supervisor is tested with real Procfile workers of two
processes each, done to as Heroku (SIGTERM to every process) and a crash
(kill -9 of one worker, of the whole dyno) would do.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.builders import make_job
from tests.procs import (  # noqa: F401 - fixtures
    CHAOS_ENV,
    HEROKU_GRACE,
    START_TIMEOUT,
    WORKER_READY,
    Proc,
    database_url,
    kill_all,
    pid_alive,
    procs_fixture,
    reap,
    update_waiters,
    wait_for,
)
from web.models import Job, JobChunk, Result
from worker import pipeline
from worker.queues import BULK
from worker.supervisor import (
    BACKOFF_MAX,
    MEMORY_PER_RSS,
    ConcurrencyInvalid,
    Dyno,
    backoff_next,
    concurrency_choose,
    cpu_quota_read,
    memory_limit_read,
    rss_read,
)

MiB = 2**20
GiB = 2**30
# One worker process with both analyzers loaded: ~90 MB (README, "Analyzers": Memory).
RSS = 90 * MiB


# --- how many ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dyno", "configured", "count", "why"),
    [
        # WORKER_CONCURRENCY wins, whatever the dyno.
        (Dyno(cpus=8, cpu_quota=None, memory_limit=512 * MiB, rss=RSS), "3", 3, "WORKER_CONCURRENCY=3"),
        (Dyno(cpus=None, cpu_quota=None, memory_limit=None, rss=None), " 1 ", 1, "WORKER_CONCURRENCY=1"),
        # Blank is unset.
        (Dyno(cpus=2, cpu_quota=None, memory_limit=None, rss=RSS), "", 2, "2 CPUs (affinity"),
        (Dyno(cpus=2, cpu_quota=None, memory_limit=None, rss=RSS), None, 2, "no memory cap"),
        # Nothing known: one.
        (Dyno(cpus=None, cpu_quota=None, memory_limit=None, rss=None), None, 1, "CPUs unknown"),
        # The cgroup quota bounds the affinity (Docker --cpus=2 on an 8-core host); rounded up.
        (Dyno(cpus=8, cpu_quota=2.0, memory_limit=None, rss=RSS), None, 2, "2 CPUs (cgroup quota 2"),
        (Dyno(cpus=8, cpu_quota=1.5, memory_limit=None, rss=RSS), None, 2, "cgroup quota 1.5"),
        (Dyno(cpus=8, cpu_quota=0.25, memory_limit=None, rss=RSS), None, 1, "cgroup quota 0.25"),
        (Dyno(cpus=None, cpu_quota=3.0, memory_limit=None, rss=RSS), None, 3, "affinity None"),
        # A quota above the affinity does not add CPUs.
        (
            Dyno(cpus=2, cpu_quota=4.0, memory_limit=None, rss=RSS),
            None,
            2,
            "2 CPUs (affinity; cgroup quota 4",
        ),
        # Memory caps: 512 MiB / (1.5 x 90 MiB) = 3 on Standard-1X, 1024 / 135 = 7 on Standard-2X.
        (Dyno(cpus=8, cpu_quota=None, memory_limit=512 * MiB, rss=RSS), None, 3, "capped by memory"),
        (Dyno(cpus=8, cpu_quota=None, memory_limit=1 * GiB, rss=RSS), None, 7, "capped by memory"),
        # Performance-M (2 CPUs, 2.5 GB) and -L (8 CPUs, 14 GB): the CPUs.
        (Dyno(cpus=2, cpu_quota=None, memory_limit=2560 * MiB, rss=RSS), None, 2, "fits 18"),
        (Dyno(cpus=8, cpu_quota=None, memory_limit=14 * GiB, rss=RSS), None, 8, "fits 106"),
        # Less memory than one process needs: still one.
        (Dyno(cpus=4, cpu_quota=None, memory_limit=64 * MiB, rss=RSS), None, 1, "capped by memory"),
        # RSS unknown (no /proc): no memory cap.
        (Dyno(cpus=4, cpu_quota=None, memory_limit=512 * MiB, rss=None), None, 4, "RSS unknown"),
    ],
)
def test_concurrency_is_the_cpus_capped_by_memory_unless_set(dyno, configured, count, why):
    chosen = concurrency_choose(dyno, configured)
    assert chosen.count == count
    assert why in chosen.reason


def test_the_memory_cap_counts_each_process_at_its_rss_times_the_working_margin():
    rss = 100 * MiB
    just_three = int(3 * MEMORY_PER_RSS * rss)
    dyno = Dyno(cpus=8, cpu_quota=None, memory_limit=just_three, rss=rss)
    assert concurrency_choose(dyno, None).count == 3
    assert concurrency_choose(Dyno(8, None, just_three - 1, rss), None).count == 2


@pytest.mark.parametrize("configured", ["0", "-2", "two", "1.5"])
def test_a_bad_worker_concurrency_is_refused_with_what_to_set(configured):
    with pytest.raises(ConcurrencyInvalid, match="whole number of worker processes"):
        concurrency_choose(Dyno(cpus=2, cpu_quota=None, memory_limit=None, rss=None), configured)


def cgroup(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return tmp_path


@pytest.mark.parametrize(
    ("files", "quota", "memory"),
    [
        # cgroup v2 (Docker, Kubernetes, systemd today).
        ({"cpu.max": "200000 100000", "memory.max": str(1024 * MiB)}, 2.0, 1024 * MiB),
        ({"cpu.max": "150000 100000", "memory.max": "max"}, 1.5, None),
        ({"cpu.max": "max 100000", "memory.max": str(512 * MiB)}, None, 512 * MiB),
        # cgroup v1 (Heroku: the buildpack reads memory/memory.limit_in_bytes).
        (
            {
                "cpu/cpu.cfs_quota_us": "400000",
                "cpu/cpu.cfs_period_us": "100000",
                "memory/memory.limit_in_bytes": str(2560 * MiB),
            },
            4.0,
            2560 * MiB,
        ),
        (
            {
                "cpu,cpuacct/cpu.cfs_quota_us": "-1",
                "cpu,cpuacct/cpu.cfs_period_us": "100000",
                # No limit: the kernel's "unlimited".
                "memory/memory.limit_in_bytes": "9223372036854771712",
            },
            None,
            None,
        ),
        # No cgroup files at all (macOS, an unusual container).
        ({}, None, None),
        ({"cpu.max": "garbage", "memory.max": "lots"}, None, None),
    ],
)
def test_cgroup_quota_and_memory_limit_are_read_from_v2_or_v1(tmp_path, files, quota, memory):
    root = cgroup(tmp_path, files)
    assert cpu_quota_read(root) == quota
    assert memory_limit_read(root) == memory


def test_rss_is_read_from_proc_status(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t  200000 kB\nVmRSS:\t   92160 kB\nThreads:\t3\n")
    assert rss_read(status) == 90 * MiB
    assert rss_read(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("previous", "lived", "wait"),
    [
        (0.0, 3600.0, 0.0),  # a worker that ran for an hour restarts at once
        (0.0, 0.5, 1.0),  # one that died at once waits a second
        (1.0, 0.5, 2.0),  # and twice as long each time it dies at once again
        (16.0, 2.0, BACKOFF_MAX),
        (BACKOFF_MAX, 2.0, BACKOFF_MAX),  # up to a ceiling
        (BACKOFF_MAX, 61.0, 0.0),  # a minute of work resets it
    ],
)
def test_a_worker_that_keeps_dying_waits_longer_before_each_restart(previous, lived, wait):
    assert backoff_next(previous, lived) == wait


# --- the supervisor, with real processes ---------------------------------------------------

SESSION = "supervisor-session"
# Two worker processes per dyno, whatever this machine has.
TWO = {"WORKER_CONCURRENCY": "2", "CHUNK_SIZE": "100", **CHAOS_ENV}
WORKER_STARTED = re.compile(r"supervisor: worker (\d+) started \(pid (\d+)\)")


def reviews(count: int, tag: str) -> list[str]:
    words = ["great", "awful", "fine", "loved it", "broken", "okay", "superb", "terrible"]
    return [
        f"The product was {words[i % len(words)]}, {words[(i * 3) % len(words)]} ({tag} {i})"
        for i in range(count)
    ]


def dyno_start(procs, env: dict[str, str] | None = None):
    """Start a worker dyno of two processes; return it once both listen."""
    dyno = procs.start_worker({**TWO, **(env or {})})
    assert "worker concurrency 2: WORKER_CONCURRENCY=2 is set" in dyno.log()
    return dyno


def workers_of(dyno) -> dict[int, int]:
    """The supervisor's latest pid for each worker number."""
    return {int(n): int(pid) for n, pid in WORKER_STARTED.findall(dyno.log())}


def split_here(texts: list[str]) -> Job:
    """Store a job and split it in this process into chunks of 100 (queued), before any worker runs."""
    job = make_job(texts=texts, queue=BULK, total=None, session_key=SESSION)
    pipeline.job_process(job.pk, chunk_size=100)
    return job


def chunks_locker(job: Job) -> psycopg.Connection:
    """Lock chunks 0 and 1 from a connection of their own (release: roll back or close it).

    The two workers take them first, and each waits at its chunk's compare-and-set, inside
    its transaction: both surely have a chunk in hand.
    """
    locker = psycopg.connect(database_url(), autocommit=False)
    locker.execute('SELECT 1 FROM "web_jobchunk" WHERE job_id = %s AND seq IN (0, 1) FOR UPDATE', [job.pk])
    return locker


@contextlib.contextmanager
def two_chunks_in_hand(procs, tag: str) -> Iterator[tuple[list[str], Job, Proc, psycopg.Connection]]:
    """A job of 30 chunks and a dyno of two workers, each holding one of chunks 0 and 1 meanwhile.

    Yields the texts, the job, the dyno and the lock's connection (roll it back to let the
    chunks go on); the lock goes at the end in any case.
    """
    texts = reviews(3000, tag)
    job = split_here(texts)
    locker = chunks_locker(job)
    try:
        dyno = dyno_start(procs)
        wait_for(
            lambda: len(update_waiters("web_jobchunk")) >= 2,
            what=lambda: f"both workers to hold a chunk; log:\n{dyno.log_tail()}",
        )
        yield texts, job, dyno, locker
    finally:
        locker.close()


def job_wait_final(job: Job, *, dyno) -> Job:
    def final():
        job.refresh_from_db()
        return job.is_final

    wait_for(final, what=lambda: f"the job to end ({job.status}); log:\n{dyno.log_tail()}")
    return job


def assert_one_result_per_row(job: Job, count: int) -> None:
    assert job.status == Job.Status.SUCCEEDED, (job.error_code, job.error_message)
    assert job.done == job.total == count
    assert sorted(Result.objects.filter(job=job).values_list("idx", flat=True)) == list(range(count))
    assert job.chunks_done == job.chunks_total
    assert set(JobChunk.objects.filter(job=job).values_list("status", flat=True)) == {JobChunk.Status.DONE}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sigterm_to_every_process_of_a_dyno_of_two_finishes_both_chunks_and_exits_in_the_grace(procs):
    with two_chunks_in_hand(procs, "term") as (texts, job, dyno, locker):
        workers = workers_of(dyno)
        # Heroku's SIGTERM reaches every process; the chunks' commits go on 2 s later,
        # well within SHUTDOWN_GRACE.
        started = time.monotonic()
        pids = kill_all(dyno, signal.SIGTERM)
        time.sleep(2)
        locker.rollback()
        wait_for(
            lambda: not any(pid_alive(pid) for pid in pids),
            timeout=HEROKU_GRACE,
            what="every process to exit",
        )
        took = time.monotonic() - started
    reap(dyno)
    log = dyno.log()
    assert took < HEROKU_GRACE
    assert "supervisor: every worker has exited" in log
    # Neither was cut short: both stored the chunk they had in hand, and none was killed.
    assert "cold shut down" not in log and "interrupted by shutdown" not in log
    assert "killing it" not in log and "restarting" not in log
    assert Job.objects.get(pk=job.pk).chunks_done == 2
    assert all(not pid_alive(pid) for pid in workers.values())

    again = dyno_start(procs)
    assert_one_result_per_row(job_wait_final(job, dyno=again), len(texts))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_kill_9_of_one_worker_restarts_it_and_its_chunk_is_run_again(procs):
    with two_chunks_in_hand(procs, "one") as (texts, job, dyno, _):
        first = workers_of(dyno)
        victim = first[1]
        os.kill(victim, signal.SIGKILL)
    # Its place is taken by a new worker (the same number, another pid) that listens again.
    wait_for(
        lambda: workers_of(dyno).get(1) not in (None, victim) and dyno.log().count(WORKER_READY) >= 3,
        timeout=START_TIMEOUT,
        what=lambda: f"worker 1 to be restarted; log:\n{dyno.log_tail()}",
    )
    assert "supervisor: worker 1 was killed by signal 9" in dyno.log()
    assert pid_alive(first[2]), "the other worker went on"
    # The killed worker's chunk (its RQ job "started" without heartbeats) is run again.
    assert_one_result_per_row(job_wait_final(job, dyno=dyno), len(texts))
    assert dyno.alive()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_kill_9_of_a_whole_dyno_of_two_is_recovered_by_a_new_dyno(procs):
    with two_chunks_in_hand(procs, "tree") as (texts, job, dyno, _):
        pids = kill_all(dyno, signal.SIGKILL)
        reap(dyno)
        wait_for(lambda: not any(pid_alive(pid) for pid in pids), what="every process to be gone")
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING
    again = dyno_start(procs)
    assert_one_result_per_row(job_wait_final(job, dyno=again), len(texts))
