"""worker/reconcile.py in-process, on the real Postgres and Redis: the safety net and the retention purge.

No worker runs here. A lost or dead worker's RQ job is made with rq's own
API (enqueued for real, then taken off its queue and given the status and
heartbeat a worker would leave behind); work the reconciler puts back is
run as a worker would run it (`work_off`). The chaos tests do the same
with real worker processes.
"""

import io
import json
import statistics
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rq.job import Job as RQJob
from rq.job import JobStatus
from rq.timeouts import JobTimeoutException

from tests.builders import SAMPLE_TEXTS, browser, csrf_headers, make_job, make_results, owner_session, vader
from tests.procs import database_url
from web import services
from web.models import Job, JobChunk, JobInput, Result
from worker import pipeline, reconcile, tasks
from worker.queues import (
    BULK,
    QUEUE_NAMES,
    QUICK,
    chunk_enqueue_now,
    chunk_rq_id,
    get_queue,
    get_redis,
    job_enqueue_now,
)
from worker.results import results_store

# Commits matter: the pipeline's transactions and row locks, and on_commit enqueues, must really happen.
pytestmark = pytest.mark.django_db(transaction=True)

TEXTS = SAMPLE_TEXTS
STALE_AFTER = 45
ENQUEUE_GRACE = 10
JOB_RUN = "worker.tasks.job_run"
CHUNK_RUN = "worker.tasks.chunk_run"

# What Redis may hold for a piece of work Postgres still wants done.
# Lost: the reconciler must put it back on the queue...
LOST_STATES = ("missing", "failed", "finished", "stopped", "canceled", "started_stale", "dequeued")
# ...alive: waiting its turn, or running on a worker that still beats.
ALIVE_STATES = ("queued", "scheduled", "deferred", "started_fresh")
# A job the reconciler runs `job_run` for: queued, or running but not split (None) or inline (0).
UNSPLIT_SHAPES = (
    pytest.param(Job.Status.QUEUED, None, id="queued"),
    pytest.param(Job.Status.RUNNING, None, id="running-unsplit"),
    pytest.param(Job.Status.RUNNING, 0, id="running-inline"),
)


@pytest.fixture(autouse=True)
def reliability(sentimeter_settings):
    """Fixed timings, whatever the environment says, and three chunks of which two fit the window."""
    sentimeter_settings.update(
        STALE_AFTER=STALE_AFTER,
        ENQUEUE_GRACE=ENQUEUE_GRACE,
        RECONCILE_INTERVAL=30,
        RETENTION_DAYS=30,
        CHUNK_WINDOW=2,
        JOB_RETRIES=3,
    )
    return sentimeter_settings


# --- builders ---------------------------------------------------------------


def old_job(**overrides) -> Job:
    """A job stored a minute ago (well past ENQUEUE_GRACE) whose RQ job Redis does not hold."""
    job = make_job(texts=TEXTS, **overrides)
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=60))
    job.refresh_from_db()
    return job


def split_job(**overrides) -> Job:
    """A running job split by the real pipeline into chunks of 3: chunks 0 and 1 queued, chunk 2 pending."""
    job = make_job(texts=TEXTS, queue=BULK, **overrides)
    pipeline.job_process(job.pk, chunk_size=3)
    job.refresh_from_db()
    assert (job.status, job.chunks_total, job.total) == (Job.Status.RUNNING, 3, len(TEXTS))
    assert chunk_statuses(job) == ["queued", "queued", "pending"]
    assert bulk_ids() == chunk_ids(job, [0, 1])
    return job


def rq_leave(rq_id: str, queue_name: str, state: str, *, beat: datetime | None = None) -> None:
    """Leave Redis holding the (enqueued) RQ job `rq_id` the way a worker, or a loss, would.

    `beat` is the heartbeat of a started job (default: STALE_AFTER + 15 s ago
    for started_stale, 1 s ago for started_fresh).
    """
    if state == "queued":
        return
    rq_job = RQJob.fetch(rq_id, connection=get_redis())
    if state == "missing":
        rq_job.delete()
        return
    # Every other state has left the queue's list, as a dequeue does.
    get_queue(queue_name).remove(rq_id)
    if state == "dequeued":
        # Taken off the queue by a worker killed before it marked the job started.
        return
    if state.startswith("started"):
        if beat is None:
            ago = STALE_AFTER + 15 if state == "started_stale" else 1
            beat = datetime.now(UTC) - timedelta(seconds=ago)
        rq_job.started_at = beat
        rq_job.worker_name = "worker-that-took-it"
        rq_job.save()
        rq_job.set_status(JobStatus.STARTED)
        rq_job.heartbeat(beat, ttl=60)
    else:
        rq_job.set_status(JobStatus(state))


def job_rq_leave(job: Job, state: str, **kwargs) -> None:
    assert job_enqueue_now(job_id=str(job.pk), queue_name=job.queue)
    rq_leave(str(job.pk), job.queue, state, **kwargs)


def chunk_rq_leave(job: Job, seq: int, state: str) -> None:
    """Put chunk `seq` of a split job in `state` (its RQ job is already on the bulk queue)."""
    assert chunk_rq_id(str(job.pk), seq) in bulk_ids()
    rq_leave(chunk_rq_id(str(job.pk), seq), BULK, state)


# --- what Redis and Postgres hold --------------------------------------------


def bulk_ids() -> list[str]:
    return get_queue(BULK).job_ids


def queues() -> dict[str, list[str]]:
    return {name: get_queue(name).job_ids for name in QUEUE_NAMES}


def chunk_ids(job: Job, seqs) -> list[str]:
    return [chunk_rq_id(str(job.pk), seq) for seq in seqs]


def chunk_statuses(job: Job) -> list[str]:
    return list(JobChunk.objects.filter(job=job).order_by("seq").values_list("status", flat=True))


def rq_status(rq_id: str) -> str | None:
    rq_job = RQJob.fetch_many([rq_id], connection=get_redis())[0]
    return None if rq_job is None else rq_job.get_status()


def assert_waiting(rq_id: str, queue_name: str, func: str, args: tuple) -> None:
    """The RQ job is queued, exactly once and on `queue_name` only, to run func(*args)."""
    rq_job = RQJob.fetch(rq_id, connection=get_redis())
    assert rq_job.get_status() == JobStatus.QUEUED
    assert (rq_job.func_name, rq_job.args) == (func, args)
    for name, ids in queues().items():
        assert ids.count(rq_id) == (1 if name == queue_name else 0), (name, ids)


def queue_pop(name: str) -> str | None:
    """Take the first RQ job id off a queue (None if it is empty), as a worker's dequeue does."""
    rq_id = get_redis().lpop(get_queue(name).key)
    return rq_id.decode() if rq_id is not None else None


def work_off() -> list[str]:
    """Run every RQ job on the queues, quick first, as a worker does; return the ids run, in order."""
    ran = []
    while True:
        rq_id = next((i for name in QUEUE_NAMES if (i := queue_pop(name))), None)
        if rq_id is None:
            return ran
        rq_job = RQJob.fetch(rq_id, connection=get_redis())
        rq_job.set_status(JobStatus.STARTED)
        rq_job.func(*rq_job.args, **rq_job.kwargs)
        rq_job.set_status(JobStatus.FINISHED)
        ran.append(rq_id)


def assert_one_result_per_text(job: Job) -> None:
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    rows = list(Result.objects.filter(job=job).order_by("idx").values_list("idx", "text"))
    assert rows == list(enumerate(TEXTS))
    assert job.done == job.total == len(TEXTS)


# --- jobs not split yet: job_run ------------------------------------------


def test_a_queued_job_redis_lost_is_enqueued_once_older_than_the_grace():
    job = make_job(texts=TEXTS)
    job.refresh_from_db()
    grace = timedelta(seconds=ENQUEUE_GRACE)

    early = reconcile.reconcile(now=job.created_at + grace - timedelta(seconds=1))

    assert (early.checked, early.jobs_enqueued) == (1, [])
    assert queues() == {QUICK: [], BULK: []}

    late = reconcile.reconcile(now=job.created_at + grace + timedelta(seconds=1))

    assert late.jobs_enqueued == [str(job.pk)]
    assert_waiting(str(job.pk), QUICK, JOB_RUN, (str(job.pk),))
    assert Job.objects.get(pk=job.pk).status == Job.Status.QUEUED


@pytest.mark.parametrize("state", LOST_STATES)
@pytest.mark.parametrize(("status", "chunks_total"), UNSPLIT_SHAPES)
@pytest.mark.parametrize("queue_name", [QUICK, BULK])
def test_an_unsplit_job_whose_rq_job_is_lost_is_enqueued_again_on_its_queue(
    queue_name, status, chunks_total, state
):
    job = old_job(queue=queue_name, status=status, chunks_total=chunks_total)
    job_rq_leave(job, state)

    report = reconcile.reconcile()

    assert report.jobs_enqueued == [str(job.pk)]
    assert report.chunks_enqueued == report.finalized == []
    assert_waiting(str(job.pk), queue_name, JOB_RUN, (str(job.pk),))


@pytest.mark.parametrize("state", ALIVE_STATES)
@pytest.mark.parametrize(("status", "chunks_total"), UNSPLIT_SHAPES)
def test_an_unsplit_job_whose_rq_job_is_alive_is_left_alone(status, chunks_total, state):
    job = old_job(queue=BULK, status=status, chunks_total=chunks_total)
    job_rq_leave(job, state)
    before = queues()

    report = reconcile.reconcile()

    assert (report.checked, report.changed) == (1, False)
    assert queues() == before
    expected = "started" if state.startswith("started") else state
    assert rq_status(str(job.pk)) == expected


def test_a_started_job_is_stale_only_after_stale_after_seconds_without_a_heartbeat():
    job = old_job(status=Job.Status.RUNNING)
    beat = datetime.now(UTC) - timedelta(seconds=5)
    job_rq_leave(job, "started_stale", beat=beat)

    beating = reconcile.reconcile(now=beat + timedelta(seconds=STALE_AFTER - 1))

    assert beating.jobs_enqueued == []
    assert rq_status(str(job.pk)) == JobStatus.STARTED

    silent = reconcile.reconcile(now=beat + timedelta(seconds=STALE_AFTER + 1))

    assert silent.jobs_enqueued == [str(job.pk)]
    assert_waiting(str(job.pk), QUICK, JOB_RUN, (str(job.pk),))


def test_a_split_job_is_not_run_again_as_a_whole():
    job = split_job()
    # The job's own RQ job finished when the split did; Redis then lost everything.
    get_redis().flushdb()

    report = reconcile.reconcile()

    assert report.jobs_enqueued == []
    assert report.chunks_enqueued == chunk_ids(job, [0, 1])
    assert RQJob.fetch_many([str(job.pk)], connection=get_redis()) == [None]


# --- chunks of a split job ---------------------------------------------------


@pytest.mark.parametrize("state", LOST_STATES)
def test_a_queued_chunk_whose_rq_job_is_lost_is_enqueued_again_with_its_stable_id(state):
    job = split_job()
    chunk_rq_leave(job, 0, state)

    report = reconcile.reconcile()

    lost = chunk_rq_id(str(job.pk), 0)
    assert lost == f"{job.pk}_chunk0"
    assert report.chunks_enqueued == [lost]
    assert report.jobs_enqueued == report.finalized == []
    assert_waiting(lost, BULK, CHUNK_RUN, (str(job.pk), 0))
    # Chunk 1 was alive and stays queued once; chunk 2 still waits for a window slot.
    assert bulk_ids().count(chunk_rq_id(str(job.pk), 1)) == 1
    assert chunk_statuses(job) == ["queued", "queued", "pending"]


@pytest.mark.parametrize("state", ALIVE_STATES)
def test_a_queued_chunk_whose_rq_job_is_alive_is_left_alone(state):
    job = split_job()
    chunk_rq_leave(job, 0, state)
    before = queues()

    report = reconcile.reconcile()

    assert (report.checked, report.changed) == (1, False)
    assert queues() == before
    assert chunk_statuses(job) == ["queued", "queued", "pending"]


def test_every_queued_chunk_is_enqueued_again_after_a_flush():
    job = split_job()
    get_redis().flushdb()

    report = reconcile.reconcile()

    assert report.chunks_enqueued == chunk_ids(job, [0, 1])
    assert bulk_ids() == chunk_ids(job, [0, 1])
    for seq in (0, 1):
        assert_waiting(chunk_rq_id(str(job.pk), seq), BULK, CHUNK_RUN, (str(job.pk), seq))


def test_pending_chunks_with_nothing_queued_are_queued(monkeypatch):
    job = split_job()
    # The worker that ran chunks 0 and 1 died after committing each, before topping up the window.
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "chunks_refill", lambda job_id: True)
        assert work_off() == chunk_ids(job, [0, 1])
    assert chunk_statuses(job) == ["done", "done", "pending"]
    assert queues() == {QUICK: [], BULK: []}

    reconcile.reconcile()

    assert chunk_statuses(job) == ["done", "done", "queued"]
    assert_waiting(chunk_rq_id(str(job.pk), 2), BULK, CHUNK_RUN, (str(job.pk), 2))
    work_off()
    assert_one_result_per_text(job)


def test_a_split_job_whose_chunks_are_all_stored_is_finalized_with_its_summary(monkeypatch):
    job = split_job()
    # The worker that stored the last chunk died before finalizing the job.
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "job_finalize", lambda job_id: False)
        work_off()
    job.refresh_from_db()
    assert (job.status, job.chunks_done, job.done) == (Job.Status.RUNNING, 3, len(TEXTS))

    report = reconcile.reconcile()

    assert report.finalized == [str(job.pk)]
    assert report.jobs_enqueued == report.chunks_enqueued == []
    assert_one_result_per_text(job)
    assert job.finished_at is not None
    scores = vader(TEXTS)
    labels = [s.label for s in scores]
    summary = job.summary
    assert summary["count"] == len(TEXTS)
    assert (summary["positive"], summary["neutral"], summary["negative"]) == (
        labels.count("positive"),
        labels.count("neutral"),
        labels.count("negative"),
    )
    assert summary["mean_compound"] == round(statistics.fmean(s.compound for s in scores), 4)
    assert sum(b["count"] for b in summary["histogram"]) == len(TEXTS)


@pytest.mark.parametrize("status", [Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELED])
def test_jobs_that_ended_are_ignored(status):
    unsplit = old_job(status=status, finished_at=timezone.now())
    split = split_job()
    Job.objects.filter(pk=split.pk).update(status=status, finished_at=timezone.now())
    get_redis().flushdb()

    report = reconcile.reconcile()

    assert (report.checked, report.changed) == (0, False)
    assert queues() == {QUICK: [], BULK: []}
    assert RQJob.fetch_many([str(unsplit.pk)], connection=get_redis()) == [None]
    assert chunk_statuses(split) == ["queued", "queued", "pending"]
    assert Job.objects.get(pk=split.pk).status == status


# --- twice, and end to end ------------------------------------------------------


def test_a_second_pass_enqueues_nothing():
    lost = old_job()
    split = split_job()
    get_redis().flushdb()
    first = reconcile.reconcile()
    assert (first.jobs_enqueued, first.chunks_enqueued) == ([str(lost.pk)], chunk_ids(split, [0, 1]))
    after_first = queues()

    second = reconcile.reconcile()

    assert (second.checked, second.changed) == (2, False)
    assert queues() == after_first


def test_an_inline_job_redis_lost_ends_succeeded_once_reconciled():
    job = old_job()

    reconcile.reconcile()

    assert work_off() == [str(job.pk)]
    assert_one_result_per_text(job)
    assert reconcile.reconcile().checked == 0


def test_a_fanned_out_job_survives_a_redis_flush_and_a_duplicate_chunk(reliability):
    reliability["CHUNK_SIZE"] = 3
    job = old_job(queue=BULK)
    reconcile.reconcile()
    # A worker splits the job, runs chunk 0 (which queues chunk 2), then Redis is lost.
    rq_id = queue_pop(BULK)
    assert rq_id == str(job.pk)
    tasks.job_run(rq_id)
    get_queue(BULK).remove(chunk_rq_id(str(job.pk), 0))
    tasks.chunk_run(str(job.pk), 0)
    assert chunk_statuses(job) == ["done", "queued", "queued"]
    get_redis().flushdb()

    report = reconcile.reconcile()

    assert report.chunks_enqueued == chunk_ids(job, [1, 2])
    # The worker Redis took for dead was alive after all, and finishes chunk 1 too.
    tasks.chunk_run(str(job.pk), 1)
    assert work_off() == chunk_ids(job, [1, 2])
    assert_one_result_per_text(job)


# --- one pass per interval; Redis down; one bad job -------------------------------


def test_reconcile_if_due_runs_one_pass_per_interval_across_workers(reliability):
    reliability["RECONCILE_INTERVAL"] = 30
    first = reconcile.reconcile_if_due(worker_name="worker-1")
    assert first is not None
    assert 0 < get_redis().ttl(reconcile.RECONCILE_LOCK) <= 29
    job = old_job()

    assert reconcile.reconcile_if_due(worker_name="worker-2") is None
    assert reconcile.reconcile_if_due(worker_name="worker-1") is None
    assert queues() == {QUICK: [], BULK: []}

    # Once the lock expires, the next worker's pass enqueues the lost job.
    get_redis().delete(reconcile.RECONCILE_LOCK)
    report = reconcile.reconcile_if_due(worker_name="worker-2")

    assert report is not None
    assert report.jobs_enqueued == [str(job.pk)]


def test_the_reconcile_lock_lasts_a_second_less_than_the_interval(reliability):
    reliability["RECONCILE_INTERVAL"] = 2
    assert reconcile.reconcile_if_due(worker_name="worker-1") is not None
    assert reconcile.reconcile_if_due(worker_name="worker-2") is None
    assert 0 < get_redis().pttl(reconcile.RECONCILE_LOCK) <= 1000


@pytest.mark.usefixtures("redis_down")
def test_with_redis_down_reconcile_if_due_returns_none_and_the_job_waits():
    job = old_job()

    assert reconcile.reconcile_if_due(worker_name="worker-1") is None

    assert Job.objects.get(pk=job.pk).status == Job.Status.QUEUED


@pytest.mark.usefixtures("redis_down")
def test_with_redis_down_the_reconcile_command_says_so():
    old_job()

    with pytest.raises(CommandError, match="Redis is not answering"):
        call_command("reconcile", stdout=io.StringIO())


def test_a_job_whose_check_raises_does_not_stop_the_others(caplog):
    # Its counters say every chunk is stored but not every result: job_finalize refuses it.
    broken = old_job(status=Job.Status.RUNNING, chunks_total=2, chunks_done=2)
    Job.objects.filter(pk=broken.pk).update(created_at=broken.created_at - timedelta(minutes=5))
    lost = old_job()
    with pytest.raises(RuntimeError):
        pipeline.job_finalize(broken.pk)

    report = reconcile.reconcile()

    assert report.checked == 2
    assert report.jobs_enqueued == [str(lost.pk)]
    assert_waiting(str(lost.pk), QUICK, JOB_RUN, (str(lost.pk),))
    assert f"could not check job {broken.pk}" in caplog.text
    assert Job.objects.get(pk=broken.pk).status == Job.Status.RUNNING


# --- retention ---------------------------------------------------------------------


def ended_job(*, days_ago: float, status=Job.Status.SUCCEEDED, now: datetime | None = None) -> Job:
    """A job that ended `days_ago` days before `now`, with results and a chunk row."""
    ended = (now or timezone.now()) - timedelta(days=days_ago)
    job = make_job(texts=TEXTS[:2], status=status, chunks_total=1, chunks_done=1)
    make_results(job, TEXTS[:2])
    JobChunk.objects.create(job=job, seq=0, status=JobChunk.Status.DONE, size=2)
    Job.objects.filter(pk=job.pk).update(created_at=ended - timedelta(minutes=1), finished_at=ended)
    return job


def rows_of(job: Job) -> tuple[int, int, int, int]:
    return (
        Job.objects.filter(pk=job.pk).count(),
        JobInput.objects.filter(job_id=job.pk).count(),
        JobChunk.objects.filter(job_id=job.pk).count(),
        Result.objects.filter(job_id=job.pk).count(),
    )


GONE = (0, 0, 0, 0)
KEPT = (1, 1, 1, 2)


def test_jobs_purge_deletes_old_ended_jobs_with_their_rows_and_keeps_the_rest():
    now = timezone.now()
    old = [ended_job(days_ago=7.01, status=s, now=now) for s in Job.FINAL_STATUSES]
    recent = ended_job(days_ago=6.99, now=now)
    # Active jobs stay however old, even with a stray finished_at.
    active = []
    for status in Job.ACTIVE_STATUSES:
        job = ended_job(days_ago=400, now=now)
        Job.objects.filter(pk=job.pk).update(status=status)
        active.append(job)
    ancient_queued = make_job(texts=TEXTS[:2])
    Job.objects.filter(pk=ancient_queued.pk).update(created_at=now - timedelta(days=400))

    deleted = reconcile.jobs_purge(days=7, now=now)

    assert deleted == len(old)
    for job in old:
        assert rows_of(job) == GONE
    for job in (recent, *active):
        assert rows_of(job) == KEPT
    assert Job.objects.filter(pk=ancient_queued.pk).exists()


def test_jobs_purge_with_zero_days_deletes_nothing():
    job = ended_job(days_ago=400)

    assert reconcile.jobs_purge(days=0) == 0

    assert rows_of(job) == KEPT


def test_jobs_purge_deletes_in_batches_until_none_is_left():
    jobs = [ended_job(days_ago=40 + i) for i in range(5)]

    assert reconcile.jobs_purge(days=30, batch=2) == 5

    assert [rows_of(job) for job in jobs] == [GONE] * 5


def test_jobs_purge_if_due_runs_once_per_hour_across_workers():
    first = ended_job(days_ago=40)

    assert reconcile.jobs_purge_if_due(worker_name="worker-1") == 1
    assert rows_of(first) == GONE
    assert reconcile.PURGE_INTERVAL - 5 < get_redis().ttl(reconcile.PURGE_LOCK) <= reconcile.PURGE_INTERVAL

    second = ended_job(days_ago=40)
    assert reconcile.jobs_purge_if_due(worker_name="worker-2") is None
    assert rows_of(second) == KEPT

    get_redis().delete(reconcile.PURGE_LOCK)
    assert reconcile.jobs_purge_if_due(worker_name="worker-2") == 1
    assert rows_of(second) == GONE


def test_jobs_purge_if_due_does_nothing_when_retention_is_off(reliability):
    reliability["RETENTION_DAYS"] = 0
    job = ended_job(days_ago=400)

    assert reconcile.jobs_purge_if_due(worker_name="worker-1") is None

    assert rows_of(job) == KEPT
    assert not get_redis().exists(reconcile.PURGE_LOCK)


@pytest.mark.usefixtures("redis_down")
def test_jobs_purge_if_due_skips_its_turn_with_redis_down():
    job = ended_job(days_ago=400)

    assert reconcile.jobs_purge_if_due(worker_name="worker-1") is None

    assert rows_of(job) == KEPT


# --- commands ------------------------------------------------------------------------


def test_reconcile_command_reports_what_it_did():
    lost = old_job()
    split = split_job()
    get_redis().flushdb()
    out = io.StringIO()

    call_command("reconcile", stdout=out)

    assert out.getvalue().splitlines() == [
        "2 active jobs checked; enqueued again: 1 jobs, 2 chunks; finalized: 0 jobs; "
        "failed (worker lost every time): 0 jobs.",
        f"  job {lost.pk}: enqueued again",
        f"  {split.pk}_chunk0: enqueued again",
        f"  {split.pk}_chunk1: enqueued again",
    ]
    assert_waiting(str(lost.pk), QUICK, JOB_RUN, (str(lost.pk),))


def test_reconcile_command_reports_a_finalized_job(monkeypatch):
    job = split_job()
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "job_finalize", lambda job_id: False)
        work_off()
    out = io.StringIO()

    call_command("reconcile", stdout=out)

    assert out.getvalue().splitlines() == [
        "1 active jobs checked; enqueued again: 0 jobs, 0 chunks; finalized: 1 jobs; "
        "failed (worker lost every time): 0 jobs.",
        f"  job {job.pk}: finalized",
    ]
    assert_one_result_per_text(job)


def test_purgejobs_command_deletes_jobs_older_than_days():
    old = ended_job(days_ago=8)
    recent = ended_job(days_ago=6)
    out = io.StringIO()

    call_command("purgejobs", days=7, stdout=out)

    assert out.getvalue().strip() == "Deleted 1 jobs that ended more than 7 days ago."
    assert (rows_of(old), rows_of(recent)) == (GONE, KEPT)


def test_purgejobs_command_defaults_to_retention_days(reliability):
    reliability["RETENTION_DAYS"] = 5
    old = ended_job(days_ago=6)
    out = io.StringIO()

    call_command("purgejobs", stdout=out)

    assert out.getvalue().strip() == "Deleted 1 jobs that ended more than 5 days ago."
    assert rows_of(old) == GONE


def test_purgejobs_command_without_days_and_retention_off_is_an_error(reliability):
    reliability["RETENTION_DAYS"] = 0
    job = ended_job(days_ago=400)

    with pytest.raises(CommandError, match="RETENTION_DAYS=0"):
        call_command("purgejobs", stdout=io.StringIO())

    assert rows_of(job) == KEPT


def test_purgejobs_command_refuses_zero_days():
    job = ended_job(days_ago=400)

    with pytest.raises(CommandError, match="--days must be at least 1"):
        call_command("purgejobs", days=0, stdout=io.StringIO())

    assert rows_of(job) == KEPT


def test_a_job_whose_worker_is_lost_every_time_fails_instead_of_running_for_ever(reliability):
    reliability["JOB_RETRIES"] = 1
    again = old_job(status=Job.Status.RUNNING, attempts=3)
    poison = old_job(status=Job.Status.RUNNING, attempts=4)

    report = reconcile.reconcile()

    assert report.jobs_enqueued == [str(again.pk)]
    assert report.failed == [str(poison.pk)]
    poison.refresh_from_db()
    assert poison.status == Job.Status.FAILED
    assert poison.error_code == "worker_lost"
    assert "started 4 times" in poison.error_message and str(poison.pk) in poison.error_message


def test_a_chunk_whose_worker_is_lost_every_time_fails_the_job_and_keeps_what_is_stored(reliability):
    reliability["JOB_RETRIES"] = 1  # a job may be started, or a chunk lost, 2 x (1 + 1) = 4 times
    job = split_job()
    get_queue(BULK).remove(chunk_rq_id(str(job.pk), 1))
    pipeline.chunk_process(job.pk, 1)  # stored: texts 4 to 6
    lost = chunk_rq_id(str(job.pk), 0)

    # Its worker dies every time it runs chunk 0 (started, then no heartbeat): 3 runs lost, requeued.
    for requeues in (1, 2, 3):
        rq_leave(lost, BULK, "started_stale")
        report = reconcile.reconcile()
        assert report.chunks_enqueued == [lost] and report.failed == []
        assert JobChunk.objects.get(job=job, seq=0).requeues == requeues
    # Alive again in between: not counted.
    rq_leave(lost, BULK, "started_fresh")
    assert not reconcile.reconcile().changed
    # The fourth lost run fails the job.
    rq_leave(lost, BULK, "started_stale")
    report = reconcile.reconcile()

    assert report.failed == [str(job.pk)] and report.chunks_enqueued == []
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.FAILED, "worker_lost")
    assert job.error_message.startswith("Part of the analysis (texts 1 to 3) was started 4 times")
    assert str(job.pk) in job.error_message
    assert job.is_partial and job.done == Result.objects.filter(job=job).count() == 3
    # Nothing else of it runs: what is still queued ends without storing anything.
    work_off()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.done == 3


def test_a_lost_looking_chunk_whose_row_is_locked_is_left_to_the_worker_storing_it():
    job = split_job()
    chunk_rq_leave(job, 0, "started_stale")

    # A worker in the middle of storing chunk 0 holds its row (its heartbeat merely late).
    with psycopg.connect(database_url()) as storing:
        storing.execute("SELECT 1 FROM web_jobchunk WHERE job_id = %s AND seq = 0 FOR UPDATE", [job.pk])
        report = reconcile.reconcile()

    assert report.chunks_enqueued == []
    assert JobChunk.objects.get(job=job, seq=0).requeues == 0
    # Once the row is free, the chunk is lost indeed: requeued and counted.
    assert reconcile.reconcile().chunks_enqueued == [chunk_rq_id(str(job.pk), 0)]
    assert JobChunk.objects.get(job=job, seq=0).requeues == 1


def test_a_chunk_redis_lost_is_requeued_and_counted(reliability):
    job = split_job()
    get_redis().flushdb()

    reconcile.reconcile()

    requeues = JobChunk.objects.filter(job=job).order_by("seq").values_list("requeues", flat=True)
    assert list(requeues) == [1, 1, 0]


# --- failure messages, and partial results -------------------------------------------


def test_failure_text_of_a_timeout_names_the_limit(reliability):
    reliability["CHUNK_TIMEOUT"] = 77
    job = make_job(texts=TEXTS)
    assert chunk_enqueue_now(job_id=str(job.pk), seq=4)
    rq_job = RQJob.fetch(chunk_rq_id(str(job.pk), 4), connection=get_redis())

    code, said = tasks._failure_text(JobTimeoutException("too slow"), rq_job, str(job.pk))
    message = said.english()

    assert code == "timeout"
    assert "longer than 77 s" in message
    assert "4 attempts" in message
    assert str(job.pk) in message


def test_failure_text_of_another_error_names_its_type():
    code, said = tasks._failure_text(ConnectionResetError("gone"), None, "job-1")
    message = said.english()

    assert code == "internal_error"
    assert "ConnectionResetError" in message
    assert "1 attempts" in message
    assert "job-1" in message


def test_a_job_that_times_out_on_its_last_attempt_fails_with_a_timeout_message(monkeypatch):
    job = make_job(texts=TEXTS)

    def too_slow(job_id, **kwargs):
        raise JobTimeoutException("Task exceeded maximum timeout value (900 seconds)")

    monkeypatch.setattr(tasks, "job_process", too_slow)

    with pytest.raises(JobTimeoutException):
        tasks.job_run(str(job.pk))

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.FAILED, "timeout")
    assert "its time limit" in job.error_message


def test_the_job_json_marks_results_of_a_canceled_job_as_partial():
    api = browser()
    session_key = owner_session(api)
    # Running, with 3 of 7 results stored when it is canceled.
    cut_short = make_job(session_key=session_key, texts=TEXTS, status=Job.Status.RUNNING, chunks_total=0)
    results_store(job_id=cut_short.pk, idxs=[0, 1, 2], texts=TEXTS[:3], scores=vader(TEXTS[:3]))
    assert api.get(f"/api/jobs/{cut_short.pk}/").json()["partial"] is False
    canceled_early = make_job(session_key=session_key, texts=TEXTS)
    finished = make_job(session_key=session_key, texts=TEXTS)
    pipeline.job_process(finished.pk)
    # Failed after storing some results: partial too (web/models.py Job.is_partial).
    failed_midway = make_job(session_key=session_key, texts=TEXTS, status=Job.Status.RUNNING, chunks_total=0)
    results_store(job_id=failed_midway.pk, idxs=[0], texts=TEXTS[:1], scores=vader(TEXTS[:1]))
    pipeline.job_fail(failed_midway.pk, code="internal_error", message="The analysis stopped.")

    for job in (cut_short, canceled_early):
        response = api.post(f"/api/jobs/{job.pk}/cancel/", headers=csrf_headers(api))
        assert response.status_code == 202

    def body(job: Job) -> dict:
        response = api.get(f"/api/jobs/{job.pk}/")
        assert response.status_code == 200
        return json.loads(response.content)

    assert body(cut_short)["status"] == "canceled"
    assert body(cut_short)["partial"] is True
    assert body(cut_short)["progress"]["done"] == 3
    assert body(canceled_early)["partial"] is False
    assert body(finished)["status"] == "succeeded"
    assert body(finished)["partial"] is False
    assert body(failed_midway)["partial"] is True


def test_a_cancel_that_meets_a_lock_returns_and_the_reconciler_frees_the_space_later():
    job = split_job()
    with psycopg.connect(database_url(), autocommit=False) as locker:
        locker.execute('LOCK TABLE "web_jobinput" IN ACCESS EXCLUSIVE MODE')

        services.job_cancel(job=Job.objects.get(pk=job.pk))

        # The cancel did not wait for the locks: it left the bytes where they were.
        assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELED
    assert bytes(JobInput.objects.get(job=job).data)

    report = reconcile.reconcile()

    assert report.freed == 1
    assert bytes(JobInput.objects.get(job=job).data) == b""
    assert reconcile.reconcile().freed == 0
