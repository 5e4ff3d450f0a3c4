"""The date reader (worker/dates.py): formats, day or month first, Excel serials, buckets. No database."""

from datetime import date

import pytest

from worker.dates import DateReading, bucket_choose, bucket_start, column_dates, date_parse

US = DateReading()
DAY_FIRST = DateReading(day_first=True)
SERIALS = DateReading(serials=True)


@pytest.mark.parametrize(
    ("value", "reading", "expected"),
    [
        # ISO, with and without a time or zone.
        ("2026-11-03", US, date(2026, 11, 3)),
        ("2026-11-03T14:05:00Z", US, date(2026, 11, 3)),
        ("2026-11-03T14:05:00.123+09:00", US, date(2026, 11, 3)),
        ("2026-11-03 14:05", US, date(2026, 11, 3)),
        ("2026/11/03", US, date(2026, 11, 3)),
        ("  2026-1-3  ", US, date(2026, 1, 3)),
        # Dotted, as Korean Excel writes it.
        ("2026.11.03", US, date(2026, 11, 3)),
        ("2026. 11. 3.", US, date(2026, 11, 3)),
        ("2026. 11. 3. 오후 3:00:00", US, date(2026, 11, 3)),
        # Korean.
        ("2026년 11월 3일", US, date(2026, 11, 3)),
        ("2026년11월3일", US, date(2026, 11, 3)),
        ("2026년 11월 3일 (화)", US, date(2026, 11, 3)),
        ("2026년 11월 3일 화요일", US, date(2026, 11, 3)),
        ("2026년 11월 3일 오후 3:05", US, date(2026, 11, 3)),
        # The year last: month first unless the column is read day first.
        ("11/03/2026", US, date(2026, 11, 3)),
        ("11/03/2026", DAY_FIRST, date(2026, 3, 11)),
        ("03.11.2026", DAY_FIRST, date(2026, 11, 3)),
        ("11-03-2026 9:30 PM", US, date(2026, 11, 3)),
        ("25/03/2026", US, None),  # no 25th month
        ("25/03/2026", DAY_FIRST, date(2026, 3, 25)),
        # Excel serials: only when the column allows them, and only in the plausible range.
        ("46329", SERIALS, date(2026, 11, 3)),
        ("46329.75", SERIALS, date(2026, 11, 3)),
        ("46329", US, None),
        ("1234", SERIALS, None),
        ("99999", SERIALS, None),
        ("29220", SERIALS, None),  # 1979-12-31
        ("29221", SERIALS, date(1980, 1, 1)),
        # Junk and impossible dates.
        ("", US, None),
        (None, US, None),
        ("yesterday", US, None),
        ("2026-13-01", US, None),
        ("2026-02-30", US, None),
        ("2026년 2월 30일", US, None),
        ("The box arrived on 2026-11-03", US, None),
        ("2026-11-03 and more text", US, None),
        ("4.5", SERIALS, None),
        ("123-45-6789", US, None),
    ],
)
def test_date_parse(value, reading, expected):
    assert date_parse(value, reading) == expected


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("date", ["2026-11-03", "2026-11-04", None, ""], DateReading()),
        ("when", ["11/03/2026", "12/01/2026"], DateReading()),
        # A first part over 12 anywhere: the whole column is day first.
        ("when", ["03/04/2026", "25/03/2026", "01/12/2026"], DateReading(day_first=True)),
        # Nothing decides: month first (US).
        ("when", ["03/04/2026", "05/06/2026"], DateReading()),
        # A second part over 12 says month first, even with a first part over 12 elsewhere (then those fail).
        ("when", ["03/25/2026", "04/01/2026"], DateReading()),
        ("작성일", ["2026년 11월 3일", "2026년 11월 4일"], DateReading()),
        ("날짜", ["2026. 11. 3.", "2026. 11. 4."], DateReading()),
        # Serials: by the column's name...
        ("Order date", ["46329", "46330.5"], DateReading(serials=True)),
        ("created_at", ["46329"], DateReading(serials=True)),
        # ... or because the column's other values are written dates.
        ("column 3", ["2026-11-03", "46329", "2026-11-05", "2026-11-06"], DateReading(serials=True)),
        # Not dates: ids and counts in the serial range, ratings, text, too few dates.
        ("id", ["30001", "30002", "30003"], None),
        ("order", ["46329", "46330"], None),
        ("stars", ["1", "5", "4"], None),
        ("review", ["Great!", "Bad on 2026-11-03", "ok"], None),
        ("date", ["2026-11-03", "soon", "later", "never"], None),
        ("date", [None, "", "  "], None),
        ("date", [], None),
    ],
)
def test_column_dates(name, values, expected):
    assert column_dates(name, values) == expected


def test_most_but_not_all_values_being_dates_is_enough():
    values = ["2026-11-03"] * 8 + ["unknown", ""] + ["n/a"]
    assert column_dates("date", values) == DateReading()
    assert column_dates("date", ["2026-11-03"] * 7 + ["unknown"] * 3) is None


@pytest.mark.parametrize(
    ("first", "last", "bucket"),
    [
        (date(2026, 11, 3), date(2026, 11, 3), "day"),
        (date(2026, 11, 1), date(2027, 1, 2), "day"),  # 62 days
        (date(2026, 11, 1), date(2027, 1, 3), "week"),
        (date(2026, 1, 1), date(2027, 1, 2), "week"),  # 366 days
        (date(2026, 1, 1), date(2027, 1, 3), "month"),
        (date(2016, 1, 1), date(2026, 1, 1), "month"),
    ],
)
def test_bucket_choose_by_span(first, last, bucket):
    assert bucket_choose(first, last) == bucket


@pytest.mark.parametrize(
    ("day", "bucket", "start"),
    [
        (date(2026, 11, 5), "day", date(2026, 11, 5)),
        (date(2026, 11, 5), "week", date(2026, 11, 2)),  # a Thursday: its week starts on Monday the 2nd
        (date(2026, 11, 2), "week", date(2026, 11, 2)),
        (date(2026, 11, 1), "week", date(2026, 10, 26)),  # a Sunday ends the week before
        (date(2026, 11, 30), "month", date(2026, 11, 1)),
    ],
)
def test_bucket_start(day, bucket, start):
    assert bucket_start(day, bucket) == start


def test_bucket_start_refuses_an_unknown_bucket():
    with pytest.raises(ValueError, match="day, week, month"):
        bucket_start(date(2026, 11, 5), "year")
