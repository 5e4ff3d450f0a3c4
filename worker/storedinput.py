"""A job's stored input, read back: pasted texts from their JSON, an upload streamed in slices."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator

from django.db import connection

from web.models import Job, JobInput
from worker.exceptions import InputError
from worker.inputs import InputSpec, Row, iter_rows

# Bytes read from a stored upload per query while streaming it.
READ_SLICE_BYTES = 1024 * 1024


class InputReader(io.RawIOBase):
    """Read a stored input as a stream, one slice per query (bounded memory).

    It keeps the last slice itself: callers (TextIOWrapper through a
    BufferedReader) ask for 8 KB at a time, which would be a query each.
    """

    def __init__(self, job_id: uuid.UUID, size: int, *, slice_bytes: int = READ_SLICE_BYTES) -> None:
        super().__init__()
        self._job_id = job_id
        self._size = size
        self._offset = 0  # of the next slice to fetch
        self._slice = slice_bytes
        self._buffer = b""
        self._position = 0  # in _buffer

    def readable(self) -> bool:
        return True

    @property
    def unread(self) -> int:
        """Bytes not handed out yet: the slices still to fetch and the rest of the current one."""
        return self._size - self._offset + len(self._buffer) - self._position

    def readinto(self, buffer) -> int:
        if self._position >= len(self._buffer):
            self._buffer, self._position = self._fetch(), 0
            if not self._buffer:
                return 0
        n = min(len(buffer), len(self._buffer) - self._position)
        buffer[:n] = self._buffer[self._position : self._position + n]
        self._position += n
        return n

    def _fetch(self) -> bytes:
        if self._offset >= self._size:
            return b""
        table = JobInput._meta.db_table
        job_param = self._job_id if connection.vendor == "postgresql" else self._job_id.hex
        with connection.cursor() as cursor:
            # substr() is 1-based; Postgres and SQLite both slice bytes with it,
            # and Postgres reads only the slice of an uncompressed value.
            cursor.execute(
                f"SELECT substr(data, %s, %s) FROM {table} WHERE job_id = %s",  # noqa: S608
                [self._offset + 1, self._slice, job_param],
            )
            row = cursor.fetchone()
        data = bytes(row[0]) if row and row[0] is not None else b""
        self._offset += len(data)
        return data


def input_get(job: Job) -> JobInput:
    """Return the job's input row, without loading its data."""
    try:
        return JobInput.objects.defer("data").get(job_id=job.pk)
    except JobInput.DoesNotExist:
        raise InputError(
            "The job's input is missing; please submit it again.", code="input_missing"
        ) from None


def input_rows(job_input: JobInput, *, max_chars: int) -> tuple[Iterator[Row], Callable[[], int]]:
    """The input's rows in order (pasted/JSON texts, or a stored file streamed), and how much is unread.

    The second item tells, whenever asked, roughly how much of the input the
    rows handed out so far have not covered: characters of pasted texts,
    bytes of a file (a few KB of read-ahead aside).
    """
    if job_input.format == JobInput.Format.TEXTS:
        raw = JobInput.objects.values_list("data", flat=True).get(pk=job_input.pk)
        try:
            texts = json.loads(bytes(raw))
        except ValueError:
            raise InputError("The stored texts are not valid JSON; please submit them again.") from None
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise InputError("The stored input is not a list of texts; please submit it again.")
        left = [sum(map(len, texts))]

        def pasted() -> Iterator[Row]:
            for i, text in enumerate(texts):
                left[0] -= len(text)
                yield Row(idx=i, row_number=i + 1, text=text)

        return pasted(), lambda: left[0]
    options = job_input.options or {}
    try:
        spec = InputSpec(
            format=job_input.format,
            encoding=options["encoding"],
            delimiter=options.get("delimiter", ","),
            column=options.get("column"),
            column_index=options.get("column_index"),
            has_header=options.get("has_header", True),
            lenient=options.get("lenient", False),
        )
    except KeyError:
        raise InputError("The stored file has no reading options; please upload it again.") from None
    reader = InputReader(job_input.pk, job_input.size)
    stream = io.BufferedReader(reader)
    return iter_rows(stream, spec, max_chars=max_chars), lambda: reader.unread
