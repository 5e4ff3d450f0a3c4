"""The OpenAPI 3.1 description of the JSON API, served at /api/openapi.json.

Tests validate real responses against these schemas (tests/test_openapi.py),
so a change to the API that is not made here too fails the suite.
"""

from __future__ import annotations

import copy

from django.conf import settings

from web.models import Job, Result
from web.selectors import MAX_QUERY_CHARS, SORTS, analyzer_list
from web.tokens import MAX_NAME_CHARS
from worker.dates import BUCKETS
from worker.webhooks import EVENTS, MAX_URL_CHARS, SIGNATURE_HEADER


def _by_side(schema: str, description: str) -> dict:
    """An object with a list of `schema` for each side, positive and negative."""
    items = {"type": "array", "items": {"$ref": f"#/components/schemas/{schema}"}}
    return {
        "type": "object",
        "description": description,
        "required": ["positive", "negative"],
        "additionalProperties": False,
        "properties": {"positive": items, "negative": items},
    }


_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_CALLBACK_URL = {
    "type": "string",
    "maxLength": MAX_URL_CHARS,
    "description": "An https:// URL on a public address: when the job ends it is POSTed "
    '{"event", "job"} there, signed (see `webhooks`). 400 `invalid_callback_url` otherwise.',
}

_GROUP_BY = {
    "type": "string",
    "maxLength": 255,
    "description": "The column the job's page groups results by; ignored if the input has no such column.",
}
_LABEL_COUNTS = {label: {"type": "integer", "minimum": 0} for label in Result.Label.values}


def _error_response(description: str, *, retry_after: bool = False) -> dict:
    return _json("Error", description, retry_after=retry_after)


_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "description": "The job's UUID.",
    "schema": {"type": "string"},
}

SCHEMAS: dict = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "description": "Machine-readable, e.g. `too_many_texts`."},
                    "message": {"type": "string", "description": "What went wrong and what to do, in words."},
                },
            }
        },
    },
    "Progress": {
        "type": "object",
        "required": ["done", "total", "percent"],
        "additionalProperties": False,
        "properties": {
            "done": {"type": "integer", "minimum": 0},
            "total": {"type": ["integer", "null"], "minimum": 0, "description": "Null until counted."},
            "percent": {"type": "number", "minimum": 0, "maximum": 100},
        },
    },
    "HistogramBin": {
        "type": "object",
        "required": ["start", "end", "count"],
        "additionalProperties": False,
        "properties": {
            "start": {"type": "number", "minimum": -1, "maximum": 1},
            "end": {"type": "number", "minimum": -1, "maximum": 1},
            "count": {"type": "integer", "minimum": 0},
            "positive": {"type": "integer", "minimum": 0, "description": "Of `count`, labelled positive."},
            "neutral": {"type": "integer", "minimum": 0, "description": "Of `count`, labelled neutral."},
            "negative": {"type": "integer", "minimum": 0, "description": "Of `count`, labelled negative."},
        },
    },
    "Summary": {
        "type": "object",
        "required": ["count", "positive", "neutral", "negative", "mean_compound", "histogram"],
        "additionalProperties": False,
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "positive": {"type": "integer", "minimum": 0},
            "neutral": {"type": "integer", "minimum": 0},
            "negative": {"type": "integer", "minimum": 0},
            "mean_compound": {"type": ["number", "null"], "minimum": -1, "maximum": 1},
            "histogram": {"type": "array", "items": {"$ref": "#/components/schemas/HistogramBin"}},
            "extremes": _by_side(
                "Extreme",
                "The texts with the highest scores among those labelled positive, and the lowest among "
                "those labelled negative (up to 5 each, clipped to 300 characters). Summaries written "
                "before 2026-12 have none.",
            ),
            "drivers": _by_side(
                "Driver",
                "Words and two-word phrases over-represented in negative texts against positive ones, and "
                "the reverse: a log-odds ratio with an informative Dirichlet prior, z-scored (above 0: more "
                "negative), |z| >= 1.96, in at least 3 texts, up to 10 a side. Summaries written before "
                "2026-12 have none.",
            ),
        },
    },
    "Extreme": {
        "type": "object",
        "required": ["idx", "text", "compound"],
        "additionalProperties": False,
        "properties": {
            "idx": {"type": "integer", "minimum": 0},
            "row": {"type": ["integer", "null"], "minimum": 1, "description": "As on Result."},
            "text": {"type": "string"},
            "compound": {"type": "number", "minimum": -1, "maximum": 1},
        },
    },
    "Drivers": {
        "type": "object",
        "description": "What drives one group of a job (or the whole job without `by`).",
        "required": ["by", "group", "count", "positive", "negative", "extremes", "drivers"],
        "additionalProperties": False,
        "properties": {
            "by": {"type": ["string", "null"]},
            "group": {"type": ["string", "null"]},
            "count": {"type": "integer", "minimum": 0},
            "positive": {"type": "integer", "minimum": 0},
            "negative": {"type": "integer", "minimum": 0},
            "extremes": _by_side("Extreme", "As in Summary, of this group."),
            "drivers": _by_side("Driver", "As in Summary, of this group."),
        },
    },
    "Driver": {
        "type": "object",
        "required": ["term", "z", "negative", "positive"],
        "additionalProperties": False,
        "properties": {
            "term": {"type": "string"},
            "z": {"type": "number"},
            "negative": {
                "type": "integer",
                "minimum": 0,
                "description": "Negative texts that have the term.",
            },
            "positive": {
                "type": "integer",
                "minimum": 0,
                "description": "Positive texts that have the term.",
            },
        },
    },
    "JobError": {
        "type": "object",
        "required": ["code", "message"],
        "additionalProperties": False,
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    },
    "Job": {
        "type": "object",
        "required": [
            "id",
            "title",
            "status",
            "analyzer",
            "created_at",
            "started_at",
            "finished_at",
            "progress",
            "partial",
            "error",
            "summary",
            "skipped",
            "columns",
            "warnings",
            "webhook",
            "links",
        ],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "title": {
                "type": "string",
                "description": "The uploaded file's name or the start of the first text "
                '("Job" and the start of the id for jobs made before titles existed).',
            },
            "status": {"type": "string", "enum": list(Job.Status.values)},
            "analyzer": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": _NULLABLE_TIME,
            "finished_at": _NULLABLE_TIME,
            "progress": {"$ref": "#/components/schemas/Progress"},
            "partial": {
                "type": "boolean",
                "description": "The job was canceled or failed after storing some results: they are kept, "
                "but cover only part of the input.",
            },
            "error": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/JobError"}]},
            "summary": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Summary"}]},
            "skipped": {
                "type": "object",
                "description": "Rows of an upload with no usable text: skipped, not failed.",
                "required": ["count", "examples"],
                "additionalProperties": False,
                "properties": {
                    "count": {"type": "integer", "minimum": 0},
                    "examples": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["row", "reason"],
                            "properties": {"row": {"type": "integer"}, "reason": {"type": "string"}},
                        },
                    },
                },
            },
            "columns": {
                "type": "object",
                "description": "The input's columns in order (`all`; empty for texts without columns), the "
                "one analyzed (`text`) and the others, given back in the downloads (`kept`).",
                "required": ["all", "text", "kept"],
                "additionalProperties": False,
                "properties": {
                    "all": {"type": "array", "items": {"type": "string"}},
                    "text": {"type": "string"},
                    "kept": {"type": "array", "items": {"type": "string"}},
                },
            },
            "warnings": {
                "type": "array",
                "description": "What to know about the results, e.g. `language_unread`: most texts are in a "
                "language the job's analyzer does not read. Empty until the job succeeds.",
                "items": {"$ref": "#/components/schemas/JobError"},
            },
            "webhook": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/WebhookRecord"}]},
            "links": {
                "type": "object",
                "required": ["self", "page", "cancel", "results", "csv", "jsonl", "xlsx"],
                "additionalProperties": {"type": "string"},
            },
        },
    },
    "JobList": {
        "type": "object",
        "required": ["jobs"],
        "additionalProperties": False,
        "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}},
    },
    "JobSubmit": {
        "type": "object",
        "required": ["texts"],
        "additionalProperties": False,
        "properties": {
            "texts": {
                "type": "array",
                "minItems": 1,
                "description": 'Strings, or objects with a "text" field and any others '
                '({"id": "A-17", "text": "..."}): their fields come back in the downloads, '
                "`id` on each result.",
                "items": {
                    "oneOf": [
                        {"type": "string", "minLength": 1},
                        {
                            "type": "object",
                            "required": ["text"],
                            "properties": {"text": {"type": "string", "minLength": 1}},
                        },
                    ]
                },
            },
            "analyzer": {"type": "string", "description": "See GET /api/analyzers/."},
            "callback_url": _CALLBACK_URL,
            "group_by": _GROUP_BY,
        },
    },
    "JobUpload": {
        "type": "object",
        "required": ["file"],
        "additionalProperties": False,
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "description": "CSV, TSV, Excel (.xlsx), plain text (one text per line) or JSON Lines; "
                "one file.",
            },
            "sheet": {
                "type": "string",
                "description": "Excel workbooks: the sheet to read, by name (default: the first).",
            },
            "column": {"type": "string", "description": "The column (or JSON field) holding the text."},
            "encoding": {
                "type": "string",
                "description": "auto (default), utf-8, utf-16, windows-1252, latin-1, cp949 or euc-kr.",
            },
            "analyzer": {"type": "string", "description": "See GET /api/analyzers/."},
            "callback_url": _CALLBACK_URL,
            "group_by": _GROUP_BY,
        },
    },
    "WebhookRecord": {
        "type": "object",
        "description": "The job's webhook and its deliveries so far. A failed delivery never changes the "
        "job's status.",
        "required": ["url", "attempts", "last_status", "last_error", "delivered_at"],
        "additionalProperties": False,
        "properties": {
            "url": {"type": "string"},
            "attempts": {"type": "integer", "minimum": 0},
            "last_status": {
                "type": ["integer", "null"],
                "description": "The HTTP status of the last attempt (null: none yet, or no answer).",
            },
            "last_error": {"type": ["string", "null"], "description": "Why the last attempt failed."},
            "delivered_at": _NULLABLE_TIME,
        },
    },
    "WebhookEvent": {
        "type": "object",
        "required": ["event", "job"],
        "additionalProperties": False,
        "properties": {
            "event": {"type": "string", "enum": list(EVENTS.values())},
            "job": {"$ref": "#/components/schemas/Job"},
        },
    },
    "Result": {
        "type": "object",
        "required": ["idx", "row", "text", "label", "compound", "pos", "neu", "neg"],
        "additionalProperties": False,
        "properties": {
            "idx": {
                "type": "integer",
                "minimum": 0,
                "description": "Position of the text in the input, from 0.",
            },
            "row": {
                "type": ["integer", "null"],
                "minimum": 1,
                "description": "The row a spreadsheet shows it on (header = row 1); for texts sent as a "
                "list, idx + 1. Null for results stored before rows were kept.",
            },
            "id": {
                "type": ["string", "null"],
                "description": "The row's `id` (a JSON submit's object, or the input's `id` column), as "
                "text; only for inputs with one.",
            },
            "text": {"type": "string"},
            "label": {"type": "string", "enum": list(Result.Label.values)},
            "compound": {"type": "number", "minimum": -1, "maximum": 1},
            "pos": {"type": "number", "minimum": 0, "maximum": 1},
            "neu": {"type": "number", "minimum": 0, "maximum": 1},
            "neg": {"type": "number", "minimum": 0, "maximum": 1},
        },
    },
    "TableRow": {
        "type": "object",
        "description": "One row of a download: the input's own columns by name (texts without columns: "
        "`row` and `text`), then ours. A skipped row has its reason in `sentiment_note` and no scores.",
        "required": ["sentiment", "score", "positive", "neutral", "negative", "sentiment_note"],
        "properties": {
            "sentiment": {"type": ["string", "null"], "enum": [*Result.Label.values, None]},
            "score": {"type": ["number", "null"], "minimum": -1, "maximum": 1},
            "positive": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "neutral": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "negative": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "sentiment_note": {"type": ["string", "null"]},
        },
    },
    "Groups": {
        "type": "object",
        "required": ["column", "groups", "truncated", "suggested"],
        "additionalProperties": False,
        "properties": {
            "column": {"type": "string"},
            "groups": {
                "type": "array",
                "description": "Sorted by the share of negative texts, highest first.",
                "items": {
                    "type": "object",
                    "required": ["value", "count", *Result.Label.values, "shares", "mean_score"],
                    "additionalProperties": False,
                    "properties": {
                        "value": {"type": ["string", "null"], "description": "The cell (null: empty)."},
                        "count": {"type": "integer", "minimum": 1},
                        **_LABEL_COUNTS,
                        "shares": {
                            "type": "object",
                            "required": list(Result.Label.values),
                            "additionalProperties": False,
                            "properties": {
                                label: {"type": "number", "minimum": 0, "maximum": 1}
                                for label in Result.Label.values
                            },
                        },
                        "mean_score": {"type": "number", "minimum": -1, "maximum": 1},
                    },
                },
            },
            "truncated": {"type": "boolean", "description": "More than 50 values: these are the biggest."},
            "suggested": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Trend": {
        "type": "object",
        "required": ["column", "bucket", "buckets", "day_first", "points", "undated"],
        "additionalProperties": False,
        "properties": {
            "column": {"type": "string"},
            "bucket": {"type": "string", "enum": list(BUCKETS)},
            "buckets": {"type": "array", "items": {"type": "string", "enum": list(BUCKETS)}},
            "day_first": {"type": "boolean", "description": "Dates like 03/04/2026 were read day first."},
            "points": {
                "type": "array",
                "description": "Every bucket from the first date to the last, empty ones included.",
                "items": {
                    "type": "object",
                    "required": ["start", "count", *Result.Label.values, "mean_score"],
                    "additionalProperties": False,
                    "properties": {
                        "start": {"type": "string", "format": "date"},
                        "count": {"type": "integer", "minimum": 0},
                        **_LABEL_COUNTS,
                        "mean_score": {"type": ["number", "null"], "minimum": -1, "maximum": 1},
                    },
                },
            },
            "undated": {"type": "integer", "minimum": 0, "description": "Results with no readable date."},
        },
    },
    "ResultPage": {
        "type": "object",
        "required": ["count", "offset", "limit", "results"],
        "additionalProperties": False,
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "offset": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
        },
    },
    "Analyzer": {
        "type": "object",
        "required": [
            "name",
            "label",
            "description",
            "languages",
            "default",
            "texts_per_second",
        ],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "description": "What a job's `analyzer` names."},
            "label": {"type": "string"},
            "description": {"type": "string"},
            "languages": {
                "type": "array",
                "items": {"type": "string"},
                "description": "ISO 639-1 codes of the languages it reads (`latin`: other languages in "
                "Latin letters).",
            },
            "default": {"type": "boolean", "description": "Used when a job names no analyzer."},
            "texts_per_second": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Texts of about twenty words one worker process analyzes per second.",
            },
        },
    },
    "AnalyzerList": {
        "type": "object",
        "required": ["analyzers"],
        "additionalProperties": False,
        "properties": {"analyzers": {"type": "array", "items": {"$ref": "#/components/schemas/Analyzer"}}},
    },
    "TokenCreate": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS}},
    },
    "NewToken": {
        "type": "object",
        "required": ["id", "name", "token", "webhook_secret", "created_at"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "token": {
                "type": "string",
                "pattern": "^smt_",
                "description": "Send as `Authorization: Bearer <token>`. Shown only in this answer.",
            },
            "webhook_secret": {
                "type": "string",
                "pattern": "^whsec_",
                "description": "Signs the webhooks of the jobs this token submits. Shown only here.",
            },
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "Token": {
        "type": "object",
        "required": ["id", "name", "prefix", "created_at", "last_used_at"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "prefix": {"type": "string", "description": "The token's first characters, to tell it apart."},
            "created_at": {"type": "string", "format": "date-time"},
            "last_used_at": {**_NULLABLE_TIME, "description": "To the minute; null if never used."},
        },
    },
    "TokenList": {
        "type": "object",
        "required": ["tokens"],
        "additionalProperties": False,
        "properties": {"tokens": {"type": "array", "items": {"$ref": "#/components/schemas/Token"}}},
    },
    "Health": {
        "type": "object",
        "required": ["status", "database", "redis"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "database": {"type": "string", "enum": ["ok", "unavailable"]},
            "redis": {"type": "string", "enum": ["ok", "unavailable"]},
        },
    },
}


def _json(ref: str, description: str, *, retry_after: bool = False, location: bool = False) -> dict:
    response: dict = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }
    headers = {}
    if retry_after:
        headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    if location:
        headers["Location"] = {"description": "The job's API URL.", "schema": {"type": "string"}}
    if headers:
        response["headers"] = headers
    return response


_NOT_FOUND = _error_response("No such job (or another session's job: the same answer).")
_NOT_FINISHED = _error_response(
    "`job_not_finished`: the job is queued or running; its results download once it has ended. A "
    "canceled or failed job's download holds what it analyzed, and its file name ends in `-partial`."
)
_UNAUTHORIZED = {
    **_error_response(
        "The Bearer token is not valid (revoked, mistyped, or with LOGIN_REQUIRED not a user's): "
        "`invalid_token`; or, with LOGIN_REQUIRED, neither a signed-in user nor a token: `login_required`."
    ),
    "headers": {
        "WWW-Authenticate": {"description": "`Bearer`, as RFC 6750 says.", "schema": {"type": "string"}}
    },
}
_TOKEN_ID = {
    "name": "token_id",
    "in": "path",
    "required": True,
    "description": "The token's id.",
    "schema": {"type": "string"},
}
# Operations that need no owner: a token is still checked when sent (401), but not required.
_PUBLIC = ("openapi", "health", "analyzerList")


def _schemas() -> dict:
    """SCHEMAS, with the registered analyzers' names as the enums of `analyzer`."""
    schemas = copy.deepcopy(SCHEMAS)
    names = [spec.name for spec in analyzer_list()]
    default = settings.SENTIMETER["DEFAULT_ANALYZER"]
    for submit in ("JobSubmit", "JobUpload"):
        schemas[submit]["properties"]["analyzer"].update(enum=names, default=default)
    schemas["Analyzer"]["properties"]["name"]["enum"] = names
    return schemas


def _with_auth(paths: dict) -> dict:
    """Give every API operation its 401 (a bad Bearer token), and the public ones no security."""
    for path, item in paths.items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            if operation["operationId"] in _PUBLIC:
                operation["security"] = [{}]
            if path.startswith("/api/"):
                operation["responses"]["401"] = _UNAUTHORIZED
    return paths


def openapi_document() -> dict:
    """Return the OpenAPI document of the JSON API (built per request: the registry may change)."""
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
                "(GET / first to receive it)."
            ),
        },
        "servers": [{"url": "/", "description": "This deployment."}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": _with_auth(
            {
                "/api/jobs/": {
                    "get": {
                        "operationId": "jobList",
                        "summary": "This session's jobs, newest first.",
                        "responses": {"200": _json("JobList", "The jobs.")},
                    },
                    "post": {
                        "operationId": "jobCreate",
                        "summary": "Submit texts; answers at once with the queued job.",
                        "requestBody": {
                            "required": True,
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/JobSubmit"}},
                                "multipart/form-data": {"schema": {"$ref": "#/components/schemas/JobUpload"}},
                            },
                        },
                        "responses": {
                            "202": _json("Job", "Accepted and queued.", retry_after=True, location=True),
                            "400": _error_response(
                                "Bad input: the message says which text or field and why (`unknown_field` "
                                "for a field not listed here, with the one likely meant)."
                            ),
                            "403": _error_response("CSRF token missing or wrong."),
                            "411": _error_response("The body was sent chunked: send a Content-Length."),
                            "413": _error_response(
                                "Too large: too many texts, a text too long, or body too big."
                            ),
                            "415": _error_response("Not JSON."),
                            "429": _error_response("Rate limited or too many active jobs.", retry_after=True),
                            "503": _error_response(
                                "Overloaded or queue unavailable; nothing stored.", retry_after=True
                            ),
                        },
                    },
                },
                "/api/jobs/{job_id}/": {
                    "parameters": [_JOB_ID],
                    "get": {
                        "operationId": "jobGet",
                        "summary": "One job; Retry-After while it has not finished.",
                        "responses": {"200": _json("Job", "The job.", retry_after=True), "404": _NOT_FOUND},
                    },
                },
                "/api/jobs/{job_id}/cancel/": {
                    "parameters": [_JOB_ID],
                    "post": {
                        "operationId": "jobCancel",
                        "summary": "Cancel a queued or running job (idempotent).",
                        "responses": {
                            "202": _json("Job", "Canceled (results stored so far stay, as partial)."),
                            "403": _error_response("CSRF token missing or wrong."),
                            "404": _NOT_FOUND,
                            "409": _error_response("The job already succeeded or failed."),
                        },
                    },
                },
                "/api/jobs/{job_id}/results/": {
                    "parameters": [
                        _JOB_ID,
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                        },
                        {
                            "name": "label",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(Result.Label.values)},
                        },
                        {
                            "name": "q",
                            "in": "query",
                            "description": "Only results whose text contains this, in any case "
                            "(no text holds a NUL character, so q may not either).",
                            "schema": {
                                "type": "string",
                                "maxLength": MAX_QUERY_CHARS,
                                "pattern": "^[^\\u0000]*$",
                            },
                        },
                        {
                            "name": "sort",
                            "in": "query",
                            "description": "idx: input order (default); compound: most negative first; "
                            "-compound: most positive first.",
                            "schema": {"type": "string", "enum": list(SORTS), "default": "idx"},
                        },
                        {
                            "name": "group",
                            "in": "query",
                            "description": "Only results whose cell in column `by` is this value.",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "by",
                            "in": "query",
                            "description": "The column `group` is a value of (default: the job's group_by).",
                            "schema": {"type": "string"},
                        },
                    ],
                    "get": {
                        "operationId": "jobResults",
                        "summary": "One page of results; count is of the filtered ones.",
                        "responses": {
                            "200": _json("ResultPage", "The page."),
                            "400": _error_response(
                                "Bad offset, limit, label, q or sort, or one given twice."
                            ),
                            "404": _NOT_FOUND,
                        },
                    },
                },
                "/api/jobs/{job_id}/groups/": {
                    "parameters": [
                        _JOB_ID,
                        {"name": "by", "in": "query", "required": True, "schema": {"type": "string"}},
                    ],
                    "get": {
                        "operationId": "jobGroups",
                        "summary": "Per value of a column: count, label shares and mean score.",
                        "responses": {
                            "200": _json("Groups", "The groups."),
                            "400": _error_response("`unknown_column`: the message lists the columns."),
                            "404": _NOT_FOUND,
                        },
                    },
                },
                "/api/jobs/{job_id}/trend/": {
                    "parameters": [
                        _JOB_ID,
                        {"name": "by", "in": "query", "required": True, "schema": {"type": "string"}},
                        {
                            "name": "bucket",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(BUCKETS)},
                        },
                    ],
                    "get": {
                        "operationId": "jobTrend",
                        "summary": "Counts, label split and mean score over time, by a column of dates.",
                        "responses": {
                            "200": _json("Trend", "The trend; bucket by span when not given."),
                            "400": _error_response(
                                "`unknown_column`, `not_a_date_column` (the message lists the date "
                                "columns) or `invalid_bucket`."
                            ),
                            "404": _NOT_FOUND,
                        },
                    },
                },
                "/api/jobs/{job_id}/drivers/": {
                    "parameters": [
                        _JOB_ID,
                        {
                            "name": "by",
                            "in": "query",
                            "description": "A column of the job (not its text column); none: the whole job.",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "group",
                            "in": "query",
                            "description": "A value of that column (empty: the rows with an empty cell).",
                            "schema": {"type": "string"},
                        },
                    ],
                    "get": {
                        "operationId": "jobDrivers",
                        "summary": "The most positive and negative texts and what drives them, of one group.",
                        "responses": {
                            "200": _json("Drivers", "The group's extremes and drivers."),
                            "400": _error_response(
                                "No such column, or group without by (or by without group)."
                            ),
                            "404": _NOT_FOUND,
                        },
                    },
                },
                "/api/jobs/{job_id}/results.csv": {
                    "parameters": [_JOB_ID],
                    "get": {
                        "operationId": "jobResultsCsv",
                        "summary": "The input's table back as CSV (streamed): its columns, then ours "
                        "(see TableRow); every row of the upload, skipped ones too.",
                        "responses": {
                            "200": {"description": "CSV with a header row.", "content": {"text/csv": {}}},
                            "404": _NOT_FOUND,
                            "409": _NOT_FINISHED,
                        },
                    },
                },
                "/api/jobs/{job_id}/results.jsonl": {
                    "parameters": [_JOB_ID],
                    "get": {
                        "operationId": "jobResultsJsonl",
                        "summary": "The input's table back as JSON Lines (streamed), one TableRow a line.",
                        "responses": {
                            "200": {
                                "description": "One TableRow object per line.",
                                "content": {"application/jsonl": {}},
                            },
                            "404": _NOT_FOUND,
                            "409": _NOT_FINISHED,
                        },
                    },
                },
                "/api/jobs/{job_id}/results.xlsx": {
                    "parameters": [_JOB_ID],
                    "get": {
                        "operationId": "jobResultsXlsx",
                        "summary": "Every result as an Excel workbook (header row bold and frozen).",
                        "responses": {
                            "200": {
                                "description": "The CSV download's rows in one sheet.",
                                "content": {
                                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}
                                },
                            },
                            "404": _NOT_FOUND,
                            "409": _NOT_FINISHED,
                        },
                    },
                },
                "/api/analyzers/": {
                    "get": {
                        "operationId": "analyzerList",
                        "summary": "The analyzers a job may choose: what each reads, how fast, the default.",
                        "responses": {"200": _json("AnalyzerList", "The analyzers.")},
                    },
                },
                "/api/openapi.json": {
                    "get": {
                        "operationId": "openapi",
                        "summary": "This document.",
                        "responses": {
                            "200": {
                                "description": "The OpenAPI 3.1 document.",
                                "content": {"application/json": {"schema": {"type": "object"}}},
                            }
                        },
                    },
                },
                "/api/tokens/": {
                    "get": {
                        "operationId": "tokenList",
                        "summary": "This owner's working tokens, newest first (never their token or secret).",
                        "responses": {"200": _json("TokenList", "The tokens.")},
                    },
                    "post": {
                        "operationId": "tokenCreate",
                        "summary": "Make a token; its token and webhook secret are in this answer only.",
                        "requestBody": {
                            "required": True,
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/TokenCreate"}}
                            },
                        },
                        "responses": {
                            "201": _json("NewToken", "Made."),
                            "400": _error_response(
                                "Bad JSON, no name (`invalid_name`), an unknown field, or too many tokens."
                            ),
                            "403": _error_response("CSRF token missing or wrong (session only)."),
                            "413": _error_response("The body is too big."),
                            "415": _error_response("Not JSON."),
                        },
                    },
                },
                "/api/tokens/{token_id}/": {
                    "parameters": [_TOKEN_ID],
                    "delete": {
                        "operationId": "tokenRevoke",
                        "summary": "Revoke a token at once; the next request sending it gets 401.",
                        "responses": {
                            "204": {"description": "Revoked."},
                            "403": _error_response("CSRF token missing or wrong (session only)."),
                            "404": _error_response("No such token (or another owner's: the same answer)."),
                        },
                    },
                },
                "/healthz": {
                    "get": {
                        "operationId": "health",
                        "summary": "200 when Postgres and Redis answer, else 503.",
                        "responses": {
                            "200": _json("Health", "Healthy."),
                            "503": _json("Health", "Unhealthy."),
                        },
                    },
                },
            }
        ),
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
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/WebhookEvent"}}
                        },
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
            "schemas": _schemas(),
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before asking again.",
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        },
    }
