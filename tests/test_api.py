"""The JSON API through the Django test client, CSRF checks on (DESIGN.md, "HTTP contract")."""

import csv
import io
import json
import re
import uuid
from datetime import datetime

import pytest
from django.db import transaction
from django.test import Client
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus

from tests.builders import (
    SAMPLE_TEXTS,
    browser,
    csrf_headers,
    make_job,
    make_results,
    owner_session,
    post_json,
    vader_scores,
)
from web import selectors, services, table
from web.models import Job, Result
from worker import pipeline
from worker.analyzers.vader import BAND as VADER_BAND
from worker.analyzers.vader import SPEC as VADER_SPEC
from worker.queues import QUICK, get_queue, get_redis

JOB_KEYS = {
    "webhook",
    "id",
    "title",
    "status",
    "analyzer",
    "created_at",
    "started_at",
    "finished_at",
    "warnings",
    "progress",
    "partial",
    "error",
    "summary",
    "skipped",
    "columns",
    "links",
}
RESULT_KEYS = {"idx", "row", "text", "label", "compound", "pos", "neu", "neg"}
CSV_HEADER = ["row", "text", "sentiment", "score", "positive", "neutral", "negative", "sentiment_note"]

TEXTS = SAMPLE_TEXTS


@pytest.fixture
def api(db):
    """A browser session that has loaded the home page (and so holds a CSRF token)."""
    return browser()


@pytest.fixture
def other(db):
    """A second, unrelated browser session."""
    client = browser()
    owner_session(client)
    return client


@pytest.fixture
def finished_job(api):
    """A job of this session, processed in-process by the real pipeline."""
    job = make_job(session_key=owner_session(api), texts=TEXTS)
    pipeline.job_process(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    return job


def assert_error(response, status: int, code: str | None = None) -> dict:
    """Check the contract's error body and return its inner object."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["message"].strip()
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def rq_job_exists(job_id: str) -> bool:
    try:
        RQJob.fetch(job_id, connection=get_redis())
    except NoSuchJobError:
        return False
    return True


def download(response) -> str:
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8")


# --- submit ---------------------------------------------------------------


def test_submit_answers_202_with_the_job(api):
    response = post_json(api, "/api/jobs/", {"texts": ["I love it", "I hate it"]})

    assert response.status_code == 202
    body = response.json()
    assert set(body) == JOB_KEYS
    assert body["status"] == "queued"
    assert body["analyzer"] == "vader"
    assert body["progress"] == {"done": 0, "total": 2, "percent": 0.0}
    assert body["error"] is None
    assert body["summary"] is None
    assert body["started_at"] is None and body["finished_at"] is None
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
    assert uuid.UUID(body["id"])
    job = Job.objects.get(pk=body["id"])
    assert job.total == 2
    assert job.session_key == api.session.session_key


def test_submit_location_is_the_jobs_self_link(api):
    response = post_json(api, "/api/jobs/", {"texts": ["I love it"]})

    body = response.json()
    assert response["Location"] == body["links"]["self"] == f"/api/jobs/{body['id']}/"
    assert int(response["Retry-After"]) >= 1
    assert api.get(response["Location"]).json()["id"] == body["id"]


def test_submit_links_lead_to_the_jobs_endpoints(api):
    body = post_json(api, "/api/jobs/", {"texts": ["I love it"]}).json()
    job_id = body["id"]

    assert body["links"] == {
        "self": f"/api/jobs/{job_id}/",
        "page": f"/jobs/{job_id}/",
        "cancel": f"/api/jobs/{job_id}/cancel/",
        "results": f"/api/jobs/{job_id}/results/",
        "csv": f"/api/jobs/{job_id}/results.csv",
        "jsonl": f"/api/jobs/{job_id}/results.jsonl",
        "xlsx": f"/api/jobs/{job_id}/results.xlsx",
    }
    for name in ("self", "page", "results"):
        assert api.get(body["links"][name]).status_code == 200, name
    # The downloads wait for the job to finish (nothing runs it here).
    for name in ("csv", "jsonl", "xlsx"):
        refused = api.get(body["links"][name])
        assert refused.status_code == 409, name
        assert refused.json()["error"]["code"] == "job_not_finished"
        assert "still queued (0 of 1 texts analyzed)" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    "choice", [{"analyzer": "vader"}, {"analyzer": ""}, {}], ids=["vader", "empty", "absent"]
)
def test_submit_accepts_a_known_or_default_analyzer(api, choice):
    response = post_json(api, "/api/jobs/", {"texts": ["ok"], **choice})

    assert response.status_code == 202
    assert response.json()["analyzer"] == "vader"


def test_submit_accepts_json_with_a_charset(api):
    response = api.post(
        "/api/jobs/",
        data=json.dumps({"texts": ["Ünïcode 😀"]}).encode("utf-8"),
        content_type="application/json; charset=utf-8",
        headers=csrf_headers(api),
    )

    assert response.status_code == 202


def test_submit_keeps_unicode_text_intact(api):
    texts = ["Ünïcode 😀", "이 영화 정말 좋아요", "tab\tinside", "line\nbreak inside"]

    body = post_json(api, "/api/jobs/", {"texts": texts}).json()

    job = Job.objects.get(pk=body["id"])
    assert json.loads(bytes(job.input.data)) == texts


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param(b"{", "invalid_json", id="truncated"),
        pytest.param(b"  ", "invalid_json", id="whitespace-body"),
        pytest.param(b"texts=a", "invalid_json", id="form-encoded"),
        pytest.param(b"\xff\xfe\x00garbage", "invalid_json", id="not-utf8"),
        pytest.param(b'["I love it"]', "invalid_json", id="a-list"),
        pytest.param(b'"I love it"', "invalid_json", id="a-string"),
        pytest.param(b"null", "invalid_json", id="null"),
        pytest.param(b"[" * 100_000, "invalid_json", id="nested-too-deep"),
        pytest.param(b"{}", "no_texts", id="no-texts-key"),
        pytest.param(b'{"text": ["I love it"]}', "unknown_field", id="misspelled-key"),
        pytest.param(b'{"texts": []}', "no_texts", id="empty-list"),
        pytest.param(b'{"texts": "Great"}', "invalid_texts", id="texts-a-string"),
        pytest.param(b'{"texts": {"0": "a"}}', "invalid_texts", id="texts-an-object"),
        pytest.param(b'{"texts": null}', "invalid_texts", id="texts-null"),
        pytest.param(b'{"texts": 5}', "invalid_texts", id="texts-a-number"),
        pytest.param(b'{"texts": ["ok", 1]}', "invalid_texts", id="a-number"),
        pytest.param(b'{"texts": ["ok", null]}', "invalid_texts", id="a-null"),
        pytest.param(b'{"texts": [true]}', "invalid_texts", id="a-bool"),
        pytest.param(b'{"texts": [["nested"]]}', "invalid_texts", id="a-list-inside"),
        pytest.param(b'{"texts": ["ok", "   "]}', "empty_text", id="blank-text"),
        pytest.param(b'{"texts": ["a\\u0000b"]}', "invalid_texts", id="nul"),
        pytest.param(b'{"texts": ["\\ud800"]}', "invalid_texts", id="lone-surrogate"),
        pytest.param(b'{"texts": ["ok"], "analyzer": "nope"}', "unknown_analyzer", id="unknown-analyzer"),
        pytest.param(b'{"texts": ["ok"], "analyzer": 7}', "unknown_analyzer", id="analyzer-a-number"),
        pytest.param(b'{"texts": ["ok"], "analyzer": null}', "unknown_analyzer", id="analyzer-null"),
        pytest.param(b'{"texts": ["ok"], "n": ' + b"1" * 5000 + b"}", "invalid_json", id="huge-number"),
    ],
)
def test_submit_refuses_bad_input_with_400_and_stores_nothing(api, raw, code):
    response = api.post("/api/jobs/", data=raw, content_type="application/json", headers=csrf_headers(api))

    message = assert_error(response, 400, code)["message"]
    assert not Job.objects.exists()
    # Our words, not Python's ("use sys.set_int_max_str_digits()", "maximum recursion depth ...").
    assert not re.search(r"sys\.|recursion|codec|position \d", message), message


@pytest.mark.parametrize(
    ("body", "field", "meant"),
    [
        pytest.param({"texts": ["ok"], "analyser": "vader"}, "analyser", "analyzer", id="british-spelling"),
        pytest.param({"text": ["ok"]}, "text", "texts", id="singular"),
        pytest.param({"texts": ["ok"], "priority": "high"}, "priority", None, id="nothing-close"),
    ],
)
def test_submit_refuses_an_unknown_field_naming_the_one_meant(api, body, field, meant):
    response = post_json(api, "/api/jobs/", body)

    message = assert_error(response, 400, "unknown_field")["message"]
    assert f'"{field}"' in message
    if meant:
        assert f'Did you mean "{meant}"?' in message
    else:
        assert "Did you mean" not in message
    assert not Job.objects.exists()


def test_upload_refuses_an_unknown_form_field_naming_the_one_meant(api):
    upload = io.BytesIO(b"text\nI love it\n")
    upload.name = "reviews.csv"

    response = api.post("/api/jobs/", {"file": upload, "colum": "text"}, headers=csrf_headers(api))

    message = assert_error(response, 400, "unknown_field")["message"]
    assert '"colum"' in message and 'Did you mean "column"?' in message
    assert not Job.objects.exists()


def test_upload_misnamed_file_field_is_an_unknown_field(api):
    upload = io.BytesIO(b"text\nI love it\n")
    upload.name = "reviews.csv"

    response = api.post("/api/jobs/", {"files": upload}, headers=csrf_headers(api))

    assert 'Did you mean "file"?' in assert_error(response, 400, "unknown_field")["message"]


def test_upload_accepts_a_browser_forms_csrf_field(api):
    upload = io.BytesIO(b"text\nI love it\n")
    upload.name = "reviews.csv"

    response = api.post(
        "/api/jobs/",
        {"file": upload, "csrfmiddlewaretoken": csrf_headers(api)["X-CSRFToken"], "analyzer": "vader"},
    )

    assert response.status_code == 202, response.content


def test_submit_wrong_analyzer_lists_the_allowed_ones(api):
    response = post_json(api, "/api/jobs/", {"texts": ["ok"], "analyzer": "bert"})

    message = assert_error(response, 400, "unknown_analyzer")["message"]
    assert "'bert'" in message and "vader" in message and "e5" in message


def test_submit_names_the_bad_item(api):
    response = post_json(api, "/api/jobs/", {"texts": ["ok", "fine", None]})

    assert "texts[2]" in assert_error(response, 400)["message"]


def test_submit_refuses_too_many_texts_with_413(api, sentimeter_settings):
    sentimeter_settings["MAX_TEXTS_PER_JOB"] = 3

    response = post_json(api, "/api/jobs/", {"texts": ["a", "b", "c", "d"]})

    assert_error(response, 413, "too_many_texts")
    assert not Job.objects.exists()


def test_submit_accepts_texts_at_the_limits(api, sentimeter_settings):
    sentimeter_settings["MAX_TEXTS_PER_JOB"] = 3
    sentimeter_settings["MAX_TEXT_CHARS"] = 5

    assert post_json(api, "/api/jobs/", {"texts": ["abcde", "b", "c"]}).status_code == 202


def test_submit_refuses_a_text_too_long_with_413(api, sentimeter_settings):
    sentimeter_settings["MAX_TEXT_CHARS"] = 5

    response = post_json(api, "/api/jobs/", {"texts": ["short", "too long"]})

    error = assert_error(response, 413, "text_too_long")
    assert "texts[1]" in error["message"]
    assert not Job.objects.exists()


def test_submit_refuses_a_body_over_the_byte_limit_with_413(api, sentimeter_settings):
    sentimeter_settings["MAX_BODY_BYTES"] = 100

    response = post_json(api, "/api/jobs/", {"texts": ["x" * 200]})

    assert_error(response, 413)
    assert not Job.objects.exists()


def test_submit_refuses_a_body_over_djangos_upload_limit_with_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    response = post_json(api, "/api/jobs/", {"texts": ["x" * 200]})

    assert_error(response, 413)
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/x-www-form-urlencoded", "application/jsonl", ""],
)
def test_submit_refuses_other_content_types_with_415(api, content_type):
    response = api.post(
        "/api/jobs/",
        data=json.dumps({"texts": ["I love it"]}),
        content_type=content_type,
        headers=csrf_headers(api),
    )

    assert_error(response, 415, "unsupported_media_type")
    assert not Job.objects.exists()


# --- CSRF -----------------------------------------------------------------


def test_submit_without_the_csrf_header_is_403(api):
    response = api.post("/api/jobs/", data=json.dumps({"texts": ["hi"]}), content_type="application/json")

    error = assert_error(response, 403, "csrf_failed")
    assert "no X-CSRFToken header" in error["message"] and "Bearer" in error["message"]
    assert not Job.objects.exists()


def test_submit_with_a_wrong_csrf_token_is_403(api):
    response = api.post(
        "/api/jobs/",
        data=json.dumps({"texts": ["hi"]}),
        content_type="application/json",
        headers={"X-CSRFToken": "x" * 32},
    )

    error = assert_error(response, 403, "csrf_failed")
    assert "the X-CSRFToken header is not the csrftoken cookie's value" in error["message"]
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_submit_without_the_csrf_cookie_is_403():
    client = Client(enforce_csrf_checks=True)

    response = client.post("/api/jobs/", data=json.dumps({"texts": ["hi"]}), content_type="application/json")

    error = assert_error(response, 403, "csrf_failed")
    assert "no csrftoken cookie: GET any page first" in error["message"]
    assert "X-CSRFToken" in error["message"]
    assert not Job.objects.exists()


def test_cancel_without_the_csrf_header_is_403(api):
    job = make_job(session_key=owner_session(api))

    response = api.post(f"/api/jobs/{job.pk}/cancel/")

    assert_error(response, 403, "csrf_failed")
    assert Job.objects.get(pk=job.pk).status == Job.Status.QUEUED


# --- methods --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("put", "/api/jobs/", "GET, POST"),
        ("delete", "/api/jobs/", "GET, POST"),
        ("patch", "/api/jobs/", "GET, POST"),
        ("post", "/api/jobs/{id}/", "GET"),
        ("delete", "/api/jobs/{id}/", "GET"),
        ("get", "/api/jobs/{id}/cancel/", "POST"),
        ("post", "/api/jobs/{id}/results/", "GET"),
        ("post", "/api/jobs/{id}/results.csv", "GET"),
        ("post", "/api/jobs/{id}/results.jsonl", "GET"),
    ],
)
def test_wrong_method_is_405(api, method, path, allow):
    job = make_job(session_key=owner_session(api))

    response = getattr(api, method)(path.format(id=job.pk), headers=csrf_headers(api))

    assert response.status_code == 405
    assert response["Allow"] == allow
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert Job.objects.get(pk=job.pk).status == Job.Status.QUEUED


# --- list -----------------------------------------------------------------


def test_list_is_empty_for_a_new_browser(api):
    response = api.get("/api/jobs/")

    assert response.status_code == 200
    assert response.json() == {"jobs": []}


def test_list_shows_this_sessions_jobs_newest_first(api, other):
    ids = [post_json(api, "/api/jobs/", {"texts": [f"text {i}"]}).json()["id"] for i in range(3)]
    other_id = post_json(other, "/api/jobs/", {"texts": ["someone else"]}).json()["id"]

    mine = api.get("/api/jobs/").json()["jobs"]
    theirs = other.get("/api/jobs/").json()["jobs"]

    assert [j["id"] for j in mine] == list(reversed(ids))
    assert all(set(j) == JOB_KEYS for j in mine)
    assert [j["id"] for j in theirs] == [other_id]


# --- detail ---------------------------------------------------------------


@pytest.mark.parametrize("status", [Job.Status.QUEUED, Job.Status.RUNNING])
def test_detail_asks_to_poll_again_while_not_final(api, status):
    job = make_job(session_key=owner_session(api), status=status)

    response = api.get(f"/api/jobs/{job.pk}/")

    assert response.status_code == 200
    assert response.json()["status"] == status
    assert int(response["Retry-After"]) >= 1


@pytest.mark.parametrize("status", [Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELED])
def test_detail_stops_polling_once_final(api, status):
    job = make_job(session_key=owner_session(api), status=status)

    response = api.get(f"/api/jobs/{job.pk}/")

    assert response.status_code == 200
    assert response.json()["status"] == status
    assert "Retry-After" not in response


def test_detail_shows_progress_of_a_running_job(api):
    job = make_job(session_key=owner_session(api), texts=TEXTS[:4], status=Job.Status.RUNNING)
    make_results(job, TEXTS[:2])

    progress = api.get(f"/api/jobs/{job.pk}/").json()["progress"]

    assert progress == {"done": 2, "total": 4, "percent": 50.0}


def test_detail_shows_an_uncounted_total_as_null(api):
    job = make_job(session_key=owner_session(api), total=None)

    progress = api.get(f"/api/jobs/{job.pk}/").json()["progress"]

    assert progress == {"done": 0, "total": None, "percent": 0.0}


def test_detail_of_a_finished_job_has_its_summary(api, finished_job):
    body = api.get(f"/api/jobs/{finished_job.pk}/").json()

    assert body["status"] == "succeeded"
    assert body["progress"] == {"done": len(TEXTS), "total": len(TEXTS), "percent": 100.0}
    assert body["started_at"] is not None and body["finished_at"] is not None
    assert set(body["summary"]) == {
        "count",
        "positive",
        "neutral",
        "negative",
        "mean_compound",
        "histogram",
        "extremes",
        "drivers",
    }
    assert body["summary"]["count"] == len(TEXTS)
    assert body["error"] is None


def test_detail_of_a_failed_job_has_its_error(api):
    job = make_job(
        session_key=owner_session(api),
        status=Job.Status.FAILED,
        error_code="invalid_input",
        error_message="row 3: no text",
    )

    body = api.get(f"/api/jobs/{job.pk}/").json()

    assert body["error"] == {"code": "invalid_input", "message": "row 3: no text"}


# --- not found ------------------------------------------------------------

ENDPOINTS = [
    pytest.param("get", "/api/jobs/{id}/", id="detail"),
    pytest.param("get", "/api/jobs/{id}/results/", id="results"),
    pytest.param("get", "/api/jobs/{id}/results.csv", id="csv"),
    pytest.param("get", "/api/jobs/{id}/results.jsonl", id="jsonl"),
    pytest.param("get", "/api/jobs/{id}/results.xlsx", id="xlsx"),
    pytest.param("post", "/api/jobs/{id}/cancel/", id="cancel"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid", "1", "%00"], ids=str)
def test_unknown_job_is_404(api, method, path, job_id):
    owner_session(api)

    response = getattr(api, method)(path.format(id=job_id), headers=csrf_headers(api))

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_another_sessions_job_is_404_like_an_unknown_one(api, other, method, path):
    job = make_job(session_key=owner_session(other), status=Job.Status.RUNNING, texts=TEXTS[:1])
    make_results(job, TEXTS[:1])
    owner_session(api)

    response = getattr(api, method)(path.format(id=job.pk), headers=csrf_headers(api))
    unknown = getattr(api, method)(path.format(id=uuid.uuid4()), headers=csrf_headers(api))

    assert_error(response, 404, "not_found")
    assert response.content == unknown.content
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_job_is_404_to_a_browser_without_a_session(method, path, db):
    job = make_job()
    client = browser()

    response = getattr(client, method)(path.format(id=job.pk), headers=csrf_headers(client))

    assert_error(response, 404, "not_found")


def test_unknown_api_path_is_a_json_404(api):
    assert_error(api.get("/api/nothing-here/"), 404)


# --- results --------------------------------------------------------------


def test_results_lists_every_result_in_input_order(api, finished_job):
    response = api.get(f"/api/jobs/{finished_job.pk}/results/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(TEXTS)
    assert [r["idx"] for r in body["results"]] == list(range(len(TEXTS)))
    assert [r["text"] for r in body["results"]] == TEXTS
    assert all(set(r) == RESULT_KEYS for r in body["results"])
    stored = Result.objects.get(job=finished_job, idx=3)
    assert body["results"][3] == {
        "idx": 3,
        "row": 4,
        "text": TEXTS[3],
        "label": stored.label,
        "compound": stored.compound,
        "pos": stored.pos,
        "neu": stored.neu,
        "neg": stored.neg,
    }
    assert all(r["label"] == VADER_BAND.label(r["compound"]) for r in body["results"])


def test_results_pages_with_offset_and_limit(api, finished_job):
    body = api.get(f"/api/jobs/{finished_job.pk}/results/?offset=2&limit=3").json()

    assert body["count"] == len(TEXTS)
    assert [r["idx"] for r in body["results"]] == [2, 3, 4]


def test_results_past_the_end_is_an_empty_page(api, finished_job):
    body = api.get(f"/api/jobs/{finished_job.pk}/results/?offset=100").json()

    assert body["count"] == len(TEXTS)
    assert body["results"] == []


def test_results_limit_has_a_default_and_a_maximum(api):
    job = make_job(session_key=owner_session(api), texts=[f"text {i}" for i in range(501)])
    make_results(job, [f"text {i}" for i in range(501)])

    default = api.get(f"/api/jobs/{job.pk}/results/").json()
    largest = api.get(f"/api/jobs/{job.pk}/results/?limit=500").json()

    assert len(default["results"]) == 50
    assert len(largest["results"]) == 500
    assert largest["count"] == 501


@pytest.mark.parametrize("label", ["positive", "neutral", "negative"])
def test_results_filter_by_label(api, finished_job, label):
    expected = list(
        Result.objects.filter(job=finished_job, label=label).order_by("idx").values_list("idx", flat=True)
    )
    assert expected, "the fixture texts cover every label"

    body = api.get(f"/api/jobs/{finished_job.pk}/results/?label={label}").json()

    assert body["count"] == len(expected)
    assert [r["idx"] for r in body["results"]] == expected
    assert {r["label"] for r in body["results"]} == {label}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("offset=-1", "invalid_parameter"),
        ("offset=abc", "invalid_parameter"),
        ("offset=1.5", "invalid_parameter"),
        ("limit=0", "invalid_parameter"),
        ("limit=-5", "invalid_parameter"),
        ("limit=501", "invalid_parameter"),
        ("limit=ten", "invalid_parameter"),
        ("limit=99999999999999999999999", "invalid_parameter"),
        ("label=happy", "invalid_label"),
        ("label=POSITIVE", "invalid_label"),
        ("sort=score", "invalid_parameter"),
        ("sort=-idx", "invalid_parameter"),
        ("q=" + "x" * 201, "invalid_parameter"),
        ("q=a%00b", "invalid_parameter"),
    ],
)
def test_results_refuses_bad_parameters_with_400(api, finished_job, query, code):
    response = api.get(f"/api/jobs/{finished_job.pk}/results/?{query}")

    assert_error(response, 400, code)


def test_results_search_finds_text_in_any_case_and_counts_the_matches(api, finished_job):
    word = "LOVE"
    expected = [i for i, t in enumerate(TEXTS) if word.lower() in t.lower()]
    assert 0 < len(expected) < len(TEXTS), "the fixture texts have some, not all, with the word"

    body = api.get(f"/api/jobs/{finished_job.pk}/results/", {"q": word}).json()

    assert body["count"] == len(expected)
    assert [r["idx"] for r in body["results"]] == expected


def test_results_search_combines_with_the_label_and_treats_wildcards_literally(api, finished_job):
    label = Result.objects.filter(job=finished_job).values_list("label", flat=True).first()

    both = api.get(f"/api/jobs/{finished_job.pk}/results/", {"q": " ", "label": label}).json()
    wildcard = api.get(f"/api/jobs/{finished_job.pk}/results/", {"q": "%"}).json()

    # A blank search is no search; % is a character to find, not a LIKE wildcard.
    assert both["count"] == Result.objects.filter(job=finished_job, label=label).count()
    assert wildcard["count"] == sum("%" in t for t in TEXTS)


@pytest.mark.parametrize(("sort", "reverse"), [("compound", False), ("-compound", True)])
def test_results_sort_by_compound_with_input_order_breaking_ties(api, finished_job, sort, reverse):
    stored = list(Result.objects.filter(job=finished_job).values_list("compound", "idx"))
    expected = [idx for _, idx in sorted(stored, key=lambda p: (-p[0] if reverse else p[0], p[1]))]

    body = api.get(f"/api/jobs/{finished_job.pk}/results/", {"sort": sort, "limit": "500"}).json()
    path = f"/api/jobs/{finished_job.pk}/results/"
    page = api.get(path, {"sort": sort, "offset": "2", "limit": "2"}).json()

    assert [r["idx"] for r in body["results"]] == expected
    assert [r["idx"] for r in page["results"]] == expected[2:4]
    assert body["count"] == len(TEXTS)


def test_results_of_a_job_not_yet_started_is_empty(api):
    job = make_job(session_key=owner_session(api))

    body = api.get(f"/api/jobs/{job.pk}/results/").json()

    assert body["count"] == 0
    assert body["results"] == []


# --- downloads ------------------------------------------------------------


def test_csv_download_has_a_header_and_every_result(api, finished_job):
    response = api.get(f"/api/jobs/{finished_job.pk}/results.csv")

    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert f"{finished_job.pk}.csv" in response["Content-Disposition"]
    content = download(response)
    assert content.startswith("\ufeff"), "a BOM, so Excel reads UTF-8"
    rows = list(csv.reader(io.StringIO(content.removeprefix("\ufeff"))))
    assert rows[0] == CSV_HEADER
    assert len(rows) == len(TEXTS) + 1
    stored = list(Result.objects.filter(job=finished_job).order_by("idx"))
    for row, result in zip(rows[1:], stored, strict=True):
        assert row == [
            str(result.idx + 1),
            result.text,
            result.label,
            repr(result.compound),
            repr(result.pos),
            repr(result.neu),
            repr(result.neg),
            "",
        ]


def test_csv_neutralises_formulas(api):
    texts = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tTab first", "plain = text", "negative -1"]
    job = make_job(session_key=owner_session(api), texts=texts, status=Job.Status.SUCCEEDED)
    compounds = [-0.5, 0.5, -0.25, 0.0, -1.0, 0.1, -0.05]
    make_results(job, texts, scores=[vader_scores(c, pos=0.0, neu=1.0, neg=0.0) for c in compounds])

    rows = list(csv.DictReader(io.StringIO(download(api.get(f"/api/jobs/{job.pk}/results.csv"))[1:])))

    assert [r["text"] for r in rows] == [
        "'=1+1",
        "'+SUM(A1)",
        "'-2+3",
        "'@cmd",
        "'\tTab first",
        "plain = text",
        "negative -1",
    ]
    # Numbers are numbers, even negative ones.
    assert [r["score"] for r in rows] == ["-0.5", "0.5", "-0.25", "0.0", "-1.0", "0.1", "-0.05"]


def test_csv_keeps_commas_quotes_newlines_and_unicode(api):
    texts = ['She said "wow", then left', "line one\nline two", "이 영화 정말 좋아요 😀"]
    job = make_job(session_key=owner_session(api), texts=texts, status=Job.Status.SUCCEEDED)
    make_results(job, texts)

    rows = list(csv.reader(io.StringIO(download(api.get(f"/api/jobs/{job.pk}/results.csv"))[1:])))

    assert [r[1] for r in rows[1:]] == texts


def test_csv_of_a_job_without_results_is_only_the_header(api):
    job = make_job(session_key=owner_session(api), status=Job.Status.SUCCEEDED)

    content = download(api.get(f"/api/jobs/{job.pk}/results.csv"))

    assert list(csv.reader(io.StringIO(content[1:]))) == [CSV_HEADER]


def test_jsonl_download_has_one_object_per_result(api, finished_job):
    response = api.get(f"/api/jobs/{finished_job.pk}/results.jsonl")

    assert "attachment" in response["Content-Disposition"]
    assert f"{finished_job.pk}.jsonl" in response["Content-Disposition"]
    lines = download(response).splitlines()
    assert len(lines) == len(TEXTS)
    records = [json.loads(line) for line in lines]
    page = api.get(f"/api/jobs/{finished_job.pk}/results/").json()["results"]
    assert records == [
        {
            "row": r["row"],
            "text": r["text"],
            "sentiment": r["label"],
            "score": r["compound"],
            "positive": r["pos"],
            "neutral": r["neu"],
            "negative": r["neg"],
            "sentiment_note": None,
        }
        for r in page
    ]


def test_jsonl_keeps_text_as_is(api):
    texts = ["=1+1", "Great value 😀", "line one\nline two"]
    job = make_job(session_key=owner_session(api), texts=texts, status=Job.Status.SUCCEEDED)
    make_results(job, texts)

    content = download(api.get(f"/api/jobs/{job.pk}/results.jsonl"))

    assert "😀" in content, "UTF-8, not \\u escapes"
    assert [json.loads(line)["text"] for line in content.splitlines()] == texts


def test_downloads_stream_more_than_one_batch(api, monkeypatch):
    monkeypatch.setattr(table, "TABLE_BATCH", 3)
    texts = [f"text {i}" for i in range(10)]
    job = make_job(session_key=owner_session(api), texts=texts, status=Job.Status.SUCCEEDED)
    make_results(job, texts)

    lines = download(api.get(f"/api/jobs/{job.pk}/results.jsonl")).splitlines()
    rows = list(csv.reader(io.StringIO(download(api.get(f"/api/jobs/{job.pk}/results.csv"))[1:])))

    assert [json.loads(line)["row"] for line in lines] == list(range(1, 11))
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 11))


# --- cancel ---------------------------------------------------------------


@pytest.mark.parametrize("status", [Job.Status.QUEUED, Job.Status.RUNNING])
def test_cancel_answers_202_with_the_canceled_job(api, status):
    job = make_job(session_key=owner_session(api), status=status)

    response = api.post(f"/api/jobs/{job.pk}/cancel/", headers=csrf_headers(api))

    assert response.status_code == 202
    body = response.json()
    assert set(body) == JOB_KEYS
    assert body["status"] == "canceled"
    assert body["finished_at"] is not None
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELED
    assert "Retry-After" not in api.get(f"/api/jobs/{job.pk}/")


def test_a_canceled_job_with_partial_results_has_the_summary_its_page_shows(api):
    job = make_job(session_key=owner_session(api), status=Job.Status.RUNNING, texts=["a", "b", "c"])
    make_results(job, ["I love it", "I hate it"])

    body = api.post(f"/api/jobs/{job.pk}/cancel/", headers=csrf_headers(api)).json()

    assert body["partial"] is True
    assert body["summary"] == selectors.job_summary(Job.objects.get(pk=job.pk))
    assert body["summary"]["count"] == 2
    assert api.get(f"/api/jobs/{job.pk}/").json()["summary"] == body["summary"]


def test_a_job_that_fails_midway_has_the_summary_of_its_partial_results(api):
    job = make_job(session_key=owner_session(api), status=Job.Status.RUNNING, texts=["a", "b", "c"])
    make_results(job, ["I love it"])

    pipeline.job_fail(job.pk, code="timeout", message="Took too long.")

    assert api.get(f"/api/jobs/{job.pk}/").json()["summary"]["count"] == 1


def test_cancel_takes_the_waiting_job_off_its_queue(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        submitted = post_json(api, "/api/jobs/", {"texts": ["hi"]})
    job_id = submitted.json()["id"]
    assert get_queue(QUICK).get_job_ids() == [job_id]

    response = api.post(f"/api/jobs/{job_id}/cancel/", headers=csrf_headers(api))

    assert response.status_code == 202
    assert get_queue(QUICK).get_job_ids() == []
    assert RQJob.fetch(job_id, connection=get_redis()).get_status() == JobStatus.CANCELED


def test_cancel_with_redis_down_still_cancels(api, redis_down):
    job = make_job(session_key=owner_session(api), status=Job.Status.RUNNING)

    response = api.post(f"/api/jobs/{job.pk}/cancel/", headers=csrf_headers(api))

    # The compare-and-set in Postgres is the cancel; stopping the RQ work is best effort.
    assert response.status_code == 202
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELED


def test_cancel_is_idempotent(api):
    job = make_job(session_key=owner_session(api))
    first = api.post(f"/api/jobs/{job.pk}/cancel/", headers=csrf_headers(api))

    second = api.post(f"/api/jobs/{job.pk}/cancel/", headers=csrf_headers(api))

    assert second.status_code == 202
    assert second.json() == first.json()


@pytest.mark.parametrize("status", [Job.Status.SUCCEEDED, Job.Status.FAILED])
def test_cancel_of_a_finished_job_is_409(api, status):
    job = make_job(session_key=owner_session(api), status=status)

    response = api.post(f"/api/jobs/{job.pk}/cancel/", headers=csrf_headers(api))

    assert_error(response, 409, "conflict")
    assert Job.objects.get(pk=job.pk).status == status


def test_cancel_then_submit_again_works(api):
    first = post_json(api, "/api/jobs/", {"texts": ["one"]}).json()
    api.post(first["links"]["cancel"], headers=csrf_headers(api))

    second = post_json(api, "/api/jobs/", {"texts": ["two"]})

    assert second.status_code == 202
    assert [j["status"] for j in api.get("/api/jobs/").json()["jobs"]] == ["queued", "canceled"]


# --- enqueue on commit ----------------------------------------------------


def test_submit_enqueues_only_on_commit(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_json(api, "/api/jobs/", {"texts": ["I love it"]})

    assert response.status_code == 202
    assert callbacks, "the enqueue waits for the commit"
    assert not rq_job_exists(response.json()["id"])
    assert get_queue("quick").get_job_ids() == []


def test_submit_enqueues_when_the_commit_callbacks_run(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(api, "/api/jobs/", {"texts": ["I love it"]})

    job_id = response.json()["id"]
    assert rq_job_exists(job_id)
    assert get_queue("quick").get_job_ids() == [job_id]


@pytest.mark.django_db(transaction=True)
def test_submit_puts_the_job_on_the_quick_queue_with_its_uuid():
    client = browser()

    response = post_json(client, "/api/jobs/", {"texts": ["I love it", "I hate it"]})

    job_id = response.json()["id"]
    rq_job = RQJob.fetch(job_id, connection=get_redis())
    assert rq_job.origin == "quick"
    assert rq_job.func_name == "worker.tasks.job_run"
    assert list(rq_job.args) == [job_id]
    assert get_queue("quick").get_job_ids() == [job_id]
    assert get_queue("bulk").get_job_ids() == []


@pytest.mark.django_db(transaction=True)
def test_submit_puts_a_large_job_on_the_bulk_queue(sentimeter_settings):
    # The quick queue takes up to two of these texts' worth of analysis.
    sentimeter_settings["QUICK_MAX_SECONDS"] = VADER_SPEC.cost.seconds_total(["one", "two"])
    client = browser()

    response = post_json(client, "/api/jobs/", {"texts": ["one", "two", "three"]})

    job_id = response.json()["id"]
    assert RQJob.fetch(job_id, connection=get_redis()).origin == "bulk"
    assert get_queue("bulk").get_job_ids() == [job_id]
    assert get_queue("quick").get_job_ids() == []


@pytest.mark.django_db(transaction=True)
def test_refused_submit_enqueues_nothing():
    client = browser()

    response = post_json(client, "/api/jobs/", {"texts": ["ok", 5]})

    assert response.status_code == 400
    assert get_redis().keys("rq:job:*") == []


@pytest.mark.django_db(transaction=True)
def test_job_create_enqueues_when_the_outer_transaction_commits():
    with transaction.atomic():
        job = services.job_create(session_key="outer-transaction", texts=["I love it"])
        job_id = str(job.pk)
        assert not rq_job_exists(job_id)
        assert get_queue("quick").get_job_ids() == []

    assert rq_job_exists(job_id)
    assert get_queue("quick").get_job_ids() == [job_id]


@pytest.mark.django_db(transaction=True)
def test_job_create_in_a_rolled_back_transaction_enqueues_nothing():
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        job_id = str(services.job_create(session_key="rolled-back", texts=["I love it"]).pk)
        raise Abort

    assert not rq_job_exists(job_id)
    assert get_redis().keys("rq:*job*") == []
    assert not Job.objects.exists()


def test_the_download_of_a_canceled_job_is_named_partial(api):
    job = make_job(session_key=owner_session(api), texts=TEXTS, status=Job.Status.CANCELED)
    make_results(job, TEXTS[:1])

    response = api.get(f"/api/jobs/{job.pk}/results.csv")

    assert response.status_code == 200
    assert f'filename="sentimeter-{job.pk}-partial.csv"' in response["Content-Disposition"]
    assert len(list(csv.reader(io.StringIO(download(response)[1:])))) == 2
