"""Excel workbooks (.xlsx): check one at submit, convert one to CSV, write results as one.

Pure Python over openpyxl, no Django. openpyxl's read-only mode streams a
sheet's rows, but it loads the shared string table (where Excel keeps every
text of the workbook) whole into a Python list: for a 50 MB workbook of
reviews that is hundreds of MB. `_SpilledStrings` replaces that list: it
parses the table with openpyxl's own parser only as far as the rows read so
far need, and keeps the strings in a temporary file (an offset each in
memory), so the check at submit parses only the header's strings and the
conversion's memory stays bounded whatever the workbook's size.

Cells are written as the user sees them: a date as `2026-11-03` (with its
time if it has one), an integer-valued number as `4`, other numbers in
their shortest form, booleans as TRUE/FALSE, formulas by their cached value.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import tempfile
import zipfile
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.cell.text import Text
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.reader.excel import SUPPORTED_FORMATS, ExcelReader
from openpyxl.styles import Font
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.writer.excel import ExcelWriter
from openpyxl.xml.constants import SHARED_STRINGS, SHEET_MAIN_NS
from openpyxl.xml.functions import iterparse

from worker.exceptions import InputError
from worker.messages import Message, gettext_noop

# The first bytes of a zip archive (xlsx, ods, numbers) and of an OLE2
# compound file (xls, and an xlsx saved with a password).
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Where an encrypted xlsx keeps its key: a stream of that name in its OLE2 file.
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
# Messages are templates said in the reader's language where shown (worker.messages).
CONVERT = Message(
    gettext_noop("Save it as .xlsx or .csv in Excel / LibreOffice / Numbers: File → Save As / Export.")
)
# Formats people upload that we cannot read, by extension: what each is.
OTHER_SPREADSHEETS = {
    ".xls": gettext_noop("an Excel 97–2003 workbook (.xls)"),
    ".xlsb": gettext_noop("an Excel binary workbook (.xlsb)"),
    ".ods": gettext_noop("an OpenDocument spreadsheet (.ods)"),
    ".numbers": gettext_noop("a Numbers spreadsheet (.numbers)"),
}
_CANNOT_READ = gettext_noop("This is %(what)s, which we cannot read. %(convert)s")
_SHEET_EMPTY = gettext_noop("The sheet %(sheet)s is empty.")
# Bytes of CSV (or of shared strings) a workbook may unpack to: 10 times a
# 50 MB upload, past what text compresses to in a zip (~4 times).
MAX_UNPACKED_BYTES = 500_000_000
# Rows written between two pieces handed out by workbook_stream.
FLUSH_ROWS = 500
# Characters an Excel cell holds at most.
CELL_MAX_CHARS = 32767
# Documents, images and archives people pick by mistake: refused by name
# (some would otherwise pass as text, a .docx as a zip).
NOT_TABLES = frozenset(
    ".pdf .doc .docx .rtf .odt .pages .ppt .pptx .key .odp .png .jpg .jpeg .gif .webp .heic "
    ".zip .gz .7z .rar .mp3 .mp4 .mov .exe".split()
)
# A file named as text is read as text (and refused as binary if it is not).
TEXT_EXTENSIONS = (".csv", ".tsv", ".tab", ".txt", ".text", ".jsonl", ".ndjson")
# The media type of an .xlsx file (the results download).
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_STRING_TAG = "{%s}si" % SHEET_MAIN_NS  # noqa: UP031 - openpyxl's own spelling


@dataclass(frozen=True, slots=True)
class SheetCheck:
    """What a check of a workbook found: its sheets, the one to read, that sheet's header row."""

    sheets: tuple[str, ...]
    sheet: str
    header: tuple[str, ...]


def is_workbook(head: bytes, filename: str = "") -> bool:
    """Whether an upload is to be read as a workbook: by its name, or its bytes when not named as text."""
    lower = filename.lower()
    if lower.endswith(SUPPORTED_FORMATS):
        return True
    return head.startswith((ZIP_MAGIC, OLE_MAGIC)) and not lower.endswith(TEXT_EXTENSIONS)


def other_format_problem(head: bytes, filename: str) -> InputError | None:
    """The problem with a format we cannot read (by name or bytes), None for a file we may read."""
    lower = filename.lower()
    for extension, what in OTHER_SPREADSHEETS.items():
        if lower.endswith(extension):
            return InputError(
                _CANNOT_READ, params={"what": Message(what), "convert": CONVERT}, code="unsupported_format"
            )
    extension = os.path.splitext(lower)[1]
    if extension in NOT_TABLES:
        return InputError(
            gettext_noop(
                "We cannot read %(extension)s files. Upload CSV, TSV, Excel (.xlsx), plain text or JSON "
                "Lines: save or export the table from its program as .xlsx or .csv."
            ),
            params={"extension": extension},
            code="unsupported_format",
        )
    if head.startswith(OLE_MAGIC) and not lower.endswith(TEXT_EXTENSIONS):
        if _ENCRYPTION_INFO in head or lower.endswith(SUPPORTED_FORMATS):
            return _encrypted()
        return InputError(
            _CANNOT_READ,
            params={"what": Message(OTHER_SPREADSHEETS[".xls"]), "convert": CONVERT},
            code="unsupported_format",
        )
    return None


def _unpacked_too_big(max_bytes: int) -> InputError:
    return InputError(
        gettext_noop(
            "The sheet holds more than %(megabytes)s MB of text once unpacked, more than a job "
            "takes; split it into several workbooks."
        ),
        params={"megabytes": max_bytes // 1_000_000},
        code="input_too_large",
    )


def _encrypted() -> InputError:
    return InputError(
        gettext_noop(
            "The workbook is protected with a password, so it cannot be read. Open it in Excel, remove "
            "the password (File → Info → Protect Workbook → Encrypt with Password, then clear it) and "
            "save it again."
        ),
        code="encrypted_workbook",
    )


class _SpilledStrings:
    """A workbook's shared strings, parsed as far as asked and kept in a temporary file.

    Sheets name the strings they use by index, mostly in the order the table
    lists them, so the table is parsed no further than the rows read so far
    need; each string is written to the file and read back with one pread.
    """

    def __init__(self, source: IO[bytes] | None, *, max_bytes: int) -> None:
        self._source = source
        self._max_bytes = max_bytes
        self._parsed = iterparse(source) if source is not None else iter(())
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._offsets = array("q", [0])
        self._last: tuple[int, str] = (-1, "")

    def __getitem__(self, index: int) -> str:
        if index == self._last[0]:
            return self._last[1]
        while index >= len(self._offsets) - 1 and self._parse_next():
            pass
        if not 0 <= index < len(self._offsets) - 1:
            raise IndexError(f"shared string {index} does not exist")
        start = self._offsets[index]
        value = os.pread(self._file.fileno(), self._offsets[index + 1] - start, start).decode("utf-8")
        self._last = (index, value)
        return value

    def _parse_next(self) -> bool:
        for _, node in self._parsed:
            if node.tag == _STRING_TAG:
                text = Text.from_tree(node).content.replace("x005F_", "")
                node.clear()
                data = text.encode("utf-8", "surrogatepass")
                self._file.seek(0, os.SEEK_END)
                self._file.write(data)
                self._offsets.append(self._offsets[-1] + len(data))
                if self._offsets[-1] > self._max_bytes:
                    raise _unpacked_too_big(self._max_bytes)
                self._file.flush()
                return True
        return False

    def close(self) -> None:
        self._file.close()
        if self._source is not None:
            self._source.close()


class _UnsizedSheet(ReadOnlyWorksheet):
    """A read-only sheet that does not look for its declared size (every row is read anyway).

    openpyxl looks for the <dimension> element until <sheetData> ends: in a
    sheet without one (openpyxl's own write-only mode writes none) that is a
    parse of the whole sheet, ~13 s for 50 MB, before the first row.
    """

    def _get_size(self) -> None:
        return None


class _StreamingReader(ExcelReader):
    """openpyxl's reader, read-only, with cached formula values, with the string table spilled to disk."""

    def read_worksheets(self) -> None:
        # As openpyxl's read-only branch, without its size scan; chart sheets hold no rows.
        for sheet, rel in self.parser.find_sheets():
            if rel.target in self.valid_files and "chartsheet" not in rel.Type:
                ws = _UnsizedSheet(self.wb, sheet.name, rel.target, self.shared_strings)
                ws.sheet_state = sheet.state
                self.wb._sheets.append(ws)

    def __init__(self, fileobj: BinaryIO, *, max_bytes: int) -> None:
        super().__init__(fileobj, read_only=True, keep_vba=False, data_only=True, keep_links=False)
        self.max_bytes = max_bytes

    def read_strings(self) -> None:
        part = self.package.find(SHARED_STRINGS)
        source = self.archive.open(part.PartName[1:]) if part else None
        self.shared_strings = _SpilledStrings(source, max_bytes=self.max_bytes)


@contextlib.contextmanager
def _opened(fileobj: BinaryIO, *, max_bytes: int = MAX_UNPACKED_BYTES) -> Iterator[_StreamingReader]:
    fileobj.seek(0)
    head = fileobj.read(len(ZIP_MAGIC))
    fileobj.seek(0)
    if head == OLE_MAGIC[: len(head)] and head:
        raise _encrypted()
    if head != ZIP_MAGIC:
        raise InputError(
            gettext_noop(
                "This file is not an Excel workbook (.xlsx), though it is named like one. %(convert)s"
            ),
            params={"convert": CONVERT},
            code="invalid_workbook",
        )
    try:
        reader = _StreamingReader(fileobj, max_bytes=max_bytes)
    except zipfile.BadZipFile:
        raise InputError(
            gettext_noop(
                "The workbook is damaged (not a complete .xlsx file); save it again from Excel and retry."
            ),
            code="invalid_workbook",
        ) from None
    try:
        try:
            reader.read()
        except Exception as exc:  # noqa: BLE001 - openpyxl fails on a malformed part in many ways
            names = set(reader.valid_files)
            if "mimetype" in names and any(n == "content.xml" for n in names):
                what = OTHER_SPREADSHEETS[".ods"]
            elif any(n.startswith("Index/") for n in names):
                what = OTHER_SPREADSHEETS[".numbers"]
            else:
                raise InputError(
                    gettext_noop("This is not an Excel workbook we can read (%(problem)s). %(convert)s"),
                    params={"problem": _plain(exc), "convert": CONVERT},
                    code="invalid_workbook",
                ) from None
            raise InputError(
                _CANNOT_READ, params={"what": Message(what), "convert": CONVERT}, code="unsupported_format"
            ) from None
        yield reader
    finally:
        if isinstance(reader.shared_strings, _SpilledStrings):
            reader.shared_strings.close()
        reader.archive.close()


def _plain(exc: Exception) -> str:
    text = str(exc).split("\n", 1)[0].strip()
    return text[:200] or type(exc).__name__


def _worksheet(reader: _StreamingReader, sheet: str | None):
    sheets = [ws.title for ws in reader.wb.worksheets]
    if not sheets:
        raise InputError(gettext_noop("The workbook has no sheets."), code="empty_workbook")
    if sheet:
        folded = [name.casefold() for name in sheets]
        if sheet.strip().casefold() not in folded:
            listed = ", ".join(repr(name) for name in sheets)
            raise InputError(
                gettext_noop("There is no sheet %(sheet)s in the workbook; its sheets are: %(listed)s."),
                params={"sheet": repr(sheet), "listed": listed},
                code="no_such_sheet",
            )
        ws = reader.wb.worksheets[folded.index(sheet.strip().casefold())]
    else:
        ws = reader.wb.worksheets[0]
    # The size a sheet declares may be wrong (some writers say A1): every row it has is read.
    return sheets, ws


def cell_text(value: object) -> str | None:
    """A cell's value as the user typed it (None for an empty cell)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        if value.microsecond:
            return value.isoformat(sep=" ")
        return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="minutes" if value.second == 0 and value.microsecond == 0 else "auto")
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return str(value)


def _rows(ws) -> Iterator[list[str | None]]:
    rows = ws.iter_rows(values_only=True)
    while True:
        try:
            row = next(rows, None)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - malformed sheet XML fails in many ways
            raise InputError(
                gettext_noop(
                    "The sheet %(sheet)s is damaged and cannot be read (%(problem)s); "
                    "save the workbook again from Excel and retry."
                ),
                params={"sheet": repr(ws.title), "problem": _plain(exc)},
                code="invalid_workbook",
            ) from None
        if row is None:
            return
        yield [cell_text(v) for v in row]


def workbook_check(fileobj: BinaryIO, *, sheet: str | None = None) -> SheetCheck:
    """Check a workbook at submit: an xlsx, not encrypted, the sheet exists and has a header row.

    Reads the workbook's parts list, its sheet names and the chosen sheet up
    to its first row with a value (and only the strings that row uses).
    """
    with _opened(fileobj) as reader:
        sheets, ws = _worksheet(reader, sheet)
        for cells in _rows(ws):
            if any(c is not None and c.strip() for c in cells):
                header = tuple((c or "").strip() for c in cells)
                return SheetCheck(sheets=tuple(sheets), sheet=ws.title, header=header)
    raise InputError(_SHEET_EMPTY, params={"sheet": repr(ws.title)}, code="empty_file")


def workbook_to_csv(
    fileobj: BinaryIO, out: IO[bytes], *, sheet: str | None = None, max_bytes: int = MAX_UNPACKED_BYTES
) -> SheetCheck:
    """Write the chosen sheet as UTF-8 CSV to `out`, streaming: one row of the sheet, one record.

    Empty rows stay (as empty records) so a row keeps the number the
    spreadsheet gives it; rows are padded to the header's width. Refused
    past `max_bytes` of CSV (or of shared strings): a few MB of zip can
    unpack to gigabytes.
    """
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    writer = csv.writer(text, lineterminator="\r\n")
    header: tuple[str, ...] | None = None
    try:
        with _opened(fileobj, max_bytes=max_bytes) as reader:
            sheets, ws = _worksheet(reader, sheet)
            title = ws.title
            width = 0
            for n, cells in enumerate(_rows(ws)):
                if header is None and any(c is not None and c.strip() for c in cells):
                    header = tuple((c or "").strip() for c in cells)
                    width = len(header)
                if len(cells) < width:
                    cells.extend([None] * (width - len(cells)))
                writer.writerow(["" if c is None else c for c in cells])
                if n % 1000 == 0 and out.tell() > max_bytes:
                    raise _unpacked_too_big(max_bytes)
    except UnicodeEncodeError:
        raise InputError(
            gettext_noop("The workbook holds text that is not valid Unicode."), code="undecodable"
        ) from None
    finally:
        text.flush()
        text.detach()
    if header is None:
        raise InputError(_SHEET_EMPTY, params={"sheet": repr(title)}, code="empty_file")
    return SheetCheck(sheets=tuple(sheets), sheet=title, header=header)


class _Sink(io.RawIOBase):
    """A write-only, unseekable file that keeps what is written until it is taken."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class _SheetStreamedWriter(ExcelWriter):
    """openpyxl's package writer for a workbook whose one sheet is already in the archive."""

    def write_worksheet(self, ws) -> None:
        ws._drawing = SpreadsheetDrawing()
        ws._rels = ws._writer._rels
        self.manifest.append(ws)


def workbook_stream(
    header: Iterable[str], rows: Iterable[Iterable[object]], *, flush_rows: int = FLUSH_ROWS
) -> Iterator[bytes]:
    """A table as an xlsx, in pieces as it is written: openpyxl's write-only mode, streamed.

    openpyxl's own save writes the whole sheet to a temporary file before
    the zip begins (for 1,000,000 rows, minutes before the first byte; a
    router may close the connection long before). Here the sheet's XML goes
    straight into its zip entry on an unseekable stream, and the rest of the
    package (styles, workbook, manifest) follows it. The header row is bold
    and frozen; numbers stay numbers; a text is always a text cell, never a
    formula, whatever it begins with.
    """
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Results")
    ws.freeze_panes = "A2"
    ws._id = 1
    bold = Font(bold=True)
    with archive.open(ws.path[1:], "w", force_zip64=True) as entry:
        ws._writer = WorksheetWriter(ws, out=entry)
        ws._writer.write_top()
        header_cells = []
        for name in header:
            cell = WriteOnlyCell(ws, value=str(name))
            cell.font = bold
            header_cells.append(cell)
        ws.append(header_cells)
        for n, row in enumerate(rows, start=1):
            ws.append([_write_cell(ws, value) for value in row])
            if n % flush_rows == 0 and (piece := sink.take()):
                yield piece
        ws.close()
    wb.properties.modified = dt.datetime.now(tz=dt.UTC).replace(tzinfo=None)
    _SheetStreamedWriter(wb, archive).save()
    yield sink.take()


def workbook_write(header: Iterable[str], rows: Iterable[Iterable[object]], out: IO[bytes]) -> None:
    """Write a table as an xlsx to `out` (see workbook_stream)."""
    for piece in workbook_stream(header, rows):
        out.write(piece)


def _write_cell(ws, value: object):
    if not isinstance(value, str):
        return value
    # No control characters but tab and line breaks in a cell (openpyxl refuses them).
    if ILLEGAL_CHARACTERS_RE.search(value):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if value.startswith("=") or value in ERROR_CODES:
        # Set after creation: the value setter would make "=..." a formula and "#N/A" an error.
        cell = WriteOnlyCell(ws)
        cell._value = value[:CELL_MAX_CHARS]
        cell.data_type = "s"
        return cell
    # openpyxl cuts a text at CELL_MAX_CHARS, the most a cell holds.
    return value
