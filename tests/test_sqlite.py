"""Smoke run of the local try-out: SQLite, DEBUG=1, the Procfile worker, the quick path.

Everything happens in child processes (`manage.py migrate`, `shell -c`,
the worker), so this test never touches pytest-django's database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.conf import settings
from redis import Redis
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tests.procs import WAIT_TIMEOUT, ProcessRunner, process_env, redis_db_aside, redis_url_with_db, run

pytestmark = pytest.mark.slow

# Apart from the test database (tests/conftest.py flushes it around each test).
SQLITE_REDIS_DB = redis_db_aside(1)
TEXTS = ["I love this product, it is wonderful!", "This is terrible. I hate it.", "The box is brown."]

SUBMIT = """
from web.services import job_create
job = job_create(session_key="smoke", texts={texts!r})
print("JOB", job.id)
"""
# Polls in one process (a Django start-up per poll is slow on a busy machine).
STATUS = """
import json, time
from web.models import Job
deadline = time.monotonic() + {timeout}
while True:
    job = Job.objects.get(pk={job_id!r})
    if job.status not in ("queued", "running") or time.monotonic() > deadline:
        break
    time.sleep(0.2)
results = list(job.results.order_by("idx").values_list("text", "compound"))
print("STATUS", json.dumps({{"status": job.status, "done": job.done, "results": results}}))
"""


def shell(code: str, *, env: dict[str, str], tag: str) -> str:
    """Run `manage.py shell -c code` and return the text after the line starting with `tag`."""
    out = run(["python", "manage.py", "shell", "-v", "0", "-c", code], env=env).stdout
    for line in out.splitlines():
        if line.startswith(tag + " "):
            return line.removeprefix(tag + " ")
    raise AssertionError(f"no {tag!r} line in:\n{out}")


@pytest.fixture
def sqlite_env(tmp_path) -> Iterator[dict[str, str]]:
    """Environment of a local try-out: a fresh SQLite file, DEBUG=1, a Redis database of its own."""
    redis_url = redis_url_with_db(settings.REDIS_URL, SQLITE_REDIS_DB)
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    try:
        yield process_env(
            {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "DEBUG": "1", "REDIS_URL": redis_url}
        )
    finally:
        redis.flushdb()
        redis.close()


def test_quick_job_on_sqlite(sqlite_env, tmp_path):
    run(["python", "manage.py", "migrate", "--noinput", "-v", "0"], env=sqlite_env)
    assert (tmp_path / "db.sqlite3").is_file()
    runner = ProcessRunner(tmp_path)
    try:
        worker = runner.start_worker(sqlite_env)
        job_id = shell(SUBMIT.format(texts=TEXTS), env=sqlite_env, tag="JOB")

        state = json.loads(
            shell(STATUS.format(job_id=job_id, timeout=WAIT_TIMEOUT), env=sqlite_env, tag="STATUS")
        )
    finally:
        runner.stop_all()

    assert state["status"] == "succeeded", (state, worker.log_tail())
    assert state["done"] == len(state["results"]) == len(TEXTS)
    assert [text for text, _ in state["results"]] == TEXTS
    assert state["results"][0][1] == SentimentIntensityAnalyzer().polarity_scores(TEXTS[0])["compound"]


# Groups and trends read cells with json_extract on SQLite: stored at the job's end, and live.
BREAKDOWNS = """
import json
from tests.builders import make_table_job
from web import selectors
from web.models import ColumnStats
from worker.breakdowns import groups_of, trend_of
rows = [["A", "2026-11-02", "good"], ["B", "2026-11-03", "bad"]]
rows += [["A", "03/11/2026", "fine"], ["B", None, "awful"]]
job = make_table_job(columns=["shop", "day", "text"], rows=rows, compounds=[0.5, -0.5, 0.2, -0.9])
def both():
    groups = [(g.value, g.count, g.negative) for g in groups_of(job, "shop").groups]
    trend = [(p.start.isoformat(), p.count) for p in trend_of(job, "day").points if p.count]
    shown = list(selectors.results_queryset(job=job, group="B", by="shop").values_list("idx", flat=True))
    return {"groups": groups, "trend": trend, "group_b": shown}
stored = both()
kinds = sorted(ColumnStats.objects.filter(job=job).values_list("kind", flat=True))
ColumnStats.objects.filter(job=job).delete()
print("BREAKDOWNS", json.dumps({"stored": stored, "live": both(), "kinds": kinds}))
"""


def test_groups_and_trends_on_sqlite(sqlite_env):
    run(["python", "manage.py", "migrate", "--noinput", "-v", "0"], env=sqlite_env)

    found = json.loads(shell(BREAKDOWNS, env=sqlite_env, tag="BREAKDOWNS"))

    expected = {
        "groups": [["B", 2, 2], ["A", 2, 0]],
        # 03/11/2026 is read month first: March 11 to November 3 spans weeks.
        "trend": [["2026-03-09", 1], ["2026-11-02", 2]],
        "group_b": [1, 3],
    }
    assert found == {"stored": expected, "live": expected, "kinds": ["dates", "groups"]}


# A Bearer poll checks its token within the job's statement (web.tokens.token_job): raw SQL, SQLite's branch.
BEARER_POLL = """
import json
from web.exceptions import JobNotFound
from web.selectors import job_get_by_token
from web.services import job_create
from web.tokens import token_create, token_hash, token_revoke
mine = token_create(owner_key="owner", name="mine")
other = token_create(owner_key="someone else", name="theirs")
job = job_create(session_key="owner", texts=["good"])
first = job_get_by_token(job_id=str(job.id), token_hash=token_hash(mine.token))
again = job_get_by_token(job_id=str(job.id), token_hash=token_hash(mine.token))
try:
    job_get_by_token(job_id=str(job.id), token_hash=token_hash(other.token))
    others = "seen"
except JobNotFound:
    others = "not found"
token_revoke(owner_key="owner", token_id=mine.record.pk)
revoked = job_get_by_token(job_id=str(job.id), token_hash=token_hash(mine.token))
print("TOKEN", json.dumps({
    "found": first.pk == job.pk, "last_used_kept": again.token_last_used_at is not None
    and again.token_last_used_at.tzinfo is not None, "others": others, "revoked": revoked is None,
}))
"""


def test_a_token_poll_on_sqlite(sqlite_env):
    run(["python", "manage.py", "migrate", "--noinput", "-v", "0"], env=sqlite_env)

    found = json.loads(shell(BEARER_POLL, env=sqlite_env, tag="TOKEN"))

    assert found == {"found": True, "last_used_kept": True, "others": "not found", "revoked": True}


# Results stored before 0016 (with an id), to be rebuilt keyed by (job, idx) on SQLite.
RESULTS_BEFORE_KEY = """
from django.db import connection
from web.models import Job
job = Job.objects.create(session_key="s", status="succeeded", analyzer="vader", queue="quick")
with connection.cursor() as cursor:
    for idx in (1, 0):
        cursor.execute(
            "INSERT INTO web_result (job_id, idx, row, text, cells, label, compound, pos, neu, neg) "
            "VALUES (%s, %s, %s, %s, %s, 'positive', 0.5, 0.5, 0.5, 0.0)",
            [job.pk.hex, idx, idx + 2, f"text {idx}", None if idx else '["0", null]'],
        )
print("JOB", job.pk)
"""
RESULTS_KEYED = """
import json
from django.db import IntegrityError, connection, transaction
from web.models import Result
rows = list(Result.objects.filter(job_id={job_id!r}).values_list("job_id", "idx", "row", "text", "cells"))
by_key = Result.objects.get(pk=({job_id!r}, 1)).text
try:
    with transaction.atomic():
        Result.objects.create(job_id={job_id!r}, idx=0, text="again", label="neutral",
                              compound=0.0, pos=0.0, neu=1.0, neg=0.0)
    duplicate = "stored"
except IntegrityError:
    duplicate = "refused"
with connection.cursor() as cursor:
    columns = [c.name for c in connection.introspection.get_table_description(cursor, "web_result")]
print("KEYED", json.dumps({{
    "rows": [[str(job), idx, row, text, cells] for job, idx, row, text, cells in rows],
    "by_key": by_key, "duplicate": duplicate, "id": "id" in columns,
}}))
"""


def test_results_stored_before_their_key_survive_the_rebuild_on_sqlite(sqlite_env):
    run(["python", "manage.py", "migrate", "--noinput", "-v", "0", "web", "0015"], env=sqlite_env)
    job_id = shell(RESULTS_BEFORE_KEY, env=sqlite_env, tag="JOB")

    run(["python", "manage.py", "migrate", "--noinput", "-v", "0"], env=sqlite_env)
    found = json.loads(shell(RESULTS_KEYED.format(job_id=job_id), env=sqlite_env, tag="KEYED"))

    assert found == {
        "rows": [[job_id, 0, 2, "text 0", ["0", None]], [job_id, 1, 3, "text 1", None]],
        "by_key": "text 1",
        "duplicate": "refused",
        "id": False,
    }
