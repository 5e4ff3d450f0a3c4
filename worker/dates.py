"""Dates written in a table's cells: which columns hold them, the day each cell means, and time buckets.

Pure functions (no Django), so the rules are tested as tables. A cell is a
date when it reads as one of:

- ISO, with or without a time: `2026-11-03`, `2026-11-03T14:05:00Z`, `2026/11/03 14:05`;
- dotted, as Korean Excel writes it: `2026.11.03`, `2026. 11. 3.`;
- Korean: `2026년 11월 3일` (a weekday or time after it is ignored);
- the year last: `11/03/2026`, `03.11.2026`, `11-03-2026 9:30`. Month first (US)
  unless the column says otherwise: when any of its values has a first part
  over 12 (`25/03/2026`), the whole column is read day first; a column where
  no value decides (`03/04/2026` only) is read month first;
- an Excel serial date (`46329` is 2026-11-03, the fraction is the time),
  from 1980 to 2100, only in a column whose name suggests dates or whose
  other values are written dates: a column of ids or counts is not dates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

BUCKETS = ("day", "week", "month")
# A column is a date column when at least this share of its non-empty values read as dates:
# a column of free text that now and then holds a date is not one.
DATE_SHARE = 0.8
# Spans (in days, last minus first) up to which a trend's buckets are days, then weeks;
# beyond, months. Each keeps a chart to at most about 60 bars.
DAY_BUCKETS_MAX_SPAN = 62
WEEK_BUCKETS_MAX_SPAN = 366
# Excel counts days from 1899-12-30 (its 1900 leap-year bug included, so
# serials after February 1900 land right). Plausible serials: 1980-01-01 to 2100-12-31.
EXCEL_EPOCH = date(1899, 12, 30)
SERIAL_MIN = 29221
SERIAL_MAX = 73415
# Column names that say "dates here" (English and Korean): only then are bare numbers read as dates.
DATE_NAME = re.compile(
    r"date|time|day|created|updated|modified|posted|when|stamp|날짜|일자|일시|작성일|등록일|시간|시각",
    re.IGNORECASE,
)

# The time (and zone) that may follow a date: ignored, a trend's smallest bucket is a day.
_TIME = r"(?:[T ,]\s*\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[AaPp]\.?[Mm]\.?)?\s*(?:Z|[+-]\d{2}:?\d{2})?)?"
_YEAR_FIRST = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME)
_DOTTED = re.compile(r"(\d{4})\.\s*(\d{1,2})\.\s*(\d{1,2})\.?(?:\s*\(.\))?" + r"(?:\s+.*)?")
_KOREAN = re.compile(r"(\d{4})\s*년\s*(\d{1,2})\s*월\s*(\d{1,2})\s*일(?:\s*\(?.요일\)?|\s*\(.\))?(?:\s+.*)?")
_YEAR_LAST = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})" + _TIME)
_SERIAL = re.compile(r"\d{5}(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class DateReading:
    """How a column's cells are read as dates."""

    day_first: bool = False
    serials: bool = False


def date_parse(value: str | None, reading: DateReading = DateReading()) -> date | None:  # noqa: B008 - frozen
    """Return the day a cell means, or None if it is not a date."""
    if not value:
        return None
    text = value.strip()
    if m := _YEAR_FIRST.fullmatch(text):
        return _day(m[1], m[3], m[4])
    if m := _DOTTED.fullmatch(text):
        return _day(m[1], m[2], m[3])
    if m := _KOREAN.fullmatch(text):
        return _day(m[1], m[2], m[3])
    if m := _YEAR_LAST.fullmatch(text):
        first, second = m[1], m[3]
        return _day(m[4], second, first) if reading.day_first else _day(m[4], first, second)
    if reading.serials and _SERIAL.fullmatch(text):
        serial = float(text)
        if SERIAL_MIN <= serial <= SERIAL_MAX:
            return EXCEL_EPOCH + timedelta(days=int(serial))
    return None


def _day(year: str, month: str, day: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def column_dates(name: str, values: Iterable[str | None]) -> DateReading | None:
    """Decide whether a column holds dates (from its name and a sample of its values) and how to read them.

    Returns None when fewer than DATE_SHARE of its non-empty values are dates.
    """
    present = [v.strip() for v in values if v and v.strip()]
    if not present:
        return None
    day_first = _day_first(present)
    serial_like = sum(1 for v in present if _is_serial(v))
    written = DateReading(day_first=day_first)
    written_dates = sum(1 for v in present if date_parse(v, written) is not None)
    others = len(present) - serial_like
    # Serials are dates when the name says so, or when the rest of the column is written dates.
    serials = serial_like > 0 and (
        bool(DATE_NAME.search(name or "")) or (others > 0 and written_dates >= DATE_SHARE * others)
    )
    reading = DateReading(day_first=day_first, serials=serials)
    parsed = sum(1 for v in present if date_parse(v, reading) is not None)
    return reading if parsed >= DATE_SHARE * len(present) else None


def _is_serial(value: str) -> bool:
    return bool(_SERIAL.fullmatch(value)) and SERIAL_MIN <= float(value) <= SERIAL_MAX


def _day_first(values: list[str]) -> bool:
    """Read `a/b/yyyy` as day first when some value's first part is over 12 and none's second part is."""
    firsts = seconds = False
    for v in values:
        if m := _YEAR_LAST.fullmatch(v):
            firsts |= int(m[1]) > 12
            seconds |= int(m[3]) > 12
    return firsts and not seconds


def bucket_choose(first: date, last: date) -> str:
    """Pick a trend's bucket from its span: days up to two months, weeks up to a year, else months."""
    span = (last - first).days
    if span <= DAY_BUCKETS_MAX_SPAN:
        return "day"
    if span <= WEEK_BUCKETS_MAX_SPAN:
        return "week"
    return "month"


def bucket_start(day: date, bucket: str) -> date:
    """Return the first day of the bucket `day` falls in (weeks start on Monday, ISO 8601)."""
    if bucket == "day":
        return day
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown bucket {bucket!r}; use one of: {', '.join(BUCKETS)}")
