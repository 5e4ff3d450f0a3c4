"""A job's stored input: an upload compressed in blocks, read back as a stream; pasted texts from JSON.

An upload is stored as zlib blocks of BLOCK_BYTES of the file each, one
after the other in `JobInput.data`, with the compressed length of each in
`JobInput.blocks` (the index) and the block size in `JobInput.block_bytes`:
a reader fetches a few blocks per query and inflates them, so memory stays
bounded and no query reads the whole value; a chunk job inflates only the
blocks its byte range touches, and of the last one only what it needs. An
input stored before blocks existed (`blocks` empty) is read as raw slices.
Once its job has ended nothing reads an input again: `input_free` drops it.

The web request compresses an upload while it streams in (BlockCompressor,
fed by web/uploads.py), on COMPRESS_THREADS threads beside the request's own:
zlib lets go of the GIL while it works, so the request mostly waits for the
body, not for the compression.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import shutil
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

import psycopg
from django.db import connection, transaction

from web.models import Job, JobInput
from worker.exceptions import InputError
from worker.inputs import (
    SAMPLE_BYTES,
    InputSpec,
    RangeStart,
    Row,
    inspect,
    iter_rows,
    json_cell,
    range_codec,
)
from worker.locks import unless_locked
from worker.messages import gettext_noop
from worker.workbooks import workbook_to_csv

logger = logging.getLogger(__name__)

# The field that holds the text of each object a JSON submit sends ({"texts": [{"id": .., "text": ..}]}).
TEXT_KEY = "text"
# Said in the reader's language where shown (worker.messages).
_NOT_A_LIST = gettext_noop("The stored input is not a list of texts; please submit it again.")
# Bytes read from a stored upload per query while streaming it.
READ_SLICE_BYTES = 1024 * 1024
# Bytes of the file in each compressed block. A chunk job reads a range of
# about a MB, from the start of the block where it begins: small blocks
# inflate little beyond it (blocks as big as a chunk's range inflated about
# twice the bytes it read). zlib's window is 32 KB, so blocks this size
# compress as well.
BLOCK_BYTES = 256 * 1024
# The block size of an upload stored before JobInput.block_bytes was recorded (migration 0010).
LEGACY_BLOCK_BYTES = 1024 * 1024
# Compressed bytes fetched per query while streaming a stored upload (a few blocks).
FETCH_BYTES = 256 * 1024
# Compressed bytes sent per statement when a converted input is stored.
APPEND_BYTES = 8 * 1024 * 1024
# zlib's fastest level: it already saves most of a review file's bytes, and
# higher levels cost several times the CPU for a few per cent more (README, Storage).
COMPRESS_LEVEL = 1
# Threads per process that compress blocks: a web dyno has at least two
# cores, and the request itself mostly waits on them.
COMPRESS_THREADS = 2


def block_compress(block: bytes) -> bytes:
    """Compress one block of a file as it is stored."""
    return zlib.compress(block, COMPRESS_LEVEL)


@functools.cache
def _compress_pool() -> ThreadPoolExecutor:
    # Made on first use, in the process that compresses: never before a fork.
    return ThreadPoolExecutor(max_workers=COMPRESS_THREADS, thread_name_prefix="compress")


class BlockCompressor:
    """Compress a file in blocks of `block_bytes` as its bytes arrive, on background threads.

    write() the file's bytes in order, in pieces of any size; finish() gives
    what input_compress gives for the whole file.
    """

    def __init__(self, *, block_bytes: int = BLOCK_BYTES) -> None:
        self._block_bytes = block_bytes
        self._pending = bytearray()
        self._blocks: list[Future[bytes]] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        """Take the file's next bytes; each whole block goes to a compressing thread."""
        self.size += len(data)
        self._pending += data
        if len(self._pending) < self._block_bytes:
            return
        whole = len(self._pending) - len(self._pending) % self._block_bytes
        view = memoryview(self._pending)
        for at in range(0, whole, self._block_bytes):
            self._submit(bytes(view[at : at + self._block_bytes]))
        view.release()
        del self._pending[:whole]

    def _submit(self, block: bytes) -> None:
        self._blocks.append(_compress_pool().submit(block_compress, block))

    def finish(self) -> tuple[bytes, list[int]]:
        """Compress what is left; (the blocks one after the other, their lengths)."""
        if self._pending:
            self._submit(bytes(self._pending))
            self._pending = bytearray()
        blocks = [future.result() for future in self._blocks]
        self._blocks = []
        return b"".join(blocks), [len(block) for block in blocks]


def input_compress(data: bytes, *, block_bytes: int = BLOCK_BYTES) -> tuple[bytes, list[int]]:
    """Compress an upload in blocks of `block_bytes`: (the blocks one after the other, their lengths)."""
    compressor = BlockCompressor(block_bytes=block_bytes)
    compressor.write(data)
    return compressor.finish()


def input_free(job_id: uuid.UUID) -> int | None:
    """Drop an ended job's stored input (its name and size stay): nothing reads it again.

    None if a lock would have made it wait: the reconciler's sweep (inputs_free_ended) drops it later.
    """
    stored = JobInput.objects.filter(job_id=job_id).exclude(data=b"")
    return unless_locked(lambda: stored.update(data=b"", blocks=[], block_bytes=None))


def inputs_free_ended() -> int:
    """Drop the stored input of every ended job that still has it (a drop skipped at the end)."""
    left = JobInput.objects.exclude(data=b"").exclude(job__status__in=Job.ACTIVE_STATUSES)
    return unless_locked(lambda: left.update(data=b"", blocks=[], block_bytes=None)) or 0


class InputReader(io.RawIOBase):
    """Read a stored input as a stream, one slice per query (bounded memory).

    It keeps the last slice itself: callers (TextIOWrapper through a
    BufferedReader) ask for 8 KB at a time, which would be a query each.
    """

    def __init__(
        self,
        job_id: uuid.UUID,
        size: int,
        *,
        blocks: list[int] | None = None,
        slice_bytes: int = READ_SLICE_BYTES,
    ) -> None:
        super().__init__()
        self._job_id = job_id
        self._size = size
        self._offset = 0  # in the file, of the next slice to fetch
        self._slice = slice_bytes
        self._blocks = list(blocks or [])  # compressed lengths; none: stored raw
        self._block = 0  # the next block to fetch
        self._stored_offset = 0  # in the stored value, of the next block
        self._buffer = b""
        self._position = 0  # in _buffer

    def readable(self) -> bool:
        return True

    @property
    def unread(self) -> int:
        """Bytes not handed out yet: the slices still to fetch and the rest of the current one."""
        return self._size - self._offset + len(self._buffer) - self._position

    def readinto(self, buffer) -> int:
        # Fill the buffer across slices: a peek at the file's first bytes (its
        # byte order mark) then sees them all, however small the blocks.
        done = 0
        while done < len(buffer):
            if self._position >= len(self._buffer):
                self._buffer, self._position = self._fetch(), 0
                if not self._buffer:
                    break
            n = min(len(buffer) - done, len(self._buffer) - self._position)
            buffer[done : done + n] = self._buffer[self._position : self._position + n]
            self._position += n
            done += n
        return done

    def _fetch(self) -> bytes:
        if self._offset >= self._size:
            return b""
        if not self._blocks:
            data = self.stored(self._offset, self._slice)
            self._offset += len(data)
            return data
        if self._block >= len(self._blocks):
            return b""
        # Consecutive blocks up to FETCH_BYTES stored (at least one), in one query.
        lengths = [self._blocks[self._block]]
        while (
            self._block + len(lengths) < len(self._blocks)
            and sum(lengths) + self._blocks[self._block + len(lengths)] <= FETCH_BYTES
        ):
            lengths.append(self._blocks[self._block + len(lengths)])
        stored = self.stored(self._stored_offset, sum(lengths))
        if len(stored) < sum(lengths):
            # Dropped since the read began (input_free: the job ended): nothing more to read.
            return b""
        self._block += len(lengths)
        self._stored_offset += sum(lengths)
        data = _blocks_inflate(stored, lengths)
        self._offset += len(data)
        return data

    def stored(self, offset: int, length: int) -> bytes:
        """Read `length` bytes of the stored value from `offset` (fewer at its end)."""
        table = JobInput._meta.db_table
        job_param = self._job_id if connection.vendor == "postgresql" else self._job_id.hex
        with connection.cursor() as cursor:
            # substr() is 1-based; Postgres and SQLite both slice bytes with it,
            # and Postgres reads only the slice of an uncompressed value.
            cursor.execute(
                f"SELECT substr(data, %s, %s) FROM {table} WHERE job_id = %s",  # noqa: S608
                [offset + 1, length, job_param],
            )
            row = cursor.fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""


def input_get(job: Job) -> JobInput:
    """Return the job's input row, without loading its data."""
    try:
        return JobInput.objects.defer("data").get(job_id=job.pk)
    except JobInput.DoesNotExist:
        raise InputError(
            gettext_noop("The job's input is missing; please submit it again."), code="input_missing"
        ) from None


def input_bytes(job_input: JobInput) -> bytes:
    """Return the whole stored input, inflated: the file as it was uploaded (for checks and tests)."""
    return InputReader(job_input.pk, job_input.size, blocks=job_input.blocks).readall()


def input_workbook_convert(job_input: JobInput) -> JobInput:
    """Store a workbook's chosen sheet as CSV in its place; the input then reads as any CSV upload.

    A stored xlsx cannot be read by byte ranges (a chunk's rows), CSV can.
    Everything goes through temporary files (the workbook, the CSV, its
    compressed blocks), so memory stays bounded whatever the workbook's
    size; the swap is one transaction, so a worker that dies midway leaves
    the workbook to convert again. Raises InputError for a sheet that
    cannot be read or has no column to analyze.
    """
    if job_input.format != JobInput.Format.XLSX:
        return job_input
    options = job_input.options or {}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as workbook, tempfile.TemporaryFile() as table:
        reader = InputReader(job_input.pk, job_input.size, blocks=job_input.blocks)
        shutil.copyfileobj(reader, workbook, READ_SLICE_BYTES)
        try:
            check = workbook_to_csv(workbook, table, sheet=options.get("sheet"))
            workbook.close()
            size = table.tell()
            table.seek(0)
            sample = table.read(SAMPLE_BYTES)
            spec = inspect(
                sample,
                filename="sheet.csv",
                encoding="utf-8",
                column=options.get("column"),
                at_eof=size <= len(sample),
            )
        except InputError as exc:
            if exc.code not in {"no_such_column", "no_text_column"}:
                raise
            raise InputError(
                gettext_noop("Sheet %(sheet)s: %(message)s"),
                params={"sheet": repr(options.get("sheet")), "message": exc.localizable},
                code=exc.code,
            ) from None
        table.seek(0)
        with tempfile.TemporaryFile() as packed:
            blocks = []
            while block := table.read(BLOCK_BYTES):
                blocks.append(packed.write(block_compress(block)))
            packed.seek(0)
            converted = {
                "encoding": spec.encoding,
                "delimiter": spec.delimiter,
                "column": spec.column,
                "column_index": spec.column_index,
                "has_header": spec.has_header,
                "lenient": False,
                "headers": list(spec.headers),
                "sheet": check.sheet,
                "workbook_size": job_input.size,
            }
            with transaction.atomic():
                swapped = JobInput.objects.filter(pk=job_input.pk, format=JobInput.Format.XLSX).update(
                    format=JobInput.Format.CSV,
                    data=b"",
                    blocks=blocks,
                    block_bytes=BLOCK_BYTES,
                    size=size,
                    options=converted,
                )
                if swapped:
                    _data_append(job_input.pk, packed)
                    Job.objects.filter(pk=job_input.pk).update(
                        columns=list(spec.headers), text_column=spec.text_name
                    )
    logger.info(
        "job %s: workbook converted: sheet %r, %d bytes of xlsx to %d bytes of CSV in %.1f s",
        job_input.pk,
        check.sheet,
        job_input.size,
        size,
        time.perf_counter() - started,
    )
    return input_get(job_input.job)


def _data_append(job_id: uuid.UUID, packed: IO[bytes]) -> None:
    """Append a file to an input's stored value, a few MB per statement (bounded memory)."""
    table = JobInput._meta.db_table
    if connection.vendor != "postgresql":
        # SQLite (local runs, small files): its || would make the blob text.
        JobInput.objects.filter(pk=job_id).update(data=packed.read())
        return
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        while piece := packed.read(APPEND_BYTES):
            cursor.execute(
                f"UPDATE {table} SET data = data || %b WHERE job_id = %s",  # noqa: S608 - our table name
                [piece, job_id],
            )


def input_rows(
    job_input: JobInput, *, max_chars: int, text_cells: bool = True
) -> tuple[Iterator[Row], Callable[[], int]]:
    """The input's rows in order (pasted/JSON texts, or a stored file streamed), and how much is unread.

    The second item tells, whenever asked, roughly how much of the input the
    rows handed out so far have not covered: characters of pasted texts,
    bytes of a file (a few KB of read-ahead aside). Each row carries its
    range in the input (list positions of pasted texts, bytes of a file).
    With `text_cells` False, only rows without text carry their cells (iter_rows).
    """
    if job_input.format == JobInput.Format.TEXTS:
        texts, cells = _pasted_texts(job_input)
        left = [sum(map(len, texts))]

        def pasted() -> Iterator[Row]:
            for i, text in enumerate(texts):
                left[0] -= len(text)
                yield Row(i, i + 1, text, None, i, i + 1, cells(i))

        return pasted(), lambda: left[0]
    reader = InputReader(job_input.pk, job_input.size, blocks=job_input.blocks)
    stream = io.BufferedReader(reader)
    rows = iter_rows(stream, _spec_of(job_input), max_chars=max_chars, text_cells=text_cells)
    return rows, lambda: reader.unread


def range_rows(
    job_input: JobInput, *, start: int, end: int, idx_first: int, row_first: int, max_chars: int
) -> list[Row]:
    """The rows of one range of the input (a chunk), parsed as the full pass parsed them.

    [] if the input was dropped meanwhile (its job ended).
    """
    if job_input.format == JobInput.Format.TEXTS:
        texts, cells = _pasted_texts(job_input)
        return [Row(i, i + 1, texts[i], None, i, i + 1, cells(i)) for i in range(start, min(end, len(texts)))]
    spec = _spec_of(job_input)
    data = input_range(job_input, start=start, end=end)
    if len(data) < end - start:
        return []
    if start == 0:
        head = data[:4]
    elif spec.encoding == "utf-16":
        # The one codec that depends on the file's first bytes (its byte order mark): see range_codec.
        head = input_range(job_input, start=0, end=min(4, job_input.size))
    else:
        head = b""
    at = RangeStart(offset=start, idx=idx_first, row_number=row_first, codec=range_codec(spec.encoding, head))
    return list(iter_rows(io.BytesIO(data), spec, max_chars=max_chars, at=at))


def range_texts(
    job_input: JobInput, *, start: int, end: int, idx_first: int, row_first: int, count: int, max_chars: int
) -> list[Row] | None:
    """The rows with text of one range of the input, which the split counted `count` of (a chunk's).

    None if the input was dropped meanwhile (its job ended); a count that
    differs from the split's is an error, never a silent loss.
    """
    rows = range_rows(
        job_input, start=start, end=end, idx_first=idx_first, row_first=row_first, max_chars=max_chars
    )
    if not rows:
        return None
    rows = [row for row in rows if row.text is not None]
    if len(rows) != count:
        raise RuntimeError(
            f"job {job_input.job_id}: {len(rows)} texts in bytes {start}-{end}, the split counted {count}"
        )
    return rows


def input_range(job_input: JobInput, *, start: int, end: int) -> bytes:
    """Return bytes [start, end) of the stored file, inflating only the blocks that hold them.

    Fewer bytes if the input was dropped meanwhile (its job ended).
    """
    if end <= start:
        return b""
    reader = InputReader(job_input.pk, job_input.size)
    if not job_input.blocks:
        return reader.stored(start, end - start)
    block_bytes = job_input.block_bytes or LEGACY_BLOCK_BYTES
    first, last = start // block_bytes, (end - 1) // block_bytes
    lengths = job_input.blocks[first : last + 1]
    stored = reader.stored(sum(job_input.blocks[:first]), sum(lengths))
    if len(stored) < sum(lengths):
        return b""
    skip = start - first * block_bytes
    # Of the last block, only the bytes up to `end`: a file's first bytes (its
    # byte order mark) cost a few bytes of inflating, not a block.
    return _blocks_inflate(stored, lengths, last_bytes=end - last * block_bytes)[skip : skip + end - start]


def _blocks_inflate(stored: bytes, lengths: list[int], *, last_bytes: int = 0) -> bytes:
    """Inflate blocks of these compressed lengths (of the last, its first `last_bytes`, if given)."""
    view = memoryview(stored)
    parts, at = [], 0
    for i, length in enumerate(lengths):
        block = view[at : at + length]
        if last_bytes and i == len(lengths) - 1:
            parts.append(zlib.decompressobj().decompress(block, last_bytes))
        else:
            parts.append(zlib.decompress(block))
        at += length
    return b"".join(parts)


def _pasted_texts(job_input: JobInput) -> tuple[list[str], Callable[[int], list[str | None] | None]]:
    """The texts of a JSON submit, and a function giving text i's cells (None unless sent as objects).

    Cells are made when asked for: a chunk job reads them for its own range only.
    """
    raw = JobInput.objects.values_list("data", flat=True).get(pk=job_input.pk)
    try:
        items = json.loads(bytes(raw))
    except ValueError:
        raise InputError(
            gettext_noop("The stored texts are not valid JSON; please submit them again.")
        ) from None
    if not isinstance(items, list):
        raise InputError(_NOT_A_LIST)
    if all(isinstance(t, str) for t in items):
        return items, lambda i: None
    columns = (job_input.options or {}).get("headers") or []
    if not columns or not all(isinstance(t, dict) and isinstance(t.get(TEXT_KEY), str) for t in items):
        raise InputError(_NOT_A_LIST)

    def cells(i: int) -> list[str | None]:
        return [None if key == TEXT_KEY else json_cell(items[i].get(key)) for key in columns]

    return [item[TEXT_KEY] for item in items], cells


def _spec_of(job_input: JobInput) -> InputSpec:
    options = job_input.options or {}
    try:
        return InputSpec(
            format=job_input.format,
            encoding=options["encoding"],
            delimiter=options.get("delimiter", ","),
            column=options.get("column"),
            column_index=options.get("column_index"),
            has_header=options.get("has_header", True),
            headers=tuple(options.get("headers") or ()),
            lenient=options.get("lenient", False),
        )
    except KeyError:
        raise InputError(
            gettext_noop("The stored file has no reading options; please upload it again.")
        ) from None
