"""Who owns a request's jobs: the browser session, the signed-in user, or the owner of the API token it sends.

An owner is a string stored on each job (`Job.session_key`) and token
(`ApiToken.owner_key`): a browser session's key, or with LOGIN_REQUIRED
"user:<id>" (session keys never hold a colon). A Bearer request acts for
the owner of its token (web.middleware.BearerTokenMiddleware sets
`request.api_token`), and never touches the session or sets a cookie.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

# Django's SessionMiddleware drops a session (and its cookie) that holds no
# data, so an owner session keeps this one marker.
OWNER_KEY = "sentimeter"
USER_OWNER_PREFIX = "user:"


def user_owner_key(user_id: int) -> str:
    return f"{USER_OWNER_PREFIX}{user_id}"


def owner_user_id(owner_key: str) -> int | None:
    """The user an owner key names, or None for a browser session's."""
    if not owner_key.startswith(USER_OWNER_PREFIX):
        return None
    return int(owner_key.removeprefix(USER_OWNER_PREFIX))


def _user_owner(request: HttpRequest) -> str | None:
    if settings.SENTIMETER["LOGIN_REQUIRED"] and request.user.is_authenticated:
        return user_owner_key(request.user.pk)
    return None


def _token_owner(request: HttpRequest) -> str | None:
    if getattr(request, "bearer_hash", None) is not None:
        # A view marked web.tokens.checks_own_token must find its owner with the token, not here:
        # the token is unchecked, and falling back to the session would let a revoked one in.
        raise ImproperlyConfigured("This view checks its Bearer token itself; it cannot ask for the owner.")
    token = getattr(request, "api_token", None)
    return None if token is None else token.owner_key


def session_key_get(request: HttpRequest) -> str | None:
    """Return the request's owner, or None if it has none yet."""
    token_owner = _token_owner(request)
    if token_owner is not None:
        return token_owner
    return _user_owner(request) or request.session.session_key


def session_key_ensure(request: HttpRequest) -> str:
    """Return the request's owner, creating the browser session if needed."""
    token_owner = _token_owner(request)
    if token_owner is not None:
        return token_owner
    user_owner = _user_owner(request)
    if user_owner is not None:
        return user_owner
    if OWNER_KEY not in request.session:
        request.session[OWNER_KEY] = 1
    if not request.session.session_key:
        request.session.save()
    return request.session.session_key
