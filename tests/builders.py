"""Small builders for test data: jobs, their input and results, and browser-like clients."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable, Sequence

from django.db import connection
from django.test import Client
from openpyxl import Workbook
from psycopg.types.json import Jsonb

from web.models import Job, JobInput, Result
from web.sessions import OWNER_KEY
from worker.analyzers.base import Scores
from worker.analyzers.registry import get_analyzer
from worker.analyzers.vader import BAND as VADER_BAND
from worker.breakdowns import breakdowns_store
from worker.summary import summary_compute

DEFAULT_TEXTS = ("I love this, it is wonderful!", "This is terrible and I hate it.", "The box is brown.")

# Varied enough to exercise VADER: negation, caps, emoji, emoticons, neutral.
SAMPLE_TEXTS = [
    "I love this, it is wonderful!",
    "This is terrible and I hate it.",
    "The box is brown.",
    "Not bad at all :)",
    "The WORST service EVER!!!",
    "Great value 😀",
    "It arrived.",
]


def make_job(*, texts: Sequence[str] = DEFAULT_TEXTS, data: bytes | None = None, **overrides) -> Job:
    """Create a Job and its stored input directly (nothing is enqueued).

    `data` replaces the JSON encoding of `texts` as the stored input (to build corrupt input).
    """
    fields = {
        "session_key": f"session-{uuid.uuid4().hex}",
        "analyzer": "vader",
        "queue": "quick",
        "total": len(texts),
    }
    fields.update(overrides)
    job = Job.objects.create(**fields)
    raw = json.dumps(list(texts), ensure_ascii=False).encode() if data is None else data
    JobInput.objects.create(job=job, format=JobInput.Format.TEXTS, data=raw, size=len(raw))
    return job


def vader(texts: Sequence[str]) -> list[Scores]:
    """Score texts with the registered VADER analyzer."""
    return get_analyzer("vader").analyze(texts)


def vader_scores(compound: float, *, pos: float = 0.0, neu: float = 1.0, neg: float = 0.0) -> Scores:
    """Scores with this compound, labelled by VADER's band (for results a test makes up)."""
    return VADER_BAND.scores(compound=compound, pos=pos, neu=neu, neg=neg)


def make_results(job: Job, texts: Sequence[str], *, scores: Sequence[Scores] | None = None) -> list[Result]:
    """Store results for `texts` (idx 0..n-1, rows 1..n) through the ORM and count them in `job.done`."""
    scores = vader(texts) if scores is None else scores
    rows = _results_create(job, texts, scores, first_row=1)
    job.refresh_from_db()
    return rows


def _results_create(
    job: Job,
    texts: Sequence[str],
    scores: Sequence[Scores],
    *,
    first_row: int,
    cells: Sequence[list[str | None]] | None = None,
) -> list[Result]:
    """Store one result a text (idx 0..n-1, rows from first_row) and count them in `job.done`."""
    rows = Result.objects.bulk_create(
        Result(
            job=job,
            idx=i,
            row=first_row + i,
            text=text,
            cells=None if cells is None else cells[i],
            label=s.label,
            compound=s.compound,
            pos=s.pos,
            neu=s.neu,
            neg=s.neg,
        )
        for i, (text, s) in enumerate(zip(texts, scores, strict=True))
    )
    Job.objects.filter(pk=job.pk).update(done=len(rows))
    return rows


def browser(**kwargs) -> Client:
    """Return a test client with CSRF checks on that has fetched the home page (and its csrftoken)."""
    client = Client(enforce_csrf_checks=True, **kwargs)
    response = client.get("/")
    assert response.status_code == 200
    assert "csrftoken" in client.cookies
    return client


def csrf_token(client: Client) -> str:
    return client.cookies["csrftoken"].value


def csrf_headers(client: Client) -> dict[str, str]:
    """The header the page's own script sends with every unsafe request."""
    return {"X-CSRFToken": csrf_token(client)}


def owner_session(client: Client) -> str:
    """Give the client an owner session, as submitting a job would; return its key."""
    session = client.session
    session[OWNER_KEY] = 1
    session.save()
    return session.session_key


def post_json(client: Client, path: str, body: object, **kwargs):
    """POST a JSON body with the CSRF header."""
    return client.post(
        path,
        data=json.dumps(body),
        content_type="application/json",
        headers=csrf_headers(client),
        **kwargs,
    )


# The start of a ZIP (so XLSX) file: a local file header, NUL bytes and all.
ZIP_HEADER = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml"


def xlsx() -> bytes:
    """A ZIP container shaped like an Excel workbook (deflated, so not UTF-8)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types>" + "<Default Extension='xml'/>" * 50 + "</Types>")
        rows = "".join(f"<row r='{i}'><c t='s'><v>{i * 7919 % 1000}</v></c></row>" for i in range(400))
        archive.writestr("xl/worksheets/sheet1.xml", f"<worksheet><sheetData>{rows}</sheetData></worksheet>")
    return buffer.getvalue()


def make_table_job(
    *,
    columns: Sequence[str],
    rows: Sequence[Sequence[str | None]],
    text_column: str = "text",
    compounds: Sequence[float] | None = None,
    status: str = Job.Status.SUCCEEDED,
    stats: bool = True,
    **overrides,
) -> Job:
    """A job of a table's rows (cells in `columns` order, the text in `text_column`), its results stored.

    Scores are VADER's, or made up from `compounds`. A succeeded job gets its
    summary and, with `stats`, the stored breakdowns its end writes.
    """
    position = list(columns).index(text_column)
    texts = [row[position] for row in rows]
    job = make_job(texts=texts, columns=list(columns), text_column=text_column, status=status, **overrides)
    scores = vader(texts) if compounds is None else [vader_scores(c) for c in compounds]
    # The header is row 1; the text column's cell is Result.text, not kept twice.
    cells = [[None if j == position else cell for j, cell in enumerate(row)] for row in rows]
    _results_create(job, texts, scores, first_row=2, cells=cells)
    if status == Job.Status.SUCCEEDED:
        Job.objects.filter(pk=job.pk).update(summary=summary_compute(job.pk, details=False))
        if stats:
            breakdowns_store(job.pk)
    job.refresh_from_db()
    return job


def results_copy_table(
    job: Job,
    *,
    n: int,
    cells: Callable[[int], list[str | None]],
    text: Callable[[int], str],
    compound: Callable[[int], float],
) -> None:
    """Insert `n` results with cells fast, with one binary COPY (for benchmarks: a million in seconds).

    `cells(i)`, `text(i)` and `compound(i)` make row i; labels follow VADER's band.
    """

    table = Result._meta.db_table
    columns = "job_id, idx, row, text, cells, label, compound, pos, neu, neg"
    types = ["uuid", "int4", "int4", "text", "jsonb", "text", "float8", "float8", "float8", "float8"]
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:  # noqa: S608
            copy.set_types(types)
            for i in range(n):
                c = compound(i)
                label = "positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral"
                copy.write_row((job.pk, i, i + 2, text(i), Jsonb(cells(i)), label, c, 0.0, 1.0, 0.0))
    Job.objects.filter(pk=job.pk).update(done=n, total=n)
    job.refresh_from_db()


def workbook(sheets: dict[str, list[list[object]]], *, shared_strings: bool = True) -> bytes:
    """A real Excel workbook made by openpyxl: each sheet's rows, in order (the first sheet first).

    Its texts are in a shared string table, as Excel saves them (openpyxl
    writes them inline: `shared_strings=False` keeps them so).
    """

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return _strings_shared(buffer.getvalue()) if shared_strings else buffer.getvalue()


_INLINE_STRING = re.compile(
    rb'<c r="([A-Z]+[0-9]+)"( s="[0-9]+")? t="inlineStr"><is><t(?: xml:space="preserve")?>(.*?)</t></is></c>',
    re.S,
)
_SHARED_STRINGS_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SHARED_STRINGS_REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def _strings_shared(data: bytes) -> bytes:
    """The workbook with its inline texts moved to a shared string table."""
    table: dict[bytes, int] = {}

    def share(match: re.Match) -> bytes:
        at = table.setdefault(match.group(3), len(table))
        return b'<c r="%s"%s t="s"><v>%d</v></c>' % (match.group(1), match.group(2) or b"", at)

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as old, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            part = old.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                part = _INLINE_STRING.sub(share, part)
            elif item.filename == "[Content_Types].xml":
                override = (
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="%s"/>' % _SHARED_STRINGS_TYPE
                )
                part = part.replace(b"</Types>", override + b"</Types>")
            elif item.filename == "xl/_rels/workbook.xml.rels":
                rel = (
                    b'<Relationship Id="rIdSst" Type="%s" Target="sharedStrings.xml"/>' % _SHARED_STRINGS_REL
                )
                part = part.replace(b"</Relationships>", rel + b"</Relationships>")
            new.writestr(item, part)
        items = b"".join(b'<si><t xml:space="preserve">%s</t></si>' % text for text in table)
        new.writestr(
            "xl/sharedStrings.xml",
            b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            b'count="%d" uniqueCount="%d">%s</sst>' % (len(table), len(table), items),
        )
    return out.getvalue()
