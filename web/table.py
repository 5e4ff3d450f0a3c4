"""A job's results as the user's own table: their columns in order, then ours; every row of the upload.

One place for every download (CSV, JSON Lines, XLSX): `table_header` names
the columns, `table_rows` yields the rows in row order, streaming, merging
the results and the skipped rows (SkippedRow) a batch of each at a time
(keyset paging on `idx` and on `row`, the two unique indexes), so memory
stays bounded whatever the job's size and the file has exactly as many
rows as the upload had.

Pasted texts and JSON arrays of strings have no columns: their table is
`row, text`. Ours come after: `sentiment`, `score` (the compound score,
-1 to 1), the per-class scores `positive`, `neutral`, `negative`, and
`sentiment_note` (why a row was skipped; empty otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from django.utils import translation

from web.messages import stored_say
from web.models import Job, JobInput, Result, SkippedRow

# Our columns, appended after the user's.
OUR_COLUMNS = ("sentiment", "score", "positive", "neutral", "negative", "sentiment_note")
# Put before one of ours whose name the user's table already has.
OUR_PREFIX = "sentimeter_"
# The columns of a table that has none of its own (pasted texts, plain text files).
PLAIN_COLUMNS = ("row", "text")
# Rows fetched per round trip, of results and of skipped rows each.
TABLE_BATCH = 2000
_RESULT_VALUES = ("idx", "row", "text", "cells", "label", "compound", "pos", "neu", "neg")


def table_header(job: Job) -> list[str]:
    """The download's column names: the user's (or `row, text`), then ours."""
    theirs = list(job.columns) if job.columns else list(PLAIN_COLUMNS)
    taken = set(theirs)
    ours = [name if name not in taken else OUR_PREFIX + name for name in OUR_COLUMNS]
    return theirs + ours


def columns_kept(job: Job) -> list[str]:
    """The user's columns other than the analyzed one: given back as they were in every download."""
    return [name for name in job.columns or [] if name != job.text_column]


def names_unique(names: Sequence[str]) -> list[str]:
    """The names, a repeated one numbered ("x", "x (2)"): keys for a JSON object per row."""
    seen: dict[str, int] = {}
    unique = []
    taken = set(names)
    for name in names:
        if name in seen:
            n = seen[name] + 1
            while f"{name} ({n})" in taken:
                n += 1
            seen[name] = n
            name = f"{name} ({n})"
            taken.add(name)
        else:
            seen[name] = 1
        unique.append(name)
    return unique


def table_rows(job: Job, *, batch: int | None = None, language: str | None = None) -> Iterator[list]:
    """Yield the job's rows in row order: the user's cells (str or None), then ours (str, float or None).

    A skipped row has its cells and the reason in `sentiment_note` (said in
    `language`, English by default: a streamed body is written after the
    request's language is gone), its scores empty. Reads TABLE_BATCH rows a
    query (`batch` to override).
    """
    batch = batch or TABLE_BATCH
    width = len(job.columns) if job.columns else 0
    text_index = _text_index(job)
    results = _results(job, batch)
    skipped = _skipped(job, batch)
    result = next(results, None)
    skip = next(skipped, None)
    while result is not None or skip is not None:
        if skip is None or (result is not None and _row_of(result) < skip.row):
            yield _result_row(result, width, text_index)
            result = next(results, None)
        else:
            with translation.override(language or "en"):
                yield _skipped_row(skip, width)
            skip = next(skipped, None)


def _text_index(job: Job) -> int | None:
    """Where the analyzed column is among the job's columns (a header may repeat a name)."""
    columns = job.columns or []
    if job.text_column not in columns:
        return None
    options = JobInput.objects.filter(job=job).values_list("options", flat=True).first() or {}
    index = options.get("column_index")
    if isinstance(index, int) and 0 <= index < len(columns) and columns[index] == job.text_column:
        return index
    return columns.index(job.text_column)


def _row_of(result: tuple) -> int:
    # Results stored before rows were kept: numbered as pasted texts are.
    return result[1] if result[1] is not None else result[0] + 1


def _result_row(result: tuple, width: int, text_index: int | None) -> list:
    idx, row, text, cells, label, compound, pos, neu, neg = result
    ours = [label, compound, pos, neu, neg, None]
    if not width:
        return [_row_of(result), text, *ours]
    theirs = list(cells) if cells else [None] * width
    theirs = (theirs + [None] * width)[:width]
    if text_index is not None and theirs[text_index] is None:
        theirs[text_index] = text
    return theirs + ours


def _skipped_row(skip: SkippedRow, width: int) -> list:
    ours = [None, None, None, None, None, stored_say(skip.reason_text, skip.reason)]
    if not width:
        # A plain text's skipped line kept no cells: it was blank, or too long to keep.
        return [skip.row, None, *ours]
    theirs = list(skip.cells) if skip.cells else [None] * width
    return (theirs + [None] * width)[:width] + ours


def _results(job: Job, batch: int) -> Iterator[tuple]:
    last = -1
    while True:
        rows = list(
            Result.objects.filter(job=job, idx__gt=last).order_by("idx").values_list(*_RESULT_VALUES)[:batch]
        )
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def _skipped(job: Job, batch: int) -> Iterator[SkippedRow]:
    last = 0
    while True:
        rows = list(
            SkippedRow.objects.filter(job=job, row__gt=last)
            .order_by("row")
            .only("row", "cells", "reason", "reason_text")[:batch]
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].row
