"""The worker as a process: the Procfile's `worker:` command against real Postgres and Redis.

Tests are transactional so the rows they create are committed and visible
to the worker process (and its forked work horses).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection, connections
from rq import Worker
from rq.command import send_stop_job_command
from rq.job import Job as RQJob
from rq.job import JobStatus

from tests.builders import make_job
from tests.procs import (  # noqa: F401 - fixtures
    HEROKU_GRACE,
    VENV_BIN,
    database_url,
    descendants,
    heroku_stop,
    horses,
    postgres_ports_held,
    process_env,
    procfile_command,
    procs_fixture,
    run,
    update_waiting,
    wait_for,
    worker_proc_fixture,
)
from tests.workerjobs import (
    assert_results_are_vader,
    jobs_wait_final,
    label_of,
    texts_sample,
    vader_expected,
)
from web import services
from web.models import Job, JobInput, Result
from worker import tasks
from worker.analyzers.vader import SPEC as VADER_SPEC
from worker.process import CONNECTION_LINGER, SentimeterWorker
from worker.queues import BULK, QUICK, get_queue, get_redis, job_enqueue

pytestmark = [pytest.mark.django_db(transaction=True)]

# Strings that mean the parent's database connection broke in a work horse.
BROKEN_CONNECTION_SIGNS = ("InterfaceError", "SSL", "OperationalError", "Traceback")


@pytest.mark.slow
def test_worker_runs_quick_and_bulk_jobs_to_vader_results(worker_proc, sentimeter_settings):
    worker = worker_proc(CHUNK_SIZE="100")
    quick_texts = texts_sample(7, tag="quick")
    bulk_texts = texts_sample(450, tag="bulk")  # 5 chunks of 100
    # A few milliseconds of VADER: bulk only because the quick queue takes less here.
    sentimeter_settings["QUICK_MAX_SECONDS"] = VADER_SPEC.cost.seconds_total(quick_texts) * 2

    quick = services.job_create(session_key="s-quick", texts=quick_texts)
    bulk = services.job_create(session_key="s-bulk", texts=bulk_texts)
    assert (quick.queue, bulk.queue) == (QUICK, BULK)

    jobs = jobs_wait_final([quick.pk, bulk.pk], worker=worker)
    for job, texts in zip(jobs, [quick_texts, bulk_texts], strict=True):
        assert job.status == Job.Status.SUCCEEDED, (job.error_code, job.error_message)
        assert job.done == job.total == len(texts)
        assert job.started_at is not None and job.finished_at is not None
        assert job.error_message == ""
        assert_results_are_vader(job, texts)

        expected = vader_expected(texts)
        labels = [label_of(s["compound"]) for s in expected]
        summary = job.summary
        assert summary["count"] == len(texts)
        assert {k: summary[k] for k in ("positive", "neutral", "negative")} == {
            label: labels.count(label) for label in ("positive", "neutral", "negative")
        }
        mean = sum(s["compound"] for s in expected) / len(expected)
        assert summary["mean_compound"] == pytest.approx(mean, abs=1e-4)
        assert sum(b["count"] for b in summary["histogram"]) == len(texts)


@pytest.mark.slow
def test_worker_finds_the_row_of_every_job_submitted_in_a_burst(worker_proc, sentimeter_settings):
    sentimeter_settings["MAX_ACTIVE_JOBS_PER_SESSION"] = 0  # one session's burst, past the cap on purpose
    worker = worker_proc()
    batches = [texts_sample(1 + i % 3, tag=f"burst {i}") for i in range(20)]

    job_ids = [services.job_create(session_key="s-burst", texts=texts).pk for texts in batches]

    jobs = jobs_wait_final(job_ids, worker=worker)
    failures = {str(j.pk): (j.error_code, j.error_message) for j in jobs if j.status != Job.Status.SUCCEEDED}
    assert failures == {}
    for job, texts in zip(jobs, batches, strict=True):
        assert Result.objects.filter(job=job).count() == job.done == len(texts)
    log = worker.log()
    assert "DoesNotExist" not in log
    assert "missing" not in log.lower()


@pytest.mark.slow
def test_fifty_jobs_in_a_row_through_one_worker_never_break_its_connection(worker_proc, sentimeter_settings):
    sentimeter_settings["MAX_ACTIVE_JOBS_PER_SESSION"] = (
        0  # fifty jobs of one session, past the cap on purpose
    )
    worker = worker_proc()
    batches = [texts_sample(2, tag=f"row {i}") for i in range(50)]

    job_ids = [services.job_create(session_key="s-fifty", texts=texts).pk for texts in batches]

    jobs = jobs_wait_final(job_ids, worker=worker)
    assert [j.status for j in jobs] == [Job.Status.SUCCEEDED] * 50, [j.error_message for j in jobs]
    assert Result.objects.filter(job_id__in=job_ids).count() == 100
    log = worker.log()
    assert [sign for sign in BROKEN_CONNECTION_SIGNS if sign in log] == [], worker.log_tail()


@pytest.mark.slow
def test_texts_sent_one_after_another_share_the_workers_database_connection(worker_proc):
    worker = worker_proc()

    def held() -> set[int]:
        return postgres_ports_held({worker.pid, *descendants(worker.pid)})

    def idle_after(job_id) -> bool:
        # The worker is idle again once it has done everything that follows the job.
        (rq_worker,) = Worker.all(connection=get_redis())
        finished = RQJob.fetch(str(job_id), connection=get_redis()).get_status() == JobStatus.FINISHED
        return finished and rq_worker.get_state() == "idle"

    ports = []
    for i in range(3):
        job = make_job(texts=[f"One text after another, number {i}."], queue=QUICK)
        job_enqueue(job_id=str(job.pk), queue_name=QUICK)  # outside a transaction: at once
        (done,) = jobs_wait_final([job.pk], worker=worker)
        assert done.status == Job.Status.SUCCEEDED, done.error_message
        wait_for(lambda job_id=job.pk: idle_after(job_id), what=worker.log_tail)
        ports.append(held())
    # Each job found the connection of the one before it still open: one connection, the same port.
    assert len(ports[0]) == 1
    assert ports[1] == ports[2] == ports[0]
    # Idle, the worker gives it back after a while.
    wait_for(lambda: not held(), timeout=CONNECTION_LINGER + 30, what=lambda: f"{held()}")


def test_fork_work_horse_closes_every_database_connection_before_forking(monkeypatch):
    connections["default"].ensure_connection()
    assert connections["default"].connection is not None
    open_at_fork = []

    def fork_recording_open_connections() -> int:
        open_at_fork.extend(c.alias for c in connections.all(initialized_only=True) if c.connection)
        return 2**22 + 1  # The parent's side of a fork; no child exists.

    # fork_work_horse writes these into os.environ; monkeypatch restores them.
    monkeypatch.setenv("RQ_WORKER_ID", "")
    monkeypatch.setenv("RQ_JOB_ID", "")
    monkeypatch.setattr(os, "fork", fork_recording_open_connections)
    worker = SentimeterWorker([get_queue(QUICK)], connection=get_redis())
    monkeypatch.setattr(worker, "procline", lambda message: None)  # keep pytest's process title
    rq_job = RQJob.create(print, connection=get_redis(), id="fork-check")

    worker.fork_work_horse(rq_job, get_queue(QUICK))

    assert worker.horse_pid == 2**22 + 1  # the patched fork really ran
    assert open_at_fork == []


@pytest.mark.slow
def test_job_that_cannot_run_fails_with_a_readable_message(worker_proc, sentimeter_settings):
    # RQ retries are attached at enqueue time: none, so the failure is final at once.
    sentimeter_settings["JOB_RETRIES"] = 0
    unknown = Job.objects.create(session_key="s-fail", analyzer="nope", queue=QUICK, total=2)
    data = json.dumps(texts_sample(2)).encode()
    JobInput.objects.create(job=unknown, format=JobInput.Format.TEXTS, data=data, size=len(data))
    corrupt = Job.objects.create(session_key="s-fail", analyzer="vader", queue=QUICK, total=2)
    JobInput.objects.create(job=corrupt, format=JobInput.Format.TEXTS, data=b"[not json", size=9)
    for job in (unknown, corrupt):
        job_enqueue(job_id=str(job.pk), queue_name=QUICK)  # outside a transaction: at once

    worker = worker_proc(JOB_RETRIES="0")
    unknown, corrupt = jobs_wait_final([unknown.pk, corrupt.pk], worker=worker)

    for job in (unknown, corrupt):
        assert job.status == Job.Status.FAILED
        assert job.error_code
        assert job.error_message.strip()
        assert "Traceback" not in job.error_message
        assert 'File "' not in job.error_message
        assert "\n" not in job.error_message
        assert job.finished_at is not None
        assert not Result.objects.filter(job=job).exists()
    assert unknown.error_code == "unknown_analyzer"
    assert "'nope'" in unknown.error_message and "vader" in unknown.error_message
    assert corrupt.error_code == "invalid_input"
    assert "not valid JSON" in corrupt.error_message


def test_unknown_analyzer_fails_the_job_on_its_input_at_once():
    job = Job.objects.create(session_key="s-fail", analyzer="nope", queue=QUICK, total=1)
    data = json.dumps(texts_sample(1)).encode()
    JobInput.objects.create(job=job, format=JobInput.Format.TEXTS, data=data, size=len(data))

    tasks.job_run(str(job.pk))  # returns: a failure on the input is final, not retried

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.FAILED, "unknown_analyzer")
    assert "'nope'" in job.error_message


@pytest.mark.slow
def test_job_canceled_while_queued_is_never_processed(worker_proc):
    canceled = services.job_create(session_key="s-cancel", texts=texts_sample(3))
    services.job_cancel(job=canceled)
    # Same queue, enqueued after: once it has run, the worker has dequeued the canceled job.
    marker = services.job_create(session_key="s-cancel", texts=texts_sample(1))
    assert canceled.queue == marker.queue == QUICK

    worker = worker_proc()
    (marker,) = jobs_wait_final([marker.pk], worker=worker)

    assert marker.status == Job.Status.SUCCEEDED
    assert get_queue(QUICK).count == 0
    canceled.refresh_from_db()
    assert canceled.status == Job.Status.CANCELED
    assert (canceled.done, canceled.attempts, canceled.started_at) == (0, 0, None)
    assert not Result.objects.filter(job=canceled).exists()


@pytest.mark.slow
def test_worker_refuses_to_start_on_an_unmigrated_database():
    name = "sentimeter_test_unmigrated"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        conf = {**connection.settings_dict, "NAME": name}
        env = process_env({"DATABASE_URL": database_url(conf)})
        result = run(["sh", "-c", procfile_command("worker") + " --burst"], env=env, check=False)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    assert result.returncode != 0
    assert "unapplied migration" in result.stderr and "manage.py migrate" in result.stderr


@pytest.mark.slow
def test_worker_refuses_to_start_when_the_database_is_unreachable():
    env = process_env({"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere"})

    result = run(["sh", "-c", procfile_command("worker") + " --burst"], env=env, check=False)

    assert result.returncode != 0
    assert "not reachable" in result.stderr and "DATABASE_URL" in result.stderr


def test_the_worker_loads_the_job_functions_before_it_forks_a_work_horse():
    # RQ imports `worker.tasks.chunk_run` by name in each horse; loaded in the parent,
    # every horse inherits it instead of importing (and compiling) it per chunk.
    script = (
        "import sys, django; django.setup(); "
        "import worker.management.commands.runworker; "
        "print(sorted(m for m in ('worker.tasks', 'worker.pipeline') if m in sys.modules))"
    )
    result = run(
        [str(VENV_BIN / "python"), "-c", script],
        env={**process_env(), "DJANGO_SETTINGS_MODULE": "config.settings"},
    )

    assert result.stdout.strip() == "['worker.pipeline', 'worker.tasks']"


def test_the_worker_freezes_what_it_loaded_before_it_takes_jobs(worker_proc):
    # A quick-queue job runs in the worker process itself: it can report that process's GC state.
    worker_proc()
    rq_job = get_queue(QUICK).enqueue("gc.get_freeze_count")

    wait_for(lambda: rq_job.get_status(refresh=True) == JobStatus.FINISHED, what="the job to finish")
    frozen = rq_job.return_value()

    # Django, the app and the analyzers: far more than any job's own objects.
    assert frozen > 10_000


@contextlib.contextmanager
def quick_job_waiting_at_its_claim(worker, texts: list[str]) -> Iterator[tuple[Job, psycopg.Connection]]:
    """A quick job the worker has started, waiting on its row's lock (held by the yielded connection).

    The lock is released when the context ends (or earlier, with the connection's rollback()).
    """

    job = make_job(texts=texts, queue=QUICK)
    locker = psycopg.connect(database_url(), autocommit=False)
    try:
        locker.execute('SELECT 1 FROM "web_job" WHERE id = %s FOR UPDATE', [job.pk])
        job_enqueue(job_id=str(job.pk), queue_name=QUICK)
        wait_for(lambda: update_waiting("web_job"), what=lambda: f"the job to wait:\n{worker.log_tail()}")
        yield job, locker
    finally:
        locker.close()


@pytest.mark.slow
def test_a_quick_job_runs_in_the_worker_process_and_a_stop_command_interrupts_only_it(worker_proc):
    texts = texts_sample(3, tag="in-process")
    # A reconciler pass every second: the default 30 s would be most of this test's time.
    worker = worker_proc(RECONCILE_INTERVAL="1")
    with quick_job_waiting_at_its_claim(worker, texts) as (job, _):
        # No work horse: the worker process runs the job itself.
        assert horses(worker) == []
        # RQ's stop command kills a job's horse; here it interrupts the job, not the worker.
        send_stop_job_command(get_redis(), str(job.pk))
        rq_job = RQJob.fetch(str(job.pk), connection=get_redis())
        wait_for(lambda: rq_job.get_status(refresh=True) == JobStatus.STOPPED, what=worker.log_tail)
        assert "interrupting the job in hand" in worker.log()

    # Nobody canceled the job itself: the reconciler finds it stopped and runs it again.
    (job,) = jobs_wait_final([job.pk], worker=worker)
    assert worker.alive(), worker.log_tail()
    assert job.status == Job.Status.SUCCEEDED
    assert_results_are_vader(job, texts)


@pytest.mark.slow
def test_sigterm_during_a_quick_job_lets_it_finish_then_the_worker_exits(worker_proc):
    texts = texts_sample(3, tag="in-process-term")
    worker = worker_proc()
    with quick_job_waiting_at_its_claim(worker, texts) as (job, locker):
        # SIGTERM arrives while the job runs in the worker process; its lock goes 1 s later.
        threading.Timer(1.0, locker.rollback).start()
        took = heroku_stop(worker)

    assert took < HEROKU_GRACE, worker.log_tail()
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert_results_are_vader(job, texts)


# Clear reviews in Korean: the multilingual analyzer labels them, VADER cannot read them.
KOREAN = {
    "정말 맛있어요! 또 주문할게요.": "positive",
    "배송도 빠르고 품질도 최고예요. 강력 추천합니다.": "positive",
    "최악이에요 다시는 안 삽니다": "negative",
    "품질이 너무 안 좋아요. 돈 아까워요.": "negative",
}


@pytest.mark.slow
def test_a_korean_job_with_the_multilingual_analyzer_gets_real_labels_and_no_warning(worker_proc):
    worker = worker_proc()
    job = services.job_create(session_key="s-ko", texts=list(KOREAN), analyzer="e5")

    (job,) = jobs_wait_final([job.pk], worker=worker)

    assert job.status == Job.Status.SUCCEEDED, job.error_message
    labels = dict(Result.objects.filter(job=job).values_list("text", "label"))
    assert labels == KOREAN
    assert job.warnings == []


@pytest.mark.slow
def test_vader_on_korean_texts_warns_that_it_cannot_read_them(worker_proc):
    worker = worker_proc()
    job = services.job_create(session_key="s-ko", texts=[*KOREAN, "I love it"], analyzer="vader")

    (job,) = jobs_wait_final([job.pk], worker=worker)

    assert job.status == Job.Status.SUCCEEDED
    assert set(Result.objects.filter(job=job, text__in=KOREAN).values_list("label", flat=True)) == {"neutral"}
    [warning] = job.warnings
    assert warning["code"] == "language_unread"
    assert warning["message"].startswith("80% of these texts look Korean, but VADER")


@pytest.mark.slow
def test_a_big_multilingual_job_fans_out_across_two_workers_with_one_result_per_row(procs):
    # ~40 ms of the model a text, chunks of ~0.2 s: about 10 chunks for two workers to share.
    env = {"CHUNK_SECONDS": "0.2"}
    workers = [procs.start_worker(env), procs.start_worker(env)]
    texts = [f"{text} ({i})" for i in range(12) for text in KOREAN] + [f"Great value ({i})" for i in range(6)]
    job = services.job_create(session_key="s-big", texts=texts, analyzer="e5")

    (job,) = jobs_wait_final([job.pk], worker=workers[0])

    assert job.status == Job.Status.SUCCEEDED, job.error_message
    assert job.queue == BULK and job.chunks_total >= 4
    rows = list(Result.objects.filter(job=job).order_by("idx").values_list("idx", "text"))
    assert rows == list(enumerate(texts))
    for worker in workers:
        assert " stored, " in worker.log(), f"a worker ran no chunk:\n{worker.log_tail()}"
