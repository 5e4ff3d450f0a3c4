"""Request-scoped logging context."""

from django.core.signals import request_finished
from django.dispatch import receiver

from config.logcontext import request_id_clean, request_id_var
from web.errors import length_required


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


@receiver(request_finished, dispatch_uid="sentimeter-request-id-clear")
def _request_id_clear(sender, **kwargs) -> None:
    request_id_var.set(None)
