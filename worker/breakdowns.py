"""A job's results broken down by the values of one of its columns (groups) or by date (trends).

When a job succeeds, `breakdowns_store` counts its results once per value of
every column worth grouping by and per day of every date column, into
ColumnStats rows: a page or API call then reads a few hundred numbers
instead of aggregating a million results (README, "Groups and trends" has
the measurements). A job without them (running, ended early, or finished
before they existed), or a column not stored, is aggregated when asked.

Which columns: a sample of the first SAMPLE rows proposes them, the whole
job confirms. A column is suggested for groups when it is not the text
column, not dates, not named like an id, and has between 2 and MAX_GROUPS
distinct values that repeat (at most half as many values as filled cells).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.db.models import Count, F, Func, Q, QuerySet, Sum, TextField
from django.db.models.functions import Left

from web.models import ColumnStats, Job, Result
from worker.analyzers.base import LABELS
from worker.dates import BUCKETS, DateReading, bucket_choose, bucket_start, column_dates, date_parse

# Rows read (the first ones, in input order) to propose the columns worth breaking down.
SAMPLE = 2000
# A column with more distinct values than this is not suggested for groups (a chart of 50 bars
# is already long); an API call grouping by a column with more answers its biggest MAX_GROUPS.
MAX_GROUPS = 50
# Names of columns that identify rows rather than group them.
ID_NAME = re.compile(r"(^|[^a-z])(id|uuid|key|no|number|번호|아이디)([^a-z]|$)", re.IGNORECASE)
# A column of dates written as ISO date-times is counted by its first 10 characters (the
# day) in SQL: a million distinct timestamps would otherwise come back to be read one by one.
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# An aggregate row: count, then each label's count, then the sum of the scores.
ENTRY = ("count", *LABELS, "score_sum")


class UnknownColumn(ValueError):
    """The column asked for cannot be broken down this way; `allowed` names those that can."""

    def __init__(self, message: str, *, allowed: list[str]):
        super().__init__(message)
        self.message = message
        self.allowed = allowed


@dataclass(frozen=True, slots=True)
class _Counts:
    """Results counted: all, by label, and their scores summed."""

    count: int
    positive: int
    neutral: int
    negative: int
    score_sum: float

    def share(self, label: str) -> float:
        return round(getattr(self, label) / self.count, 4) if self.count else 0.0


@dataclass(frozen=True, slots=True)
class Group(_Counts):
    value: str | None = None

    @property
    def mean_score(self) -> float:
        return round(self.score_sum / self.count, 4) if self.count else 0.0


@dataclass(frozen=True, slots=True)
class Groups:
    column: str
    groups: list[Group]  # by share negative, highest first; then by count
    truncated: bool  # more values than MAX_GROUPS: these are the biggest


@dataclass(frozen=True, slots=True)
class Point(_Counts):
    start: date | None = None

    @property
    def mean_score(self) -> float | None:
        """None for a bucket with no texts (the chart leaves a gap)."""
        return round(self.score_sum / self.count, 4) if self.count else None


@dataclass(frozen=True, slots=True)
class Trend:
    column: str
    bucket: str
    reading: DateReading
    points: list[Point]  # every bucket from the first date to the last, empty ones included
    undated: int  # results whose cell holds no readable date


@dataclass(frozen=True, slots=True)
class Columns:
    """The columns of a job that can be broken down, by name."""

    groupable: list[str]  # every column but the text column
    suggested: list[str]  # those worth grouping by (the module's docstring says which)
    dates: list[str]  # those holding dates


def _positions(job: Job) -> dict[str, int]:
    """Each column's place, the text column left out (its cells are null: the text is Result.text)."""
    return {name: i for i, name in enumerate(job.columns or []) if name != job.text_column}


class Cell(Func):
    """The text of a result's cell at `position`, NULL when empty (the contract's `cells->>i`).

    Written out rather than Django's KT(): on SQLite that gives an empty
    cell as the text 'null', and its equality lookup reads the right side as JSON.
    """

    output_field = TextField()

    def __init__(self, position: int):
        self.position = int(position)  # a column's index, inlined: never user text
        super().__init__(F("cells"))

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} ->> {self.position})", params

    def as_sql(self, compiler, connection, **extra):
        # SQLite (the local try-out), and any backend with JSON1's json_extract.
        sql, params = compiler.compile(self.source_expressions[0])
        return f"json_extract({sql}, '$[{self.position}]')", params


def _cell(position: int) -> Cell:
    return Cell(position)


def _counts(results: QuerySet, key) -> QuerySet:
    """One row per key: its count, each label's count and the sum of scores."""
    return (
        results.values(key=key)
        .annotate(
            # idx, never null: a result has no id (its key is (job, idx)).
            count=Count("idx"),
            **{label: Count("idx", filter=Q(label=label)) for label in LABELS},
            score_sum=Sum("compound"),
        )
        .order_by()
    )


def _entry(row: dict) -> list:
    return [row["key"], *(row[k] or 0 for k in ENTRY)]


def _sample(job_id: uuid.UUID) -> list[list]:
    rows = Result.objects.filter(job_id=job_id).order_by("idx").values_list("cells", flat=True)[:SAMPLE]
    return [cells for cells in rows if isinstance(cells, list)]


def _column_values(sample: list[list], position: int) -> list[str | None]:
    return [cells[position] if position < len(cells) else None for cells in sample]


def _readings(job: Job, sample: list[list]) -> dict[str, DateReading]:
    readings = {}
    for name, position in _positions(job).items():
        reading = column_dates(name, _column_values(sample, position))
        if reading is not None:
            readings[name] = reading
    return readings


def _suggestible(name: str, entries: list[list]) -> bool:
    filled = [e for e in entries if e[0] not in (None, "")]
    values = len(filled)
    cells = sum(e[1] for e in filled)
    return 2 <= values <= MAX_GROUPS and 2 * values <= cells and not ID_NAME.search(name)


def _day_key(position: int, sample_values: Iterable[str | None]):
    present = [v for v in sample_values if v]
    if present and all(ISO_DAY.match(v) for v in present):
        return Left(_cell(position), 10)
    return _cell(position)


def _days(job_id: uuid.UUID, position: int, reading: DateReading, key) -> tuple[list[list], int]:
    """Count a date column's results per day; return the days' entries and the results with no date."""
    days: dict[date, list] = {}
    undated = 0
    for row in _counts(Result.objects.filter(job_id=job_id), key).iterator(chunk_size=10_000):
        day = date_parse(row["key"], reading)
        if day is None:
            undated += row["count"]
            continue
        entry = days.setdefault(day, [0, *(0 for _ in LABELS), 0.0])
        for i, k in enumerate(ENTRY):
            entry[i] += row[k] or 0
    return [[d.isoformat(), *days[d]] for d in sorted(days)], undated


def breakdowns_store(job_id: uuid.UUID, *, job: Job | None = None) -> None:
    """Count a finished job's results per value of its groupable columns and per day of its date columns.

    `job`: its row, when the caller holds it (a single text's way to success saves the query).
    """
    if job is None:
        job = Job.objects.only("id", "columns", "text_column").get(pk=job_id)
    positions = _positions(job)
    if not positions:
        return
    sample = _sample(job_id)
    readings = _readings(job, sample)
    stats = []
    for name, position in positions.items():
        values = _column_values(sample, position)
        if name in readings:
            entries, undated = _days(job_id, position, readings[name], _day_key(position, values))
            reading = {"day_first": readings[name].day_first, "serials": readings[name].serials}
            stats.append(
                ColumnStats(
                    job_id=job_id,
                    position=position,
                    kind=ColumnStats.Kind.DATES,
                    distinct=len(entries),
                    reading=reading,
                    undated=undated,
                    entries=entries,
                )
            )
            continue
        if len({v for v in values if v}) > MAX_GROUPS or ID_NAME.search(name):
            continue
        # The most a suggested column has (MAX_GROUPS values and the empty cell), and one more:
        # enough to know there are too many.
        rows = _counts(Result.objects.filter(job_id=job_id), _cell(position)).order_by("-count")
        entries = [_entry(row) for row in rows[: MAX_GROUPS + 2]]
        if _suggestible(name, entries):
            distinct = sum(1 for e in entries if e[0] not in (None, ""))
            stats.append(
                ColumnStats(
                    job_id=job_id,
                    position=position,
                    kind=ColumnStats.Kind.GROUPS,
                    distinct=distinct,
                    entries=entries,
                )
            )
    ColumnStats.objects.filter(job_id=job_id).delete()
    ColumnStats.objects.bulk_create(stats)


def _stored(job: Job, kind: str) -> dict[int, ColumnStats]:
    if not job.is_final:
        return {}
    return {s.position: s for s in ColumnStats.objects.filter(job=job, kind=kind)}


def columns_of(job: Job) -> Columns:
    """Return the columns a job's results can be grouped by, those suggested, and its date columns."""
    positions = _positions(job)
    if not positions:
        return Columns(groupable=[], suggested=[], dates=[])
    names = {p: n for n, p in positions.items()}
    stored = list(ColumnStats.objects.filter(job=job).values_list("position", "kind")) if job.is_final else []
    if stored:
        suggested = [names[p] for p, kind in stored if kind == ColumnStats.Kind.GROUPS and p in names]
        dates = [names[p] for p, kind in stored if kind == ColumnStats.Kind.DATES and p in names]
    else:
        sample = _sample(job.pk)
        readings = _readings(job, sample)
        dates = [n for n in positions if n in readings]
        suggested = []
        for name, position in positions.items():
            entries = [[v, n] for v, n in Counter(_column_values(sample, position)).items()]
            if name not in readings and _suggestible(name, entries):
                suggested.append(name)
    order = list(positions)
    suggested.sort(key=order.index)
    dates.sort(key=order.index)
    groupable = suggested + [n for n in order if n not in suggested]
    return Columns(groupable=groupable, suggested=suggested, dates=dates)


def _position(job: Job, column: str | None, *, allowed: list[str], what: str) -> int:
    positions = _positions(job)
    if column not in positions or column not in allowed:
        listed = ", ".join(allowed) if allowed else "none: this job's input has no such column"
        raise UnknownColumn(
            f"{column!r} is not a column this job can {what}; use one of: {listed}.", allowed=allowed
        )
    return positions[column]


def groups_of(job: Job, column: str | None) -> Groups:
    """Break a job's results down by the values of `column`: counts, label shares, mean score."""
    position = _position(job, column, allowed=columns_of(job).groupable, what="group by")
    stats = _stored(job, ColumnStats.Kind.GROUPS).get(position)
    if stats is not None:
        entries = stats.entries
    else:
        rows = _counts(Result.objects.filter(job=job), _cell(position)).order_by("-count")
        entries = [_entry(row) for row in rows[: MAX_GROUPS + 1]]
    # Stored entries are never more than MAX_GROUPS values (and the empty cell).
    truncated = stats is None and len(entries) > MAX_GROUPS
    groups = [Group(*e[1:], value=e[0]) for e in (entries[:MAX_GROUPS] if truncated else entries)]
    groups.sort(key=lambda g: (-g.share("negative"), -g.count, g.value or ""))
    return Groups(column=column, groups=groups, truncated=truncated)


def group_filter(results: QuerySet, *, job: Job, column: str, value: str) -> QuerySet:
    """Keep the results whose cell in `column` holds `value`."""
    position = _position(job, column, allowed=columns_of(job).groupable, what="group by")
    return results.alias(group_cell=_cell(position)).filter(group_cell=value)


def group_count(*, job: Job, column: str, value: str, label: str | None) -> int | None:
    """The number of results in a group (of one label), from the stored counts; None when not stored."""
    position = _positions(job).get(column)
    stats = _stored(job, ColumnStats.Kind.GROUPS).get(position) if position is not None else None
    if stats is None:
        return None
    for entry in stats.entries:
        if entry[0] == value:
            return entry[ENTRY.index(label) + 1] if label else entry[1]
    return 0


def trend_of(job: Job, column: str | None, bucket: str | None = None) -> Trend:
    """Count a job's results and their scores over time, by the dates in `column`."""
    dates = columns_of(job).dates
    position = _position(job, column, allowed=dates, what="draw a trend of")
    if bucket not in (None, "", *BUCKETS):
        raise UnknownColumn(
            f"Unknown bucket {bucket!r}; use one of: {', '.join(BUCKETS)}.", allowed=list(BUCKETS)
        )
    stats = _stored(job, ColumnStats.Kind.DATES).get(position)
    if stats is not None:
        reading = DateReading(**stats.reading)
        entries, undated = stats.entries, stats.undated
    else:
        sample = _sample(job.pk)
        values = _column_values(sample, position)
        reading = column_dates(column, values) or DateReading()
        entries, undated = _days(job.pk, position, reading, _day_key(position, values))
    if not entries:
        return Trend(column=column, bucket=bucket or "day", reading=reading, points=[], undated=undated)
    first, last = date.fromisoformat(entries[0][0]), date.fromisoformat(entries[-1][0])
    bucket = bucket or bucket_choose(first, last)
    sums: dict[date, list] = {}
    for entry in entries:
        start = bucket_start(date.fromisoformat(entry[0]), bucket)
        total = sums.setdefault(start, [0] * (len(ENTRY) - 1) + [0.0])
        for i, n in enumerate(entry[1:]):
            total[i] += n
    points = []
    start, end = bucket_start(first, bucket), bucket_start(last, bucket)
    while start <= end:
        points.append(Point(*sums.get(start, [0] * (len(ENTRY) - 1) + [0.0]), start=start))
        start = _next(start, bucket)
    return Trend(column=column, bucket=bucket, reading=reading, points=points, undated=undated)


def _next(start: date, bucket: str) -> date:
    if bucket == "day":
        return date.fromordinal(start.toordinal() + 1)
    if bucket == "week":
        return date.fromordinal(start.toordinal() + 7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)
