"""Error pages: JSON under /api/, HTML elsewhere (the contract's error body)."""

from django.core.exceptions import TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.middleware import csrf
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views import defaults

from web.messages import message_say
from web.uploads import UploadTooLarge

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _json_error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    if _is_api(request):
        return _json_error("not_found", _("No such job or endpoint."), 404)
    return defaults.page_not_found(request, exception, template_name="web/404.html")


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    """400s Django raises itself while reading the body; uploads get their own words."""
    if isinstance(exception, UploadTooLarge):
        code, message, status = "too_large", message_say(exception.localizable), 413
    elif isinstance(exception, TooManyFilesSent):
        code, message, status = "too_many_files", _("Send one file per request."), 400
    elif isinstance(exception, MultiPartParserError):
        code, message, status = (
            "bad_request",
            _("The upload could not be read: %(problem)s.") % {"problem": exception},
            400,
        )
    else:
        code, message, status = "bad_request", _("The request could not be understood."), 400
    if _is_api(request):
        return _json_error(code, message, status)
    return _error_page(request, heading=_("Bad request"), message=message, status=status)


def length_required(request: HttpRequest) -> HttpResponse:
    """411 for a chunked request body (web.middleware.ChunkedBodyMiddleware)."""
    # Answered before LocaleMiddleware has run: the request's language is chosen here.
    with translation.override(translation.get_language_from_request(request)):
        message = _("Send the request body with a Content-Length header; chunked bodies are not accepted.")
    if _is_api(request):
        return _json_error("length_required", message, 411)
    return HttpResponse(message, status=411, content_type="text/plain; charset=utf-8")


def unauthorized(request: HttpRequest, message: str, *, code: str = "invalid_token") -> HttpResponse:
    """401 for an API call with a token that does not work, or none when one is needed (RFC 6750)."""
    response = _json_error(code, message, 401)
    # RFC 6750: no error attribute when the request sent no credentials at all.
    error = ', error="invalid_token"' if code == "invalid_token" else ""
    response["WWW-Authenticate"] = f'Bearer realm="sentimeter"{error}'
    return response


def _error_page(request: HttpRequest, *, heading: str, message: str, status: int) -> HttpResponse:
    """An error page in the site's layout and the reader's language (Django's own are English only)."""
    return render(request, "web/error.html", {"heading": heading, "message": message}, status=status)


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    if _is_api(request):
        return _json_error("forbidden", _("Permission denied."), 403)
    return _error_page(request, heading=_("Forbidden"), message=_("Permission denied."), status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return _json_error("server_error", _("Something went wrong on our side; please try again."), 500)
    return defaults.server_error(request, template_name="web/500.html")


# What to do about each of Django's CSRF refusals (django.middleware.csrf's REASON_*), by how
# its reason starts; a reason not listed here is quoted as it is.
CSRF_ADVICE = (
    (
        csrf.REASON_NO_REFERER,
        gettext_noop("no Referer header: send 'Referer: https://<this site>/', or use a Bearer token"),
    ),
    ("Referer checking failed", gettext_noop("the Referer header does not name this site over https")),
    ("Origin checking failed", gettext_noop("the Origin header does not name this site")),
    (
        csrf.REASON_NO_CSRF_COOKIE,
        gettext_noop("no csrftoken cookie: GET any page first to receive it, or use a Bearer token"),
    ),
    ("CSRF cookie", gettext_noop("the csrftoken cookie is malformed: GET any page to receive a new one")),
    (
        csrf.REASON_CSRF_TOKEN_MISSING,
        gettext_noop("no X-CSRFToken header: send the csrftoken cookie's value in it"),
    ),
    (
        "CSRF token from the 'X-Csrftoken' HTTP header",
        gettext_noop("the X-CSRFToken header is not the csrftoken cookie's value"),
    ),
    (
        "CSRF token from POST",
        gettext_noop("the csrfmiddlewaretoken field is not the csrftoken cookie's value"),
    ),
)


def csrf_advice(reason: str) -> str:
    """Say what a request refused by Django's CSRF check lacks, and what to do (in the reader's language)."""
    for start, advice in CSRF_ADVICE:
        if reason.startswith(start.rstrip(".")):
            return _(advice)
    return reason.rstrip(".")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: say what is missing, in the API's shape under /api/."""
    message = _(
        "CSRF check failed: %(advice)s. A program should send an API token instead "
        "(Authorization: Bearer smt_..., made at /tokens/), which needs no CSRF token, Referer or cookie; "
        "a browser script sends the csrftoken cookie's value in the X-CSRFToken header."
    ) % {"advice": csrf_advice(reason)}
    if _is_api(request):
        return _json_error("csrf_failed", message, 403)
    return _error_page(request, heading=_("Forbidden"), message=message, status=403)
