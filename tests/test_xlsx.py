"""Excel workbooks in and out: refused at submit when unreadable, converted by a real worker, downloaded.

Workbooks are made with openpyxl here; the worker is the Procfile's command.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import filesizeformat
from openpyxl import load_workbook

from tests.builders import browser, csrf_headers, csrf_token, owner_session, workbook
from tests.procs import procs_fixture, worker_proc_fixture  # noqa: F401 - fixtures
from tests.workerjobs import jobs_wait_final
from web import services
from web.models import Job, JobInput, Result
from web.serializers import job_links
from web.table import OUR_COLUMNS
from worker import pipeline, workbooks
from worker.exceptions import InputError
from worker.storedinput import input_bytes, input_workbook_convert
from worker.workbooks import XLSX_TYPE

OLE = workbooks.OLE_MAGIC
HEADER = ["id", "date", "when", "stars", "price", "text", "note"]
ROWS = [
    [17, dt.datetime(2026, 11, 3), dt.datetime(2026, 11, 3, 14, 30), 4, 19.99, "I love this product!", None],
    [18, dt.datetime(2026, 1, 2), dt.datetime(2026, 1, 2, 8, 5, 7), 1.0, 0.1, "이 제품 정말 좋아요", "메모"],
    [None, None, None, None, None, None, None],
    ["A-19", dt.datetime(2025, 12, 31), None, 3, 1e-05, "The box is brown.", True],
    [20, None, None, 5, -2.5, "   ", False],
]
# The same cells as a person reads them in Excel.
EXPECTED = [
    ["17", "2026-11-03", "2026-11-03 14:30", "4", "19.99", "I love this product!", ""],
    ["18", "2026-01-02", "2026-01-02 08:05:07", "1", "0.1", "이 제품 정말 좋아요", "메모"],
    ["", "", "", "", "", "", ""],
    ["A-19", "2025-12-31", "", "3", "1e-05", "The box is brown.", "TRUE"],
    ["20", "", "", "5", "-2.5", "   ", "FALSE"],
]


@pytest.fixture
def api(db):
    return browser()


def post_file(client, data: bytes, name: str = "reviews.xlsx", **fields):
    upload = SimpleUploadedFile(name, data, content_type=XLSX_TYPE)
    return client.post("/api/jobs/", {"file": upload, **fields}, headers=csrf_headers(client))


def refused(response, code: str) -> str:
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert not Job.objects.exists()
    return response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("좋아요", "좋아요"),
        (4, "4"),
        (4.0, "4"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (1 / 3, "0.3333333333333333"),
        (1e20, "1e+20"),
        (True, "TRUE"),
        (False, "FALSE"),
        (dt.datetime(2026, 11, 3), "2026-11-03"),
        (dt.datetime(2026, 11, 3, 9, 0), "2026-11-03 09:00"),
        (dt.datetime(2026, 11, 3, 9, 0, 5), "2026-11-03 09:00:05"),
        (dt.date(2026, 11, 3), "2026-11-03"),
        (dt.time(9, 30), "09:30"),
        (dt.timedelta(hours=26, minutes=3), "26:03:00"),
    ],
)
def test_a_cell_is_written_as_the_user_typed_it(value, text):
    assert workbooks.cell_text(value) == text


@pytest.mark.parametrize("shared_strings", [True, False], ids=["shared-strings", "inline-strings"])
def test_the_chosen_sheet_converts_to_csv_cell_for_cell(shared_strings):
    data = workbook({"Notes": [["just a note"]], "Reviews": [HEADER, *ROWS]}, shared_strings=shared_strings)
    out = io.BytesIO()

    check = workbooks.workbook_to_csv(io.BytesIO(data), out, sheet="reviews")

    assert check.sheet == "Reviews" and check.sheets == ("Notes", "Reviews")
    assert list(csv.reader(io.StringIO(out.getvalue().decode("utf-8")))) == [HEADER, *EXPECTED]


@pytest.mark.parametrize("strings", ["shared", "inline"])
def test_a_sheet_that_unpacks_past_the_limit_is_refused(strings):
    # openpyxl's normal mode keeps texts in the shared string table, as Excel does; write-only, inline.
    rows = [["text"], *[[f"review number {i} " * 5] for i in range(3000)]]
    data = workbook({"S": rows}, shared_strings=strings == "shared")
    assert ("xl/sharedStrings.xml" in zipfile.ZipFile(io.BytesIO(data)).namelist()) == (strings == "shared")
    with pytest.raises(InputError) as refused:
        workbooks.workbook_to_csv(io.BytesIO(data), io.BytesIO(), max_bytes=50_000)
    assert refused.value.code == "input_too_large"
    out = io.BytesIO()
    workbooks.workbook_to_csv(io.BytesIO(data), out, max_bytes=10_000_000)
    assert len(out.getvalue().splitlines()) == 3001


def test_formula_cells_give_their_cached_value():
    # openpyxl writes no cached value: a workbook saved by Excel has one; without, the cell is empty.
    data = workbook({"S": [["text", "n"], ["fine", "=1+1"]]})
    out = io.BytesIO()
    workbooks.workbook_to_csv(io.BytesIO(data), out)
    assert out.getvalue().decode().splitlines() == ["text,n", "fine,"]


@pytest.mark.django_db
def test_a_submitted_workbook_is_stored_as_uploaded_and_converted_to_csv_by_the_worker(api):
    data = workbook({"Reviews": [HEADER, *ROWS]})
    response = post_file(api, data)
    assert response.status_code == 202, response.content
    job_input = JobInput.objects.get(job_id=response.json()["id"])
    assert job_input.format == "xlsx"
    assert job_input.options == {"sheet": "Reviews", "column": None}
    assert input_bytes(job_input) == data

    converted = input_workbook_convert(job_input)

    assert converted.format == "csv"
    assert converted.options["column"] == "text" and converted.options["sheet"] == "Reviews"
    text = input_bytes(converted).decode("utf-8")
    assert list(csv.reader(io.StringIO(text))) == [HEADER, *EXPECTED]
    # Converting again does nothing (a retried job finds CSV).
    assert input_workbook_convert(converted).size == converted.size


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_analyzes_the_chosen_sheet_with_spreadsheet_row_numbers(api, worker_proc):
    data = workbook({"Summary": [["total"], [3]], "Reviews": [HEADER, *ROWS]})
    response = post_file(api, data, sheet="Reviews", column="TEXT")
    assert response.status_code == 202, response.content
    worker = worker_proc()

    (job,) = jobs_wait_final([uuid.UUID(response.json()["id"])], worker=worker)

    assert job.status == Job.Status.SUCCEEDED, job.error_message
    texts = dict(Result.objects.filter(job=job).values_list("idx", "text"))
    assert texts == {0: "I love this product!", 1: "이 제품 정말 좋아요", 2: "The box is brown."}
    # Row 4 is empty in the sheet and row 6's text is blank: the numbers are the sheet's.
    assert job.skipped == 1
    assert job.skipped_examples[0]["row"] == 6
    # The page names the file with its size as uploaded, not its CSV's.
    page = api.get(f"/jobs/{job.pk}/").content.decode()
    assert f"reviews.xlsx ({filesizeformat(len(data))})" in page

    download = api.get(f"/api/jobs/{job.pk}/results.xlsx")
    assert download.status_code == 200
    assert download["Content-Type"] == XLSX_TYPE
    assert f"sentimeter-{job.pk}.xlsx" in download["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(b"".join(download.streaming_content))).active
    rows = list(sheet.values)
    width = len(HEADER)
    # The user's table back, every cell as typed (the blank row 4 left out), then ours.
    assert rows[0] == (*HEADER, *OUR_COLUMNS)
    assert [[v or "" for v in r[:width]] for r in rows[1:]] == [EXPECTED[i] for i in (0, 1, 3, 4)]
    analyzed, skipped = rows[1:4], rows[4]
    assert all(isinstance(v, int | float) for r in analyzed for v in r[width + 1 : width + 5])
    assert skipped[width:-1] == (None,) * 5 and skipped[-1]
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.b


@pytest.mark.django_db(transaction=True)
def test_a_sheet_without_the_asked_column_fails_the_job_naming_its_columns(api, worker_proc):
    response = post_file(api, workbook({"Reviews": [HEADER, *ROWS]}), column="opinion")
    worker = worker_proc()

    (job,) = jobs_wait_final([uuid.UUID(response.json()["id"])], worker=worker)

    assert job.status == Job.Status.FAILED
    assert job.error_code == "no_such_column"
    assert "'opinion'" in job.error_message and "'stars'" in job.error_message


@pytest.mark.django_db
def test_results_xlsx_holds_texts_as_texts_never_formulas(api):
    texts = ["=HYPERLINK(1)", "@SUM(A1)", "ok"]
    job = services.job_create(session_key=owner_session(api), texts=texts)
    pipeline.job_process(job.pk)

    response = api.get(f"/api/jobs/{job.pk}/results.xlsx")

    assert response.status_code == 200, response.content
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    cells = [row[1] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == texts
    assert {c.data_type for c in cells} == {"s"}


@pytest.mark.django_db
def test_results_xlsx_of_a_running_job_is_409(api):
    response = post_file(api, workbook({"S": [["text"], ["hello"]]}))
    job_id = response.json()["id"]

    download = api.get(f"/api/jobs/{job_id}/results.xlsx")

    assert download.status_code == 409
    assert download.json()["error"]["code"] == "job_not_finished"


def encrypted_workbook() -> bytes:
    # An OLE2 compound file holding an EncryptionInfo stream: how Excel stores a password-protected xlsx.
    return workbooks.OLE_MAGIC + b"\x00" * 504 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "fields", "code", "words"),
    [
        pytest.param("old.xls", OLE + b"\x00" * 600, {}, "unsupported_format", ".xls", id="xls"),
        pytest.param("book.ods", b"PK\x03\x04 ods", {}, "unsupported_format", ".ods", id="ods"),
        pytest.param("a.numbers", b"PK\x03\x04 numbers", {}, "unsupported_format", ".numbers", id="numbers"),
        pytest.param(
            "book.xlsx", b"id,text\r\n1,hi\r\n", {}, "invalid_workbook", "not an Excel", id="not-zip"
        ),
        pytest.param("book.xlsx", encrypted_workbook(), {}, "encrypted_workbook", "password", id="encrypted"),
        pytest.param(
            "book.xlsx",
            workbook({"Reviews": [["text"], ["hi"]], "Other": [["x"]]}),
            {"sheet": "Sales"},
            "no_such_sheet",
            "'Reviews', 'Other'",
            id="unknown-sheet",
        ),
        pytest.param("book.xlsx", workbook({"Empty": []}), {}, "empty_file", "empty", id="empty-sheet"),
        pytest.param("r.csv", b"text\r\nhi\r\n", {"sheet": "S"}, "no_such_sheet", "sheets", id="csv-sheet"),
    ],
)
def test_an_unreadable_workbook_is_refused_at_submit(api, name, data, fields, code, words):
    message = refused(post_file(api, data, name=name, **fields), code)
    assert words in message
    if code == "unsupported_format":
        assert "Save it as .xlsx or .csv" in message


@pytest.mark.django_db
def test_an_unreadable_workbook_in_the_form_is_shown_next_to_the_file(api):
    body = {"csrfmiddlewaretoken": csrf_token(api), "texts": "", "analyzer": "vader", "sheet": ""}
    response = api.post("/jobs/", {**body, "file": SimpleUploadedFile("old.xls", workbooks.OLE_MAGIC * 8)})

    assert response.status_code == 400
    assert "Save it as .xlsx or .csv" in response.content.decode()
    assert not Job.objects.exists()


def test_the_job_links_name_the_xlsx_download():
    job = Job(pk="6f1e8a44-0b0c-4d6c-9a55-0e1f3f9d2c11")
    assert job_links(job)["xlsx"] == f"/api/jobs/{job.pk}/results.xlsx"
