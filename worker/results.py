"""Storing a job's results: raw SQL, with a Postgres branch (unnest, binary COPY) and a SQLite one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from django.db import connection, transaction
from django.db.models import F

from web.models import Job, Result, SkippedRow
from worker.analyzers.base import Scores
from worker.exceptions import JobStopped
from worker.inputs import Row


def results_store(
    *,
    job_id: uuid.UUID,
    scores: Sequence[Scores],
    rows: Sequence[Row] | None = None,
    idxs: Sequence[int] = (),
    texts: Sequence[str] = (),
) -> int:
    """Store results and advance the progress counter, in one transaction.

    The rows (with their row numbers and cells), or bare idxs and texts
    (numbered as pasted texts are, idx + 1). Rows already stored are skipped
    (ON CONFLICT), so a retry stores nothing twice. Raises JobStopped (and
    stores nothing) if the job is no longer running. Returns the number of
    rows newly stored.

    Inside a caller's transaction (the quick path's) it takes no savepoint, two
    statements fewer on a single text's way: a JobStopped then rolls back the
    caller's whole transaction, which is what that caller wants.
    """
    rows = _rows_of(rows, idxs, texts)
    with transaction.atomic(savepoint=False):
        inserted = _results_insert(job_id=job_id, rows=rows, scores=scores)
        # Compare-and-set: a canceled job takes no more results.
        updated = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(done=F("done") + inserted)
        if not updated:
            transaction.set_rollback(True)
            raise JobStopped(str(job_id))
    return inserted


_RESULT_COLUMNS = 'job_id, idx, "row", text, cells, label, compound, pos, neu, neg'
# The Postgres types of those columns, for binary COPY (label is a varchar: text's binary form).
_RESULT_TYPES = ["uuid", "int4", "int4", "text", "jsonb", "text", "float8", "float8", "float8", "float8"]


def _results_insert(*, job_id: uuid.UUID, rows: Sequence[Row], scores: Sequence[Scores]) -> int:
    table = Result._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement per chunk: arrays unnest server-side into rows.
            cursor.execute(
                f"INSERT INTO {table} ({_RESULT_COLUMNS}) "  # noqa: S608 - table name is ours, values are parameters
                "SELECT %s, i, r, t, c::jsonb, l, co, p, ne, ng FROM unnest(%s::int[], %s::int[], "
                "%s::text[], %s::text[], %s::text[], %s::float8[], %s::float8[], %s::float8[], %s::float8[]) "
                "AS u(i, r, t, c, l, co, p, ne, ng) "
                "ON CONFLICT (job_id, idx) DO NOTHING",
                [
                    job_id,
                    [r.idx for r in rows],
                    [r.row_number for r in rows],
                    [r.text for r in rows],
                    [_cells_json(r.cells) for r in rows],
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
        for r, s in zip(rows, scores, strict=True):
            cursor.execute(
                f"INSERT INTO {table} ({_RESULT_COLUMNS}) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (job_id, idx) DO NOTHING",
                [job_id.hex, r.idx, r.row_number, r.text, _cells_json(r.cells), s.label]
                + [s.compound, s.pos, s.neu, s.neg],
            )
            inserted += cursor.rowcount
        return inserted


def _cells_json(cells: list[str | None] | None) -> str | None:
    return None if cells is None else json.dumps(cells, ensure_ascii=False)


def _rows_of(rows: Sequence[Row] | None, idxs: Sequence[int], texts: Sequence[str]) -> Sequence[Row]:
    if rows is not None:
        return rows
    return [Row(idx, idx + 1, text) for idx, text in zip(idxs, texts, strict=True)]


def results_copy(
    *,
    job_id: uuid.UUID,
    scores: Sequence[Scores],
    rows: Sequence[Row] | None = None,
    idxs: Sequence[int] = (),
    texts: Sequence[str] = (),
) -> int:
    """Write results with COPY: several times faster than INSERT for big chunks.

    COPY has no ON CONFLICT: callers first win the chunk's compare-and-set
    in the same transaction, so no row of it can exist yet. Binary COPY:
    psycopg sends the floats as they are instead of formatting them as
    text (under half the client's CPU of the text format, and less work
    for the server); the cells go as jsonb (psycopg writes each list's JSON).
    """
    rows = _rows_of(rows, idxs, texts)
    if connection.vendor != "postgresql":
        return _results_insert(job_id=job_id, rows=rows, scores=scores)
    table = Result._meta.db_table
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({_RESULT_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_RESULT_TYPES)
            for r, s in zip(rows, scores, strict=True):
                copy.write_row(
                    (job_id, r.idx, r.row_number, r.text, r.cells, s.label, s.compound, s.pos, s.neu, s.neg)
                )
    return len(rows)


# Skipped rows written per statement while a job's input is read.
SKIPPED_BATCH = 1000


def skipped_store(*, job_id: uuid.UUID, rows: Sequence[Row]) -> None:
    """Keep rows without text (their cells and why), so a download has every row of the upload.

    A row stored already (a resumed split reads the input again) is left as it is.
    """
    SkippedRow.objects.bulk_create(
        [
            SkippedRow(
                job_id=job_id,
                row=r.row_number,
                cells=r.cells,
                reason=r.problem.english() if r.problem else "",
                reason_text=r.problem.to_json() if r.problem else None,
            )
            for r in rows
        ],
        ignore_conflicts=True,
        batch_size=SKIPPED_BATCH,
    )
