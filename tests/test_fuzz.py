"""Property-based fuzzing of the JSON API (and the job page) through the Django test client.

Whatever a client sends: never a 5xx, and every non-2xx answer under /api/ is the
contract's error body, valid against the OpenAPI document's Error schema.
"""

from __future__ import annotations

import json
import string
from urllib.parse import quote, urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tests.builders import browser, csrf_headers, make_job, make_results, owner_session
from web.models import Job
from web.openapi import openapi_document
from worker import tasks

# Bounded: the whole file runs in well under a minute. No example database, so the
# run leaves no .hypothesis/ directory in the checkout.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

pytestmark = pytest.mark.django_db(transaction=True)

# Text that a URL or a form can carry: any character but lone surrogates.
characters = st.characters(blacklist_categories=("Cs",))
texts = st.text(characters, max_size=40)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | texts
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(texts, children, max_size=5),
    max_leaves=25,
)
# Bodies shaped like a submit, so the fuzzing reaches past the first check.
submit_like = st.fixed_dictionaries(
    {"texts": json_values | st.lists(json_values, max_size=5) | st.lists(st.text(max_size=60), max_size=8)},
    optional={"analyzer": json_values | st.sampled_from(["vader", "", "VADER", " vader"])},
)
bodies = json_values | submit_like

content_types = st.sampled_from(
    [
        "",
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=utf-16",
        "application/json; charset=no-such-charset",
        "APPLICATION/JSON",
        "application/jsonl",
        "text/json",
        "text/plain",
        "text/csv",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=no-such-charset",
        "multipart/form-data",
        "multipart/form-data; boundary=BoUnDaRy",
        "multipart/form-data; boundary=",
        "application/octet-stream",
        "*/*",
    ]
) | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)

path_segments = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/"), max_size=60),
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="/"), min_size=1000, max_size=4000
    ),
    st.uuids().map(str),
    st.uuids().map(lambda u: u.hex.upper()),
    st.uuids().map(lambda u: "{" + str(u) + "}"),
    st.sampled_from([".", "..", "%", "%00", "\x00", " ", "null", "-1", "0" * 32]),
)
JOB_ENDPOINTS = [
    ("get", "/api/jobs/{}/"),
    ("get", "/api/jobs/{}/results/"),
    ("post", "/api/jobs/{}/cancel/"),
    ("get", "/api/jobs/{}/results.csv"),
    ("get", "/api/jobs/{}/results.jsonl"),
]
query_values = st.one_of(
    st.none(),
    st.integers().map(str),
    st.integers(min_value=-2, max_value=600).map(str),
    st.sampled_from(
        ["positive", "neutral", "negative", "POSITIVE", "", " 5 ", "1_0", "٣", "1e3", "9" * 5000]
    ),
    st.text(characters, max_size=30),
)

ERROR_VALIDATOR = Draft202012Validator(
    {"$ref": "#/components/schemas/Error", "components": openapi_document()["components"]}
)
JOB_VALIDATOR = Draft202012Validator(
    {"$ref": "#/components/schemas/Job", "components": openapi_document()["components"]}
)


def assert_sound(response, *, api: bool = True) -> None:
    """Never a 5xx; under /api/ a non-2xx answer is the contract's error body."""
    assert response.status_code < 500, response.content[:500]
    if not api or 200 <= response.status_code < 300:
        return
    assert response["Content-Type"].split(";")[0] == "application/json", response["Content-Type"]
    body = json.loads(response.content)
    errors = list(ERROR_VALIDATOR.iter_errors(body))
    assert not errors, (body, [e.message for e in errors])
    assert body["error"]["code"] and body["error"]["message"]


@pytest.fixture
def limits_off(sentimeter_settings):
    # So a limit never answers before the code under test does.
    sentimeter_settings["SUBMITS_PER_MINUTE"] = 0
    sentimeter_settings["MAX_ACTIVE_JOBS_PER_SESSION"] = 0
    sentimeter_settings["MAX_QUEUE_DEPTH"] = 0
    return sentimeter_settings


@pytest.fixture
def api(limits_off) -> Client:
    return browser()


@pytest.fixture
def owned_job(api) -> Job:
    """A succeeded job with a few results, owned by the `api` client's session."""
    job = make_job(session_key=owner_session(api), texts=["good", "bad", "so so", "=cmd", "great!"])
    make_results(job, ["good", "bad", "so so", "=cmd", "great!"])
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    return job


@pytest.mark.parametrize(
    "texts",
    [
        pytest.param(None, id="null"),
        pytest.param(5, id="number"),
        pytest.param(True, id="boolean"),
        pytest.param("hello", id="string"),
        pytest.param({"a": "b"}, id="object"),
    ],
)
def test_submit_texts_not_a_list(limits_off, texts):
    # Found by test_submit_any_json_value: list(texts) once turned null into a 500 and a
    # string into one text per character.
    api = browser(raise_request_exception=False)

    response = api.post(
        "/api/jobs/",
        data=json.dumps({"texts": texts}),
        content_type="application/json",
        headers=csrf_headers(api),
    )

    assert_sound(response)
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["code"] == "invalid_texts"
    assert Job.objects.count() == 0


@FUZZ
@given(body=bodies)
def test_submit_any_json_value(api, body):
    response = api.post(
        "/api/jobs/", data=json.dumps(body), content_type="application/json", headers=csrf_headers(api)
    )

    assert_sound(response)
    if response.status_code == 202:
        assert not list(JOB_VALIDATOR.iter_errors(json.loads(response.content)))
    else:
        assert response.status_code in (400, 413), response.content


@FUZZ
@given(raw=st.binary(max_size=3000))
def test_submit_raw_bytes_as_json(api, raw):
    response = api.generic(
        "POST", "/api/jobs/", data=raw, content_type="application/json", headers=csrf_headers(api)
    )

    assert_sound(response)


@FUZZ
@given(
    raw=st.binary(max_size=1000) | bodies.map(lambda b: json.dumps(b).encode()),
    content_type=content_types,
)
def test_submit_any_content_type(api, raw, content_type):
    response = api.generic(
        "POST", "/api/jobs/", data=raw, content_type=content_type, headers=csrf_headers(api)
    )

    assert_sound(response)
    if response.status_code == 202:
        assert content_type.split(";")[0].strip().lower() == "application/json"


@FUZZ
@given(raw=st.binary(max_size=500), content_type=content_types)
def test_submit_without_csrf_token_never_gets_through(api, raw, content_type):
    response = api.generic("POST", "/api/jobs/", data=raw, content_type=content_type)

    assert_sound(response)
    # 400 when Django cannot even parse the form body the CSRF check looks into.
    assert response.status_code in (400, 403)
    assert not Job.objects.exists()


@FUZZ
@given(segment=path_segments, endpoint=st.sampled_from(JOB_ENDPOINTS))
def test_any_job_id_in_the_path(api, segment, endpoint):
    method, template = endpoint
    path = template.format(quote(segment, safe=""))

    response = getattr(api, method)(path, headers=csrf_headers(api))

    assert_sound(response)
    assert response.status_code == 404


@FUZZ
@given(offset=query_values, limit=query_values, label=query_values)
def test_any_results_query(api, owned_job, offset, limit, label):
    params = {k: v for k, v in {"offset": offset, "limit": limit, "label": label}.items() if v is not None}

    response = api.get(f"/api/jobs/{owned_job.pk}/results/", params)

    assert_sound(response)
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        body = json.loads(response.content)
        assert len(body["results"]) <= body["limit"]


@FUZZ
@given(raw_query=st.text(characters, max_size=200))
def test_any_raw_query_string(api, owned_job, raw_query):
    path = f"/api/jobs/{owned_job.pk}/results/?" + quote(raw_query, safe="=&")

    response = api.get(path)

    assert_sound(response)


@FUZZ
@given(
    page=query_values,
    label=query_values,
    segment=path_segments | st.just(""),
)
def test_job_page_never_fails(api, owned_job, page, label, segment):
    params = {k: v for k, v in {"page": page, "label": label}.items() if v is not None}
    job_id = str(owned_job.pk) if segment == "" else quote(segment, safe="")

    response = api.get(f"/jobs/{job_id}/?" + urlencode(params))

    assert_sound(response, api=False)
    assert response.status_code in (200, 404)


@FUZZ
@given(name=st.text(string.ascii_lowercase + "-_.", max_size=30), slash=st.booleans())
def test_unknown_api_paths_answer_404_json(api, name, slash):
    response = api.get(f"/api/no-such-{name}" + ("/" if slash else ""))

    assert_sound(response)
    assert response.status_code == 404


# --- uploads: every encoding and multipart shape (issue 16) ---------------------------------

SOURCE_ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252", "cp949"]
CHOSEN_ENCODINGS = [
    None,
    "auto",
    "utf-8",
    "utf-16",
    "windows-1252",
    "latin-1",
    "cp949",
    "euc-kr",
    "utf-32",
    "",
]
UPLOAD_NAMES = ["r.csv", "r.tsv", "r.txt", "r.jsonl", "r.ndjson", "r", "R.CSV", "r.csv.txt"]
# Failures that are ours, not the file's: never acceptable for any upload.
INTERNAL_ERRORS = {"internal_error", "timeout", "worker_lost"}


@st.composite
def upload_bytes(draw) -> bytes:
    """A small file in some format and encoding, then perhaps corrupted: bytes inserted or cut."""
    rows = draw(st.lists(st.text(characters, max_size=20), max_size=5))
    shape = draw(st.sampled_from(["csv", "lines", "jsonl"]))
    if shape == "csv":
        text = "text,id\n" + "".join(f'"{r.replace(chr(34), "")}",{i}\n' for i, r in enumerate(rows))
    elif shape == "jsonl":
        text = "".join(json.dumps(r) + "\n" for r in rows)
    else:
        text = "".join(r.replace("\n", " ") + "\n" for r in rows)
    data = text.encode(draw(st.sampled_from(SOURCE_ENCODINGS)), errors="replace")
    for at, junk in draw(st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=3)), max_size=3)):
        cut = int(at * len(data))
        data = data[:cut] + junk + data[cut:]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


UPLOAD_FUZZ = settings(FUZZ, max_examples=100)


@UPLOAD_FUZZ
@given(
    data=upload_bytes(),
    name=st.sampled_from(UPLOAD_NAMES),
    encoding=st.sampled_from(CHOSEN_ENCODINGS),
    column=st.none() | st.sampled_from(["text", "id", "TEXT", "nope"]) | st.text(characters, max_size=8),
    content_type=st.sampled_from(["text/csv", "application/octet-stream", "text/plain; charset=utf-16", ""]),
    field=st.sampled_from(["file", "file", "file", "upload"]),
)
def test_any_upload_is_4xx_or_a_job_that_ends_with_a_message(
    api, data, name, encoding, column, content_type, field
):
    fields = {k: v for k, v in {"encoding": encoding, "column": column}.items() if v is not None}
    upload = SimpleUploadedFile(name, data, content_type=content_type)

    response = api.post("/api/jobs/", {field: upload, **fields}, headers=csrf_headers(api))

    assert_sound(response)
    if response.status_code != 202:
        assert 400 <= response.status_code < 500
        return
    job_id = json.loads(response.content)["id"]
    tasks.job_run(job_id)
    job = Job.objects.get(pk=job_id)
    assert job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED), job.status
    if job.status == Job.Status.FAILED:
        assert job.error_code not in INTERNAL_ERRORS, job.error_message
        assert job.error_message.strip()
