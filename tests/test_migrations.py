"""Migrations that change data: run them for real on the test database, from the state before them."""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from tests.builders import make_job
from web.models import job_id_new

BEFORE_DROP = [("web", "0012_column_stats")]
DROP = [("web", "0013_drop_chunk_data")]


def migrate_to(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@contextmanager
def migrated_to(targets):
    """The apps as of `targets`; back to the latest migration afterwards, whatever happens."""
    apps = migrate_to(targets)
    try:
        yield apps
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture
def before_chunk_data_drop(transactional_db):
    """The database as 0011 left it."""
    with migrated_to(BEFORE_DROP) as apps:
        yield apps


def test_dropping_chunk_data_fails_only_the_jobs_whose_chunks_still_held_texts(before_chunk_data_drop):
    apps = before_chunk_data_drop
    Job = apps.get_model("web", "Job")
    JobChunk = apps.get_model("web", "JobChunk")
    JobInput = apps.get_model("web", "JobInput")

    def job(status: str, chunks: list[tuple[str, bytes, int | None]]):
        made = Job.objects.create(session_key="s", status=status, analyzer="vader", queue="bulk", done=3)
        JobInput.objects.create(job=made, format="csv", data=b"stored upload", size=13)
        for seq, (chunk_status, data, end) in enumerate(chunks):
            JobChunk.objects.create(job=made, seq=seq, status=chunk_status, data=data, end=end, size=3)
        return made.pk

    # Mid-flight before ranges: one chunk stored, one still holding its texts.
    stuck = job("running", [("done", b"", None), ("queued", b"packed texts", None)])
    # Ranges only, or texts only in chunks already stored: the new code runs them on.
    ranged = job("running", [("done", b"", 100), ("pending", b"", 200)])
    stored_old = job("running", [("done", b"", None), ("queued", b"", 300)])
    # Ended jobs are left as they ended.
    ended = job("canceled", [("pending", b"packed texts", None)])

    apps = migrate_to(DROP)

    Job = apps.get_model("web", "Job")
    JobInput = apps.get_model("web", "JobInput")
    failed = Job.objects.get(pk=stuck)
    assert (failed.status, failed.error_code, failed.done) == ("failed", "interrupted_by_upgrade", 3)
    assert "upgraded while this job ran" in failed.error_message
    assert "submit the input again" in failed.error_message
    assert failed.finished_at is not None
    assert bytes(JobInput.objects.get(job_id=stuck).data) == b""
    assert [Job.objects.get(pk=pk).status for pk in (ranged, stored_old, ended)] == [
        "running",
        "running",
        "canceled",
    ]
    assert bytes(JobInput.objects.get(job_id=ranged).data) == b"stored upload"
    columns = [
        c.name for c in connection.introspection.get_table_description(connection.cursor(), "web_jobchunk")
    ]
    assert "data" not in columns and "end" in columns


BEFORE_KEY = [("web", "0015_job_and_skip_message_templates")]
KEY = [("web", "0016_result_composite_pk")]
RESULT_COLUMNS = "job_id, idx, row, text, cells, label, compound, pos, neu, neg"


def results_stored() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {RESULT_COLUMNS} FROM web_result ORDER BY job_id, idx")  # noqa: S608
        return cursor.fetchall()


def result_insert(job_id, idx: int, *, on_conflict: str = "") -> int:
    """Insert a result as the worker does (its columns by name); return the rows inserted."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO web_result ({RESULT_COLUMNS}) "  # noqa: S608
            f"VALUES (%s, %s, NULL, 'again', NULL, 'neutral', 0, 0, 1, 0) {on_conflict}",
            [job_id, idx],
        )
        return cursor.rowcount


@pytest.fixture
def before_result_key(transactional_db):
    """The database as 0015 left it (results with an id)."""
    with migrated_to(BEFORE_KEY) as apps:
        yield apps


def test_keying_results_by_job_and_idx_keeps_every_result_and_the_key_holds(before_result_key):
    apps = before_result_key
    Job = apps.get_model("web", "Job")
    Result = apps.get_model("web", "Result")
    jobs = [
        Job.objects.create(session_key="s", status="succeeded", analyzer="vader", queue="bulk") for _ in "ab"
    ]
    # Stored out of order (chunks commit in any order), with and without a row's cells.
    for job in jobs:
        for idx in (2, 0, 1):
            Result.objects.create(
                job=job,
                idx=idx,
                row=idx + 2,
                text=f"text {idx} of {job.pk}",
                cells=None if idx == 1 else [str(idx), None],
                label="positive",
                compound=0.5 + idx / 10,
                pos=0.5,
                neu=0.5,
                neg=0.0,
            )
    before = results_stored()

    migrate_to(KEY)

    assert results_stored() == before
    with pytest.raises(IntegrityError), transaction.atomic():
        result_insert(jobs[0].pk, 1)
    # The worker's INSERT names the key's columns in ON CONFLICT: the primary key is its arbiter.
    assert result_insert(jobs[0].pk, 1, on_conflict="ON CONFLICT (job_id, idx) DO NOTHING") == 0
    assert result_insert(jobs[0].pk, 3, on_conflict="ON CONFLICT (job_id, idx) DO NOTHING") == 1

    # And back: each result gets an id again, in (job, idx) order, and new ones follow them.
    migrate_to(BEFORE_KEY)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM web_result ORDER BY job_id, idx")
        ids = [i for (i,) in cursor.fetchall()]
        assert ids == list(range(1, 8))
        result_insert(jobs[1].pk, 3)
        cursor.execute("SELECT max(id) FROM web_result")
        assert cursor.fetchone() == (8,)


def test_results_are_keyed_by_job_and_idx_and_their_columns_need_no_padding(db):
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, "web_result")]
        constraints = connection.introspection.get_constraints(cursor, "web_result")
        cursor.execute(
            "SELECT attname, attlen, attalign FROM pg_attribute "
            "WHERE attrelid = 'web_result'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        )
        attributes = cursor.fetchall()
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'web_result_pkey'")
        key_options = cursor.fetchone()[0]

    assert "id" not in columns
    assert key_options == ["fillfactor=100"]
    keys = [c["columns"] for c in constraints.values() if c["primary_key"]]
    assert keys == [["job_id", "idx"]]
    assert not [name for name, c in constraints.items() if c["unique"] and not c["primary_key"]]
    # Each fixed-width column starts where its alignment wants it, then the variable-width
    # ones start 4-aligned (a long text's header wants that) with or without row, the one
    # nullable fixed-width column (absent from a row where it is null), so it comes last.
    align = {"c": 1, "s": 2, "i": 4, "d": 8}
    offset = 0
    fixed = [(name, length, align[a]) for name, length, a in attributes if length > 0]
    assert [name for name, _, _ in fixed] == [name for name, _, _ in attributes[: len(fixed)]]
    for name, length, alignment in fixed:
        assert offset % alignment == 0, name
        offset += length
    assert fixed[-1][0] == "row" and fixed[-1][1] == 4 and offset % 4 == 0


def test_a_new_jobs_id_is_time_ordered_so_its_results_keys_go_to_the_indexs_end(db):
    before = job_id_new()
    time.sleep(0.002)
    job = make_job()
    time.sleep(0.002)
    after = job_id_new()

    assert job.pk.version == 7 and job.pk.variant == uuid.RFC_4122
    assert before < job.pk < after
    # 74 random bits: ids made in the same millisecond differ, in their end too (a job's heading).
    same_ms = {job_id_new() for _ in range(1000)}
    assert len(same_ms) == 1000 and len({str(i)[-8:] for i in same_ms}) > 990
    # Unix milliseconds in the first 48 bits.
    assert abs((job.pk.int >> 80) / 1000 - time.time()) < 60
