"""Reading uploaded files (worker/inputs.py): pure tables, no database.

`inspect()` sees the first SAMPLE_BYTES of a file, as the web process
does; `iter_rows()` streams all of it, as the worker does.
"""

from __future__ import annotations

import codecs
import io
import itertools
import json
import re

import pytest

from tests.builders import ZIP_HEADER, xlsx
from worker.exceptions import InputError
from worker.inputs import SAMPLE_BYTES, InputSpec, Row, encoding_normalize, inspect, iter_rows

MAX_CHARS = 10_000
KOREAN = ["이 제품 정말 좋아요", "배송이 너무 늦었어요", "최고의 선택!"]
WESTERN = ["Café “très” bon, 5€", "Déçu – trop cher", "Naïve résumé, 10€"]


def spec_of(data: bytes, **kwargs) -> InputSpec:
    """Inspect a file as the web process does: its first SAMPLE_BYTES only."""
    return inspect(data[:SAMPLE_BYTES], at_eof=len(data) <= SAMPLE_BYTES, **kwargs)


def read(data: bytes, *, max_chars: int = MAX_CHARS, **kwargs) -> tuple[InputSpec, list[Row]]:
    """Inspect a file, then read every row of it as the worker does."""
    spec = spec_of(data, **kwargs)
    return spec, list(iter_rows(io.BytesIO(data), spec, max_chars=max_chars))


def texts_of(rows: list[Row]) -> list[str]:
    return [row.text for row in rows if row.text is not None]


def problem(call) -> InputError:
    with pytest.raises(InputError) as info:
        call()
    assert info.value.message.strip()
    return info.value


def csv_of(texts: list[str], *, header: str = "id,text") -> str:
    """A two-column CSV (an id, then the text, quoted), with CRLF as Excel writes it."""
    rows = [header] + [f'{i},"{t}"' for i, t in enumerate(texts, start=1)]
    return "\r\n".join(rows) + "\r\n"


# --- encodings ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "codec", "texts"),
    [
        pytest.param(csv_of(WESTERN).encode(), "utf-8", WESTERN, id="utf-8"),
        pytest.param(codecs.BOM_UTF8 + csv_of(WESTERN).encode(), "utf-8-sig", WESTERN, id="utf-8-bom"),
        pytest.param(
            codecs.BOM_UTF16_LE + csv_of(WESTERN + KOREAN).encode("utf-16-le"),
            "utf-16",
            WESTERN + KOREAN,
            id="utf-16-le-bom",
        ),
        pytest.param(
            codecs.BOM_UTF16_BE + csv_of(WESTERN + KOREAN).encode("utf-16-be"),
            "utf-16",
            WESTERN + KOREAN,
            id="utf-16-be-bom",
        ),
        pytest.param(csv_of(WESTERN).encode("cp1252"), "cp1252", WESTERN, id="windows-1252"),
        pytest.param(csv_of(KOREAN).encode("cp949"), "cp949", KOREAN, id="cp949"),
        pytest.param(csv_of(KOREAN).encode("euc-kr"), "cp949", KOREAN, id="euc-kr"),
    ],
)
def test_encoding_is_detected(data, codec, texts):
    spec, rows = read(data, filename="reviews.csv")

    assert spec.encoding == codec
    assert spec.headers == ("id", "text")
    assert texts_of(rows) == texts


@pytest.mark.parametrize(
    ("text_encoding", "chosen", "codec"),
    [
        pytest.param("cp1252", "windows-1252", "cp1252", id="windows-1252"),
        pytest.param("cp1252", "Windows-1252", "cp1252", id="windows-1252-any-case"),
        pytest.param("cp949", "cp949", "cp949", id="cp949"),
        pytest.param("euc-kr", "euc-kr", "cp949", id="euc-kr"),
        pytest.param("euc-kr", "EUC_KR", "cp949", id="euc_kr-spelling"),
        pytest.param("utf-8", "utf-8", "utf-8", id="utf-8"),
        pytest.param("utf-16", "utf-16", "utf-16", id="utf-16"),
        pytest.param("cp949", "auto", "cp949", id="auto-detects"),
        pytest.param("cp1252", "", "cp1252", id="empty-detects"),
    ],
)
def test_encoding_chosen(text_encoding, chosen, codec):
    texts = KOREAN if text_encoding in {"cp949", "euc-kr"} else WESTERN
    if text_encoding.startswith("utf"):
        texts = WESTERN + KOREAN

    spec, rows = read(csv_of(texts).encode(text_encoding), filename="reviews.csv", encoding=chosen)

    assert spec.encoding == codec
    assert texts_of(rows) == texts


def test_windows_1252_detected_in_a_short_french_file():
    texts = ["Café “très” bon, 5€", "Déçu – trop cher"] * 5

    spec, rows = read(csv_of(texts).encode("cp1252"), filename="reviews.csv")

    assert spec.encoding == "cp1252"
    assert texts_of(rows) == texts


def korean_csv_cut_in_a_character() -> bytes:
    """A CP949 file bigger than the sample, whose sample ends inside a two-byte character."""
    for pad in range(2):
        lines = [f"id{' ' * pad},text"] + [f"{i},{KOREAN[i % 3]}" for i in range(1, 6000)]
        data = ("\r\n".join(lines) + "\r\n").encode("cp949")
        try:
            data[:SAMPLE_BYTES].decode("cp949")
        except UnicodeDecodeError:
            return data
    raise AssertionError("no padding cuts the sample inside a character")


def test_cp949_detected_when_the_sample_ends_inside_a_character():
    data = korean_csv_cut_in_a_character()

    spec = spec_of(data, filename="reviews.csv")

    assert spec.encoding == "cp949"


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("auto", None),
        ("Detect", None),
        (" UTF-8 ", "utf-8"),
        ("windows-1252", "cp1252"),
        ("latin_1", "latin-1"),
        ("CP949", "cp949"),
        ("euc-kr", "cp949"),
    ],
)
def test_encoding_normalize(name, codec):
    assert encoding_normalize(name) == codec


def test_wrong_encoding_chosen_is_undecodable():
    data = csv_of(KOREAN).encode("cp949")

    exc = problem(lambda: spec_of(data, filename="reviews.csv", encoding="utf-8"))

    assert exc.code == "undecodable"
    assert "utf-8" in exc.message


@pytest.mark.parametrize("name", ["klingon", "utf-9", "ebcdic"])
def test_unknown_encoding_name(name):
    exc = problem(lambda: spec_of(b"text\nI love it\n", encoding=name))

    assert exc.code == "unknown_encoding"
    assert name in exc.message
    assert "cp949" in exc.message and "windows-1252" in exc.message


# --- formats --------------------------------------------------------------

JSONL_STRINGS = b'"I love it"\n"I hate it, really"\n'
JSONL_OBJECTS = b'{"id": 1, "text": "I love it"}\n{"id": 2, "text": "I hate it, really"}\n'


@pytest.mark.parametrize(
    ("filename", "data", "fmt", "delimiter"),
    [
        pytest.param("r.csv", b'id,text\n1,I love it\n2,"I hate it, really"\n', "csv", ",", id="csv"),
        pytest.param("R.CSV", b'id,text\n1,I love it\n2,"I hate it, really"\n', "csv", ",", id="csv-upper"),
        pytest.param("r.tsv", b"id\ttext\n1\tI love it\n2\tI hate it, really\n", "tsv", "\t", id="tsv"),
        pytest.param("r.txt", b"I love it\nI hate it, really\n", "txt", None, id="txt"),
        pytest.param("r.jsonl", JSONL_STRINGS, "jsonl", None, id="jsonl-strings"),
        pytest.param("r.ndjson", JSONL_OBJECTS, "jsonl", None, id="ndjson-objects"),
        pytest.param("", b'id,text\n1,I love it\n2,"I hate it, really"\n', "csv", ",", id="sniff-csv"),
        pytest.param("", b"id\ttext\n1\tI love it\n2\tI hate it, really\n", "tsv", "\t", id="sniff-tsv"),
        pytest.param("upload", b"I love it\nI hate it, really\n", "txt", None, id="sniff-txt"),
        pytest.param("", JSONL_STRINGS, "jsonl", None, id="sniff-jsonl-strings"),
        pytest.param("", JSONL_OBJECTS, "jsonl", None, id="sniff-jsonl-objects"),
        pytest.param("r.csv", b"id;text\n1;I love it\n2;I hate it, really\n", "csv", ";", id="semicolon"),
        pytest.param("", b"id;text\n1;I love it\n2;I hate it, really\n", "csv", ";", id="sniff-semicolon"),
    ],
)
def test_format(filename, data, fmt, delimiter):
    spec, rows = read(data, filename=filename)

    assert spec.format == fmt
    if delimiter is not None:
        assert spec.delimiter == delimiter
    assert texts_of(rows) == ["I love it", "I hate it, really"]
    assert [row.idx for row in rows] == [0, 1]


def test_extension_wins_over_content():
    # A .txt file holding commas is one text per line, commas and all.
    spec, rows = read(b"id,text\n1,I love it\n", filename="notes.txt")

    assert spec.format == "txt"
    assert texts_of(rows) == ["id,text", "1,I love it"]


def test_sniffed_csv_with_a_quoted_header():
    spec, rows = read(b'"id","text"\r\n"1","I love it"\r\n"2","I hate it"\r\n', filename="export")

    assert spec.format == "csv"
    assert texts_of(rows) == ["I love it", "I hate it"]


@pytest.mark.parametrize(
    ("line", "column", "text"),
    [
        pytest.param({"id": 1, "text": "I love it"}, None, "text", id="text"),
        pytest.param({"id": 1, "review": "I love it"}, None, "review", id="review"),
        pytest.param({"id": 1, "stars": 5, "title": "I love it"}, None, "title", id="first-string-field"),
        pytest.param({"text": "ignored", "body_fr": "I love it"}, "body_fr", "body_fr", id="chosen-field"),
    ],
)
def test_jsonl_objects_field(line, column, text):
    data = (json.dumps(line) + "\n" + json.dumps({**line, text: "I hate it"}) + "\n").encode()

    spec, rows = read(data, filename="reviews.jsonl", column=column)

    assert spec.column == text
    assert texts_of(rows) == ["I love it", "I hate it"]


def test_jsonl_chosen_field_missing_lists_the_fields():
    exc = problem(lambda: spec_of(JSONL_OBJECTS, filename="r.jsonl", column="review"))

    assert exc.code == "no_such_column"
    assert "'review'" in exc.message
    assert "id" in exc.message and "text" in exc.message


def test_jsonl_lines_without_a_string_are_skipped_with_a_reason():
    data = b'{"text": "I love it"}\n{"text": 5}\n{"other": "x"}\n[1]\n\n{"text": "I hate it"}\n'

    _, rows = read(data, filename="r.jsonl")

    assert [(r.idx, r.row_number, r.text) for r in rows] == [
        (0, 1, "I love it"),
        (1, 2, None),
        (2, 3, None),
        (3, 4, None),
        (4, 6, "I hate it"),
    ]
    assert all("'text'" in r.problem.english() for r in rows if r.text is None)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        pytest.param(b"[" * 100_000, "nested too deeply", id="deep"),
        pytest.param(b"1" * 5000, "too many digits", id="huge-number"),
        pytest.param(b"{oops", "at column 2", id="not-json"),
    ],
)
def test_jsonl_errors_are_in_our_words(line, words):
    data = b'"fine"\n' + line + b"\n"
    spec = spec_of(data, filename="r.jsonl")

    exc = problem(lambda: list(iter_rows(io.BytesIO(data), spec, max_chars=MAX_CHARS)))

    assert exc.code == "malformed_jsonl"
    assert exc.message.startswith("Line 2 is not valid JSON") and words in exc.message, exc.message
    assert "sys." not in exc.message and "recursion" not in exc.message


def test_jsonl_with_a_line_separator_inside_a_string():
    data = "\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in ["one\u2028two", "ok"]).encode()

    _, rows = read(data, filename="r.jsonl")

    assert texts_of(rows) == ["one\u2028two", "ok"]


def test_txt_rows_are_lines_blank_ones_ignored():
    _, rows = read(b"I love it\r\n\r\n  \r\n  I hate it  \r\nno newline at the end", filename="r.txt")

    assert [(r.idx, r.row_number, r.text) for r in rows] == [
        (0, 1, "I love it"),
        (1, 4, "I hate it"),
        (2, 5, "no newline at the end"),
    ]


def test_a_byte_order_mark_is_dropped_when_utf_8_is_chosen():
    # With the encoding chosen as plain utf-8 the decoder keeps the mark: the reader drops it.
    _, rows = read(codecs.BOM_UTF8 + b"first\nsecond\n", filename="r.txt", encoding="utf-8")

    assert texts_of(rows) == ["first", "second"]


# --- column selection -----------------------------------------------------


@pytest.mark.parametrize(
    ("csv_text", "column", "chosen"),
    [
        pytest.param("id,Text,score\n1,I love it,5\n", "TEXT", "Text", id="asked-any-case"),
        pytest.param("id,Body Text,x\n1,I love it,y\n", " body text ", "Body Text", id="asked-with-spaces"),
        pytest.param("title,notes\nGood,I love it\n", "notes", "notes", id="asked-over-first-text"),
        pytest.param("id,title,Text\n1,Nice,I love it\n", None, "Text", id="named-text"),
        pytest.param("id,title,review\n1,Nice,I love it\n", None, "review", id="named-review"),
        pytest.param("id,title,Comment\n1,Nice,I love it\n", None, "Comment", id="named-comment"),
        pytest.param("id,title,content\n1,Nice,I love it\n", None, "content", id="named-content"),
        pytest.param("id,remarks\n1,I love it\n2,ok\n", None, "remarks", id="first-text-column"),
        pytest.param(
            'id,stars,price,remarks,other\n1,5,"9,99",I love it,x\n2,4,1.5e3,ok,y\n',
            None,
            "remarks",
            id="numbers-skipped",
        ),
        pytest.param("id,remarks\n1,I love it\n2,ok\n3,\n4,3\n", None, "remarks", id="mostly-text"),
    ],
)
def test_column_choice(csv_text, column, chosen):
    spec = spec_of(csv_text.encode(), filename="r.csv", column=column)

    assert spec.column == chosen
    assert spec.headers[spec.column_index] == chosen


def test_column_choice_reads_that_column():
    _, rows = read(b"id,title,review\n1,Nice,I love it\n2,Bad,I hate it\n", filename="r.csv", column="title")

    assert texts_of(rows) == ["Nice", "Bad"]


def test_unknown_column_lists_the_columns():
    data = b"id,title,review\n1,Nice,I love it\n"

    exc = problem(lambda: spec_of(data, filename="r.csv", column="opinion"))

    assert exc.code == "no_such_column"
    assert "'opinion'" in exc.message
    for name in ("id", "title", "review"):
        assert f"'{name}'" in exc.message


@pytest.mark.parametrize(
    "csv_text",
    [
        pytest.param("id,score\n1,5\n2,4.5\n3,-1\n", id="only-numbers"),
        pytest.param("id,score\n1,\n2,\n", id="numbers-and-blanks"),
    ],
)
def test_no_text_column(csv_text):
    exc = problem(lambda: spec_of(csv_text.encode(), filename="r.csv"))

    assert exc.code == "no_text_column"


# --- malformed files ------------------------------------------------------

UNCLOSED = b'id,text\n1,I love it\n2,"I hate it\n3,fine\n'


def test_unclosed_quote_in_a_whole_small_file_names_the_row():
    exc = problem(lambda: inspect(UNCLOSED, filename="r.csv", at_eof=True))

    assert exc.code == "malformed_csv"
    assert re.search(r"\bRow 3\b", exc.message)


def test_unclosed_quote_cut_off_by_the_sample_is_tolerated():
    # The sample ends inside a quoted cell that goes on in the rest of the file.
    sample = b'id,text\n1,I love it\n2,"a long review\nthat goes on\nand on'

    spec = inspect(sample, filename="r.csv", at_eof=False)

    assert (spec.format, spec.column) == ("csv", "text")


def test_unclosed_quote_in_the_middle_raises_naming_the_row():
    lines = [b"id,text"] + [b"%d,row %d is fine" % (i, i) for i in range(1, 6000)]
    lines[4999] = b'4999,"this quote is never closed'  # spreadsheet row 5000
    data = b"\n".join(lines) + b"\n"
    spec = spec_of(data, filename="r.csv")

    rows = iter_rows(io.BytesIO(data), spec, max_chars=MAX_CHARS)
    exc = problem(lambda: list(rows))

    assert exc.code == "malformed_csv"
    assert re.search(r"\bRow 5000\b", exc.message)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        pytest.param(ZIP_HEADER, None, id="zip-header"),
        pytest.param(b"text\nI love\x00 it\n", None, id="nul-in-utf-8"),
        pytest.param(xlsx(), "windows-1252", id="xlsx-encoding-chosen"),
        pytest.param(xlsx(), "utf-8", id="xlsx-utf-8-chosen"),
    ],
)
def test_binary_file(data, encoding):
    exc = problem(lambda: spec_of(data, filename="reviews.csv", encoding=encoding))

    assert exc.code == "binary_file"
    assert "CSV" in exc.message


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(xlsx(), id="xlsx"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), id="png"),
    ],
)
def test_binary_file_detected(data):
    exc = problem(lambda: spec_of(data, filename="reviews.xlsx"))

    assert exc.code == "binary_file"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b" \r\n\t\n  ", id="whitespace"),
        pytest.param(codecs.BOM_UTF8 + b"\r\n", id="utf-8-bom-only"),
        pytest.param(codecs.BOM_UTF16_LE + " \r\n".encode("utf-16-le"), id="utf-16-bom-and-spaces"),
        pytest.param(b",,\n , ,\n", id="csv-of-blank-cells"),
    ],
)
def test_empty_file(data):
    exc = problem(lambda: spec_of(data, filename="reviews.csv"))

    assert exc.code == "empty_file"


# --- rows -----------------------------------------------------------------


def test_rows_are_numbered_as_a_spreadsheet_shows_them():
    data = (
        b"id,text\r\n"  # row 1
        b"1,I love it\r\n"  # row 2
        b'2,"a cell\r\non three\r\nlines"\r\n'  # row 3: one record
        b"\r\n"  # row 4: blank, not a data row
        b"3\r\n"  # row 5: ragged, no text cell
        b"4,   \r\n"  # row 6: blank text
        b"5," + b"x" * 31 + b"\r\n"  # row 7: too long
        b"6,I hate it\r\n"  # row 8
        b" ,  \r\n"  # row 9: every cell blank, not a data row
        b"7,last\r\n"  # row 10
    )

    _, rows = read(data, filename="r.csv", max_chars=30)

    assert [(r.idx, r.row_number, r.text) for r in rows] == [
        (0, 2, "I love it"),
        (1, 3, "a cell\r\non three\r\nlines"),
        (2, 5, None),
        (3, 6, None),
        (4, 7, None),
        (5, 8, "I hate it"),
        (6, 10, "last"),
    ]
    assert [r.problem is None for r in rows] == [True, True, False, False, False, True, True]


def test_blank_rows_before_the_header_are_passed_over():
    _, rows = read(b"\n , \nid,text\n1,ok\n", filename="r.csv")

    assert [(r.idx, r.row_number, r.text) for r in rows] == [(0, 4, "ok")]


def test_ragged_row_is_yielded_with_a_problem():
    _, rows = read(b"id,title,text\n1,Nice,I love it\n2\n3,Bad\n4,Ok,fine\n", filename="r.csv")

    assert [r.text for r in rows] == ["I love it", None, None, "fine"]
    assert "'text'" in rows[1].problem.english() and "'text'" in rows[2].problem.english()


def test_text_over_the_limit_is_yielded_with_a_problem_naming_the_limit():
    _, rows = read(f"text\n{'a' * 1234}\nshort\n".encode(), filename="r.csv", max_chars=1000)

    assert rows[0].text is None
    assert "1,000" in rows[0].problem.english() and "1,234" in rows[0].problem.english()
    assert rows[1].text == "short"


def _utf8_file_with_a_windows_1252_row_5000() -> bytes:
    lines = [b"id,text"] + [b"%d,row %d is fine" % (i, i) for i in range(1, 6000)]
    lines[4999] = "4999,caf\xe9 in Windows-1252".encode("cp1252")  # spreadsheet row 5000
    return b"\n".join(lines) + b"\n"


def test_detected_utf8_reads_a_stray_windows_1252_byte_past_the_sample():
    data = _utf8_file_with_a_windows_1252_row_5000()
    spec, rows = read(data, filename="r.csv")

    assert spec.encoding == "utf-8" and spec.lenient
    assert rows[4998].row_number == 5000
    assert rows[4998].text == "caf\xe9 in Windows-1252"
    assert all(r.text is not None for r in rows)


def test_chosen_utf8_names_the_exact_row_of_an_undecodable_byte():
    data = _utf8_file_with_a_windows_1252_row_5000()
    spec = spec_of(data, filename="r.csv", encoding="utf-8")
    assert not spec.lenient

    exc = problem(lambda: list(iter_rows(io.BytesIO(data), spec, max_chars=MAX_CHARS)))

    assert exc.code == "undecodable"
    assert re.search(r"\b[Rr]ow 5000\b", exc.message), exc.message


@pytest.mark.parametrize(
    ("codec", "bom", "chosen", "bad"),
    [
        pytest.param("utf-16-le", codecs.BOM_UTF16_LE, None, b"\x00\xd8", id="utf-16-le-bom"),
        pytest.param("utf-16-be", codecs.BOM_UTF16_BE, None, b"\xd8\x00", id="utf-16-be-bom"),
        pytest.param("utf-16-le", b"", "utf-16", b"\x00\xdc", id="utf-16-le-no-bom"),
        pytest.param("utf-16-be", b"", "utf-16", b"\xdc\x00", id="utf-16-be-no-bom"),
        pytest.param("utf-8", b"", "utf-8", b"\xff", id="utf-8"),
        pytest.param("utf-8", codecs.BOM_UTF8, "utf-8", b"\xc3", id="utf-8-bom"),
        pytest.param("cp1252", b"", "windows-1252", b"\x81", id="windows-1252"),
        pytest.param("cp949", b"", "cp949", b"\x80", id="cp949"),
    ],
)
def test_an_undecodable_row_past_the_sample_is_named_exactly(codec, bom, chosen, bad):
    lines = [("id,text" if i == 0 else f"{i},row {i} is fine").encode(codec) for i in range(7100)]
    lines[7001] = "7001,bad ".encode(codec) + bad + " here".encode(codec)  # spreadsheet row 7002
    data = bom + "\n".encode(codec).join(lines) + "\n".encode(codec)
    assert len(data) > SAMPLE_BYTES
    spec = spec_of(data, filename="r.csv", encoding=chosen)

    exc = problem(lambda: list(iter_rows(io.BytesIO(data), spec, max_chars=MAX_CHARS)))

    assert exc.code == "undecodable"
    assert re.search(r"\bRow 7002\b", exc.message), exc.message


# --- streaming ------------------------------------------------------------


class GeneratedCSV(io.RawIOBase):
    """A big CSV made on demand, counting the bytes handed out."""

    def __init__(self, rows: int) -> None:
        super().__init__()
        lines = itertools.chain(
            [b"id,text\n"], (b"%d,review number %d: I love it\n" % (i, i) for i in range(rows))
        )
        self._lines = lines
        self._pending = b""
        self.bytes_read = 0
        self.size = 8 + sum(len(b"%d,review number %d: I love it\n" % (i, i)) for i in range(rows))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while len(self._pending) < len(buffer):
            line = next(self._lines, None)
            if line is None:
                break
            self._pending += line
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.bytes_read += n
        return n


def test_iter_rows_streams_a_large_file_row_by_row():
    raw = GeneratedCSV(200_000)
    spec = InputSpec(format="csv", encoding="utf-8", column="text", column_index=1, headers=("id", "text"))

    first = list(itertools.islice(iter_rows(io.BufferedReader(raw), spec, max_chars=MAX_CHARS), 10))

    assert [r.text for r in first] == [f"review number {i}: I love it" for i in range(10)]
    assert [r.row_number for r in first] == list(range(2, 12))
    assert raw.size > 6_000_000
    assert raw.bytes_read < 64 * 1024


def test_iter_rows_reads_every_row_of_a_large_file():
    raw = GeneratedCSV(200_000)
    spec = InputSpec(format="csv", encoding="utf-8", column="text", column_index=1, headers=("id", "text"))

    count = sum(1 for _ in iter_rows(io.BufferedReader(raw), spec, max_chars=MAX_CHARS))

    assert count == 200_000
    assert raw.bytes_read == raw.size


def test_without_text_cells_only_the_skipped_rows_carry_their_cells():
    # The split's pass: where each row lies, and the cells of the rows it stores as skipped.
    data = b'id,review,note\n1,Great kettle,gift\n2,,no review\n3,"Slow, but fine",\n'
    spec = spec_of(data, column="review")

    full = list(iter_rows(io.BytesIO(data), spec, max_chars=MAX_CHARS))
    light = list(iter_rows(io.BytesIO(data), spec, max_chars=MAX_CHARS, text_cells=False))

    assert [r.cells for r in full] == [["1", None, "gift"], ["2", None, "no review"], ["3", None, None]]
    assert [r.cells for r in light] == [None, ["2", None, "no review"], None]
    assert [r._replace(cells=None) for r in light] == [r._replace(cells=None) for r in full]
