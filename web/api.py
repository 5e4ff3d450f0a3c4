"""The JSON API: parse the request, call one service or selector, answer."""

from __future__ import annotations

import csv
import difflib
import functools
import json
import re
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.utils import translation
from django.utils.translation import gettext as _

from web import limits, schemas, selectors, services, tokens
from web.errors import unauthorized
from web.exceptions import InputError, InputTooLarge, SentimeterError, UnsupportedMediaType
from web.messages import message_say
from web.models import Job
from web.openapi import openapi_document
from web.serializers import (
    analyzer_to_dict,
    groups_to_dict,
    job_to_dict,
    new_token_to_dict,
    token_to_dict,
    trend_to_dict,
)
from web.sessions import session_key_ensure, session_key_get
from web.table import names_unique, table_header, table_rows
from worker.inputs import json_problem
from worker.messages import Message, gettext_noop
from worker.workbooks import XLSX_TYPE, workbook_stream

# Cells starting with these are run as formulas by spreadsheet programs
# (OWASP "CSV Injection"), also after leading spaces or line breaks, which
# they skip; a leading apostrophe makes them plain text.
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_SKIPPED_WHITESPACE = " \t\r\n"
# A cell that is only a number ("-5", "+1.5"): no spreadsheet runs it, and a prefix would spoil it.
_PLAIN_NUMBER = re.compile(r"^[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?$")


def error_response(exc: SentimeterError) -> JsonResponse:
    """Answer with the contract's error body (and Retry-After when waiting helps)."""
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    body = {"error": {"code": exc.code, "message": message_say(exc.localizable)}}
    return JsonResponse(body, status=exc.status, headers=headers)


def _methods_say(methods: tuple[str, ...]) -> str:
    """ "Use GET." or "Use GET or POST.", in the reader's language."""
    if len(methods) == 1:
        return _("Use %(method)s.") % {"method": methods[0]}
    return _("Use %(first)s or %(second)s.") % {"first": ", ".join(methods[:-1]), "second": methods[-1]}


def api_view(*methods: str, query: type[schemas.Shape] | None = None):
    """Allow only these methods (405 otherwise), a GET only the `query` parameters (400 otherwise),
    and answer SentimeterError as JSON."""
    allowed = schemas.field_names(query) if query is not None else ()

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = JsonResponse(
                    {"error": {"code": "method_not_allowed", "message": _methods_say(methods)}},
                    status=405,
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                if request.method == "GET" and request.GET:
                    fields_check(request.GET, allowed, kind="query parameter")
                return view(request, *args, **kwargs)
            except SentimeterError as exc:
                return error_response(exc)

        wrapper.query_shape = query  # web/openapi.py documents these parameters
        return wrapper

    return decorator


def _poll_headers(job: Job) -> dict[str, str]:
    return {} if job.is_final else {"Retry-After": str(settings.SENTIMETER["POLL_INTERVAL"])}


def _json_body(request: HttpRequest) -> dict:
    content_type = request.content_type or ""
    if content_type != "application/json":
        raise UnsupportedMediaType(
            gettext_noop(
                "Send JSON (Content-Type: application/json) or a file (multipart/form-data), not %(given)s."
            ),
            params={
                "given": repr(content_type) if content_type else Message(gettext_noop("no content type"))
            },
        )
    limit = settings.SENTIMETER["MAX_BODY_BYTES"]
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise InputTooLarge(
            gettext_noop("The request body is %(size)s bytes; the limit is %(limit)s."),
            params={"size": declared, "limit": limit},
        )
    try:
        raw = request.body
    except RequestDataTooBig:
        raise InputTooLarge(
            gettext_noop("The request body is larger than the limit of %(limit)s bytes."),
            params={"limit": limit},
        ) from None
    try:
        body = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise InputError(
            gettext_noop("The body is not valid JSON: it is not UTF-8 text (byte %(byte)s)."),
            params={"byte": str(exc.start + 1)},
            code="invalid_json",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(
            gettext_noop("The body is not valid JSON: %(problem)s."),
            params={"problem": json_problem(exc)},
            code="invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise InputError(
            gettext_noop('The body must be a JSON object like {"texts": ["..."]}.'), code="invalid_json"
        )
    return body


# The fields a submit may send (web/schemas.py); anything else is refused (a misspelt
# option would otherwise be ignored silently, and the job run with the default).
JSON_FIELDS = schemas.field_names(schemas.JobSubmit)
# csrfmiddlewaretoken: a browser form posting to the API sends Django's token as a field.
FORM_FIELDS = (*schemas.field_names(schemas.JobUpload), "csrfmiddlewaretoken")
TOKEN_FIELDS = schemas.field_names(schemas.TokenCreate)


def fields_check(given: object, allowed: tuple[str, ...], *, kind: str = "field") -> None:
    """Refuse (unknown_field) the first field not in `allowed`, naming the one likely meant."""
    for name in given:
        if name in allowed:
            continue
        close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
        meant = Message(gettext_noop(' Did you mean "%(name)s"?'), {"name": close[0]}) if close else ""
        listed = ", ".join(a for a in allowed if a != "csrfmiddlewaretoken")
        if kind == "field":
            template = gettext_noop('Unknown field "%(name)s".%(meant)s The fields are: %(listed)s.')
            empty = gettext_noop('Unknown field "%(name)s".%(meant)s This takes no fields.')
        else:
            template = gettext_noop(
                'Unknown query parameter "%(name)s".%(meant)s The query parameters are: %(listed)s.'
            )
            empty = gettext_noop(
                'Unknown query parameter "%(name)s".%(meant)s This takes no query parameters.'
            )
        raise InputError(
            template if listed else empty,
            params={"name": str(name), "meant": meant, "listed": listed},
            code="unknown_field",
        )


def _param(params: QueryDict, name: str) -> str | None:
    """Return a query or form parameter given at most once (a repeated one is ambiguous: 400)."""
    values = params.getlist(name)
    if len(values) > 1:
        raise InputError(
            gettext_noop("Give %(name)s once, not %(count)s times."),
            params={"name": name, "count": len(values)},
            code="invalid_parameter",
        )
    return values[0] if values else None


@api_view("GET", "POST")
def jobs(request: HttpRequest) -> HttpResponse:
    """List this session's jobs (GET) or submit a new one (POST)."""
    if request.method == "GET":
        jobs_ = selectors.job_list(session_key=session_key_get(request))
        return JsonResponse({"jobs": [job_to_dict(j) for j in jobs_]})
    if request.content_type == "multipart/form-data":
        fields_check([*request.POST, *request.FILES], FORM_FIELDS)
        upload = request.FILES.get("file")
        if upload is None:
            raise InputError(gettext_noop('Send the file in a form field named "file".'), code="no_file")
        session_key = session_key_ensure(request)
        limits.job_admit(request, session_key=session_key)
        job = services.job_create_from_upload(
            session_key=session_key,
            upload=upload,
            column=_param(request.POST, "column"),
            encoding=_param(request.POST, "encoding"),
            sheet=_param(request.POST, "sheet"),
            analyzer=_param(request.POST, "analyzer"),
            callback_url=_param(request.POST, "callback_url"),
            group_by=_param(request.POST, "group_by"),
            token=getattr(request, "api_token", None),
        )
    else:
        body = _json_body(request)
        fields_check(body, JSON_FIELDS)
        if "texts" not in body:
            raise InputError(
                gettext_noop('Give the texts to analyze as {"texts": ["...", "..."]}.'), code="no_texts"
            )
        if "analyzer" in body and not isinstance(body["analyzer"], str):
            raise InputError(
                gettext_noop('"analyzer" must be a string such as "vader"; leave it out for the default.'),
                code="unknown_analyzer",
            )
        session_key = session_key_ensure(request)
        limits.job_admit(request, session_key=session_key)
        job = services.job_create(
            session_key=session_key,
            texts=body["texts"],
            analyzer=body.get("analyzer"),
            callback_url=body.get("callback_url"),
            group_by=body.get("group_by"),
            token=getattr(request, "api_token", None),
        )
    data = job_to_dict(job)
    return JsonResponse(data, status=202, headers={"Location": data["links"]["self"], **_poll_headers(job)})


@tokens.checks_own_token
@api_view("GET")
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    """Return one job; Retry-After while it has not finished."""
    bearer_hash = getattr(request, "bearer_hash", None)
    if bearer_hash is None:
        job = selectors.job_get(job_id=job_id, session_key=session_key_get(request))
    else:
        job = selectors.job_get_by_token(job_id=job_id, token_hash=bearer_hash)
        if job is None:
            return unauthorized(request, _(tokens.INVALID_TOKEN_MESSAGE))
    return JsonResponse(job_to_dict(job), headers=_poll_headers(job))


@api_view("POST")
def job_cancel(request: HttpRequest, job_id: str) -> HttpResponse:
    """Cancel a job (idempotent); 409 once it has succeeded or failed."""
    job = selectors.job_get(job_id=job_id, session_key=session_key_get(request))
    job = services.job_cancel(job=job)
    return JsonResponse(job_to_dict(job), status=202)


@api_view("GET", query=schemas.ResultQuery)
def job_results(request: HttpRequest, job_id: str) -> HttpResponse:
    """Return one page of results: ?offset=&limit=&label=&q=&sort=&group=&by=."""
    job = selectors.job_get(job_id=job_id, session_key=session_key_get(request))
    page = selectors.results_page(
        job=job,
        offset=_param(request.GET, "offset"),
        limit=_param(request.GET, "limit"),
        label=_param(request.GET, "label"),
        q=_param(request.GET, "q"),
        sort=_param(request.GET, "sort"),
        group=_param(request.GET, "group"),
        by=_param(request.GET, "by"),
    )
    return JsonResponse(
        {"count": page.count, "offset": page.offset, "limit": page.limit, "results": page.results}
    )


@api_view("GET", query=schemas.GroupsQuery)
def job_groups(request: HttpRequest, job_id: str) -> HttpResponse:
    """Return a job's results broken down by the values of a column: ?by=<column>."""
    job = selectors.job_get(job_id=job_id, session_key=session_key_get(request))
    by = _param(request.GET, "by")
    groups = selectors.job_groups(job=job, by=by)
    return JsonResponse(
        groups_to_dict(groups, columns=selectors.job_columns(job)), headers=_poll_headers(job)
    )


@api_view("GET", query=schemas.TrendQuery)
def job_trend(request: HttpRequest, job_id: str) -> HttpResponse:
    """Return a job's results over time by a column of dates: ?by=<column>&bucket=day|week|month."""
    job = selectors.job_get(job_id=job_id, session_key=session_key_get(request))
    trend = selectors.job_trend(job=job, by=_param(request.GET, "by"), bucket=_param(request.GET, "bucket"))
    return JsonResponse(trend_to_dict(trend), headers=_poll_headers(job))


@api_view("GET", query=schemas.GroupDetailsQuery)
def job_drivers(request: HttpRequest, job_id: str) -> HttpResponse:
    """Return what drives one group of a job: ?by=<column>&group=<value> (neither: the whole job)."""
    job = selectors.job_get(job_id=job_id, session_key=session_key_get(request))
    details = selectors.group_drivers(job, by=_param(request.GET, "by"), group=_param(request.GET, "group"))
    return JsonResponse(details, headers=_poll_headers(job))


class _Echo:
    """A file-like object whose write() returns what it was given (for csv.writer)."""

    def write(self, value: str) -> str:
        return value


def csv_safe(value: object) -> object:
    """Neutralise a cell a spreadsheet would run as a formula (a plain number like -5 is left as it is)."""
    if (
        isinstance(value, str)
        and (
            value.startswith(CSV_FORMULA_PREFIXES)
            or value.lstrip(CSV_SKIPPED_WHITESPACE).startswith(CSV_FORMULA_PREFIXES)
        )
        and not _PLAIN_NUMBER.match(value)
    ):
        return "'" + value
    return value


def _download_name(job: Job, extension: str) -> str:
    return f"sentimeter-{job.pk}{'-partial' if job.is_partial else ''}.{extension}"


@api_view("GET")
def job_results_csv(request: HttpRequest, job_id: str) -> HttpResponse:
    """Stream the job's table as CSV: the upload's columns and rows, then ours."""
    job = selectors.job_downloadable(selectors.job_get(job_id=job_id, session_key=session_key_get(request)))
    # The body streams after the view returns: the reader's language is taken now.
    language = translation.get_language()
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        # A BOM so Excel reads the UTF-8 correctly.
        yield "\ufeff" + writer.writerow(table_header(job))
        for row in table_rows(job, language=language):
            yield writer.writerow([csv_safe(value) for value in row])

    return StreamingHttpResponse(
        rows(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_download_name(job, "csv")}"'},
    )


@api_view("GET")
def job_results_jsonl(request: HttpRequest, job_id: str) -> HttpResponse:
    """Stream the job's table as JSON Lines: an object a row, keyed by column (a repeated name numbered)."""
    job = selectors.job_downloadable(selectors.job_get(job_id=job_id, session_key=session_key_get(request)))
    # The body streams after the view returns: the reader's language is taken now.
    language = translation.get_language()
    keys = names_unique(table_header(job))

    def lines() -> Iterator[str]:
        for row in table_rows(job, language=language):
            yield json.dumps(dict(zip(keys, row, strict=True)), ensure_ascii=False) + "\n"

    return StreamingHttpResponse(
        lines(),
        content_type="application/jsonl; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_download_name(job, "jsonl")}"'},
    )


@api_view("GET")
def job_results_xlsx(request: HttpRequest, job_id: str) -> HttpResponse:
    """Stream the job's table as an Excel workbook: the CSV download's rows, header bold and frozen.

    The user's cells stay text cells, exactly as uploaded (an id such as
    00123 keeps its zeros); our scores are numbers.
    """
    job = selectors.job_downloadable(selectors.job_get(job_id=job_id, session_key=session_key_get(request)))
    # The body streams after the view returns: the reader's language is taken now.
    language = translation.get_language()
    return StreamingHttpResponse(
        workbook_stream(table_header(job), table_rows(job, language=language)),
        content_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{_download_name(job, "xlsx")}"'},
    )


@api_view("GET")
def analyzers(request: HttpRequest) -> HttpResponse:
    """List the analyzers a job may choose: what each reads, how fast, which is the default."""
    default = settings.SENTIMETER["DEFAULT_ANALYZER"]
    return JsonResponse(
        {"analyzers": [analyzer_to_dict(spec, default=default) for spec in selectors.analyzer_list()]}
    )


@api_view("GET", "POST")
def token_list(request: HttpRequest) -> HttpResponse:
    """List this owner's tokens (GET), or make one (POST): its token and secret are shown this once."""
    if request.method == "GET":
        records = tokens.token_list(owner_key=session_key_get(request))
        return JsonResponse({"tokens": [token_to_dict(r) for r in records]})
    body = _json_body(request)
    fields_check(body, TOKEN_FIELDS)
    new = tokens.token_create(owner_key=session_key_ensure(request), name=body.get("name"))
    data = new_token_to_dict(new.record, token=new.token, webhook_secret=new.webhook_secret)
    # Not worth caching anywhere: it holds the only copy of the token.
    return JsonResponse(data, status=201, headers={"Cache-Control": "no-store"})


@api_view("DELETE")
def token_detail(request: HttpRequest, token_id: str) -> HttpResponse:
    """Revoke a token at once: the next request that sends it gets 401."""
    tokens.token_revoke(owner_key=session_key_get(request), token_id=token_id)
    return HttpResponse(status=204)


@api_view("GET")
def openapi(request: HttpRequest) -> HttpResponse:
    """Serve the OpenAPI description of this API."""
    return JsonResponse(openapi_document())
