"""The Postgres and Redis connections the app's processes hold, counted from the servers' side.

Real processes (the Procfile's web and worker lines), real servers: Postgres's
pg_stat_activity for the test database and Redis's CLIENT LIST for the test db,
each connection traced to the process holding its socket (psutil). README
"Connections" turns these counts into how many dynos fit each Heroku plan.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import uuid
from pathlib import Path

import psycopg
import pytest
import requests
from django.db import connection

from tests.builders import make_job
from tests.procs import (  # noqa: F401 - fixtures
    CHAOS_ENV,
    Held,
    connections_held,
    database_url,
    descendants,
    procs_fixture,
    update_waiters,
    wait_for,
)
from tests.workerjobs import jobs_wait_final
from web.models import Job
from worker import pipeline
from worker.queues import BULK, job_enqueue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WEB = {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4"}  # the Procfile's defaults (config/gunicorn.py)
DYNO = {"WORKER_CONCURRENCY": "2", "CHUNK_SIZE": "100", **CHAOS_ENV}


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[1])
    except OSError:
        return None


def leader(proc) -> int:
    """The Procfile command's own process: `sh -c` itself if it exec'd, else its one child."""
    children = [pid for pid in descendants(proc.pid) if _ppid(pid) == proc.pid]
    return children[0] if len(children) == 1 else proc.pid


def children(pid: int) -> set[int]:
    return {child for child in descendants(pid) if _ppid(child) == pid}


def everything(proc) -> set[int]:
    return {proc.pid, *descendants(proc.pid)}


def split_here(texts: list[str]) -> Job:
    job = make_job(texts=texts, queue=BULK, total=None)
    pipeline.job_process(job.pk, chunk_size=100)
    return job


def test_web_and_a_worker_dyno_hold_only_the_connections_they_use(procs, capsys):
    web, port = procs.start_web(WEB)
    master = leader(web)
    counts: dict[str, tuple[Held, Held]] = {}
    dyno = supervisor = None

    def sample(what: str) -> tuple[Held, Held]:
        # The supervisor and gunicorn's master hold nothing, whatever the others do.
        assert connections_held({master}) == Held(0, 0)
        if dyno is not None:
            assert connections_held({supervisor}) == Held(0, 0)
        counts[what] = (
            connections_held(everything(web)),
            connections_held(everything(dyno) if dyno else set()),
        )
        return counts[what]

    assert sample("started, before any request") == (Held(0, 0), Held(0, 0))
    # Web under 16 concurrent clients: /healthz asks both Postgres and Redis.
    url = f"http://127.0.0.1:{port}/healthz"
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = set(pool.map(lambda _: requests.get(url, timeout=30).status_code, range(64)))
    assert statuses == {200}
    web_busy, _ = sample("web after 64 requests")
    # At most one Postgres connection per thread of each process, kept for the next request
    # (DB_CONN_MAX_AGE); each process's one Redis client, its pool grown to the threads at once.
    assert 1 <= web_busy.postgres <= 2 * 4
    assert 1 <= web_busy.redis <= 2 * 4

    # A job split here, its first two chunks locked before any worker runs: both workers
    # of the dyno take one and wait in its store transaction.
    job = split_here([f"A fine review number {i}, quite good" for i in range(1500)])
    locker = psycopg.connect(database_url(), autocommit=False)
    try:
        locker.execute(
            'SELECT 1 FROM "web_jobchunk" WHERE job_id = %s AND seq IN (0, 1) FOR UPDATE', [job.pk]
        )
        dyno = procs.start_worker(DYNO)
        supervisor = leader(dyno)
        assert len(children(supervisor)) == 2, dyno.log_tail()
        wait_for(lambda: len(update_waiters("web_jobchunk")) >= 2, what=lambda: dyno.log_tail())
        _, busy = sample("dyno busy: a chunk each")
        # One each for its job, and for a moment one each for its heartbeat thread.
        assert 2 <= busy.postgres <= 2 * 2
        # Each: RQ's dequeue and command pubsub, a heartbeat thread's; and RQ's scheduler process.
        assert 2 * 2 + 1 <= busy.redis <= 3 * 2 + 1
    finally:
        locker.close()

    (done,) = jobs_wait_final([job.pk], worker=dyno)
    assert done.status == Job.Status.SUCCEEDED, (done.error_code, done.error_message)
    # Idle again: each worker closes its Postgres connection as it goes back to empty queues.
    wait_for(lambda: sample("dyno idle, after the job")[1].postgres == 0, what=lambda: f"{counts}")
    assert counts["dyno idle, after the job"][1].redis <= 3 * 2 + 1
    with capsys.disabled():
        print("\nconnections held (Postgres, Redis): web 2 processes x 4 threads | worker dyno of 2")
        for what, (w, d) in counts.items():
            print(f"  {what:<30} web {w.postgres}, {w.redis} | dyno {d.postgres}, {d.redis}")


@contextlib.contextmanager
def limited_role(limit: int):
    """A login role allowed `limit` connections (ALTER ROLE ... CONNECTION LIMIT), with our tables' rights."""
    name = f"sentimeter_limited_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{name}" LOGIN')
        cursor.execute(f'ALTER ROLE "{name}" CONNECTION LIMIT {limit}')
        cursor.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{name}"')
        cursor.execute(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{name}"')
    try:
        yield name
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [name]
            )
            cursor.execute(f'DROP OWNED BY "{name}"')
            cursor.execute(f'DROP ROLE "{name}"')


def test_a_worker_refused_for_too_many_connections_says_so_and_goes_on_once_one_is_free(procs):
    with limited_role(1) as role:
        url = database_url({**connection.settings_dict, "USER": role, "PASSWORD": ""})
        dyno = procs.start_worker({"DATABASE_URL": url, "WORKER_CONCURRENCY": "1", **CHAOS_ENV})
        # The role's one connection, taken once the starting worker has let go of it (it checks
        # the database as it starts, then an idle worker holds none): the worker's next one is
        # refused by Postgres itself.
        holders: list[psycopg.Connection] = []

        def take() -> bool:
            with contextlib.suppress(psycopg.OperationalError):
                holders.append(psycopg.connect(url))
            return bool(holders)

        wait_for(take, what=lambda: f"the role's one connection to be free; log:\n{dyno.log_tail()}")
        holder = holders[0]
        try:
            job = make_job(texts=["A great day.", "An awful one."])
            job_enqueue(job_id=str(job.pk), queue_name=job.queue)
            dyno.wait_for_log("Postgres refused a new connection: it has too many")
        finally:
            holder.close()
        log = dyno.log()
        assert f'too many connections for role "{role}"' in log
        assert "WORKER_CONCURRENCY" in log and 'README "Connections"' in log
        # Once a connection is free the job runs (RQ's retry or the reconciler).
        (done,) = jobs_wait_final([job.pk], worker=dyno)
        assert done.status == Job.Status.SUCCEEDED, (done.error_code, done.error_message)
        procs.stop_all()
