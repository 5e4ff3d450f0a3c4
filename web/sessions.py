"""Who owns a request's jobs: the browser session, or the owner of the API token it sends.

An owner is a string stored on each job (`Job.session_key`) and token
(`ApiToken.owner_key`): a browser session's key. A Bearer request acts for
the owner of its token (web.middleware.BearerTokenMiddleware sets
`request.api_token`), and never touches the session or sets a cookie.
"""

from django.http import HttpRequest

# Django's SessionMiddleware drops a session (and its cookie) that holds no
# data, so an owner session keeps this one marker.
OWNER_KEY = "sentimeter"


def session_key_get(request: HttpRequest) -> str | None:
    """Return the request's owner, or None if it has none yet."""
    token = getattr(request, "api_token", None)
    if token is not None:
        return token.owner_key
    return request.session.session_key


def session_key_ensure(request: HttpRequest) -> str:
    """Return the request's owner, creating the browser session if needed."""
    token = getattr(request, "api_token", None)
    if token is not None:
        return token.owner_key
    if OWNER_KEY not in request.session:
        request.session[OWNER_KEY] = 1
    if not request.session.session_key:
        request.session.save()
    return request.session.session_key
