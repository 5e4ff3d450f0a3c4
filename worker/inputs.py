"""Reading uploaded files: detect, check a sample, then stream every text.

Pure Python, no Django: the web process calls `inspect()` on the first few
KB of an upload to refuse an obviously wrong file at once; the worker calls
`iter_rows()` on the whole stored file as a stream, so memory stays bounded
whatever the file's size. Each row carries its byte range in the file, and
`iter_rows(..., at=RangeStart(...))` parses one range of rows again (a
chunk of a big job) exactly as the full pass did.

Formats: CSV and TSV (one column holds the text), plain text (one text per
line) and JSON Lines (each line a string, or an object with a text field).
Encodings: UTF-8 with or without BOM, UTF-16 with BOM, and the legacy
encodings spreadsheets write (Windows-1252; CP949/EUC-KR from Korean Excel).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO, NamedTuple

from worker.columns import DATE, NUMBER, column_choose, column_look
from worker.exceptions import InputError
from worker.messages import Message, gettext_noop

# Bytes of an upload the web process reads to check it (and to detect its
# encoding and columns) before storing it.
SAMPLE_BYTES = 64 * 1024

FORMATS = ("csv", "tsv", "txt", "jsonl")

# Encodings a user may choose, by the names people know them by.
ENCODINGS = {
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf-16": "utf-16",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
    "latin-1": "latin-1",
    "iso-8859-1": "latin-1",
    "cp949": "cp949",
    "euc-kr": "cp949",  # CP949 is a superset of EUC-KR: what Korean Excel writes
}
# Legacy encodings detection chooses between when a file is not UTF-8.
LEGACY_CANDIDATES = ["cp1252", "cp949"]

_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "txt", ".text": "txt", ".jsonl": "jsonl"}
_EXTENSIONS[".ndjson"] = "jsonl"
_NUMBER = re.compile(r"^\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$")
# csv's default field limit (128 KiB) is below what a long review may need;
# rows longer than the per-text limit are skipped with a reason anyway.
csv.field_size_limit(16 * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class InputSpec:
    """How to read a file: what `inspect()` decided from its first bytes."""

    format: str
    encoding: str
    delimiter: str = ","  # CSV/TSV only
    column: str | None = None  # header name of the text column (CSV/TSV, JSON Lines objects)
    column_index: int | None = None  # CSV/TSV only
    has_header: bool = True
    # The table's column names in order (CSV/TSV header, JSON Lines objects' keys); () for none.
    headers: tuple[str, ...] = ()
    # Bytes that are not UTF-8 in a file detected as UTF-8 are read as
    # Windows-1252 instead of failing the job.
    lenient: bool = False

    @property
    def text_name(self) -> str:
        """The analyzed column's name as the header writes it ("" without a header)."""
        if not self.headers:
            return ""
        if self.column_index is not None and self.column_index < len(self.headers):
            return self.headers[self.column_index]
        return self.column or ""


class Row(NamedTuple):
    """One data row: its 0-based index among data rows and its text (or why it has none).

    A named tuple: the worker makes one per row of an upload, and builds
    these about twice as fast as a frozen dataclass.
    """

    idx: int
    row_number: int  # as a spreadsheet shows it: the header is row 1
    text: str | None
    problem: Message | None = None
    # Where the row's record lies in the file, in bytes (end exclusive): a
    # chunk of a big job is the range from its first row's start to its last
    # row's end, which its chunk job reads and parses again (RangeStart).
    start: int = 0
    end: int = 0
    # The row's cells as strings (None for an empty one) in the table's column
    # order, the text column's None unless the text was stripped of spaces
    # (Result.text holds it); None for an input without columns.
    cells: list[str | None] | None = None


@dataclass(frozen=True, slots=True)
class RangeStart:
    """Where a byte range of a file begins: the state iter_rows() had there on its full pass.

    A range begins at a record's first byte, so it is parsed as the file
    is, without a header (it was read before the range) or a byte order
    mark; `codec` names the byte order a UTF-16 file was read with.
    """

    offset: int
    idx: int  # of the first row with text in the range
    row_number: int  # of that row
    codec: str


# The words of a refusal, said in the reader's language where shown (worker.messages).
_EMPTY_FILE = gettext_noop("The file is empty.")


def encoding_normalize(name: str | None) -> str | None:
    """Return the codec for a user's encoding name, None for "detect"; raise if unknown."""
    if name is None or not name.strip() or name.strip().lower() in {"auto", "detect"}:
        return None
    key = name.strip().lower().replace("_", "-")
    if key not in ENCODINGS:
        choices = ", ".join(sorted(k for k in ENCODINGS if k not in {"cp1252", "iso-8859-1", "utf-8-sig"}))
        raise InputError(
            gettext_noop("Unknown encoding %(name)s; choose one of: %(choices)s."),
            params={"name": repr(name), "choices": choices},
            code="unknown_encoding",
        )
    return ENCODINGS[key]


def encoding_detect(sample: bytes, *, at_eof: bool = True) -> str:
    """Guess the encoding of a file from its first bytes."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        # The sample may end inside a multi-byte character: decode incrementally.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if not at_eof and b"\n" in sample:
        # Judge whole lines only: the cut may fall inside a two-byte character.
        sample = sample[: sample.rindex(b"\n") + 1]
    from charset_normalizer import from_bytes

    best = from_bytes(sample, cp_isolation=LEGACY_CANDIDATES).best()
    if best is None:
        # Short files with many accents look "chaotic" to charset-normalizer's
        # default threshold; any legacy candidate that decodes them will do.
        best = from_bytes(sample, cp_isolation=LEGACY_CANDIDATES, threshold=1.0).best()
    if best is not None:
        return best.encoding
    for candidate in LEGACY_CANDIDATES:
        try:
            sample.decode(candidate)
        except UnicodeDecodeError:
            continue
        return candidate
    raise InputError(
        gettext_noop("Could not tell the file's text encoding; save it as UTF-8, or choose its encoding."),
        code="undecodable",
    )


def _looks_like_jsonl(sample_text: str) -> bool:
    for line in sample_text.lstrip("\ufeff").split("\n"):
        if line.strip():
            try:
                return isinstance(json.loads(line), str | dict)
            except (ValueError, RecursionError):
                return False
    return False


def format_detect(filename: str, sample_text: str) -> str:
    """Choose the format from the file name, else from the content."""
    lower = filename.lower()
    for extension, fmt in _EXTENSIONS.items():
        if lower.endswith(extension):
            return fmt
    if sample_text.lstrip("\ufeff").lstrip()[:1] in {"{", '"'} and _looks_like_jsonl(sample_text):
        return "jsonl"
    first_line = sample_text.split("\n", 1)[0]
    if "\t" in first_line:
        return "tsv"
    if "," in first_line or ";" in first_line:
        return "csv"
    return "txt"


def utf16_byte_order(sample: bytes) -> str | None:
    """Return utf-16-le or utf-16-be for UTF-16 without a byte order mark, None if it does not look so.

    Text in UTF-16 is mostly characters below U+0100 (line breaks, commas,
    spaces, digits), whose high byte is 0: the NUL bytes fall on one side of
    each pair. Binary files have them on both sides.
    """
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    most, fewest = max(even, odd), min(even, odd)
    if most == 0 or most * 8 < len(sample) or fewest * 10 > most:
        return None
    return "utf-16-le" if odd > even else "utf-16-be"


def _decode_sample(sample: bytes, encoding: str) -> str:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        return decoder.decode(sample, final=False)
    except UnicodeError as exc:
        # UnicodeError, not only UnicodeDecodeError: Python's UTF-16 decoder
        # raises the base class for a stream without a byte order mark.
        if isinstance(exc, UnicodeDecodeError):
            template = gettext_noop(
                "The file is not valid %(encoding)s text (byte %(byte)s); save it as UTF-8, "
                "or choose the encoding it was saved with."
            )
        else:
            template = gettext_noop(
                "The file is not valid %(encoding)s text; save it as UTF-8, "
                "or choose the encoding it was saved with."
            )
        byte = str(exc.start + 1) if isinstance(exc, UnicodeDecodeError) else None
        raise InputError(template, params={"encoding": encoding, "byte": byte}, code="undecodable") from None


def _csv_dialect(fmt: str, sample_text: str) -> dict:
    if fmt == "tsv":
        return {"delimiter": "\t"}
    first_line = sample_text.split("\n", 1)[0]
    # European spreadsheets write ';' where the decimal separator is ','.
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    return {"delimiter": delimiter}


def _complete_lines(sample_text: str, *, at_eof: bool) -> str:
    """Drop a last line the sample may have cut in half."""
    if at_eof or "\n" not in sample_text:
        return sample_text
    return sample_text[: sample_text.rindex("\n") + 1]


def _lines_check(lines: list[str]) -> None:
    """Refuse a one-text-a-line sample whose lines are all dates or numbers: there is no text in it."""
    look = column_look("", lines)
    if look.filled and look.share(NUMBER, DATE) == 1.0:
        raise InputError(
            gettext_noop(
                "The file holds only %(holds)s, no text to analyze: upload the texts themselves, "
                "one a line, or a table with a column of texts."
            ),
            params={"holds": look.describe()},
            code="no_text_column",
        )


def inspect(
    sample: bytes, *, filename: str = "", encoding: str | None = None, column: str | None = None, at_eof: bool
) -> InputSpec:
    """Check the first bytes of a file and decide how to read all of it.

    `at_eof` says whether the sample is the whole file. Raises InputError
    for a file that is empty, binary, undecodable or lacks the asked column.
    """
    if not sample.strip():
        raise InputError(_EMPTY_FILE, code="empty_file")
    if column and "\x00" in column:
        raise InputError(gettext_noop("The column name contains a NUL character."), code="no_such_column")
    chosen = encoding_normalize(encoding)
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise InputError(
            gettext_noop("The file is UTF-32 text; save it as UTF-8 or UTF-16."), code="undecodable"
        )
    has_bom16 = sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    byte_order = None if has_bom16 else utf16_byte_order(sample)
    if chosen == "utf-16" and not has_bom16:
        if byte_order is None:
            raise InputError(
                gettext_noop(
                    "The file is not UTF-16 text as chosen: it has no byte order mark, and its bytes do "
                    "not look like UTF-16. Choose the encoding it was saved with, or 'Detect automatically'."
                ),
                code="undecodable",
            )
        chosen = byte_order
    elif chosen is None and byte_order is not None:
        chosen = byte_order
    if b"\x00" in sample and not (chosen or ("utf-16" if has_bom16 else "")).startswith("utf-16"):
        if byte_order or has_bom16:
            hint = gettext_noop(
                "It looks like UTF-16 text: choose UTF-16 as its encoding, or 'Detect automatically'."
            )
        else:
            hint = gettext_noop(
                "Upload CSV, TSV, plain text or JSON Lines; from Excel, use 'Save as CSV UTF-8'."
            )
        raise InputError(
            gettext_noop("This looks like a binary file (it contains NUL bytes), not text. %(hint)s"),
            params={"hint": Message(hint)},
            code="binary_file",
        )
    codec = chosen or encoding_detect(sample, at_eof=at_eof)
    # A detected UTF-8 may meet a stray legacy byte past the sample: read it
    # as Windows-1252 rather than fail (a chosen encoding is kept strict).
    lenient = chosen is None and codec == "utf-8"
    # UTF-16 may encode U+0000; Postgres stores no NUL in text (the worker drops them too).
    text = _decode_sample(sample, codec).replace("\x00", "")
    if not text.strip("\ufeff \t\r\n"):
        raise InputError(_EMPTY_FILE, code="empty_file")
    fmt = format_detect(filename, text)
    text = _complete_lines(text, at_eof=at_eof)
    return replace(_inspect_text(text, fmt, codec, column=column, at_eof=at_eof), lenient=lenient)


def _inspect_text(text: str, fmt: str, codec: str, *, column: str | None, at_eof: bool) -> InputSpec:
    if fmt in {"csv", "tsv"}:
        dialect = _csv_dialect(fmt, text)
        rows = _sample_records(text, dialect["delimiter"], fmt=fmt, at_eof=at_eof)
        rows = [r for r in rows if any(cell.strip() for cell in r)]
        if not rows:
            raise InputError(_EMPTY_FILE, code="empty_file")
        headers = rows[0]
        index, name = column_choose(headers, rows[1:], column)
        return InputSpec(
            format=fmt,
            encoding=codec,
            delimiter=dialect["delimiter"],
            column=name,
            column_index=index,
            headers=tuple(headers),
        )
    if fmt == "jsonl":
        return _inspect_jsonl(text, codec, column)
    _lines_check(text.lstrip("\ufeff").split("\n"))
    return InputSpec(format="txt", encoding=codec, has_header=False)


def _sample_records(text: str, delimiter: str, *, fmt: str, at_eof: bool) -> list[list[str]]:
    """Parse the sample's records; an error in a record the sample cut off is not the file's."""
    rows: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter, strict=True):
            rows.append(record)
    except csv.Error as exc:
        if at_eof or not rows:
            raise InputError(
                gettext_noop(
                    "Row %(row)s: the file is not valid %(format)s "
                    "(%(problem)s). Check for an unclosed quote."
                ),
                params={"row": str(len(rows) + 1), "format": fmt.upper(), "problem": str(exc)},
                code="malformed_csv",
            ) from None
    return rows


def _inspect_jsonl(text: str, codec: str, column: str | None) -> InputSpec:
    # split("\n"), not splitlines(): JSON strings may hold U+2028 and friends.
    lines = text.lstrip("\ufeff").split("\n")
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        value = _json_line(line, line_number)
        if isinstance(value, str):
            _lines_check([v for v in _sample_values(lines) if isinstance(v, str)])
            return InputSpec(format="jsonl", encoding=codec, has_header=False)
        if isinstance(value, dict):
            objects = [v for v in _sample_values(lines) if isinstance(v, dict)]
            # The columns are the keys in first-seen order over the sample (a key
            # first seen past it is not kept: cells follow these columns).
            keys = list(dict.fromkeys(k for obj in objects for k in obj))
            if column and column not in keys:
                raise InputError(
                    gettext_noop("Line %(line)s has no field %(column)s; its fields are: %(fields)s."),
                    params={"line": str(line_number), "column": repr(column), "fields": ", ".join(value)},
                    code="no_such_column",
                )
            rows = [[json_cell(obj.get(k)) for k in keys] for obj in objects]
            index, name = column_choose(keys, rows, column)
            return InputSpec(
                format="jsonl",
                encoding=codec,
                column=keys[index] if not column else column,
                has_header=False,
                headers=tuple(keys),
            )
        raise InputError(
            gettext_noop('Line %(line)s: each line must be a JSON string or an object like {"text": "..."}.'),
            params={"line": str(line_number)},
            code="malformed_jsonl",
        )
    raise InputError(_EMPTY_FILE, code="empty_file")


def _sample_values(lines: list[str]) -> Iterator[object]:
    """The JSON values of the sample's lines (a line that does not parse is the worker's to report)."""
    for line in lines:
        if line.strip():
            try:
                yield json.loads(line)
            except (ValueError, RecursionError):
                continue


def json_cell(value: object) -> str | None:
    """A JSON value as a table cell: a string as it is, null or "" as None, anything else as its JSON."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    if not value.isascii() and _SURROGATES.search(value):
        # No database stores a lone surrogate ("\ud800" spelt out in JSON).
        value = _SURROGATES.sub("\ufffd", value)
    return value.replace("\x00", "") or None


def json_problem(exc: Exception) -> Message:
    """Say in our words why json.loads() refused a text (its own words name Python internals).

    The parser's own reason ("Expecting value") stays in English in every language.
    """
    if isinstance(exc, json.JSONDecodeError):
        if exc.lineno > 1:
            return Message(
                gettext_noop("%(reason)s at line %(line)s, column %(column)s"),
                {"reason": exc.msg, "line": str(exc.lineno), "column": str(exc.colno)},
            )
        return Message(
            gettext_noop("%(reason)s at column %(column)s"), {"reason": exc.msg, "column": str(exc.colno)}
        )
    if isinstance(exc, RecursionError):
        return Message(gettext_noop("it is nested too deeply"))
    # Python refuses integers of more than 4,300 digits (sys.get_int_max_str_digits()).
    return Message(gettext_noop("a number in it has too many digits"))


def _json_line(line: str, line_number: int) -> object:
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise InputError(
            gettext_noop("Line %(line)s is not valid JSON: %(problem)s."),
            params={"line": str(line_number), "problem": json_problem(exc)},
            code="malformed_jsonl",
        ) from None


# Bytes the decoder could not read, kept as U+DC00 + byte (see _escape_bad_bytes);
# no valid input decodes to a lone surrogate, so these mark exactly the bad bytes.
_ESCAPED_BYTES = re.compile("[\udc00-\udcff]")
# Lone surrogates a JSON string may spell out ("\ud800"): no database stores them.
_SURROGATES = re.compile("[\ud800-\udfff]")


def _escape_bad_bytes(exc: UnicodeDecodeError) -> tuple[str, int]:
    """Keep each undecodable byte as U+DC00 + byte, so the row that holds it is known exactly.

    Like Python's surrogateescape, which refuses bytes below 0x80: a UTF-16
    surrogate's bytes (00 D8) or a file cut inside a UTF-16 unit have them.
    """
    return "".join(chr(0xDC00 + b) for b in exc.object[exc.start : exc.end]), exc.end


def _cp1252_for_bad_bytes(exc: UnicodeDecodeError) -> tuple[str, int]:
    return exc.object[exc.start : exc.end].decode("cp1252", errors="replace"), exc.end


codecs.register_error("sentimeter-cp1252", _cp1252_for_bad_bytes)
codecs.register_error("sentimeter-escape", _escape_bad_bytes)


def _decoded(text: str | None, spec: InputSpec, row_number: int) -> str | None:
    """Resolve bytes the decoder could not read: Windows-1252 if lenient, else name the row."""
    # isascii() is a flag check: most texts skip the search (escaped bytes are not ASCII).
    if text is None or text.isascii() or not _ESCAPED_BYTES.search(text):
        return text
    if spec.lenient:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "sentimeter-cp1252")
    raise InputError(
        gettext_noop(
            "Row %(row)s: the file is not valid %(encoding)s text; save it as UTF-8, "
            "or choose the encoding it was saved with."
        ),
        params={"row": str(row_number), "encoding": spec.encoding},
        code="undecodable",
    )


# Why a row is skipped, said in the reader's language when shown (worker.messages).
_NO_TEXT_ON_LINE = Message(gettext_noop("no text on the line"))
_LONE_SURROGATE = Message(gettext_noop("a lone surrogate escape (like \\ud800), not text"))


def _row_text(
    text: str | None,
    row_number: int,
    idx: int,
    max_chars: int,
    no_text: Message,
    start: int,
    end: int,
    cells: list[str | None] | None = None,
) -> Row:
    if text is not None:
        if "\x00" in text:
            text = text.replace("\x00", "")
        stripped = text.strip()
    if text is None or not stripped:
        return Row(idx, row_number, None, no_text, start, end, cells)
    if len(text) > max_chars:
        problem = Message(
            gettext_noop("%(chars)s characters, over the limit of %(limit)s"),
            {"chars": len(text), "limit": max_chars},
        )
        return Row(idx, row_number, None, problem, start, end, cells)
    return Row(idx, row_number, stripped, None, start, end, cells)


def _unescape_bad_bytes(exc: UnicodeEncodeError) -> tuple[bytes, int]:
    """Give back the bytes _escape_bad_bytes kept as U+DC00 + byte (to count a line's bytes)."""
    chars = exc.object[exc.start : exc.end]
    if not all("\udc00" <= c <= "\udcff" for c in chars):
        raise exc
    return bytes(ord(c) - 0xDC00 for c in chars), exc.end


codecs.register_error("sentimeter-unescape", _unescape_bad_bytes)


def range_codec(encoding: str, head: bytes) -> str:
    """The codec that reads any record of a file from its first byte: no BOM handling, a fixed byte order.

    `head` is the file's first bytes (a UTF-16 file's byte order mark says its byte order).
    """
    if encoding == "utf-16":
        return "utf-16-be" if head.startswith(codecs.BOM_UTF16_BE) else "utf-16-le"
    if encoding == "utf-8-sig":
        return "utf-8"
    return encoding


class _CountedLines:
    """The lines of a text stream, counting the bytes of the file they came from.

    An ASCII line in an encoding that spells ASCII in one byte a character
    counts its length; another is encoded again (an undecodable byte, kept
    as U+DC00 + byte, counts one). UTF-16 refuses to give back an odd byte:
    there a kept byte is encoded as a surrogate (two bytes) and counted one.
    """

    def __init__(self, reader: io.TextIOWrapper, *, codec: str, offset: int) -> None:
        self._lines = iter(reader)
        self._codec = codec
        self._utf16 = codec.startswith("utf-16")
        self.offset = offset  # just past the last line handed out

    def __iter__(self) -> _CountedLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        if not self._utf16:
            self.offset += (
                len(line) if line.isascii() else len(line.encode(self._codec, "sentimeter-unescape"))
            )
        elif line.isascii():
            self.offset += 2 * len(line)
        else:
            kept = len(_ESCAPED_BYTES.findall(line))
            self.offset += len(line.encode(self._codec, "surrogatepass")) - kept
        return line


def iter_rows(
    stream: BinaryIO,
    spec: InputSpec,
    *,
    max_chars: int,
    at: RangeStart | None = None,
    text_cells: bool = True,
) -> Iterator[Row]:
    """Yield every data row of a stored file, in order, streaming, with its byte range in the file.

    A row without usable text comes with `problem` set (the caller skips
    and reports it). Raises InputError, naming the row, when the file
    cannot be read past some point. With `at`, the stream holds a byte
    range of the file that begins at a record (a chunk of a big job): it is
    read on from the state the full pass had there. With `text_cells`
    False, only rows without text carry their cells (the split, which
    stores those rows and hands the others on as byte ranges).
    """
    if at is None:
        head = _head(stream)
        codec = range_codec(spec.encoding, head)
        # The decoder swallows a byte order mark that its codec expects: count its bytes here.
        bom = {"utf-16": 2, "utf-8-sig": 3}.get(spec.encoding, 0)
        offset = bom if head.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else 0
        encoding = spec.encoding
    else:
        codec, offset, encoding = at.codec, at.offset, at.codec
    # Undecodable bytes are kept as U+DC00..U+DCFF, so the row that holds
    # them is known exactly (a strict decoder fails a block early).
    reader = io.TextIOWrapper(stream, encoding=encoding, errors="sentimeter-escape", newline="")
    counted = _CountedLines(reader, codec=codec, offset=offset)
    # A range begins inside the file: a U+FEFF there is text, not a byte order mark.
    lines = _strip_bom(counted) if at is None else counted
    row_number = 0 if at is None else at.row_number - 1
    try:
        if spec.format in {"csv", "tsv"}:
            records = csv.reader(lines, delimiter=spec.delimiter, strict=True)
            no_text = Message(gettext_noop("no text in column %(column)s"), {"column": repr(spec.column)})
            column = spec.column_index
            # Cells are kept for the header's columns (a file stored before columns were kept has none).
            width = len(spec.headers)
            # Rows are records, numbered as a spreadsheet does (the header is row 1).
            # Blank rows (no cell holds anything but spaces) are passed over; the
            # first other one is the header.
            if at is None:
                for record in records:
                    row_number += 1
                    if "".join(record).strip():
                        break
            idx = 0 if at is None else at.idx
            start = counted.offset
            for record in records:
                row_number += 1
                end = counted.offset
                cell = record[column] if column < len(record) else None
                # A cell with text makes the row not blank: only an empty one
                # needs the whole row looked at (this loop runs once per row).
                if (not cell or cell.isspace()) and not "".join(record).strip():
                    start = end
                    continue
                cell = _decoded(cell, spec, row_number)
                if width and text_cells:
                    cells = _record_cells(record, spec, row_number, width, column)
                    row = _row_text(cell, row_number, idx, max_chars, no_text, start, end, cells)
                else:
                    row = _row_text(cell, row_number, idx, max_chars, no_text, start, end)
                    cells = None
                    if width and row.text is None:
                        cells = _record_cells(record, spec, row_number, width, column)
                        row = row._replace(cells=cells)
                if cells is not None and column < width:
                    # Result.text holds the cell; a text stripped of spaces (or a skipped
                    # row) keeps it here, so a download gives the cell back exactly.
                    cells[column] = None if row.text == cell or not cell else cell.replace("\x00", "") or None
                yield row
                idx += 1
                start = end
        elif spec.format == "jsonl":
            idx = 0 if at is None else at.idx
            start = counted.offset
            for line in lines:
                row_number += 1
                end = counted.offset
                if not line.strip():
                    start = end
                    continue
                value = _json_line(_decoded(line, spec, row_number), row_number)
                if spec.column is None:
                    text = value if isinstance(value, str) else None
                    no_text = Message(gettext_noop("no text (expected a JSON string)"))
                else:
                    text = value.get(spec.column) if isinstance(value, dict) else None
                    text = text if isinstance(text, str) else None
                    no_text = Message(
                        gettext_noop("no text in field %(field)s"), {"field": repr(spec.column)}
                    )
                if text is not None and not text.isascii() and _SURROGATES.search(text):
                    row = Row(idx, row_number, None, _LONE_SURROGATE, start, end)
                else:
                    row = _row_text(text, row_number, idx, max_chars, no_text, start, end)
                if spec.headers and (text_cells or row.text is None):
                    row = row._replace(cells=_object_cells(value, spec, row.text))
                yield row
                idx += 1
                start = end
        else:
            idx = 0 if at is None else at.idx
            start = counted.offset
            for line in lines:
                row_number += 1
                end = counted.offset
                if not line.strip():
                    start = end
                    continue
                text = _decoded(line.rstrip("\r\n"), spec, row_number)
                yield _row_text(text, row_number, idx, max_chars, _NO_TEXT_ON_LINE, start, end)
                idx += 1
                start = end
    except csv.Error as exc:
        raise InputError(
            gettext_noop(
                "Row %(row)s: the file is not valid CSV (%(problem)s). Check for an unclosed quote."
            ),
            params={"row": str(row_number + 1), "problem": str(exc)},
            code="malformed_csv",
        ) from None
    except UnicodeError:
        # UnicodeError: a UTF-16 file stored without a byte order mark raises
        # the base class (uploads are now checked for one).
        raise InputError(
            gettext_noop(
                "After row %(row)s: the file is not valid %(encoding)s text; "
                "save it as UTF-8, or choose the encoding it was saved with."
            ),
            params={"row": str(row_number), "encoding": spec.encoding},
            code="undecodable",
        ) from None
    finally:
        reader.detach()


def _record_cells(
    record: list[str], spec: InputSpec, row_number: int, width: int, column: int
) -> list[str | None]:
    """A CSV record as the row's cells: one per header column, None for an empty one.

    The text column's cell is left for the caller, which has decoded it already.
    """
    # This runs once per row of an upload: look at the whole row once, and at
    # each cell only when the row holds something to decode or drop.
    cells: list[str | None] = [c or None for c in record[:width]]
    joined = "".join(record)
    if not joined.isascii():
        for i, c in enumerate(cells):
            if c and i != column and not c.isascii():
                cells[i] = _decoded(c, spec, row_number)
    if "\x00" in joined:
        cells = [(c.replace("\x00", "") or None) if c else None for c in cells]
    if len(cells) < width:
        cells.extend([None] * (width - len(cells)))
    return cells


def _object_cells(value: object, spec: InputSpec, text: str | None) -> list[str | None]:
    """A JSON Lines object as the row's cells, in the columns' order (see _record_cells)."""
    if not isinstance(value, dict):
        return [None] * len(spec.headers)
    cells = [json_cell(value.get(key)) for key in spec.headers]
    if text is not None and spec.column in spec.headers and value.get(spec.column) == text:
        cells[spec.headers.index(spec.column)] = None
    return cells


def _head(stream: BinaryIO) -> bytes:
    """The stream's first bytes, left unread (for its byte order mark)."""
    if hasattr(stream, "peek"):
        return stream.peek(4)[:4]
    position = stream.tell()
    head = stream.read(4)
    stream.seek(position)
    return head


def _strip_bom(lines: Iterator[str]) -> Iterator[str]:
    """The lines, the first without a byte order mark (read only when asked for: offsets count)."""
    first = next(lines, None)
    if first is None:
        return
    yield first.lstrip("\ufeff")
    yield from lines
