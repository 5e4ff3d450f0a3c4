"""Your own rows back: uploads and JSON submits round-trip through the real pipeline to the downloads.

Real Postgres and Redis; the worker's functions run in this process
(tests/test_fanout.py runs them in worker processes): inline, or fanned
out into chunks of two rows so cells must stay right across chunk
boundaries.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.builders import browser, csrf_headers, make_job, make_results, owner_session, post_json
from web import services
from web.models import Job, JobChunk, Result, SkippedRow
from web.table import OUR_COLUMNS, names_unique, table_header, table_rows
from worker import pipeline, split, storedinput

pytestmark = pytest.mark.django_db(transaction=True)

OURS = list(OUR_COLUMNS)
LABELS = {"positive", "neutral", "negative"}
MODES = ("inline", "fanout")
LONG = "far too long " * 10  # over MAX_TEXT_CHARS, set to 100 below

# A review export as people have them: ids, a product, stars, dates, the review, a note;
# quoted commas, quotes and line breaks; a blank review, a too-long one, a short row, Korean.
TABLE = [
    ["id", "product", "stars", "when", "review", "note"],
    ["A-1", "Kettle", "5", "2026-11-03", "Boils fast and looks great", "gift"],
    ["A-2", "Kettle, large", "1", "2026-11-04", 'Broke after a week. "Never again"', ""],
    ["A-3", "Toaster", "3", "2026-11-05", "", "no review given"],
    ["A-4", "Toaster", "-5", "2026-11-06", "Works.\nBut the lid\nrattles, sadly", "multi-line"],
    ["A-5", "Grill", "4", "2026-11-07", LONG, ""],
    ["A-6", "그릴", "5", "2026년 11월 8일", "배송이 빨라서 정말 좋았어요", "한국어"],
    ["A-7", "Grill", "2", "2026-11-09", "  padded with spaces, still a text  ", ""],
    ["A-8", "Fan", "", "", "Quiet enough for the bedroom", ""],
]
SKIPPED = {"A-3": "no text in column 'review'", "A-5": "130 characters, over the limit of 100"}


@pytest.fixture(autouse=True)
def _short_texts(sentimeter_settings):
    sentimeter_settings["MAX_TEXT_CHARS"] = 100


@pytest.fixture
def api():
    return browser()


def delimited(rows: list[list[str]], delimiter: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def post_file(api, data: bytes, name: str, **fields) -> Job:
    upload = SimpleUploadedFile(name, data, content_type="text/plain")
    response = api.post("/api/jobs/", {"file": upload, **fields}, headers=csrf_headers(api))
    assert response.status_code == 202, response.content
    return Job.objects.get(pk=response.json()["id"])


def run(job: Job, mode: str) -> Job:
    """Process the job as the workers would: inline, or split into chunks of 2 texts run one by one."""
    if mode == "inline":
        pipeline.job_process(job.pk)
    else:
        pipeline.job_process(job.pk, chunk_size=2)
        seqs = JobChunk.objects.filter(job=job).order_by("seq").values_list("seq", flat=True)
        assert len(seqs) > 1, "the job was not split"
        for seq in seqs:
            pipeline.chunk_process(job.pk, seq)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error_message
    return job


def download(api, job: Job, fmt: str) -> str:
    response = api.get(f"/api/jobs/{job.pk}/results.{fmt}")
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8")


def csv_download(api, job: Job) -> list[list[str]]:
    content = download(api, job, "csv")
    assert content.startswith("\ufeff")
    return list(csv.reader(io.StringIO(content[1:])))


def jsonl_download(api, job: Job) -> list[dict]:
    return [json.loads(line) for line in download(api, job, "jsonl").splitlines()]


def assert_ours(ours: list[str], *, skipped: str | None) -> None:
    sentiment, score, positive, neutral, negative, note = ours
    if skipped:
        assert [sentiment, score, positive, neutral, negative] == ["", "", "", "", ""]
        assert note == skipped
    else:
        assert sentiment in LABELS
        assert -1 <= float(score) <= 1
        assert abs(float(positive) + float(neutral) + float(negative) - 1) < 0.01
        assert note == ""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("name", "delimiter"), [("reviews.csv", ","), ("reviews.tsv", "\t")])
def test_a_table_comes_back_whole(api, mode, name, delimiter):
    job = run(post_file(api, delimited(TABLE, delimiter), name), mode)

    rows = csv_download(api, job)

    assert rows[0] == TABLE[0] + OURS
    assert len(rows) == len(TABLE), "every row of the upload, skipped ones too"
    for got, original in zip(rows[1:], TABLE[1:], strict=True):
        assert got[:6] == original, "the original cells, exactly"
        assert_ours(got[6:], skipped=SKIPPED.get(original[0]))
    assert job.total == 6 and job.skipped == 2
    assert job.columns == TABLE[0] and job.text_column == "review"


@pytest.mark.parametrize("mode", MODES)
def test_the_jsonl_download_is_one_object_a_row_keyed_by_column(api, mode):
    job = run(post_file(api, delimited(TABLE, ","), "reviews.csv"), mode)

    records = jsonl_download(api, job)

    assert len(records) == len(TABLE) - 1
    for record, original in zip(records, TABLE[1:], strict=True):
        assert list(record) == TABLE[0] + OURS
        # An empty cell is null; the others as written.
        assert [record[c] for c in TABLE[0]] == [cell or None for cell in original]
        if original[0] in SKIPPED:
            assert record["sentiment"] is None and record["score"] is None
            assert record["sentiment_note"] == SKIPPED[original[0]]
        else:
            assert record["sentiment"] in LABELS and isinstance(record["score"], float)
            assert record["sentiment_note"] is None


@pytest.mark.parametrize("mode", MODES)
def test_results_keep_their_spreadsheet_row_and_cells(api, mode):
    # Inline too: the split's own pass leaves a file's cells out, and the quick path reads them again.
    job = run(post_file(api, delimited(TABLE, ","), "reviews.csv"), mode)

    results = list(Result.objects.filter(job=job).order_by("idx").values_list("row", "cells", "text"))
    skipped = list(SkippedRow.objects.filter(job=job).order_by("row").values_list("row", "cells", "reason"))

    # Row 1 is the header; A-3 (row 4) and A-5 (row 6) have no usable text.
    assert [r for r, _, _ in results] == [2, 3, 5, 7, 8, 9]
    assert results[0] == (2, ["A-1", "Kettle", "5", "2026-11-03", None, "gift"], "Boils fast and looks great")
    # The text was stripped of its spaces: the cell keeps them, so the download gives them back.
    assert results[4][1][4] == TABLE[7][4] and results[4][2] == TABLE[7][4].strip()
    assert skipped == [
        (4, ["A-3", "Toaster", "3", "2026-11-05", None, "no review given"], SKIPPED["A-3"]),
        (6, ["A-5", "Grill", "4", "2026-11-07", LONG, None], SKIPPED["A-5"]),
    ]
    page = api.get(f"/api/jobs/{job.pk}/results/").json()["results"]
    assert [r["row"] for r in page] == [2, 3, 5, 7, 8, 9]
    rows_by_idx = {r["idx"]: r["row"] for r in page}
    extremes = [e for side in job.summary["extremes"].values() for e in side]
    assert extremes and all(e["row"] == rows_by_idx[e["idx"]] for e in extremes)
    assert [r["id"] for r in page] == ["A-1", "A-2", "A-4", "A-6", "A-7", "A-8"]


def test_a_cancel_while_a_small_upload_is_read_again_for_its_cells_stops_it(api, monkeypatch):
    # The quick path reads the file's one chunk again for its cells: the input may be gone by then.
    job = post_file(api, delimited(TABLE, ","), "reviews.csv")
    read_again = split.range_texts

    def canceled_first(job_input, **kwargs):
        services.job_cancel(job=Job.objects.get(pk=job.pk))
        return read_again(job_input, **kwargs)

    monkeypatch.setattr(split, "range_texts", canceled_first)
    pipeline.job_process(job.pk)

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED and not job.error_code
    assert not Result.objects.filter(job=job).exists()


def test_a_range_read_again_gives_its_texts_or_says_the_input_is_gone_or_refuses_a_wrong_count(api):
    # What a chunk job and the quick path read: the split's count must come back, exactly.
    job = post_file(api, delimited(TABLE, ","), "reviews.csv")
    data = delimited(TABLE, ",")
    span = {"start": data.index(b"\r\n") + 2, "end": len(data), "idx_first": 0, "row_first": 2}

    def read(count):
        job_input = storedinput.input_get(job)
        return storedinput.range_texts(job_input, **span, count=count, max_chars=100)

    assert [row.text for row in read(6)][:2] == [TABLE[1][4], TABLE[2][4]]
    with pytest.raises(RuntimeError, match="the split counted 7"):
        read(7)
    storedinput.input_free(job.pk)
    assert read(6) is None


def test_a_short_row_and_extra_cells_keep_to_the_header(api):
    data = b"id,review,stars\r\n1,Lovely little thing,5,unexpected\r\n2,Not good at all\r\n"
    job = run(post_file(api, data, "r.csv"), "inline")

    rows = csv_download(api, job)

    assert rows[0] == ["id", "review", "stars", *OURS]
    assert rows[1][:3] == ["1", "Lovely little thing", "5"]
    assert rows[2][:3] == ["2", "Not good at all", ""]


def test_json_lines_objects_come_back_with_their_fields(api):
    data = (
        b'{"id": "A-17", "text": "Love it, works great", "stars": 5, "tags": ["gift"]}\n'
        b'{"id": "A-18", "text": "", "stars": null}\n'
        b'{"id": "A-19", "text": "Terrible, broke at once", "stars": 1}\n'
    )
    job = run(post_file(api, data, "r.jsonl"), "inline")

    records = jsonl_download(api, job)

    assert job.columns == ["id", "text", "stars", "tags"] and job.text_column == "text"
    assert [(r["id"], r["text"], r["stars"], r["tags"]) for r in records] == [
        ("A-17", "Love it, works great", "5", '["gift"]'),
        ("A-18", None, None, None),
        ("A-19", "Terrible, broke at once", "1", None),
    ]
    assert records[1]["sentiment_note"] == "no text in field 'text'"


def test_plain_lines_come_back_as_row_and_text(api):
    job = run(post_file(api, b"Great stuff\n\nAwful stuff\n", "r.txt"), "inline")

    rows = csv_download(api, job)

    assert rows[0] == ["row", "text", *OURS]
    assert [r[:2] for r in rows[1:]] == [["1", "Great stuff"], ["3", "Awful stuff"]]


# --- JSON submits ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_json_objects_come_back_with_their_ids(api, mode):
    texts = [
        {"id": "A-17", "text": "I love this kettle"},
        {"id": "A-18", "text": "I hate this kettle", "shop": "north"},
        {"id": 19, "text": "It is a kettle"},
    ]
    response = post_json(api, "/api/jobs/", {"texts": texts})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["columns"] == {"all": ["id", "text", "shop"], "text": "text", "kept": ["id", "shop"]}
    job = run(Job.objects.get(pk=body["id"]), mode)

    page = api.get(f"/api/jobs/{job.pk}/results/").json()["results"]
    rows = csv_download(api, job)

    assert [(r["row"], r["id"], r["text"]) for r in page] == [
        (1, "A-17", "I love this kettle"),
        (2, "A-18", "I hate this kettle"),
        (3, "19", "It is a kettle"),
    ]
    assert rows[0] == ["id", "text", "shop", *OURS]
    assert [r[:3] for r in rows[1:]] == [
        ["A-17", "I love this kettle", ""],
        ["A-18", "I hate this kettle", "north"],
        ["19", "It is a kettle", ""],
    ]


def test_json_strings_come_back_as_row_and_text(api):
    response = post_json(api, "/api/jobs/", {"texts": ["Good", "Bad"]})
    job = run(Job.objects.get(pk=response.json()["id"]), "inline")

    rows = csv_download(api, job)

    assert response.json()["columns"] == {"all": [], "text": "", "kept": []}
    assert rows[0] == ["row", "text", *OURS]
    assert [r[:2] for r in rows[1:]] == [["1", "Good"], ["2", "Bad"]]
    assert "id" not in api.get(f"/api/jobs/{job.pk}/results/").json()["results"][0]


@pytest.mark.parametrize(
    ("texts", "named"),
    [
        pytest.param(["fine", {"id": 1, "text": "x"}], "texts[0] is a string", id="string-then-object"),
        pytest.param([{"id": 1, "text": "fine"}, "x"], "texts[1] is a string", id="object-then-string"),
        pytest.param([{"id": 1, "text": "fine"}, 5], "texts[1] is a number", id="object-then-number"),
        pytest.param(
            [{"id": 1, "body": "no text field"}], 'texts[0] has no "text" field', id="no-text-field"
        ),
        pytest.param(
            [{"id": 1, "text": "ok"}, {"id": 2, "text": 7}], "texts[1].text must be a string", id="num"
        ),
        pytest.param(
            [{"id": 1, "text": "ok"}, {"id": 2, "text": "  "}], "texts[1].text is empty", id="empty"
        ),
    ],
)
def test_json_items_that_do_not_fit_are_refused_naming_the_item(api, texts, named):
    response = post_json(api, "/api/jobs/", {"texts": texts})

    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_texts", "empty_text"}
    assert named in response.json()["error"]["message"]
    assert not Job.objects.exists()


# --- the job says which column it analyzed -------------------------------------------------


def test_the_job_json_and_page_say_which_column_was_analyzed(api):
    data = delimited([["id", "when", "comment"], ["1", "2026-11-03", "Arrived broken, sadly"]], ",")
    job = post_file(api, data, "r.csv")

    body = api.get(f"/api/jobs/{job.pk}/").json()
    page = api.get(f"/jobs/{job.pk}/").content.decode()

    assert body["columns"] == {"all": ["id", "when", "comment"], "text": "comment", "kept": ["id", "when"]}
    assert "Texts from the column “comment”" in page
    assert "id, when" in page


def test_a_file_without_text_is_refused_listing_its_columns(api):
    data = delimited([["id", "stars", "when"], ["1", "5", "2026-11-03"], ["2", "1", "2026-11-04"]], ",")
    upload = SimpleUploadedFile("r.csv", data, content_type="text/csv")

    response = api.post("/api/jobs/", {"file": upload}, headers=csrf_headers(api))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "no_text_column"
    assert "id: ids" in error["message"] and "stars: numbers 1–5" in error["message"]
    assert "when: dates" in error["message"]


# --- the table generator itself ----------------------------------------------------------


def test_table_rows_merge_results_and_skipped_rows_in_row_order_across_batches():
    job = make_job(texts=[], columns=["id", "text"], text_column="text", status=Job.Status.SUCCEEDED)
    texts = [f"text {i}" for i in range(7)]
    make_results(job, texts)
    # Results on even rows 2, 4, ... 14; skipped rows on the odd rows between them.
    for result in Result.objects.filter(job=job):
        Result.objects.filter(pk=result.pk).update(row=2 * result.idx + 2, cells=[str(result.idx), None])
    SkippedRow.objects.bulk_create(
        SkippedRow(job=job, row=r, cells=[f"s{r}", None], reason="blank") for r in (3, 5, 9, 15, 17)
    )

    rows = list(table_rows(job, batch=2))

    assert [r[0] for r in rows] == ["0", "s3", "1", "s5", "2", "3", "s9", "4", "5", "6", "s15", "s17"]
    assert rows[1] == ["s3", None, None, None, None, None, None, "blank"]
    assert rows[0][1] == "text 0"


@pytest.mark.parametrize(
    ("columns", "header"),
    [
        ([], ["row", "text", *OURS]),
        (["id", "text"], ["id", "text", *OURS]),
        (["score", "text"], ["score", "text", *OURS[:1], "sentimeter_score", *OURS[2:]]),
    ],
)
def test_table_header(columns, header):
    job = make_job(texts=[], columns=columns, text_column="text" if columns else "")

    assert table_header(job) == header


def test_names_unique_numbers_repeats():
    assert names_unique(["a", "b", "a", "a", "a (2)"]) == ["a", "b", "a (3)", "a (4)", "a (2)"]


def test_a_running_job_download_is_refused(api):
    job = make_job(session_key=owner_session(api), status=Job.Status.RUNNING)

    assert api.get(f"/api/jobs/{job.pk}/results.csv").status_code == 409
    assert api.get(f"/api/jobs/{job.pk}/results.jsonl").status_code == 409


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949", "utf-16", "cp1252"])
def test_cells_come_back_in_any_encoding_the_upload_had(api, encoding):
    product = "Café crème" if encoding == "cp1252" else "그릴 세트"
    rows = [["id", "product", "review"], ["1", product, "Works well, arrived early"], ["2", product, ""]]
    data = delimited(rows, ",").decode().encode(encoding)
    job = run(post_file(api, data, "r.csv"), "inline")

    got = csv_download(api, job)

    assert [r[:3] for r in got] == rows
    assert got[2][-1] == "no text in column 'review'"


def test_nul_characters_are_dropped_from_every_cell(api):
    data = "id,product,review\r\n1,Ket\x00tle,Boils\x00 fast and well\r\n".encode("utf-16")
    job = run(post_file(api, data, "r.csv"), "inline")

    got = csv_download(api, job)

    assert got[1][:3] == ["1", "Kettle", "Boils fast and well"]


def test_a_repeated_header_name_keeps_the_text_in_the_analyzed_column(api):
    data = b"text,id,text\r\n1,A,Arrived broken and late\r\n2,B,Perfect in every way\r\n"
    # The first "text" column holds numbers: chosen by content, the third is analyzed.
    job = run(post_file(api, data, "r.csv"), "inline")

    assert Result.objects.filter(job=job).count() == 2
    assert [r[:3] for r in csv_download(api, job)] == [
        ["text", "id", "text"],
        ["1", "A", "Arrived broken and late"],
        ["2", "B", "Perfect in every way"],
    ]
    assert job.text_column == "text"


@pytest.mark.parametrize("mode", MODES)
def test_an_upload_with_a_store_and_dates_gets_its_groups_and_trend_stored(api, mode):
    # The whole way: the reader keeps the cells, the finalizer counts them, the API reads the counts.
    stores = ["North", "South", "North", "South", "North", "West"] * 2
    days = [f"11/{day:02d}/2026" for day in range(1, 13)]
    reviews = ["Great kettle, love it", "Terrible, it broke", "Fine I guess, nothing special"] * 4
    rows = [["store", "when", "review"], *zip(stores, days, reviews, strict=True)]
    job = run(post_file(api, delimited(rows, ","), "stores.csv"), mode)

    assert job.columns == ["store", "when", "review"] and job.text_column == "review"
    assert job.column_stats.filter(position=0, kind="groups").exists()
    assert job.column_stats.filter(position=1, kind="dates").exists()
    groups = api.get(f"/api/jobs/{job.pk}/groups/?by=store").json()
    assert "store" in groups["suggested"]
    assert {g["value"]: g["count"] for g in groups["groups"]} == {"North": 6, "South": 4, "West": 2}
    by_store = {g["value"]: g for g in groups["groups"]}
    for store in ("North", "South", "West"):
        labels = [r.label for r in Result.objects.filter(job=job) if r.cells[0] == store]
        assert by_store[store]["negative"] == labels.count("negative")
    trend = api.get(f"/api/jobs/{job.pk}/trend/?by=when").json()
    assert trend["bucket"] == "day" and trend["undated"] == 0
    assert [p["start"] for p in trend["points"]] == [f"2026-11-{day:02d}" for day in range(1, 13)]
    assert all(p["count"] == 1 for p in trend["points"])
    page = api.get(f"/jobs/{job.pk}/").content.decode()
    assert 'id="trend-counts"' in page and "Texts per day by the date in “when”" in page
    api.post(f"/jobs/{job.pk}/group/", {"group_by": "store"}, headers=csrf_headers(api))
    page = api.get(f"/jobs/{job.pk}/").content.decode()
    assert 'id="group-chart"' in page and "?group=West#results" in page
    page = api.get(f"/jobs/{job.pk}/?group=South").content.decode()
    assert "What drives it in “South”" in page and 'id="group-extremes-negative"' in page
    assert "Terrible, it broke" in page.split('id="group-extremes-negative"')[1].split("</ol>")[0]
