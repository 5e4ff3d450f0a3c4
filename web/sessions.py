"""Jobs belong to the browser session that created them."""

from django.http import HttpRequest

# Django's SessionMiddleware drops a session (and its cookie) that holds no
# data, so an owner session keeps this one marker.
OWNER_KEY = "sentimeter"


def session_key_get(request: HttpRequest) -> str | None:
    """Return the request's session key, or None if it has no session yet."""
    return request.session.session_key


def session_key_ensure(request: HttpRequest) -> str:
    """Return the request's session key, creating the session if needed."""
    if OWNER_KEY not in request.session:
        request.session[OWNER_KEY] = 1
    if not request.session.session_key:
        request.session.save()
    return request.session.session_key
