"""File uploads through the Django test client, CSRF checks on, real Postgres and Redis.

POST /api/jobs/ multipart `file` (+ `column`, `encoding`, `analyzer`) and the
home page's form (DESIGN.md, "HTTP contract" and "Inputs and limits").
"""

from __future__ import annotations

import codecs
import itertools
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tests.builders import ZIP_HEADER, browser, csrf_headers, csrf_token, xlsx
from web import uploads
from web.models import Job, JobChunk, JobInput, Result
from web.uploads import MULTIPART_OVERHEAD_BYTES
from worker import pipeline, tasks
from worker.queues import get_queue
from worker.storedinput import (
    BLOCK_BYTES,
    LEGACY_BLOCK_BYTES,
    BlockCompressor,
    input_bytes,
    input_compress,
)

REFERENCE = SentimentIntensityAnalyzer()
SCORE_FIELDS = ("compound", "pos", "neu", "neg")

# Rows 3 and 5 (as a spreadsheet numbers them) have no text: skipped and reported.
REVIEWS_CSV = (
    b"id,text,stars\r\n"
    b'1,"I love this product, it is wonderful!",5\r\n'
    b"2,,3\r\n"
    b"3,This is terrible and I hate it.,1\r\n"
    b"4\r\n"
    b"5,The box is brown.,3\r\n"
)
REVIEWS = {
    0: "I love this product, it is wonderful!",
    2: "This is terrible and I hate it.",
    4: "The box is brown.",
}
KOREAN = ["이 제품 정말 좋아요", "배송이 너무 늦었어요", "최고의 선택!"]


@pytest.fixture
def api(db):
    """A browser session that has loaded the home page (and so holds a CSRF token)."""
    return browser()


def upload(name: str, data: bytes, content_type: str = "text/csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def post_file(client: Client, data: bytes, *, name: str = "reviews.csv", **fields):
    """POST /api/jobs/ as a script would: multipart, one file, the CSRF header."""
    return client.post("/api/jobs/", {"file": upload(name, data), **fields}, headers=csrf_headers(client))


def post_form(client: Client, data: bytes, *, name: str = "reviews.csv", **fields):
    """Submit the home page's form with a file (no pasted texts)."""
    body = {"csrfmiddlewaretoken": csrf_token(client), "texts": "", "analyzer": "vader", **fields}
    return client.post("/jobs/", {**body, "file": upload(name, data)})


def assert_error(response, status: int, code: str) -> str:
    """Check the contract's error body; return its message."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"].strip()
    return body["error"]["message"]


def assert_nothing_stored() -> None:
    assert not Job.objects.exists()
    assert not JobInput.objects.exists()


def submitted(response) -> Job:
    assert response.status_code == 202, response.content
    return Job.objects.get(pk=response.json()["id"])


def process(job: Job) -> Job:
    """Run the job in-process as a worker would; return it reloaded."""
    pipeline.job_process(job.pk)
    job.refresh_from_db()
    return job


def job_json(client: Client, job: Job) -> dict:
    response = client.get(f"/api/jobs/{job.pk}/")
    assert response.status_code == 200
    return response.json()


def assert_scored(job: Job, expected: dict[int, str]) -> None:
    """The job's results are exactly VADER's scores of the expected texts, at their row indexes."""
    results = list(Result.objects.filter(job=job).order_by("idx"))
    assert {r.idx: r.text for r in results} == expected
    for result in results:
        reference = REFERENCE.polarity_scores(expected[result.idx])
        assert {f: getattr(result, f) for f in SCORE_FIELDS} == {f: reference[f] for f in SCORE_FIELDS}


# --- submit ---------------------------------------------------------------


def test_upload_answers_202_and_stores_the_exact_bytes(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_file(api, REVIEWS_CSV, column="Text", encoding="auto")

    job = submitted(response)
    body = response.json()
    assert response["Location"] == f"/api/jobs/{job.pk}/" == body["links"]["self"]
    assert int(response["Retry-After"]) >= 1
    assert body["status"] == "queued"
    assert body["progress"]["total"] is None
    assert body["skipped"] == {"count": 0, "examples": []}
    job_input = JobInput.objects.get(job=job)
    assert input_bytes(job_input) == REVIEWS_CSV
    assert job_input.size == len(REVIEWS_CSV)
    assert job_input.format == JobInput.Format.CSV
    assert job_input.filename == "reviews.csv"
    assert job_input.options["encoding"] == "utf-8"
    assert (job_input.options["column"], job_input.options["column_index"]) == ("text", 1)
    assert job.session_key == api.session.session_key
    assert callbacks, "the enqueue waits for the commit"
    assert str(job.pk) in get_queue(job.queue).job_ids


@pytest.mark.django_db(transaction=True)
def test_uploaded_csv_is_analyzed_with_skipped_rows_reported(api):
    job = submitted(post_file(api, REVIEWS_CSV))

    job = process(job)

    assert job.status == Job.Status.SUCCEEDED
    assert_scored(job, REVIEWS)
    body = job_json(api, job)
    assert body["progress"] == {"done": 3, "total": 3, "percent": 100.0}
    assert body["skipped"]["count"] == 2
    assert [e["row"] for e in body["skipped"]["examples"]] == [3, 5]
    assert all("'text'" in e["reason"] for e in body["skipped"]["examples"])
    results = api.get(f"/api/jobs/{job.pk}/results/").json()["results"]
    assert [(r["idx"], r["text"]) for r in results] == list(REVIEWS.items())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "data", "fields", "expected"),
    [
        pytest.param("r.csv", REVIEWS_CSV, {}, REVIEWS, id="csv"),
        pytest.param(
            "r.tsv",
            b"id\ttext\n1\tI love it, really!\n2\t\n3\tI hate it.\n",
            {},
            {0: "I love it, really!", 2: "I hate it."},
            id="tsv",
        ),
        pytest.param(
            "r.txt",
            b"I love it, really!\r\n\r\nI hate it.\r\n",
            {},
            {0: "I love it, really!", 1: "I hate it."},
            id="txt",
        ),
        pytest.param(
            "r.jsonl",
            b'{"text": "I love it, really!"}\n{"text": null}\n{"text": "I hate it."}\n',
            {},
            {0: "I love it, really!", 2: "I hate it."},
            id="jsonl",
        ),
        pytest.param(
            "r.ndjson",
            b'"I love it, really!"\n"I hate it."\n',
            {},
            {0: "I love it, really!", 1: "I hate it."},
            id="ndjson-strings",
        ),
        pytest.param(
            "r.csv",
            ("번호,리뷰\r\n" + "".join(f"{i},{t}\r\n" for i, t in enumerate(KOREAN, 1))).encode("cp949"),
            {"column": "리뷰"},
            dict(enumerate(KOREAN)),
            id="cp949-korean",
        ),
        pytest.param(
            "r.csv",
            ("id,text\r\n" + "".join(f"{i},{t}\r\n" for i, t in enumerate(KOREAN, 1))).encode("euc-kr"),
            {"encoding": "euc-kr"},
            dict(enumerate(KOREAN)),
            id="euc-kr-chosen",
        ),
        pytest.param(
            "r.csv",
            'id,text\r\n1,"Café “très” bon, 5€ :)"\r\n2,Déçu – awful\r\n'.encode("cp1252"),
            {"encoding": "windows-1252"},
            {0: "Café “très” bon, 5€ :)", 1: "Déçu – awful"},
            id="windows-1252-chosen",
        ),
        pytest.param(
            "r.csv",
            codecs.BOM_UTF16_LE + "text\r\nI love it 😀\r\n이 제품 정말 좋아요\r\n".encode("utf-16-le"),
            {},
            {0: "I love it 😀", 1: "이 제품 정말 좋아요"},
            id="utf-16-bom",
        ),
        pytest.param(
            "r.csv",
            b"id,title,review\n1,Great value,It broke at once.\n2,Awful,I love it.\n",
            {"column": "TITLE"},
            {0: "Great value", 1: "Awful"},
            id="column-chosen",
        ),
    ],
)
def test_each_format_end_to_end(api, name, data, fields, expected):
    job = submitted(post_file(api, data, name=name, **fields))

    job = process(job)

    assert job.status == Job.Status.SUCCEEDED, job.error_message
    assert_scored(job, expected)
    assert job.total == len(expected)


@pytest.mark.django_db(transaction=True)
def test_upload_with_a_chosen_analyzer_and_encoding_stores_them(api):
    data = "text\r\nCafé “très” bon\r\n".encode("cp1252")

    job = submitted(post_file(api, data, encoding="windows-1252", analyzer="vader"))

    assert job.analyzer == "vader"
    assert JobInput.objects.get(job=job).options["encoding"] == "cp1252"


@pytest.mark.django_db(transaction=True)
def test_file_whose_every_row_is_empty_fails_with_no_texts_naming_a_row(api):
    job = submitted(post_file(api, b"id,text\r\n1,\r\n2,   \r\n3\r\n"))

    tasks.job_run(str(job.pk))

    body = job_json(api, job)
    assert body["status"] == "failed"
    assert body["error"]["code"] == "no_texts"
    assert re.search(r"\brow 2\b", body["error"]["message"])
    assert not Result.objects.filter(job=job).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"text,id\n ,1\n,2\n", "no text in column 'text'", id="blank"),
        pytest.param(
            b"text,id\n" + b"x" * 40 + b",1\n" + b"y" * 41 + b",2\n", "over the limit", id="too-long"
        ),
    ],
)
def test_a_job_whose_every_row_is_skipped_reports_them(api, sentimeter_settings, data, reason):
    sentimeter_settings["MAX_TEXT_CHARS"] = 30
    job = submitted(post_file(api, data))

    tasks.job_run(str(job.pk))

    body = job_json(api, job)
    assert body["status"] == "failed"
    assert "all 2 rows were skipped" in body["error"]["message"]
    assert body["skipped"]["count"] == 2
    assert [e["row"] for e in body["skipped"]["examples"]] == [2, 3]
    assert all(reason in e["reason"] for e in body["skipped"]["examples"])


@pytest.mark.django_db(transaction=True)
def test_request_does_not_parse_the_whole_file(api):
    # Past the sample the view checks: the unclosed quote is the worker's to find.
    lines = [b"id,text"] + [b"%d,review %d, all good" % (i, i) for i in range(1, 6000)]
    lines[4999] = b'4999,"this quote is never closed'  # spreadsheet row 5000
    data = b"\r\n".join(lines) + b"\r\n"
    assert len(data) > 2 * 64 * 1024

    job = submitted(post_file(api, data))
    assert input_bytes(JobInput.objects.get(job=job)) == data
    tasks.job_run(str(job.pk))

    body = job_json(api, job)
    assert body["status"] == "failed"
    assert body["error"]["code"] == "malformed_csv"
    assert re.search(r"\bRow 5000\b", body["error"]["message"])


# --- refused at once, nothing stored ---------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "fields", "status", "code", "words"),
    [
        pytest.param(
            "book.csv",
            ZIP_HEADER,
            {},
            400,
            "binary_file",
            "binary",
            id="binary",
        ),
        pytest.param(
            "r.csv",
            "id,text\r\n1,이 제품 정말 좋아요\r\n".encode("cp949"),
            {"encoding": "utf-8"},
            400,
            "undecodable",
            "utf-8",
            id="undecodable",
        ),
        pytest.param(
            "r.csv",
            b"id,title,review\r\n1,Nice,I love it\r\n",
            {"column": "opinion"},
            400,
            "no_such_column",
            "'id', 'title', 'review'",
            id="no-such-column",
        ),
        pytest.param(
            "r.csv", b"id,stars\r\n1,5\r\n", {}, 400, "no_text_column", "column", id="no-text-column"
        ),
        pytest.param("r.csv", b"", {}, 400, "empty_file", "empty", id="empty"),
        pytest.param("r.csv", b" \r\n\r\n", {}, 400, "empty_file", "empty", id="whitespace"),
        pytest.param(
            "r.csv", b'id,text\r\n1,"never closed\r\n', {}, 400, "malformed_csv", "Row 2", id="malformed"
        ),
        pytest.param(
            "r.csv",
            b"text\r\nhi\r\n",
            {"encoding": "klingon"},
            400,
            "unknown_encoding",
            "klingon",
            id="encoding",
        ),
        pytest.param(
            "r.csv", b"text\r\nhi\r\n", {"analyzer": "nope"}, 400, "unknown_analyzer", "'nope'", id="analyzer"
        ),
    ],
)
def test_bad_upload_is_refused_at_once(
    api, django_capture_on_commit_callbacks, name, data, fields, status, code, words
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_file(api, data, name=name, **fields)

    message = assert_error(response, status, code)
    assert words in message
    assert_nothing_stored()
    assert callbacks == []


def test_a_zip_that_is_not_a_workbook_is_refused_naming_the_conversion(api):
    response = post_file(api, xlsx(), name="reviews.xlsx")

    assert "Save it as .xlsx or .csv" in assert_error(response, 400, "invalid_workbook")
    assert_nothing_stored()


def test_multipart_without_a_file_is_no_file(api):
    response = api.post("/api/jobs/", {"column": "text"}, headers=csrf_headers(api))

    assert '"file"' in assert_error(response, 400, "no_file")
    assert_nothing_stored()


def test_two_files_in_one_request_are_refused(api):
    files = [upload("a.csv", b"text\r\nI love it\r\n"), upload("b.csv", b"text\r\nI hate it\r\n")]

    response = api.post("/api/jobs/", {"file": files}, headers=csrf_headers(api))

    assert_error(response, 400, "too_many_files")
    assert_nothing_stored()


def test_upload_without_the_csrf_header_is_403(api):
    response = api.post("/api/jobs/", {"file": upload("r.csv", REVIEWS_CSV)})

    assert_error(response, 403, "csrf_failed")
    assert_nothing_stored()


# --- 413 ------------------------------------------------------------------

LIMIT = 1000


@pytest.fixture
def small_uploads(sentimeter_settings):
    sentimeter_settings["MAX_UPLOAD_BYTES"] = LIMIT
    return sentimeter_settings


def csv_of_size(size: int) -> bytes:
    body = b"text\r\n" + b"I love it\r\n" * (size // 11)
    return body + b"x" * (size - len(body))


def test_upload_at_the_limit_is_accepted(api, small_uploads):
    data = csv_of_size(LIMIT)

    job = submitted(post_file(api, data))

    assert JobInput.objects.get(job=job).size == LIMIT


def test_upload_over_the_limit_is_413_and_stores_nothing(api, small_uploads):
    response = post_file(api, csv_of_size(LIMIT + 1))

    message = assert_error(response, 413, "too_large")
    assert f"{LIMIT:,}" in message
    assert_nothing_stored()


def test_upload_far_over_the_limit_is_413(api, small_uploads):
    response = post_file(api, csv_of_size(LIMIT + 2 * MULTIPART_OVERHEAD_BYTES))

    assert_error(response, 413, "too_large")
    assert_nothing_stored()


def test_declared_content_length_over_the_limit_is_413_before_reading(api, small_uploads):
    # A small body that claims to be big: only the Content-Length check can refuse it,
    # since reading the claimed bytes would run past the end of the body.
    body = encode_multipart(BOUNDARY, {"file": upload("r.csv", b"text\r\nI love it\r\n")})

    response = api.generic(
        "POST",
        "/api/jobs/",
        body,
        content_type=MULTIPART_CONTENT,
        headers=csrf_headers(api),
        CONTENT_LENGTH=str(LIMIT + MULTIPART_OVERHEAD_BYTES + 1),
    )

    assert_error(response, 413, "too_large")
    assert_nothing_stored()


def test_form_upload_over_the_limit_is_413(api, small_uploads):
    response = post_form(api, csv_of_size(LIMIT + 1))

    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert_nothing_stored()


# --- the HTML form and the job page ------------------------------------------


def html(response) -> str:
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


def test_home_form_takes_a_file(api):
    content = html(api.get("/"))

    assert 'enctype="multipart/form-data"' in content
    assert re.search(r'<input type="file" name="file"[^>]*accept="[^"]*\.csv', content)
    assert 'name="column"' in content and 'name="encoding"' in content


def test_form_upload_redirects_to_the_job_page(api):
    response = post_form(api, REVIEWS_CSV, column="text", encoding="auto")

    assert response.status_code == 303
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert input_bytes(JobInput.objects.get(job=job)) == REVIEWS_CSV
    assert api.get(response["Location"]).status_code == 200


@pytest.mark.parametrize(
    ("data", "fields", "field", "words"),
    [
        pytest.param(ZIP_HEADER, {}, "file", "binary file", id="binary"),
        pytest.param(
            b"id,text\r\n1,hi\r\n", {"column": "opinion"}, "column", "There is no column", id="no-such-column"
        ),
        pytest.param(b"", {}, "file", "empty", id="empty"),
    ],
)
def test_form_bad_file_shows_the_message_next_to_its_field(api, data, fields, field, words):
    response = post_form(api, data, **fields)

    assert response.status_code == 400
    content = html(response)
    assert words in field_error(content, field)
    # The field points at its message, for screen readers.
    assert re.search(rf'<[^>]+aria-describedby="[^"]*id_{field}_error[^"]*"[^>]*id="id_{field}"', content)
    assert 'id="id_texts_error"' not in content
    assert_nothing_stored()


def field_error(content: str, field: str = "file") -> str:
    error = re.search(rf'<p class="error" id="id_{field}_error" role="alert">([^<]*)</p>', content)
    assert error, content
    return error.group(1)


def test_form_empty_file_is_refused_next_to_the_file_field(api):
    response = post_form(api, b"")

    assert response.status_code == 400
    assert "empty" in field_error(html(response))
    assert_nothing_stored()


@pytest.mark.django_db(transaction=True)
def test_job_page_shows_the_skipped_rows(api):
    job = process(submitted(post_file(api, REVIEWS_CSV)))

    content = html(api.get(f"/jobs/{job.pk}/"))

    assert "2 rows skipped" in content
    assert re.search(r"Row 3: no text in column (&#x27;|')text(&#x27;|')", content)
    assert "Row 5: " in content


@pytest.mark.django_db(transaction=True)
def test_job_page_without_skipped_rows_says_nothing_about_them(api):
    job = process(submitted(post_file(api, b"text\r\nI love it\r\n")))

    assert "skipped" not in html(api.get(f"/jobs/{job.pk}/"))


# --- every encoding choice × malformed input: a 4xx or a failed job, never a 500 ---

LONE_SURROGATE_LE = b"\x00\xd8"  # U+D800 in UTF-16-LE, with no low surrogate after it

MALFORMED = {
    "utf-16-le-no-bom": ("r.csv", "text\nI love it\n".encode("utf-16-le")),
    "utf-16-be-no-bom": ("r.csv", "text\nI love it\n".encode("utf-16-be")),
    "utf-16-le-no-bom-jsonl": ("r.jsonl", '{"text": "I love it"}\n'.encode("utf-16-le")),
    "utf-16-odd-length": ("r.csv", codecs.BOM_UTF16_LE + "text\nI love it\n".encode("utf-16-le") + b"x"),
    "utf-16-lone-surrogate": (
        "r.csv",
        codecs.BOM_UTF16_LE
        + "text\nfine\n".encode("utf-16-le")
        + LONE_SURROGATE_LE
        + "x\n".encode("utf-16-le"),
    ),
    "utf-16-bom-only": ("r.csv", codecs.BOM_UTF16_LE),
    "utf-8-bom-then-utf-16": ("r.csv", codecs.BOM_UTF8 + "text\nhi\n".encode("utf-16-le")),
    "utf-32": ("r.csv", "text\nI love it\n".encode("utf-32")),
    "cp949": ("r.csv", "text\n이 제품 정말 좋아요\n".encode("cp949")),
    "cp949-jsonl": ("r.jsonl", '"이 제품 정말 좋아요"\n'.encode("cp949")),
    "invalid-utf-8": ("r.csv", b"text\nbad \xff\xfe byte\n\xc3\n"),
    "nul-bytes": ("r.csv", b"text\nI\x00 love it\n"),
    "unclosed-quote": ("r.csv", b'text\n"never closed\n'),
    "jsonl-lone-surrogate-escape": ("r.jsonl", b'"fine"\n"\\ud800"\n{"text": "\\udc80 x"}\n'),
    "jsonl-deep-nesting": ("r.jsonl", b"[" * 100_000 + b"\n"),
    "jsonl-huge-number": ("r.jsonl", b'"fine"\n' + b"1" * 5000 + b"\n"),
    "jsonl-not-json": ("r.jsonl", b'"fine"\n{oops\n'),
    "txt-lone-surrogate-utf-8": ("r.txt", b"fine\n\xed\xa0\x80 encoded surrogate\n"),
}
# Every choice the form offers, and the API's default (detect).
ENCODING_CHOICES = [None, "utf-8", "utf-16", "windows-1252", "latin-1", "cp949", "euc-kr"]
# Failures that are ours, not the input's: never acceptable for a bad file.
INTERNAL_CODES = {"internal_error", "timeout", "worker_lost"}


def assert_ended_with_a_message(client: Client, job: Job) -> None:
    """Run the job as a worker would: it succeeds, or fails saying what is wrong with the input."""
    tasks.job_run(str(job.pk))
    body = job_json(client, job)
    assert body["status"] in {"succeeded", "failed"}, body
    if body["status"] == "failed":
        assert body["error"]["code"] not in INTERNAL_CODES, body["error"]
        assert body["error"]["message"].strip()
        assert "Traceback" not in body["error"]["message"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("encoding", ENCODING_CHOICES, ids=lambda e: e or "auto")
@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_upload_through_the_api_is_4xx_or_a_failed_job(api, case, encoding):
    name, data = MALFORMED[case]
    fields = {"encoding": encoding} if encoding else {}

    response = post_file(api, data, name=name, **fields)

    if response.status_code == 202:
        assert_ended_with_a_message(api, submitted(response))
    else:
        assert 400 <= response.status_code < 500
        assert_error(response, response.status_code, response.json()["error"]["code"])
        assert_nothing_stored()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("encoding", ENCODING_CHOICES, ids=lambda e: e or "auto")
@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_upload_through_the_form_is_4xx_or_a_failed_job(api, case, encoding):
    name, data = MALFORMED[case]

    response = post_form(api, data, name=name, encoding=encoding or "auto")

    if response.status_code == 303:
        assert_ended_with_a_message(api, Job.objects.get())
    else:
        assert 400 <= response.status_code < 500
        assert re.search(r'<p class="error" id="id_\w+_error" role="alert">[^<]+</p>', html(response))
        assert_nothing_stored()


@pytest.mark.django_db(transaction=True)
def test_utf_16_without_a_bom_is_read_in_its_byte_order(api):
    texts = {0: "I love it", 1: "이 제품 정말 좋아요"}
    for codec in ("utf-16-le", "utf-16-be"):
        data = ("text\r\n" + "".join(f"{t}\r\n" for t in texts.values())).encode(codec)

        job = process(submitted(post_file(api, data, encoding="utf-16")))

        assert job.status == Job.Status.SUCCEEDED, job.error_message
        assert_scored(job, texts)


# --- stored compressed, in blocks; dropped when the job ends ------------------------------

# Quoted line breaks, multi-byte characters and a header: whatever a block boundary can cut.
BLOCK_TEXTS = ["Great product,\nworks well", "이 제품 정말 좋아요", 'She said "bad"\r\nreturned it', "Fine."]


def csv_of(texts: list[str], encoding: str) -> bytes:
    rows = "".join(f'{i},"{t.replace(chr(34), chr(34) * 2)}"\r\n' for i, t in enumerate(texts, 1))
    return ("id,review\r\n" + rows).encode(encoding)


def test_an_upload_is_stored_compressed_in_blocks_and_read_back_whole(api):
    data = csv_of([f"Review {i}: the blender is fine, the motor is loud." for i in range(400)], "utf-8")

    job = submitted(post_file(api, data, column="review"))

    job_input = JobInput.objects.get(job=job)
    assert job_input.size == len(data)
    assert len(bytes(job_input.data)) == sum(job_input.blocks) < len(data) / 3
    assert input_bytes(job_input) == data
    job = process(job)
    assert job.status == Job.Status.SUCCEEDED and job.done == 400


def test_a_big_upload_is_compressed_while_it_streams_in_into_the_blocks_stored(api, settings, monkeypatch):
    # Past FILE_UPLOAD_MAX_MEMORY_SIZE the upload streams to a temporary file through
    # CompressingUploadHandler, which compresses its blocks on the way (web/uploads.py):
    # the submit does not compress the file again.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1000
    monkeypatch.setattr(uploads, "input_compress", lambda data: pytest.fail("compressed after the upload"))
    texts = [f"Review {i}: the kettle {'boils fast' if i % 2 else 'leaks badly'}." for i in range(12_000)]
    data = csv_of(texts, "utf-8")
    assert len(data) > 2 * BLOCK_BYTES  # several blocks, the last one short

    job = submitted(post_file(api, data, column="review"))

    job_input = JobInput.objects.get(job=job)
    stored, blocks = input_compress(data)
    assert (bytes(job_input.data), job_input.blocks, job_input.size) == (stored, blocks, len(data))
    assert input_bytes(job_input) == data
    job = process(job)
    assert job.status == Job.Status.SUCCEEDED and job.done == len(texts)


@pytest.mark.parametrize("pieces", [1, 5, 64 * 1024, 300_000])
def test_a_file_compressed_as_it_arrives_in_pieces_of_any_size_gives_the_blocks_of_the_whole(pieces):
    data = bytes(range(256)) * 3000 + b"tail"
    compressor = BlockCompressor(block_bytes=65_536)
    for at in range(0, len(data), pieces):
        compressor.write(data[at : at + pieces])

    assert compressor.finish() == input_compress(data, block_bytes=65_536)
    assert compressor.size == len(data)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "cp949"])
@pytest.mark.parametrize("block_bytes", [1, 3, 7, 64])
def test_rows_cut_by_block_boundaries_are_read_whole(api, encoding, block_bytes):
    # Blocks this small cut rows, quoted line breaks, \r\n pairs and multi-byte characters.
    data = csv_of(BLOCK_TEXTS, encoding)
    job = submitted(post_file(api, data, column="review", encoding=encoding))
    stored, blocks = input_compress(data, block_bytes=block_bytes)
    JobInput.objects.filter(job=job).update(data=stored, blocks=blocks, block_bytes=block_bytes)

    job = process(job)

    assert job.status == Job.Status.SUCCEEDED, job.error_message
    assert list(Result.objects.filter(job=job).order_by("idx").values_list("text", flat=True)) == BLOCK_TEXTS


def test_an_upload_stored_before_blocks_existed_is_still_read(api):
    job = submitted(post_file(api, REVIEWS_CSV, column="text"))
    JobInput.objects.filter(job=job).update(data=REVIEWS_CSV, blocks=[])

    assert_scored(process(job), REVIEWS)


def test_an_upload_stored_before_its_block_size_was_recorded_is_read_in_ranges_of_1_mib_blocks(api):
    # Blocks were 1 MiB, and not recorded, before migration 0010: a job stored then and
    # split now must still find each chunk's bytes where they are.
    texts = [f"Review {i}: {'great' if i % 3 else 'awful'} blender." for i in range(3000)]
    rows = "".join(f"{i},{t},{'n' * 400}\r\n" for i, t in enumerate(texts, 1))
    data = ("id,review,notes\r\n" + rows).encode()
    assert len(data) > LEGACY_BLOCK_BYTES  # chunks in the second block
    job = submitted(post_file(api, data[:1000].rsplit(b"\r\n", 1)[0] + b"\r\n", column="review"))
    stored, blocks = input_compress(data, block_bytes=LEGACY_BLOCK_BYTES)
    JobInput.objects.filter(job=job).update(data=stored, blocks=blocks, block_bytes=None, size=len(data))

    pipeline.job_process(job.pk, chunk_size=700)
    for seq in JobChunk.objects.filter(job=job).order_by("seq").values_list("seq", flat=True):
        pipeline.chunk_process(job.pk, seq)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error_message
    assert list(Result.objects.filter(job=job).order_by("idx").values_list("text", flat=True)) == texts


def input_left(job: Job) -> tuple[int, list[int], int, str]:
    job_input = JobInput.objects.get(job=job)
    return len(bytes(job_input.data)), job_input.blocks, job_input.size, job_input.filename


def test_a_job_that_succeeded_drops_its_stored_upload_and_keeps_its_name_and_size(api):
    job = process(submitted(post_file(api, REVIEWS_CSV, column="text")))

    assert job.status == Job.Status.SUCCEEDED
    assert input_left(job) == (0, [], len(REVIEWS_CSV), "reviews.csv")
    assert job_json(api, job)["status"] == "succeeded"


def test_a_job_that_failed_or_was_canceled_drops_its_stored_upload(api):
    failed = submitted(post_file(api, REVIEWS_CSV, column="text"))
    assert pipeline.job_fail(failed.pk, code="timeout", message="Took too long.")
    canceled = submitted(post_file(api, REVIEWS_CSV, column="text"))
    assert api.post(f"/api/jobs/{canceled.pk}/cancel/", headers=csrf_headers(api)).status_code == 202

    assert input_left(failed)[:2] == input_left(canceled)[:2] == (0, [])
    assert JobInput.objects.get(job=failed).size == len(REVIEWS_CSV)


# --- chunks are ranges of the stored file, read and parsed by each chunk job ----------------

RANGE_TEXTS = [
    "Great product,\nworks well",
    "이 제품 정말 좋아요",
    'She said "bad"',
    "Fine.",
    "좋아요 :)",
    "ok",
]


def range_file(fmt: str, encoding: str) -> bytes:
    """A file with every kind of row boundary: \\r\\n, \\n and \\r, blank rows, a row without text."""
    if fmt == "csv":
        quoted = [f'"{t.replace(chr(34), chr(34) * 2)}"' for t in RANGE_TEXTS]
        lines = ["id,review\r\n", f"1,{quoted[0]}\r\n", "\r\n", f"2,{quoted[1]}\n", "3,\r\n"]
        lines += [f"4,{quoted[2]}\r\n", f"5,{quoted[3]}\n", "\n", f"6,{quoted[4]}\r\n", f"7,{quoted[5]}"]
    elif fmt == "jsonl":
        strings = [json.dumps(t, ensure_ascii=False) for t in RANGE_TEXTS]
        lines = [f"{strings[0]}\r\n", "\r\n", f"{strings[1]}\n", "42\n", f"{strings[2]}\r\n"]
        lines += [f"{strings[3]}\n", f"{strings[4]}\r\n", f"{strings[5]}"]
    else:
        one_line = [t.replace("\n", " ") for t in RANGE_TEXTS]
        lines = [f"{one_line[0]}\r\n", "\r\n", f"{one_line[1]}\n", "   \n", f"{one_line[2]}\r"]
        lines += [f"{one_line[3]}\n", f"{one_line[4]}\r\n", f"{one_line[5]}"]
    return "".join(lines).encode(encoding)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "txt"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "cp949"])
@pytest.mark.parametrize(("chunk_size", "block_bytes"), [(1, 1), (1, 5), (2, 3), (3, 64)])
def test_each_row_gets_exactly_one_result_whatever_chunk_and_block_boundaries_cut(
    api, fmt, encoding, chunk_size, block_bytes
):
    # Chunks of 1 text end at every row; blocks of a few bytes end inside rows, quoted
    # line breaks, \r\n pairs and multi-byte characters.
    data = range_file(fmt, encoding)
    job = submitted(post_file(api, data, name=f"reviews.{fmt}", column="review", encoding=encoding))
    stored, blocks = input_compress(data, block_bytes=block_bytes)
    JobInput.objects.filter(job=job).update(data=stored, blocks=blocks, block_bytes=block_bytes)

    pipeline.job_process(job.pk, chunk_size=chunk_size)
    chunks = list(JobChunk.objects.filter(job=job).order_by("seq"))
    for chunk in chunks:
        pipeline.chunk_process(job.pk, chunk.seq)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error_message
    expected = RANGE_TEXTS if fmt != "txt" else [t.replace("\n", " ") for t in RANGE_TEXTS]
    assert list(Result.objects.filter(job=job).order_by("idx").values_list("text", flat=True)) == expected
    assert job.done == job.total == len(expected) and job.skipped == (fmt != "txt")
    assert len(chunks) == -(-len(expected) // chunk_size)
    # The ranges follow one another through the file, from the first row to the last.
    assert all(a.end <= b.start for a, b in itertools.pairwise(chunks))
    assert chunks[-1].end == len(data)


def test_a_lenient_upload_split_into_ranges_reads_its_windows_1252_bytes_in_every_chunk(api):
    # Bytes that are not UTF-8 in a file read as UTF-8 are kept one character each on the
    # full pass, so the ranges still fall on the rows' bytes; each chunk reads them as Windows-1252.
    data = "id,review\r\n1,first\r\n2,caf\xe9 au lait\r\n3,na\xefve\r\n4,last\r\n".encode("cp1252")
    job = submitted(post_file(api, b"id,review\r\n1,first\r\n", column="review"))
    stored, blocks = input_compress(data, block_bytes=4)
    options = {**JobInput.objects.get(job=job).options, "lenient": True}
    JobInput.objects.filter(job=job).update(
        data=stored, blocks=blocks, block_bytes=4, size=len(data), options=options
    )

    pipeline.job_process(job.pk, chunk_size=1)
    for seq in range(4):
        pipeline.chunk_process(job.pk, seq)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error_message
    texts = list(Result.objects.filter(job=job).order_by("idx").values_list("text", flat=True))
    assert texts == ["first", "café au lait", "naïve", "last"]
