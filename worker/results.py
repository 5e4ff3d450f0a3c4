"""Storing a job's results: raw SQL, with a Postgres branch (unnest, binary COPY) and a SQLite one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db import connection, transaction
from django.db.models import F

from web.models import Job, Result
from worker.analyzers.base import Scores
from worker.exceptions import JobStopped


def results_store(
    *, job_id: uuid.UUID, idxs: Sequence[int], texts: Sequence[str], scores: Sequence[Scores]
) -> int:
    """Store results and advance the progress counter, in one transaction.

    Rows already stored are skipped (ON CONFLICT), so a retry stores nothing
    twice. Raises JobStopped (and stores nothing) if the job is no longer
    running. Returns the number of rows newly stored.
    """
    with transaction.atomic():
        inserted = _results_insert(job_id=job_id, idxs=idxs, texts=texts, scores=scores)
        # Compare-and-set: a canceled job takes no more results.
        updated = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(done=F("done") + inserted)
        if not updated:
            transaction.set_rollback(True)
            raise JobStopped(str(job_id))
    return inserted


_RESULT_COLUMNS = "job_id, idx, text, label, compound, pos, neu, neg"
# The Postgres types of those columns, for binary COPY (label is a varchar: text's binary form).
_RESULT_TYPES = ["uuid", "int4", "text", "text", "float8", "float8", "float8", "float8"]


def _results_insert(
    *, job_id: uuid.UUID, idxs: Sequence[int], texts: Sequence[str], scores: Sequence[Scores]
) -> int:
    table = Result._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement per chunk: arrays unnest server-side into rows.
            cursor.execute(
                f"INSERT INTO {table} ({_RESULT_COLUMNS}) "  # noqa: S608 - table name is ours, values are parameters
                "SELECT %s, * FROM unnest(%s::int[], %s::text[], %s::text[], "
                "%s::float8[], %s::float8[], %s::float8[], %s::float8[]) "
                "ON CONFLICT (job_id, idx) DO NOTHING",
                [
                    job_id,
                    list(idxs),
                    list(texts),
                    [s.label for s in scores],
                    [s.compound for s in scores],
                    [s.pos for s in scores],
                    [s.neu for s in scores],
                    [s.neg for s in scores],
                ],
            )
            return cursor.rowcount
        # SQLite (local try-out): same semantics, one row at a time.
        inserted = 0
        for idx, text, s in zip(idxs, texts, scores, strict=True):
            cursor.execute(
                f"INSERT INTO {table} ({_RESULT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "  # noqa: S608
                "ON CONFLICT (job_id, idx) DO NOTHING",
                [job_id.hex, idx, text, s.label, s.compound, s.pos, s.neu, s.neg],
            )
            inserted += cursor.rowcount
        return inserted


def results_copy(
    *, job_id: uuid.UUID, idxs: Sequence[int], texts: Sequence[str], scores: Sequence[Scores]
) -> int:
    """Write results with COPY: several times faster than INSERT for big chunks.

    COPY has no ON CONFLICT: callers first win the chunk's compare-and-set
    in the same transaction, so no row of it can exist yet. Binary COPY:
    psycopg sends the floats as they are instead of formatting them as
    text (under half the client's CPU of the text format, and less work
    for the server).
    """
    if connection.vendor != "postgresql":
        return _results_insert(job_id=job_id, idxs=idxs, texts=texts, scores=scores)
    table = Result._meta.db_table
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({_RESULT_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_RESULT_TYPES)
            for idx, text, s in zip(idxs, texts, scores, strict=True):
                copy.write_row((job_id, idx, text, s.label, s.compound, s.pos, s.neu, s.neg))
    return len(idxs)
