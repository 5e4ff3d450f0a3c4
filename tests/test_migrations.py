"""Migrations that change data: run them for real on the test database, from the state before them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_DROP = [("web", "0012_column_stats")]
DROP = [("web", "0013_drop_chunk_data")]


def migrate_to(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before_chunk_data_drop(transactional_db):
    """The database as 0011 left it; back to the latest migration afterwards, whatever happens."""
    apps = migrate_to(BEFORE_DROP)
    try:
        yield apps
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


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
