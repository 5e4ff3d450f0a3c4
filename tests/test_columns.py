"""The text column chooser (worker/columns.py) and inspect() using it: names × contents, no database."""

from __future__ import annotations

import pytest

from worker.columns import (
    DATE,
    EMPTY,
    ID,
    NUMBER,
    SENTENCE,
    WORD,
    column_choose,
    name_says_text,
    value_kind,
)
from worker.exceptions import InputError
from worker.inputs import inspect

SENTENCES = [
    "Arrived quickly and works as described",
    "The battery died after two days, very disappointed",
    "Decent for the price but the lid does not close",
    "Would buy again, my kids love it",
]
KOREAN_SENTENCES = [
    "배송이 빨라서 좋았어요",
    "생각보다 품질이 별로네요",
    "가격 대비 괜찮습니다",
    "다시 구매할 의향 있어요",
]
DATES = ["2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06"]
US_DATES = ["11/03/2026", "11/04/2026", "12/01/2026", "01/15/2027"]
KOREAN_DATES = ["2026년 11월 3일", "2026년 11월 4일", "2026년 12월 1일", "2027년 1월 15일"]
STARS = ["5", "1", "3", "4"]
IDS = ["A-17", "A-18", "SKU-0031", "B-2"]
WORDS = ["great", "bad", "fine", "awful"]
KOREAN_WORDS = ["최고", "별로", "보통", "좋아요"]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("2026-11-03", DATE),
        ("2026-11-03T10:04:00Z", DATE),
        ("2026-11-03 10:04", DATE),
        ("11/03/2026", DATE),
        ("3.11.2026", DATE),
        ("2026년 11월 3일", DATE),
        ("11월 3일", DATE),
        ("Nov 3, 2026", DATE),
        ("3 November 2026", DATE),
        ("14:05", DATE),
        ("5", NUMBER),
        ("-0.5", NUMBER),
        ("1,234", NUMBER),
        ("$12.50", NUMBER),
        ("45%", NUMBER),
        ("A-17", ID),
        ("SKU123", ID),
        ("3f2c9a1e-8d4b-4c4e-9b1a-2f6d7c8e9a0b", ID),
        ("great", WORD),
        ("최고", WORD),
        ("Great product, works well", SENTENCE),
        ("배송이 빨라요", SENTENCE),
        ("とても良い商品でした", SENTENCE),
        ("", EMPTY),
        ("   ", EMPTY),
        (None, EMPTY),
    ],
)
def test_value_kind(value, kind):
    assert value_kind(value) == kind


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("text", True),
        ("Review", True),
        ("review_text", True),
        ("Customer Comment", True),
        ("리뷰", True),
        ("리뷰 내용", True),
        ("후기", True),
        ("의견", True),
        ("Review Title", False),
        ("리뷰 제목", False),
        ("review_date", False),
        ("id", False),
        ("stars", False),
        ("video_review", True),
    ],
)
def test_name_says_text(name, says):
    assert name_says_text(name) is says


def table(columns: dict[str, list[str]]) -> tuple[list[str], list[list[str]]]:
    headers = list(columns)
    rows = [list(cells) for cells in zip(*columns.values(), strict=True)]
    return headers, rows


@pytest.mark.parametrize(
    ("columns", "chosen"),
    [
        pytest.param(
            {"id": IDS, "stars": STARS, "when": DATES, "body": SENTENCES}, "body", id="content-unnamed"
        ),
        # The named column holds dates: the sentences win however the other is named.
        pytest.param({"text": DATES, "notes": SENTENCES}, "notes", id="named-dates-lose"),
        pytest.param({"review": STARS, "x": SENTENCES}, "x", id="named-numbers-lose"),
        pytest.param({"comment": IDS, "x": SENTENCES}, "x", id="named-ids-lose"),
        pytest.param({"review": WORDS, "x": SENTENCES}, "x", id="named-single-words-lose"),
        # Two columns of sentences: the name decides.
        pytest.param({"title": SENTENCES, "review": SENTENCES}, "review", id="name-breaks-tie"),
        pytest.param({"a": SENTENCES, "b": SENTENCES}, "a", id="first-of-equals"),
        # Korean headers and contents.
        pytest.param({"번호": IDS, "날짜": KOREAN_DATES, "리뷰": KOREAN_SENTENCES}, "리뷰", id="korean"),
        pytest.param({"내용": KOREAN_DATES, "의견": KOREAN_SENTENCES}, "의견", id="korean-named-dates-lose"),
        pytest.param(
            {"별점": STARS, "작성일": US_DATES, "후기": KOREAN_SENTENCES}, "후기", id="korean-stars"
        ),
        # No sentences anywhere: single words are text (a name helps).
        pytest.param({"id": IDS, "verdict": WORDS}, "verdict", id="single-words"),
        pytest.param({"a": WORDS, "comment": KOREAN_WORDS}, "comment", id="single-words-named"),
        # A column named for text but empty in the sample is taken (the worker reports its rows).
        pytest.param({"id": STARS, "text": ["", "", "", ""]}, "text", id="named-empty"),
    ],
)
def test_column_choose(columns, chosen):
    headers, rows = table(columns)

    index, name = column_choose(headers, rows)

    assert name == chosen
    assert headers[index] == chosen


@pytest.mark.parametrize(
    ("columns", "described"),
    [
        pytest.param(
            {"id": ["1", "2", "3", "4"], "stars": STARS, "when": DATES},
            ["id: ids", "stars: numbers 1–5", "when: dates"],
            id="id-stars-when",
        ),
        pytest.param({"date": DATES}, ["date: dates"], id="date-only"),
        pytest.param(
            {"작성일": KOREAN_DATES, "별점": STARS}, ["작성일: dates", "별점: numbers 1–5"], id="korean"
        ),
        pytest.param(
            {"sku": IDS, "price": ["$1", "$2.50", "$3", "$10"]}, ["sku: ids", "price: numbers 1–10"], id="ids"
        ),
    ],
)
def test_no_text_column_is_refused_listing_each_column(columns, described):
    headers, rows = table(columns)

    with pytest.raises(InputError) as caught:
        column_choose(headers, rows)

    assert caught.value.code == "no_text_column"
    for part in described:
        assert part in caught.value.message


@pytest.mark.parametrize("wanted", ["title", "TITLE", " title "])
def test_a_chosen_column_wins_over_content(wanted):
    headers, rows = table({"title": WORDS, "review": SENTENCES})

    assert column_choose(headers, rows, wanted) == (0, "title")


@pytest.mark.parametrize(("column", "holds"), [("when", "dates"), ("stars", "numbers 1–5")])
def test_a_chosen_column_of_dates_or_numbers_is_refused(column, holds):
    headers, rows = table({"when": DATES, "stars": STARS, "review": SENTENCES})

    with pytest.raises(InputError) as caught:
        column_choose(headers, rows, column)

    assert caught.value.code == "not_text_column"
    assert f"{column!r} holds {holds}" in caught.value.message


def test_a_chosen_column_that_does_not_exist_is_refused():
    headers, rows = table({"review": SENTENCES})

    with pytest.raises(InputError) as caught:
        column_choose(headers, rows, "comment")

    assert caught.value.code == "no_such_column"


def csv_of(columns: dict[str, list[str]]) -> bytes:
    headers, rows = table(columns)
    return ("\n".join(",".join(f'"{c}"' for c in row) for row in [headers, *rows]) + "\n").encode()


@pytest.mark.parametrize(
    ("data", "name", "column"),
    [
        pytest.param(
            csv_of({"id": IDS, "stars": STARS, "when": DATES, "body": SENTENCES}), "r.csv", "body", id="csv"
        ),
        pytest.param(
            csv_of({"text": DATES, "리뷰": KOREAN_SENTENCES}).replace(b",", b"\t"),
            "r.tsv",
            "리뷰",
            id="tsv-korean",
        ),
        pytest.param(
            b'{"id": 1, "when": "2026-11-03", "note": "Works well, fast delivery"}\n'
            b'{"id": 2, "when": "2026-11-04", "note": "Broke on day two"}\n',
            "r.jsonl",
            "note",
            id="jsonl-objects",
        ),
    ],
)
def test_inspect_chooses_the_column_by_content(data, name, column):
    spec = inspect(data, filename=name, at_eof=True)

    assert spec.column == column


@pytest.mark.parametrize(
    ("data", "name"),
    [
        pytest.param(csv_of({"when": DATES}), "dates.csv", id="csv-dates"),
        pytest.param("\n".join(DATES).encode() + b"\n", "dates.txt", id="txt-dates"),
        pytest.param("\n".join(KOREAN_DATES).encode() + b"\n", "dates.txt", id="txt-korean-dates"),
        pytest.param(b'"2026-11-03"\n"2026-11-04"\n', "dates.jsonl", id="jsonl-dates"),
        pytest.param(csv_of({"id": IDS, "stars": STARS, "when": DATES}), "r.csv", id="id-stars-when"),
        pytest.param(b'{"id": 1, "stars": 5}\n{"id": 2, "stars": 1}\n', "r.jsonl", id="jsonl-numbers"),
    ],
)
def test_inspect_refuses_a_file_without_text(data, name):
    with pytest.raises(InputError) as caught:
        inspect(data, filename=name, at_eof=True)

    assert caught.value.code == "no_text_column"


def test_inspect_keeps_the_header_as_written():
    spec = inspect(b"ID, Review Text ,when\n1,Good stuff here,2026-01-01\n", filename="r.csv", at_eof=True)

    assert spec.headers == ("ID", " Review Text ", "when")
    assert spec.column == "Review Text"
    assert spec.column_index == 1
