"""Upload limits enforced while the request body streams in, before it is buffered."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.files.uploadhandler import FileUploadHandler

from worker.messages import Message, gettext_noop

# Room for the form's other fields and the multipart boundaries.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class UploadTooLarge(SuspiciousOperation):
    """The upload is larger than MAX_UPLOAD_BYTES (answered 413 by web.errors)."""

    def __init__(self, limit: int) -> None:
        # Said in the reader's language by web.errors; str() is the English.
        self.localizable = Message(
            gettext_noop("The file is larger than the limit of %(megabytes)s MB (%(limit)s bytes)."),
            {"megabytes": round(limit / 1024 / 1024), "limit": limit},
        )
        super().__init__(self.localizable.english())
        self.limit = limit


class LimitedUploadHandler(FileUploadHandler):
    """Refuse an upload by its Content-Length, or as soon as it streams past the limit.

    Listed first in FILE_UPLOAD_HANDLERS: it passes every chunk on to the
    next handler (memory or temporary file) until the limit is crossed.
    """

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.limit = settings.SENTIMETER["MAX_UPLOAD_BYTES"]
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.limit + MULTIPART_OVERHEAD_BYTES:
            raise UploadTooLarge(self.limit)
        return None

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            raise UploadTooLarge(self.limit)
        return raw_data

    def file_complete(self, file_size):
        return None
