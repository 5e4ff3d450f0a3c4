"""Uploads while the request body streams in: the size limit, and the compression of a big file."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, TemporaryFileUploadHandler

from worker.messages import Message, gettext_noop
from worker.storedinput import BlockCompressor, input_compress

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


class CompressedUpload(TemporaryUploadedFile):
    """A big upload in its temporary file, and its blocks as the stored input keeps them.

    `compressed` is (the blocks one after the other, their lengths), made while it streamed in.
    """

    compressed: tuple[bytes, list[int]] | None = None


class CompressingUploadHandler(TemporaryFileUploadHandler):
    """Stream a big upload to a temporary file and compress its blocks on the way.

    The blocks go to background threads as they arrive (worker/storedinput.py,
    BlockCompressor), so the compression overlaps the reading of the body
    instead of following it, and the job's submit neither reads the file back
    nor compresses it. Small files stay with MemoryFileUploadHandler (listed
    before it) and are compressed when stored.
    """

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.file = CompressedUpload(
            self.file_name, self.content_type, 0, self.charset, self.content_type_extra
        )
        self.compressor = BlockCompressor()

    def receive_data_chunk(self, raw_data, start):
        self.compressor.write(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        upload = super().file_complete(file_size)
        upload.compressed = self.compressor.finish()
        return upload


def upload_compress(upload: UploadedFile) -> tuple[bytes, list[int], int]:
    """An upload in the blocks it is stored as (made while it streamed in, if it is big), and its size."""
    if isinstance(upload, CompressedUpload) and upload.compressed is not None:
        stored, blocks = upload.compressed
        return stored, blocks, upload.size
    upload.seek(0)
    data = upload.read()
    stored, blocks = input_compress(data)
    return stored, blocks, len(data)
