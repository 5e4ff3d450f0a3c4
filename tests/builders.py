"""Small builders for test data: jobs, their input and results, and browser-like clients."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Sequence

from django.test import Client

from web.models import Job, JobInput, Result
from web.sessions import OWNER_KEY
from worker.analyzers.base import Scores
from worker.analyzers.registry import get_analyzer
from worker.analyzers.vader import BAND as VADER_BAND

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
    """Store results for `texts` (idx 0..n-1) through the ORM and count them in `job.done`."""
    scores = vader(texts) if scores is None else scores
    rows = Result.objects.bulk_create(
        Result(job=job, idx=i, text=t, label=s.label, compound=s.compound, pos=s.pos, neu=s.neu, neg=s.neg)
        for i, (t, s) in enumerate(zip(texts, scores, strict=True))
    )
    Job.objects.filter(pk=job.pk).update(done=len(rows))
    job.refresh_from_db()
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


def workbook(sheets: dict[str, list[list[object]]], *, shared_strings: bool = True) -> bytes:
    """A real Excel workbook made by openpyxl: each sheet's rows, in order (the first sheet first).

    Its texts are in a shared string table, as Excel saves them (openpyxl
    writes them inline: `shared_strings=False` keeps them so).
    """
    from openpyxl import Workbook

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
