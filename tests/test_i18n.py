"""The pages in Korean: chosen by Accept-Language or the switcher, with nothing left in English."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation

from tests.builders import make_job, owner_session
from web.context_processors import script_strings
from worker import pipeline
from worker.analyzers.registry import spec_get

PO = Path(__file__).resolve().parent.parent / "locale" / "ko" / "LC_MESSAGES" / "django.po"
KOREAN = {"HTTP_ACCEPT_LANGUAGE": "ko-KR,ko;q=0.9,en;q=0.5"}
# Words that stay as they are in a Korean page: names of the product, formats,
# encodings and the analyzer, and the column names a file's header is matched on.
KEPT = {
    "sentimeter", "csv", "tsv", "json", "lines", "utf", "vader", "e5", "euc", "kr",
    "windows", "latin", "text", "review", "comment", "utc", "kb", "mb", "bytes", "cp", "api",
    "excel", "xlsx",
}  # fmt: skip


class VisibleText(HTMLParser):
    """What a reader sees or hears: text, and the labels and hints in attributes.

    Left out: scripts and styles, the user's own texts (class "text", "clamp", the
    title), and elements marked as another language (the switcher's "English").
    """

    SKIP_CLASSES = {"text", "clamp", "title", "term"}
    VOID = {"meta", "link", "input", "br", "img", "hr", "source", "line", "rect"}

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self.stack: list[bool] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        skip = (
            tag in ("script", "style", "title", "h1", "textarea")
            or "lang" in attrs
            and tag != "html"
            or bool(self.SKIP_CLASSES & set((attrs.get("class") or "").split()))
        )
        if not (self.stack and self.stack[-1]) and not skip:
            for name in ("aria-label", "placeholder", "alt"):
                if attrs.get(name):
                    self.words.append(attrs[name])
        if tag not in self.VOID:
            self.stack.append(skip or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]):
            self.words.append(data)


def english_left(html: str, *, job=None) -> list[str]:
    """Words in Latin letters a reader of the page would see, but for KEPT and the job's id."""
    parser = VisibleText()
    parser.feed(html)
    seen = " ".join(parser.words)
    if job is not None:
        seen = seen.replace(str(job.pk)[:8], "")
    words = re.findall(r"[A-Za-z]{2,}", seen)
    return sorted({w for w in words if w.lower() not in KEPT})


@pytest.fixture
def korean(db):
    return Client(**KOREAN)


def test_the_home_page_in_korean_has_no_english_left(korean):
    html = korean.get("/").content.decode()

    assert '<html lang="ko">' in html
    assert "글의 감성 분석하기" in html
    assert english_left(html) == []


def test_a_finished_job_page_in_korean_has_no_english_left(korean):
    texts = ["I love this, it is wonderful!", "This is terrible and I hate it.", "The box is brown."] * 20
    job = make_job(session_key=owner_session(korean), texts=texts)
    pipeline.job_process(job.pk)

    html = korean.get(f"/jobs/{job.pk}/").content.decode()

    assert "요약" in html and "무엇이 감성을 좌우하나" in html
    assert english_left(html) == []


def test_a_running_job_page_and_the_job_list_in_korean_have_no_english_left(korean):
    job = make_job(session_key=owner_session(korean), status="running")

    assert english_left(korean.get(f"/jobs/{job.pk}/").content.decode(), job=job) == []
    # An untitled job is "작업" and the start of its id.
    assert english_left(korean.get("/jobs/").content.decode(), job=job) == []


def test_english_stays_the_default_and_the_switcher_sets_korean(client, db):
    assert "Analyze the sentiment of texts" in client.get("/").content.decode()

    response = client.post("/i18n/setlang/", {"language": "ko", "next": "/jobs/"})

    assert response.status_code == 302 and response["Location"] == "/jobs/"
    assert "내 작업" in client.get("/jobs/").content.decode()
    back = client.get("/").content.decode()
    assert re.search(
        r'<button type="submit" name="language" value="en" class="link" lang="en">English</button>', back
    )


def test_the_scripts_get_their_words_in_the_readers_language(rf):
    with translation.override("ko"):
        strings = script_strings(rf.get("/"))["script_strings"]

    assert strings["progress"] == "%(total)s개 중 %(done)s개"
    assert strings["status_running"] == "분석 중"


def _po_entries() -> list[tuple[str, str | None, str]]:
    """(msgid, msgid_plural or None, msgstr) of every entry but the header, read plainly."""

    def unquote(lines: list[str]) -> str:
        return "".join(
            bytes(line[1:-1], "utf-8").decode("unicode_escape").encode("latin-1").decode() for line in lines
        )

    entries = []
    for block in PO.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, list[str]] = {}
        current = None
        for line in block.splitlines():
            match = re.match(r"^(msgid|msgid_plural|msgstr(?:\[0\])?) (\".*\")$", line)
            if match:
                current = match.group(1)
                fields[current] = [match.group(2)]
            elif line.startswith('"') and current:
                fields[current].append(line)
        if "msgid" in fields and unquote(fields["msgid"]):
            msgstr = fields.get("msgstr") or fields.get("msgstr[0]")
            plural = unquote(fields["msgid_plural"]) if "msgid_plural" in fields else None
            entries.append((unquote(fields["msgid"]), plural, unquote(msgstr)))
    return entries


def test_every_string_has_a_korean_translation_and_the_compiled_catalogue_is_current():
    entries = _po_entries()
    assert len(entries) > 100
    with translation.override("ko"):
        for msgid, plural, msgstr in entries:
            assert msgstr, f"no Korean for {msgid!r}"
            got = translation.ngettext(msgid, plural, 2) if plural else translation.gettext(msgid)
            # A .po edited without compiling (msgfmt -o django.mo django.po) shows here.
            assert got == msgstr, f"django.mo is older than django.po for {msgid!r}"


def test_the_analyzers_are_named_in_the_readers_language_and_stay_english_in_the_worker(korean, client):
    korean_names = {a["name"]: a["label"] for a in korean.get("/api/analyzers/").json()["analyzers"]}
    english_names = {a["name"]: a["label"] for a in client.get("/api/analyzers/").json()["analyzers"]}

    assert korean_names == {"e5": "다국어 (정확)", "vader": "VADER (영어, 빠름)"}
    assert english_names == {"e5": "Multilingual (accurate)", "vader": "VADER (English, fast)"}
    # What the worker writes (a warning's advice) names them as the registry does, in English.
    assert spec_get("e5").label == "Multilingual (accurate)"
