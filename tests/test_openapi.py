"""GET /api/openapi.json: a valid OpenAPI 3.1 document, and real responses match it."""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from urllib.parse import unquote

import openapi_spec_validator
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, resolve
from jsonschema import Draft202012Validator, FormatChecker
from rq import Queue

from tests.builders import browser, csrf_headers, make_job, make_results, owner_session
from web import limits
from web import urls as web_urls
from web.models import Job
from web.openapi import openapi_document
from web.selectors import MAX_PAGE, analyzer_list
from worker.inputs import ENCODINGS
from worker.pipeline import job_process
from worker.queues import QUICK, get_redis
from worker.webhooks import MAX_URL_CHARS

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# RFC 3339, which OpenAPI's "date-time" means (jsonschema checks it only with an extra package).
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

FORMAT_CHECKER = FormatChecker()


@FORMAT_CHECKER.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(RFC3339.match(value))


@FORMAT_CHECKER.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value


# --- helpers ---------------------------------------------------------------


def pointer_get(doc: dict, ref: str) -> object:
    """Resolve a local "#/a/b" reference in the document (RFC 6901), or raise KeyError."""
    assert ref.startswith("#/"), f"only local references are expected, got {ref!r}"
    node: object = doc
    for token in ref[2:].split("/"):
        token = unquote(token).replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(token)]
        elif isinstance(node, dict):
            node = node[token]
        else:
            raise KeyError(ref)
    return node


def deref(doc: dict, node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        node = pointer_get(doc, node["$ref"])
    return node


def refs_in(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs_in(item)


def schema_validator(doc: dict, schema: dict) -> Draft202012Validator:
    """A validator for `schema` in which "#/components/..." resolves against the document."""
    root = {**schema, "components": doc["components"]}
    return Draft202012Validator(root, format_checker=FORMAT_CHECKER)


def validate(doc: dict, schema: dict, instance: object) -> None:
    errors = sorted(schema_validator(doc, schema).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def response_bytes(response) -> bytes:
    """The body, also of a streamed response (read once, then kept on the response)."""
    if getattr(response, "streaming", False):
        if not hasattr(response, "read_body"):
            response.read_body = b"".join(response.streaming_content)
        return response.read_body
    return response.content


def media_type(response) -> str:
    return response["Content-Type"].split(";")[0].strip().lower()


def assert_matches(doc: dict, path_template: str, method: str, response, *, optional_headers=()) -> object:
    """Check a real response against the document's operation; return its parsed JSON (or None).

    The status must be documented, the media type listed, the body valid against the schema,
    and every declared header present (unless named in `optional_headers`, for headers the
    contract sends only in some states) and valid. Retry-After and Location must not be sent
    on a response that does not declare them.
    """
    operation = doc["paths"][path_template][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], (
        f"{method.upper()} {path_template} answered {status}, which is not documented: "
        f"{response_bytes(response)[:300]!r}"
    )
    spec = deref(doc, operation["responses"][status])
    content = spec.get("content", {})
    body = response_bytes(response)
    parsed = None
    if content:
        assert media_type(response) in content, (response["Content-Type"], list(content))
        schema = content[media_type(response)].get("schema")
        if schema is not None:
            parsed = json.loads(body)
            validate(doc, schema, parsed)
    declared = spec.get("headers", {})
    for name, header in declared.items():
        header = deref(doc, header)
        if name not in response:
            assert name in optional_headers, f"declared header {name} missing from {status}"
            continue
        schema = header.get("schema", {})
        value: object = response[name]
        if schema.get("type") == "integer":
            assert str(value).isdigit(), f"{name}: {value!r} is not an integer"
            value = int(str(value))
        validate(doc, schema, value)
    for name in ("Retry-After", "Location"):
        if name in response:
            assert name in declared, f"{method.upper()} {path_template} {status} sends undeclared {name}"
    return parsed


def api_routes() -> list[str]:
    """Every route of web/urls.py under api/, as an OpenAPI path template."""
    routes = []
    for pattern in web_urls.urlpatterns:
        assert isinstance(pattern, URLPattern | URLResolver)
        route = str(pattern.pattern)
        if route.startswith("api/"):
            routes.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return routes


def concrete(path_template: str, job_id: str | None = None) -> str:
    return path_template.replace("{job_id}", job_id or str(uuid.uuid4()))


def post_json(client: Client, path: str, body: object, *, csrf: bool = True):
    return client.post(
        path,
        data=json.dumps(body),
        content_type="application/json",
        headers=csrf_headers(client) if csrf else {},
    )


# --- fixtures ----------------------------------------------------------------


@pytest.fixture
def doc(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert media_type(response) == "application/json"
    return json.loads(response.content)


# --- the document itself --------------------------------------------------------


def test_document_is_openapi_3_1(doc):
    assert re.fullmatch(r"3\.1\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["paths"]
    assert set(doc["components"]["schemas"]) >= {"Error", "Job", "JobList", "ResultPage", "Health"}


def test_every_ref_resolves(doc):
    refs = set(refs_in(doc))

    assert refs, "the document uses $ref"
    for ref in sorted(refs):
        assert pointer_get(doc, ref) is not None, ref


def test_every_component_schema_is_valid_json_schema_2020_12(doc):
    for name, schema in doc["components"]["schemas"].items():
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as exc:
            pytest.fail(f"components.schemas.{name}: {exc}")


def test_every_parameter_and_header_schema_is_valid(doc):
    schemas = [h["schema"] for h in doc["components"].get("headers", {}).values()]
    for item in doc["paths"].values():
        for parameter in item.get("parameters", []):
            schemas.append(deref(doc, parameter)["schema"])
        for method in HTTP_METHODS:
            for response in item.get(method, {}).get("responses", {}).values():
                for header in deref(doc, response).get("headers", {}).values():
                    schemas.append(deref(doc, header)["schema"])
    assert schemas
    for schema in schemas:
        Draft202012Validator.check_schema(schema)


def test_operations_are_well_formed(doc):
    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/")
        path_params = set(re.findall(r"\{(\w+)\}", path))
        declared = {
            deref(doc, p)["name"]
            for p in item.get("parameters", [])
            if deref(doc, p)["in"] == "path" and deref(doc, p)["required"] is True
        }
        operations = {m: item[m] for m in HTTP_METHODS if m in item}
        assert operations, path
        for method, operation in operations.items():
            own = {
                deref(doc, p)["name"]
                for p in operation.get("parameters", [])
                if deref(doc, p)["in"] == "path"
            }
            assert path_params == declared | own, f"{method} {path}: path parameters"
            assert operation["responses"], f"{method} {path}"
            for status, response in operation["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d|default", status), f"{method} {path}: {status}"
                assert deref(doc, response)["description"], f"{method} {path} {status}"
            operation_ids.append(operation["operationId"])
    assert len(operation_ids) == len(set(operation_ids)), "operationIds are unique"


def test_served_document_is_the_module_document(doc):
    assert doc == json.loads(json.dumps(openapi_document()))


# --- routes and document agree ----------------------------------------------------


@pytest.mark.parametrize(
    "path_template",
    api_routes(),
)
def test_every_api_route_is_documented(path_template):
    assert path_template in openapi_document()["paths"]


def test_every_documented_path_is_a_route(doc):
    for path_template in doc["paths"]:
        resolve(concrete(path_template))  # raises Resolver404 for a documented ghost


@pytest.mark.django_db
@pytest.mark.parametrize("path_template", [r for r in api_routes() if "{job_id}" in r or r == "/api/jobs/"])
def test_undocumented_methods_answer_405_with_the_error_body(doc, path_template):
    client = browser()
    documented = {m for m in HTTP_METHODS if m in doc["paths"][path_template]}
    for method in ("get", "post", "put", "patch", "delete"):
        if method in documented:
            continue
        response = getattr(client, method)(concrete(path_template), headers=csrf_headers(client))

        assert response.status_code == 405, (method, path_template)
        assert {m.strip().lower() for m in response["Allow"].split(",")} == documented
        body = json.loads(response.content)
        validate(doc, {"$ref": "#/components/schemas/Error"}, body)


# --- real responses ---------------------------------------------------------------


@pytest.mark.django_db
def test_job_list(doc):
    client = browser()
    body = assert_matches(doc, "/api/jobs/", "get", client.get("/api/jobs/"))
    assert body == {"jobs": []}

    assert post_json(client, "/api/jobs/", {"texts": ["fine"]}).status_code == 202
    body = assert_matches(doc, "/api/jobs/", "get", client.get("/api/jobs/"))
    assert len(body["jobs"]) == 1


@pytest.mark.django_db
def test_submit_202(doc):
    client = browser()
    response = post_json(client, "/api/jobs/", {"texts": ["I love it", "meh"], "analyzer": "vader"})

    body = assert_matches(doc, "/api/jobs/", "post", response)
    assert response.status_code == 202
    assert response["Location"] == body["links"]["self"]
    assert body["status"] == "queued"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        pytest.param(b"{not json", "application/json", 400, id="400-invalid-json"),
        pytest.param(b"[]", "application/json", 400, id="400-not-an-object"),
        pytest.param(b"{}", "application/json", 400, id="400-no-texts"),
        pytest.param(b'{"texts": []}', "application/json", 400, id="400-empty-list"),
        pytest.param(b'{"texts": ["a", 3]}', "application/json", 400, id="400-not-a-string"),
        pytest.param(b'{"texts": ["a"], "analyzer": "nope"}', "application/json", 400, id="400-analyzer"),
        pytest.param(b'{"texts": ["a"], "analyzer": null}', "application/json", 400, id="400-analyzer-null"),
        pytest.param(b'{"texts": ["a", "b", "c"]}', "application/json", 413, id="413-too-many-texts"),
        pytest.param(b'{"texts": ["' + b"x" * 101 + b'"]}', "application/json", 413, id="413-text-too-long"),
        pytest.param(b"texts=a", "application/x-www-form-urlencoded", 415, id="415-form"),
        pytest.param(b"hello", "text/plain", 415, id="415-text"),
    ],
)
def test_submit_client_errors(doc, sentimeter_settings, body, content_type, status):
    sentimeter_settings["MAX_TEXTS_PER_JOB"] = 2
    sentimeter_settings["MAX_TEXT_CHARS"] = 100
    client = browser()

    response = client.post("/api/jobs/", data=body, content_type=content_type, headers=csrf_headers(client))

    assert response.status_code == status, response.content
    assert_matches(doc, "/api/jobs/", "post", response)
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_submit_413_body_too_big(doc, sentimeter_settings, settings):
    sentimeter_settings["MAX_BODY_BYTES"] = 100
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    client = browser()

    response = post_json(client, "/api/jobs/", {"texts": ["x" * 200]})

    assert response.status_code == 413
    assert_matches(doc, "/api/jobs/", "post", response)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["json", "multipart"])
def test_submit_411_chunked_body(doc, kind):
    client = browser()
    headers = {**csrf_headers(client), "Transfer-Encoding": "chunked"}
    if kind == "json":
        response = client.post(
            "/api/jobs/", data=json.dumps({"texts": ["hi"]}), content_type="application/json", headers=headers
        )
    else:
        upload = SimpleUploadedFile("r.csv", b"text\nhi\n", content_type="text/csv")
        response = client.post("/api/jobs/", {"file": upload}, headers=headers)

    assert response.status_code == 411, response.content
    assert assert_matches(doc, "/api/jobs/", "post", response)["error"]["code"] == "length_required"
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_submit_403_without_csrf_token(doc):
    client = browser()

    response = post_json(client, "/api/jobs/", {"texts": ["hi"]}, csrf=False)

    assert response.status_code == 403
    assert_matches(doc, "/api/jobs/", "post", response)


@pytest.mark.django_db
def test_submit_429_too_many_active_jobs(doc, sentimeter_settings):
    sentimeter_settings["MAX_ACTIVE_JOBS_PER_SESSION"] = 1
    client = browser()
    assert post_json(client, "/api/jobs/", {"texts": ["hi"]}).status_code == 202

    response = post_json(client, "/api/jobs/", {"texts": ["hi"]})

    assert response.status_code == 429
    assert_matches(doc, "/api/jobs/", "post", response)


@pytest.mark.django_db
def test_submit_429_rate_limited(doc, sentimeter_settings, monkeypatch):
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=lambda: 1_700_000_050.0))
    sentimeter_settings["SUBMITS_PER_MINUTE"] = 1
    client = browser()
    assert post_json(client, "/api/jobs/", {"texts": ["hi"]}).status_code == 202

    response = post_json(client, "/api/jobs/", {"texts": ["hi"]})

    assert response.status_code == 429
    assert_matches(doc, "/api/jobs/", "post", response)


@pytest.mark.django_db
def test_submit_503_overloaded(doc, sentimeter_settings):
    sentimeter_settings["MAX_QUEUE_DEPTH"] = 1
    Queue(QUICK, connection=get_redis()).enqueue("worker.tasks.job_run", "placeholder")
    client = browser()

    response = post_json(client, "/api/jobs/", {"texts": ["hi"]})

    assert response.status_code == 503
    assert_matches(doc, "/api/jobs/", "post", response)


@pytest.mark.django_db
def test_submit_503_queue_unavailable_and_health_503(doc, redis_down):
    client = browser()

    response = post_json(client, "/api/jobs/", {"texts": ["hi"]})
    health = client.get("/healthz")

    assert response.status_code == 503
    assert_matches(doc, "/api/jobs/", "post", response)
    assert health.status_code == 503
    assert assert_matches(doc, "/healthz", "get", health)["redis"] == "unavailable"


@pytest.mark.django_db
def test_health_200(doc, client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert assert_matches(doc, "/healthz", "get", response)["status"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_a_job_through_its_life(doc):
    """Queued, then succeeded, with results and downloads: every answer matches the document."""
    client = browser()
    texts = ["I love this!", "This is awful.", "The box is brown.", "=1+1"]
    created = post_json(client, "/api/jobs/", {"texts": texts})
    job = assert_matches(doc, "/api/jobs/", "post", created)
    detail = concrete("/api/jobs/{job_id}/", job["id"])

    queued = client.get(detail)
    assert queued.status_code == 200
    assert assert_matches(doc, "/api/jobs/{job_id}/", "get", queued)["status"] == "queued"
    assert "Retry-After" in queued

    job_process(uuid.UUID(job["id"]))

    succeeded = client.get(detail)
    body = assert_matches(doc, "/api/jobs/{job_id}/", "get", succeeded, optional_headers=("Retry-After",))
    assert body["status"] == "succeeded"
    assert body["summary"]["count"] == len(texts)
    assert body["progress"] == {"done": len(texts), "total": len(texts), "percent": 100.0}

    results_path = concrete("/api/jobs/{job_id}/results/", job["id"])
    page = assert_matches(doc, "/api/jobs/{job_id}/results/", "get", client.get(results_path))
    assert [r["text"] for r in page["results"]] == texts
    for query in (
        {"limit": "1", "offset": "2"},
        {"label": "positive"},
        {"label": "negative", "limit": "500"},
        {"q": "AWFUL", "sort": "-compound"},
        {"sort": "compound", "label": "neutral"},
    ):
        response = client.get(results_path, query)
        assert response.status_code == 200
        assert_matches(doc, "/api/jobs/{job_id}/results/", "get", response)

    csv_response = client.get(concrete("/api/jobs/{job_id}/results.csv", job["id"]))
    assert csv_response.status_code == 200
    assert_matches(doc, "/api/jobs/{job_id}/results.csv", "get", csv_response)
    assert csv_response["Content-Type"] == "text/csv; charset=utf-8"

    jsonl_response = client.get(concrete("/api/jobs/{job_id}/results.jsonl", job["id"]))
    assert jsonl_response.status_code == 200
    assert_matches(doc, "/api/jobs/{job_id}/results.jsonl", "get", jsonl_response)
    lines = response_bytes(jsonl_response).decode().splitlines()
    assert len(lines) == len(texts)
    for line in lines:  # "One TableRow object per line"
        validate(doc, {"$ref": "#/components/schemas/TableRow"}, json.loads(line))

    conflict = client.post(concrete("/api/jobs/{job_id}/cancel/", job["id"]), headers=csrf_headers(client))
    assert conflict.status_code == 409
    assert_matches(doc, "/api/jobs/{job_id}/cancel/", "post", conflict)


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["failed", "canceled", "running"])
def test_job_get_in_other_states(doc, status):
    client = browser()
    job = make_job(session_key=owner_session(client))
    fields = {"status": status}
    if status == "failed":
        fields |= {"error_code": "invalid_input", "error_message": "row 2: no text in column 'review'"}
    Job.objects.filter(pk=job.pk).update(**fields)
    if status == "canceled":
        make_results(job, ["partial one"])

    response = client.get(concrete("/api/jobs/{job_id}/", str(job.pk)))

    assert response.status_code == 200
    body = assert_matches(doc, "/api/jobs/{job_id}/", "get", response, optional_headers=("Retry-After",))
    assert body["status"] == status
    assert ("Retry-After" in response) == (status == "running")


@pytest.mark.django_db
def test_cancel_202_idempotent_and_403(doc):
    client = browser()
    job = json.loads(post_json(client, "/api/jobs/", {"texts": ["hi"]}).content)
    cancel = concrete("/api/jobs/{job_id}/cancel/", job["id"])

    forbidden = client.post(cancel)
    assert forbidden.status_code == 403
    assert_matches(doc, "/api/jobs/{job_id}/cancel/", "post", forbidden)

    for _ in range(2):
        response = client.post(cancel, headers=csrf_headers(client))
        assert response.status_code == 202
        assert assert_matches(doc, "/api/jobs/{job_id}/cancel/", "post", response)["status"] == "canceled"


@pytest.mark.django_db
def test_results_400(doc):
    client = browser()
    job = make_job(session_key=owner_session(client))
    path = concrete("/api/jobs/{job_id}/results/", str(job.pk))

    for query in (
        {"limit": "0"},
        {"limit": "501"},
        {"offset": "-1"},
        {"offset": "x"},
        {"label": "happy"},
        {"sort": "score"},
        {"q": "x" * 201},
        {"q": "a\x00b"},
        {"offset": ["if", ""]},
        {"limit": ["5", "5"]},
        {"q": ["a", "b"]},
    ):
        response = client.get(path, query)
        assert response.status_code == 400, query
        assert_matches(doc, "/api/jobs/{job_id}/results/", "get", response)


def test_results_q_schema_refuses_what_the_api_refuses(doc):
    operation = doc["paths"]["/api/jobs/{job_id}/results/"]["get"]
    (q,) = [p for p in operation["parameters"] if p.get("name") == "q"]
    validator = schema_validator(doc, q["schema"])

    assert validator.is_valid("café au lait")
    assert not validator.is_valid("a\x00b")
    assert not validator.is_valid("x" * 201)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path_template", "method"),
    [
        ("/api/jobs/{job_id}/", "get"),
        ("/api/jobs/{job_id}/cancel/", "post"),
        ("/api/jobs/{job_id}/results/", "get"),
        ("/api/jobs/{job_id}/results.csv", "get"),
        ("/api/jobs/{job_id}/results.jsonl", "get"),
        ("/api/jobs/{job_id}/results.xlsx", "get"),
    ],
)
@pytest.mark.parametrize("which", ["unknown-uuid", "not-a-uuid", "another-session"])
def test_404(doc, path_template, method, which):
    client = browser()
    owner_session(client)
    if which == "another-session":
        job_id = str(make_job(session_key="someone-else").pk)
    elif which == "unknown-uuid":
        job_id = str(uuid.uuid4())
    else:
        job_id = "not-a-uuid"

    response = getattr(client, method)(concrete(path_template, job_id), headers=csrf_headers(client))

    assert response.status_code == 404
    body = assert_matches(doc, path_template, method, response)
    assert body["error"]["code"] == "not_found"


# --- tokens and Bearer ---------------------------------------------------------------


@pytest.mark.django_db
def test_token_lifecycle_matches_the_document(doc):
    client = browser()
    empty = assert_matches(doc, "/api/tokens/", "get", client.get("/api/tokens/"))
    assert empty == {"tokens": []}

    made = assert_matches(doc, "/api/tokens/", "post", post_json(client, "/api/tokens/", {"name": "ci"}))
    listed = assert_matches(doc, "/api/tokens/", "get", client.get("/api/tokens/"))
    assert [t["id"] for t in listed["tokens"]] == [made["id"]]
    bad = post_json(client, "/api/tokens/", {"nam": "ci"})
    assert bad.status_code == 400
    assert_matches(doc, "/api/tokens/", "post", bad)

    script = Client(enforce_csrf_checks=True)
    auth = {"Authorization": f"Bearer {made['token']}"}
    response = script.post(
        "/api/jobs/", data=json.dumps({"texts": ["hi"]}), content_type="application/json", headers=auth
    )
    assert response.status_code == 202
    assert_matches(doc, "/api/jobs/", "post", response)

    revoke = script.delete(f"/api/tokens/{made['id']}/", headers=auth)
    assert revoke.status_code == 204
    assert_matches(doc, "/api/tokens/{token_id}/", "delete", revoke)
    again = client.delete(f"/api/tokens/{made['id']}/", headers=csrf_headers(client))
    assert again.status_code == 404
    assert_matches(doc, "/api/tokens/{token_id}/", "delete", again)
    unauthorized = script.get("/api/jobs/", headers=auth)
    assert unauthorized.status_code == 401
    assert_matches(doc, "/api/jobs/", "get", unauthorized)


def test_security_schemes(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["session"]["in"] == "cookie"
    assert {next(iter(s)) for s in doc["security"]} == {"bearer", "session"}
    assert doc["servers"]


@pytest.mark.django_db
def test_submit_with_a_callback_url_and_its_webhook_event_match_the_document(doc, settings):
    settings.SENTIMETER = {**settings.SENTIMETER, "WEBHOOK_ALLOW_PRIVATE": True}
    client = browser()
    response = post_json(client, "/api/jobs/", {"texts": ["fine"], "callback_url": "http://127.0.0.1:9/h"})
    job = assert_matches(doc, "/api/jobs/", "post", response)
    assert job["webhook"]["url"] == "http://127.0.0.1:9/h"
    settings.SENTIMETER = {**settings.SENTIMETER, "WEBHOOK_ALLOW_PRIVATE": False}
    refused = post_json(client, "/api/jobs/", {"texts": ["fine"], "callback_url": "http://127.0.0.1:9/h"})
    assert refused.status_code == 400
    assert assert_matches(doc, "/api/jobs/", "post", refused)["error"]["code"] == "invalid_callback_url"

    hook = doc["webhooks"]["jobEnded"]["post"]
    event_schema = hook["requestBody"]["content"]["application/json"]["schema"]
    for event in ("job.succeeded", "job.failed", "job.canceled"):
        validate(doc, event_schema, {"event": event, "job": job})
    header = "t=1700000000,v1=" + "ab" * 32
    validate(doc, hook["parameters"][0]["schema"], header)


# --- generated from the code ------------------------------------------------------


def test_the_document_is_valid_openapi(doc):
    openapi_spec_validator.validate(doc)


def test_choices_and_limits_come_from_the_code(doc):
    schemas = doc["components"]["schemas"]
    names = [spec.name for spec in analyzer_list()]
    assert schemas["JobSubmit"]["properties"]["analyzer"]["enum"] == names
    assert schemas["Analyzer"]["properties"]["name"]["enum"] == names
    assert set(schemas["JobUpload"]["properties"]["encoding"]["enum"]) == {"auto", *ENCODINGS}
    operation = doc["paths"]["/api/jobs/{job_id}/results/"]["get"]
    (limit,) = [p for p in operation["parameters"] if p["name"] == "limit"]
    assert limit["schema"]["maximum"] == MAX_PAGE
    assert schemas["JobSubmit"]["properties"]["callback_url"]["maxLength"] == MAX_URL_CHARS


def test_every_api_operation_documents_its_errors(doc):
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            if method not in item or not path.startswith("/api/") or path == "/api/docs/":
                continue
            responses = item[method]["responses"]
            assert "401" in responses, f"{method} {path}"
            errors = [s for s in responses if s[0] in "45"]
            for status in errors:
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, f"{method} {path} {status}"
            if method != "get":
                assert "403" in responses, f"{method} {path}: CSRF"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path_template", "query", "meant"),
    [
        ("/api/jobs/{job_id}/results/", {"limt": "5"}, "limit"),
        ("/api/jobs/{job_id}/results/", {"sorted": "compound"}, "sort"),
        ("/api/jobs/{job_id}/", {"limit": "5"}, None),
        ("/api/jobs/", {"page": "2"}, None),
        ("/api/jobs/{job_id}/results.csv", {"label": "positive"}, None),
    ],
)
def test_an_unknown_query_parameter_is_refused_naming_the_one_meant(doc, path_template, query, meant):
    client = browser()
    job = make_job(session_key=owner_session(client))

    response = client.get(concrete(path_template, str(job.pk)), query)

    assert response.status_code == 400
    error = assert_matches(doc, path_template, "get", response)["error"]
    assert error["code"] == "unknown_field"
    assert f'"{next(iter(query))}"' in error["message"]
    assert (
        (f'Did you mean "{meant}"?' in error["message"]) if meant else ("takes no query" in error["message"])
    )


@pytest.mark.django_db
def test_the_docs_page_loads_the_document_with_scripts_of_our_own(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-openapi-url="/api/openapi.json"' in html
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "swagger-ui-bundle.js" in html and "web/apidocs.js" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"texts": ["fine"]},
        {"texts": ["fine", "  padded  "], "analyzer": "vader"},
        {"texts": ["x" * 100]},
        {"texts": ["fine"], "callback_url": "https://example.com/hook"},
        {},
        {"texts": []},
        {"texts": "fine"},
        {"texts": ["fine", 3]},
        {"texts": ["fine", ""]},
        {"texts": ["fine", " \t\n"]},
        {"texts": ["a\x00b"]},
        {"texts": ["x" * 101]},
        {"texts": ["a", "b", "c"]},
        {"texts": ["fine"], "analyzer": "bert"},
        {"texts": ["fine"], "analyzer": None},
        {"texts": ["fine"], "analyser": "vader"},
        {"texts": ["fine"], "callback_url": 5},
        {"texts": ["fine"], "callback_url": "https://example.com/" + "x" * MAX_URL_CHARS},
    ],
)
def test_the_submit_schema_accepts_what_the_api_accepts(sentimeter_settings, body, monkeypatch):
    """The document's JobSubmit, made with this deploy's limits, says ahead what a submit will get."""
    sentimeter_settings["MAX_TEXTS_PER_JOB"] = 2
    sentimeter_settings["MAX_TEXT_CHARS"] = 100
    # example.com resolves to a public address; no lookup leaves the machine in the test.
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, 1, 6, "", ("93.184.215.14", 443))]
    )
    doc = json.loads(json.dumps(openapi_document()))
    client = browser()

    response = post_json(client, "/api/jobs/", body)

    accepted = schema_validator(doc, {"$ref": "#/components/schemas/JobSubmit"}).is_valid(body)
    assert (response.status_code == 202) == accepted, (response.status_code, response.content)
