"""Request-scoped logging context."""

from config.logcontext import request_id_clean, request_id_var


class RequestIDMiddleware:
    """Tag this request's log lines with Heroku's X-Request-ID and echo it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_clean(request.META.get("HTTP_X_REQUEST_ID"))
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        if request_id:
            response["X-Request-ID"] = request_id
        return response
