"""Fan-out in real worker processes: the Procfile's `worker:` command against real Postgres and Redis.

A big job is split into chunk jobs on the bulk queue that any worker takes.
These tests check that N workers share one job and store it exactly once,
that duplicate deliveries of a chunk store nothing twice, that two big jobs
take turns, and that a small job overtakes a big one. Nothing here asserts
on time: only on results, counts and the order in which things happened.

The split happens in the worker, so chunk settings go into the worker's
environment; they are also set in this process (`sentimeter_settings`)
where the test itself splits a job or routes one.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from tests.builders import make_job
from tests.procs import (  # noqa: F401 - fixtures
    WORKER_READY,
    descendants,
    procs_fixture,
    update_waiters,
    update_waiting,
    wait_for,
    worker_proc_fixture,
)
from tests.workerjobs import (
    assert_exactly_once,
    chunk_runs,
    chunk_update_waiting,
    chunks_ok,
    jobs_wait_final,
    plain_log,
    texts_sample,
    workers_start,
)
from web import services
from web.models import Job, JobChunk
from web.table import table_header, table_rows
from worker import pipeline
from worker.queues import BULK, QUICK, chunk_enqueue, chunk_rq_id, get_queue

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _big_jobs_go_to_bulk(sentimeter_settings):
    # These jobs of a few hundred VADER texts are a fraction of a second of analysis, a
    # quick job by its estimate; here they stand for big ones, which go to the bulk queue.
    sentimeter_settings["QUICK_MAX_SECONDS"] = 0.001


JOB_START = re.compile(r"Worker \S+: (quick|bulk): (?!Job OK).*\((\S+)\)$")


def log_count(worker, text: str) -> int:
    return plain_log(worker).count(text)


def job_starts(log: str) -> list[tuple[str, str]]:
    """(queue, RQ job id) of every job a worker started, in order."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", log)
    return [m.groups() for line in plain.splitlines() if (m := JOB_START.search(line.strip()))]


def queued(job: Job) -> list[int]:
    chunks = JobChunk.objects.filter(job=job, status=JobChunk.Status.QUEUED).order_by("seq")
    return list(chunks.values_list("seq", flat=True))


def chunk_update_sessions_terminate() -> int:
    """pg_terminate_backend the sessions waiting on a row lock to update a chunk; return how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM unnest(%s::int[]) AS pid",
            [sorted(update_waiters("web_jobchunk"))],
        )
        return cursor.fetchone()[0]


def test_two_workers_share_one_big_job_and_store_it_exactly_once(procs, sentimeter_settings):
    sentimeter_settings["CHUNK_SIZE"] = 200
    first, second = workers_start(procs, 2, CHUNK_SIZE="200")
    texts = texts_sample(3000, tag="fan-out")

    job = services.job_create(session_key="s-fanout", texts=texts)
    assert job.queue == BULK

    (job,) = jobs_wait_final([job.pk], worker=first)
    assert_exactly_once(job, texts, chunks=15)
    ran_first, ran_second = chunks_ok(first, job), chunks_ok(second, job)
    assert ran_first, f"the first worker ran no chunk:\n{first.log_tail()}"
    assert ran_second, f"the second worker ran no chunk:\n{second.log_tail()}"
    assert sorted(ran_first + ran_second) == list(range(15))


def test_chunks_delivered_many_times_are_stored_once(procs):
    texts = texts_sample(600, tag="dup")
    job = make_job(texts=texts, queue=BULK, total=None)
    # Split here, with no worker yet: 6 chunks, the first CHUNK_WINDOW of them queued.
    pipeline.job_process(job.pk, chunk_size=100)
    assert JobChunk.objects.filter(job=job).count() == 6
    # Every chunk delivered twice more (outside a transaction, chunk_enqueue enqueues at once).
    for _ in range(2):
        for seq in range(6):
            chunk_enqueue(job_id=str(job.pk), seq=seq)
    assert get_queue(BULK).count >= 12

    workers = workers_start(procs, 2)
    (job,) = jobs_wait_final([job.pk], worker=workers[0])
    wait_for(lambda: get_queue(BULK).count == 0, what="the duplicate deliveries to be taken")
    wait_for(lambda: get_queue(BULK).started_job_registry.count == 0, what="the last delivery to end")

    runs = [seq for w in workers for seq in chunks_ok(w, job)]
    assert len(runs) > 6, "the duplicate deliveries did not run"
    assert set(runs) == set(range(6))
    finished_at, summary = job.finished_at, job.summary
    assert_exactly_once(job, texts, chunks=6)

    # And once more after the job succeeded: a late retry of one chunk, twice.
    for _ in range(2):
        chunk_enqueue(job_id=str(job.pk), seq=3)
    rq_id = chunk_rq_id(str(job.pk), 3)
    wait_for(
        lambda: sum(log_count(w, f"Job OK ({rq_id})") for w in workers) >= runs.count(3) + 2,
        what="both late retries to run",
    )
    assert_exactly_once(job, texts, chunks=6)
    assert (job.finished_at, job.summary) == (finished_at, summary)


def test_two_big_jobs_take_turns_on_one_worker(worker_proc, sentimeter_settings):
    sentimeter_settings.update(CHUNK_SIZE=50, CHUNK_WINDOW=2)
    worker = worker_proc(CHUNK_SIZE="50", CHUNK_WINDOW="2")
    texts_a, texts_b = texts_sample(600, tag="A"), texts_sample(600, tag="B")

    a = services.job_create(session_key="s-fair", texts=texts_a)
    b = services.job_create(session_key="s-fair", texts=texts_b)
    assert (a.queue, b.queue) == (BULK, BULK)

    # Sampled while both run: (A's status, A's chunks done, B's texts done).
    samples: list[tuple[str, int, int]] = []

    def both_final() -> bool:
        jobs = Job.objects.in_bulk([a.pk, b.pk])
        samples.append((jobs[a.pk].status, jobs[a.pk].chunks_done, jobs[b.pk].done))
        return jobs[a.pk].is_final and jobs[b.pk].is_final

    wait_for(both_final, interval=0.05, what=lambda: f"A and B to finish; last {samples[-1]}")

    a.refresh_from_db()
    b.refresh_from_db()
    assert_exactly_once(a, texts_a, chunks=12)
    assert_exactly_once(b, texts_b, chunks=12)
    # B, submitted after A, made progress while A still had chunks to do.
    overlap = [s for s in samples if s[2] > 0 and s[0] == Job.Status.RUNNING]
    assert overlap, f"B only started after A finished; samples: {samples}"
    assert min(chunks for _, chunks, _ in overlap) < 12
    # The worker's own record agrees: a chunk of B ended before the last chunk of A.
    ran = [pk for pk, _ in chunk_runs(worker)]
    assert ran.index(str(b.pk)) < len(ran) - 1 - ran[::-1].index(str(a.pk)), ran


def test_a_single_text_overtakes_a_running_big_job(worker_proc, sentimeter_settings):
    sentimeter_settings.update(CHUNK_SIZE=30, CHUNK_WINDOW=4)
    worker = worker_proc(CHUNK_SIZE="30", CHUNK_WINDOW="4")
    big_texts = texts_sample(600, tag="big")  # 20 chunks, 4 at a time on the bulk queue
    big = services.job_create(session_key="s-big", texts=big_texts)
    assert big.queue == BULK
    wait_for(lambda: Job.objects.get(pk=big.pk).done > 0, interval=0.02, what="the big job's first chunk")
    log_before = len(worker.log())

    small = services.job_create(session_key="s-small", texts=["What a lovely day!"])
    assert small.queue == QUICK

    def small_final():
        job = Job.objects.get(pk=small.pk)
        return job.is_final and (job, Job.objects.get(pk=big.pk))

    small, big_then = wait_for(small_final, interval=0.02, what="the single text to finish")
    assert small.status == Job.Status.SUCCEEDED
    assert small.done == small.total == 1
    assert big_then.status == Job.Status.RUNNING
    assert big_then.chunks_done < 20

    (big,) = jobs_wait_final([big.pk], worker=worker)
    assert_exactly_once(big, big_texts, chunks=20)
    assert small.finished_at < big.finished_at
    # The worker took the quick job next: at most the bulk chunk it was
    # dequeuing when the job was submitted started before it, not the
    # window of big-job chunks that waited on the bulk queue.
    starts = job_starts(worker.log()[log_before:])
    position = starts.index((QUICK, str(small.pk)))
    assert [q for q, _ in starts[:position]].count(BULK) <= 1, starts[: position + 1]


def test_a_chunk_that_fails_in_the_middle_of_its_commit_is_retried_to_exactly_one_result_per_row(worker_proc):
    texts = texts_sample(600, tag="kill")
    job = make_job(texts=texts, queue=BULK, total=None)
    # Split here, with no worker yet: 3 chunks, all queued (with RQ retries attached).
    pipeline.job_process(job.pk, chunk_size=200)
    assert queued(job) == [0, 1, 2]

    with transaction.atomic():
        # Hold chunk 0's row: the worker analyzes it, then waits on the chunk's
        # compare-and-set, inside the transaction that would store it.
        JobChunk.objects.select_for_update().get(job=job, seq=0)
        worker = worker_proc()
        wait_for(chunk_update_waiting, what=lambda: f"a worker to wait on chunk 0; log:\n{worker.log_tail()}")
        # Its connection dies there (a dropped connection, a database failover).
        assert chunk_update_sessions_terminate() == 1
        wait_for(
            lambda: "RQ will retry it" in plain_log(worker),
            what=lambda: f"a retry; log:\n{worker.log_tail()}",
        )

    (job,) = jobs_wait_final([job.pk], worker=worker)
    assert_exactly_once(job, texts, chunks=3)
    log = plain_log(worker)
    assert f"job {job.pk}: attempt failed (OperationalError); RQ will retry it" in log
    assert sorted(chunks_ok(worker, job)) == [0, 1, 2]


def test_an_upload_split_across_two_workers_gives_back_every_row_and_cell(procs, sentimeter_settings):
    sentimeter_settings["CHUNK_SIZE"] = 7
    first, second = workers_start(procs, 2, CHUNK_SIZE="7")
    # 60 rows: an id, a product, stars, and a review that is blank on every 9th row
    # and spans two lines on every 5th, so chunk boundaries fall among them.
    table = [["id", "product", "stars", "review"]]
    for i, text in enumerate(texts_sample(60, tag="cells"), start=1):
        review = "" if i % 9 == 0 else (text.replace(" ", "\n", 1) if i % 5 == 0 else text)
        table.append([f"R-{i:03}", f"product {i % 4}", str(i % 5 + 1), review])
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(table)
    upload = SimpleUploadedFile("reviews.csv", out.getvalue().encode(), content_type="text/csv")

    job = services.job_create_from_upload(session_key="s-cells", upload=upload)
    (job,) = jobs_wait_final([job.pk], worker=first)

    assert job.status == Job.Status.SUCCEEDED, job.error_message
    assert job.chunks_total > 1 and job.skipped == 6
    rows = list(table_rows(job))
    assert table_header(job)[:4] == table[0]
    assert len(rows) == len(table) - 1
    for got, original in zip(rows, table[1:], strict=True):
        assert got[:4] == [cell or None for cell in original]
        assert (got[-1] is None) == bool(original[3]), got
