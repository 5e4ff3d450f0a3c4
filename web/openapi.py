"""The OpenAPI 3.1 document of the JSON API, generated: served at /api/openapi.json, browsed at /api/docs/.

Shapes come from web/schemas.py, paths and path parameters from the URL
patterns (by route name), query parameters from the shape each view takes
(web.api.api_view's `query`), so none is typed here; this module says only
which operation answers what. tests/test_openapi.py validates the document and
every real response the suite makes against it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from web import schemas
from worker.webhooks import SIGNATURE_HEADER
from worker.workbooks import XLSX_TYPE

REF = "#/components/schemas/{model}"


def _ref(shape: type[BaseModel]) -> dict:
    return {"$ref": REF.format(model=shape.__name__)}


@dataclass(frozen=True, slots=True)
class Answer:
    """One documented response: a JSON shape, another media type, or no body."""

    description: str
    shape: type[BaseModel] | None = schemas.Error
    media_type: str = "application/json"
    headers: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        response: dict = {"description": self.description}
        if self.media_type:
            response["content"] = {self.media_type: {"schema": _ref(self.shape)} if self.shape else {}}
        if self.headers:
            response["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in self.headers}
        return response


def _stream(media_type: str, description: str) -> Answer:
    return Answer(description, shape=None, media_type=media_type)


@dataclass(frozen=True, slots=True)
class Operation:
    """One method of one route of web/urls.py."""

    route: str  # the URL pattern's name
    method: str
    operation_id: str
    summary: str
    answers: dict[int, Answer]
    bodies: dict[str, type[BaseModel]] = field(default_factory=dict)  # media type -> shape
    # Needs no owner (a token is still checked when sent), so no security requirement.
    public: bool = False


NOT_FOUND = Answer("No such job (or another owner's job: the same answer).")
NOT_FINISHED = Answer(
    "`job_not_finished`: the job is queued or running; its results download once it has ended. A "
    "canceled or failed job's download holds what it analyzed, and its file name ends in `-partial`."
)
CSRF = Answer(
    "`csrf_failed`, with a session only: the X-CSRFToken header or the Referer (over HTTPS) is missing or "
    "wrong; the message says which. A Bearer token needs neither."
)
UNAUTHORIZED = Answer(
    "The Bearer token is not valid (revoked, mistyped, or with LOGIN_REQUIRED not a user's): "
    "`invalid_token`; or, with LOGIN_REQUIRED, neither a signed-in user nor a token: `login_required`.",
    headers=("WWW-Authenticate",),
)
BAD_QUERY = Answer(
    "`unknown_field`: a query parameter this operation does not take (with the one likely meant)."
)
SERVER_ERROR = Answer(
    "Any other status, e.g. `405` `method_not_allowed` or `500` `server_error`: the same error body."
)
TOO_LARGE = Answer("The body is too big.")
NOT_JSON = Answer("Not JSON.")

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "api-job-list",
        "get",
        "jobList",
        "This owner's jobs, newest first.",
        {200: Answer("The jobs.", schemas.JobList), 400: BAD_QUERY},
    ),
    Operation(
        "api-job-list",
        "post",
        "jobCreate",
        "Submit texts or a file; answers at once with the queued job.",
        {
            202: Answer("Accepted and queued.", schemas.Job, headers=("Retry-After", "Location")),
            400: Answer(
                "Bad input: the message says which text or field and why (`unknown_field` for a field "
                "not listed here, with the one likely meant; `invalid_callback_url`)."
            ),
            403: CSRF,
            411: Answer("`length_required`: the body was sent chunked: send a Content-Length."),
            413: Answer("Too large: too many texts, a text too long, or body too big."),
            415: Answer("Neither JSON nor multipart/form-data."),
            429: Answer("Rate limited or too many active jobs.", headers=("Retry-After",)),
            503: Answer("Overloaded or queue unavailable; nothing stored.", headers=("Retry-After",)),
        },
        bodies={"application/json": schemas.JobSubmit, "multipart/form-data": schemas.JobUpload},
    ),
    Operation(
        "api-job-detail",
        "get",
        "jobGet",
        "One job; Retry-After while it has not finished.",
        {200: Answer("The job.", schemas.Job, headers=("Retry-After",)), 400: BAD_QUERY, 404: NOT_FOUND},
    ),
    Operation(
        "api-job-cancel",
        "post",
        "jobCancel",
        "Cancel a queued or running job (idempotent).",
        {
            202: Answer("Canceled (results stored so far stay, as partial).", schemas.Job),
            403: CSRF,
            404: NOT_FOUND,
            409: Answer("`conflict`: the job already succeeded or failed."),
        },
    ),
    Operation(
        "api-job-results",
        "get",
        "jobResults",
        "One page of results; count is of the filtered ones.",
        {
            200: Answer("The page.", schemas.ResultPage),
            400: Answer(
                "Bad offset, limit, label, q or sort, one given twice, an unknown parameter, or "
                "`unknown_column`: a `by` the job cannot group by."
            ),
            404: NOT_FOUND,
        },
    ),
    Operation(
        "api-job-groups",
        "get",
        "jobGroups",
        "Per value of a column: count, label shares and mean score.",
        {
            200: Answer("The groups.", schemas.Groups),
            400: Answer("`unknown_column`: the message lists the columns; or an unknown parameter."),
            404: NOT_FOUND,
        },
    ),
    Operation(
        "api-job-trend",
        "get",
        "jobTrend",
        "Counts, label split and mean score over time, by a column of dates.",
        {
            200: Answer("The trend; bucket by span when not given.", schemas.Trend),
            400: Answer(
                "`unknown_column`, `not_a_date_column` (the message lists the date columns) or "
                "`invalid_bucket`; or an unknown parameter."
            ),
            404: NOT_FOUND,
        },
    ),
    Operation(
        "api-job-drivers",
        "get",
        "jobDrivers",
        "The most positive and negative texts and what drives them, of one group (or the whole job).",
        {
            200: Answer("The group's extremes and drivers.", schemas.GroupDetails),
            400: Answer(
                "`invalid_parameter`: no such column, or `by` without `group`; or an unknown parameter."
            ),
            404: NOT_FOUND,
        },
    ),
    Operation(
        "api-job-results-csv",
        "get",
        "jobResultsCsv",
        "The input's table back as CSV (streamed): its columns, then ours (see TableRow); every row "
        "of the upload, skipped ones too.",
        {
            200: _stream("text/csv", "CSV with a header row."),
            400: BAD_QUERY,
            404: NOT_FOUND,
            409: NOT_FINISHED,
        },
    ),
    Operation(
        "api-job-results-jsonl",
        "get",
        "jobResultsJsonl",
        "The input's table back as JSON Lines (streamed), one TableRow a line.",
        {
            200: _stream("application/jsonl", "One TableRow object per line."),
            400: BAD_QUERY,
            404: NOT_FOUND,
            409: NOT_FINISHED,
        },
    ),
    Operation(
        "api-job-results-xlsx",
        "get",
        "jobResultsXlsx",
        "The input's table back as an Excel workbook (streamed; header row bold and frozen).",
        {
            200: _stream(XLSX_TYPE, "The CSV download's rows in one sheet."),
            400: BAD_QUERY,
            404: NOT_FOUND,
            409: NOT_FINISHED,
        },
    ),
    Operation(
        "api-analyzer-list",
        "get",
        "analyzerList",
        "The analyzers a job may choose: what each reads, how fast, the default.",
        {200: Answer("The analyzers.", schemas.AnalyzerList), 400: BAD_QUERY},
        public=True,
    ),
    Operation(
        "api-openapi",
        "get",
        "openapi",
        "This document.",
        {200: Answer("The OpenAPI 3.1 document.", shape=None), 400: BAD_QUERY},
        public=True,
    ),
    Operation(
        "api-docs",
        "get",
        "docs",
        "This document, to read and try in a browser (Swagger UI).",
        {200: Answer("The page.", shape=None, media_type="text/html")},
        public=True,
    ),
    Operation(
        "api-token-list",
        "get",
        "tokenList",
        "This owner's working tokens, newest first (never their token or secret).",
        {200: Answer("The tokens.", schemas.TokenList), 400: BAD_QUERY},
    ),
    Operation(
        "api-token-list",
        "post",
        "tokenCreate",
        "Make a token; its token and webhook secret are in this answer only.",
        {
            201: Answer("Made.", schemas.NewToken),
            400: Answer("Bad JSON, no name (`invalid_name`), an unknown field, or too many tokens."),
            403: CSRF,
            413: TOO_LARGE,
            415: NOT_JSON,
        },
        bodies={"application/json": schemas.TokenCreate},
    ),
    Operation(
        "api-token-detail",
        "delete",
        "tokenRevoke",
        "Revoke a token at once; the next request sending it gets 401.",
        {
            204: Answer("Revoked.", media_type=""),
            403: CSRF,
            404: Answer("No such token (or another owner's: the same answer)."),
        },
    ),
    Operation(
        "healthz",
        "get",
        "health",
        "200 when Postgres and Redis answer, else 503.",
        {200: Answer("Healthy.", schemas.Health), 503: Answer("Unhealthy.", schemas.Health)},
        public=True,
    ),
)

PATH_PARAMETERS = {"job_id": "The job's UUID.", "token_id": "The token's id."}


def _routes(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def route(name: str) -> tuple[str, URLPattern]:
    """The OpenAPI path ("api/jobs/<str:job_id>/" -> "/api/jobs/{job_id}/") and the URL pattern of a route."""
    (found,) = [(path, p) for path, p in _routes(get_resolver().url_patterns) if p.name == name]
    path, pattern = found
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path), pattern


def path_template(name: str) -> str:
    return route(name)[0]


def _path_parameters(template: str) -> list[dict]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": PATH_PARAMETERS[name],
            "schema": {"type": "string"},
        }
        for name in re.findall(r"\{(\w+)\}", template)
    ]


def _query_parameters(shape: type[BaseModel]) -> list[dict]:
    schema = shape.model_json_schema(ref_template=REF)
    parameters = []
    for name, prop in schema["properties"].items():
        prop = {k: v for k, v in prop.items() if k != "title" and not (k == "default" and v is None)}
        description = prop.pop("description", None)
        parameter = {"name": name, "in": "query", "required": False, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _operation(op: Operation) -> dict:
    document: dict = {"operationId": op.operation_id, "summary": op.summary}
    if op.public:
        document["security"] = [{}]
    # The query parameters the view takes (web.api.api_view's `query`): declared there once.
    query = getattr(route(op.route)[1].callback, "query_shape", None)
    if query is not None:
        document["parameters"] = _query_parameters(query)
    if op.bodies:
        content = {media: {"schema": _ref(shape)} for media, shape in op.bodies.items()}
        document["requestBody"] = {"required": True, "content": content}
    answers = dict(op.answers)
    api = path_template(op.route).startswith("/api/")
    if api:
        answers[401] = UNAUTHORIZED
    document["responses"] = {str(status): answers[status].to_dict() for status in sorted(answers)}
    if api:
        document["responses"]["default"] = SERVER_ERROR.to_dict()
    return document


def _components() -> dict:
    """The shapes' JSON Schemas (made per call: json_schema_extra reads the analyzer registry)."""
    _, top = models_json_schema([(shape, "validation") for shape in schemas.COMPONENTS], ref_template=REF)
    return _without_null_defaults(top["$defs"])


def _without_null_defaults(node: object) -> object:
    """Drop `"default": null` from optional fields that are not nullable (left out means "not given")."""
    if isinstance(node, dict):
        return {k: _without_null_defaults(v) for k, v in node.items() if not (k == "default" and v is None)}
    if isinstance(node, list):
        return [_without_null_defaults(v) for v in node]
    return node


def openapi_document() -> dict:
    """Return the OpenAPI document of the JSON API (made per request: the registry may change)."""
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        template = path_template(op.route)
        item = paths.setdefault(template, {})
        if "{" in template:
            item["parameters"] = _path_parameters(template)
        item[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sentimeter API",
            "version": "1.0.0",
            "description": (
                "Submit texts for sentiment analysis and poll the job. A program authenticates with "
                "an API token (`Authorization: Bearer smt_...`, made at /tokens/ or POST /api/tokens/): "
                "no cookie, CSRF token or Referer. A browser script uses the session cookie, and every "
                "POST or DELETE then needs the `csrftoken` cookie's value in the `X-CSRFToken` header "
                "(GET / first to receive it). Every answer that is not 2xx has the body "
                '`{"error": {"code", "message"}}`.'
            ),
        },
        "servers": [{"url": "/", "description": "This deployment."}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "webhooks": {
            "jobEnded": {
                "post": {
                    "operationId": "jobEnded",
                    "summary": "Sent to a job's callback_url when it succeeds, fails or is canceled.",
                    "description": (
                        f"Signed like Stripe's: `{SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "
                        '"<t>.<raw body>", keyed with the UTF-8 bytes of the webhook secret>` (the secret of '
                        "the token that submitted the job, or for jobs submitted from the page the one on "
                        "/tokens/). Any answer but 2xx, a redirect included, is retried "
                        "(WEBHOOK_RETRY_INTERVALS: 6 attempts over about an hour)."
                    ),
                    "parameters": [
                        {
                            "name": SIGNATURE_HEADER,
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^t=\\d+,v1=[0-9a-f]{64}$"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(schemas.WebhookEvent)}},
                    },
                    "responses": {"200": {"description": "Received (any 2xx)."}},
                }
            }
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (`smt_...`), from /tokens/ or POST /api/tokens/.",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "sessionid",
                    "description": "The browser session; unsafe methods also need the X-CSRFToken header.",
                },
            },
            "schemas": _components(),
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before asking again.",
                    "schema": {"type": "integer", "minimum": 1},
                },
                "Location": {"description": "The job's API URL.", "schema": {"type": "string"}},
                "WWW-Authenticate": {
                    "description": "`Bearer`, as RFC 6750 says.",
                    "schema": {"type": "string"},
                },
            },
        },
    }
