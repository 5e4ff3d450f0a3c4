"""Request middleware: logging context, chunked bodies, Bearer tokens, LOGIN_REQUIRED."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.signals import request_finished
from django.dispatch import receiver
from django.urls import reverse
from django.utils.translation import gettext as _

from config.logcontext import request_id_clean, request_id_var
from web.errors import API_PREFIX, length_required, unauthorized
from web.sessions import owner_user_id
from web.tokens import INVALID_TOKEN_MESSAGE, bearer_hash, token_check


class RequestIDMiddleware:
    """Tag this request's log lines with Heroku's X-Request-ID and echo it back.

    The id stays set until the response is closed (request_finished), because
    Django logs 4xx/5xx responses after the middleware chain has returned.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_clean(request.META.get("HTTP_X_REQUEST_ID"))
        request_id_var.set(request_id)
        response = self.get_response(request)
        if request_id:
            response["X-Request-ID"] = request_id
        return response


class ChunkedBodyMiddleware:
    """Answer 411 to a body sent with Transfer-Encoding: chunked, before anything reads it.

    Django reads a request body by its Content-Length only, so a chunked one
    reads as empty: a JSON submit answered invalid_json and an upload no_file.
    Browsers and HTTP libraries send a Content-Length for a buffered body;
    asking for one keeps a single path for the body limits.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return length_required(request)
        return self.get_response(request)


class BearerTokenMiddleware:
    """Authenticate an API request by `Authorization: Bearer <token>`: no cookie, no CSRF token, no Referer.

    The request then acts for the token's owner (web/sessions.py). CSRF guards
    a cookie a browser sends by itself; a browser never sends this header by
    itself, so a request carrying it needs no CSRF check. A token that does not
    work answers 401 at once rather than falling back to the session.
    The token is checked once the view is known (process_view): a view marked
    with web.tokens.checks_own_token (the poll) checks it within its own query
    instead, so a token's poll makes no more queries than a session's; with
    LOGIN_REQUIRED it is checked here all the same (its user is checked next).
    Place after SessionMiddleware and before CsrfViewMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None or not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        scheme, _sep, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return unauthorized(
                request, _("Send an API token as 'Authorization: Bearer smt_...' (made at /tokens/).")
            )
        hashed = bearer_hash(token.strip())
        if hashed is None:
            return unauthorized(request, _(INVALID_TOKEN_MESSAGE))
        request.bearer_hash = hashed
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        hashed = getattr(request, "bearer_hash", None)
        if hashed is None:
            return None
        if not getattr(view_func, "checks_own_token", False) or settings.SENTIMETER["LOGIN_REQUIRED"]:
            record = token_check(hashed)
            if record is None:
                return unauthorized(request, _(INVALID_TOKEN_MESSAGE))
            request.api_token = record
            del request.bearer_hash
        request._dont_enforce_csrf_checks = True
        return None


class LoginRequiredMiddleware:
    """With LOGIN_REQUIRED, every page and API call needs a signed-in user or a token a user made.

    Pages redirect to the login page; the API answers 401 (a program cannot
    follow a login form). /healthz, the login page and the admin (its own
    login) stay open. A token's user is checked once BearerTokenMiddleware
    has found the token (process_view). Place after AuthenticationMiddleware.
    """

    OPEN_PREFIXES = ("/healthz", "/admin/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not settings.SENTIMETER["LOGIN_REQUIRED"] or request.path.startswith(self.OPEN_PREFIXES):
            return self.get_response(request)
        if getattr(request, "bearer_hash", None) is not None:
            return self.get_response(request)
        if request.user.is_authenticated or request.path in (reverse("login"), reverse("logout")):
            return self.get_response(request)
        # The API docs are a page a person opens: the login, then back to them.
        if request.path.startswith(API_PREFIX) and request.path != reverse("api-docs"):
            return unauthorized(
                request,
                _(
                    "Log in first (/accounts/login/), or send "
                    "'Authorization: Bearer smt_...' (a user's token)."
                ),
                code="login_required",
            )
        return redirect_to_login(request.get_full_path())

    def process_view(self, request, view_func, view_args, view_kwargs):
        token = getattr(request, "api_token", None)
        if token is None or not settings.SENTIMETER["LOGIN_REQUIRED"] or _token_user_active(token.owner_key):
            return None
        return unauthorized(
            request, _("This API token was not made by an active user; make one after logging in.")
        )


def _token_user_active(owner_key: str) -> bool:
    user_id = owner_user_id(owner_key)
    return user_id is not None and get_user_model().objects.filter(pk=user_id, is_active=True).exists()


@receiver(request_finished, dispatch_uid="sentimeter-request-id-clear")
def _request_id_clear(sender, **kwargs) -> None:
    request_id_var.set(None)
