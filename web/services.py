"""Writes: creating and changing jobs. Views call these and nothing else writes."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models.functions import Now

from web.exceptions import InputError, InputTooLarge, JobConflict
from web.limits import active_jobs_admit
from web.models import ApiToken, Job, JobChunk, JobInput
from web.uploads import upload_compress
from worker import inputs, workbooks
from worker.analyzers.registry import analyzer_names, spec_get
from worker.breakdowns import columns_of
from worker.messages import Message, gettext_noop
from worker.queues import chunk_rq_id, job_enqueue, queue_for, rq_work_stop
from worker.storedinput import BLOCK_BYTES, TEXT_KEY, input_free
from worker.summary import partial_summary_store
from worker.webhooks import WebhookRefused, url_check, webhook_schedule

# Said in the reader's language where shown (web.messages).
_TEXTS_NOT_A_LIST = gettext_noop('"texts" must be a list of strings.')
_ALREADY_ENDED = {
    Job.Status.SUCCEEDED: gettext_noop(
        "The job has already succeeded; only a queued or running job can be canceled."
    ),
    Job.Status.FAILED: gettext_noop(
        "The job has already failed; only a queued or running job can be canceled."
    ),
}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Limits:
    max_texts: int
    max_text_chars: int

    @classmethod
    def from_settings(cls) -> Limits:
        conf = settings.SENTIMETER
        return cls(max_texts=conf["MAX_TEXTS_PER_JOB"], max_text_chars=conf["MAX_TEXT_CHARS"])


def analyzer_validate(analyzer: object) -> str:
    """Return the analyzer name to use, or raise InputError naming the choices."""
    if analyzer is None or analyzer == "":
        return settings.SENTIMETER["DEFAULT_ANALYZER"]
    names = analyzer_names()
    if not isinstance(analyzer, str) or analyzer not in names:
        raise InputError(
            gettext_noop("Unknown analyzer %(analyzer)s; choose one of: %(names)s."),
            params={"analyzer": repr(analyzer), "names": ", ".join(names)},
            code="unknown_analyzer",
        )
    return analyzer


def callback_url_validate(url: object) -> str:
    """Return the callback URL to store ("" for none), or raise InputError saying why it is refused."""
    if url is None or url == "":
        return ""
    try:
        url_check(url)
    except WebhookRefused as exc:
        raise InputError(exc.message, params=exc.params, code="invalid_callback_url") from None
    return url


@dataclass(frozen=True, slots=True)
class Submitted:
    """What a JSON submit sent: its texts, and when they came as objects, the objects and their keys."""

    texts: list[str]
    objects: list[dict] | None = None
    columns: list[str] = field(default_factory=list)  # the objects' keys in first-seen order


def items_validate(items: object, *, limits: Limits | None = None) -> Submitted:
    """Check a submit's texts: all strings, or all objects with a "text" string ({"id": .., "text": ..})."""
    if not isinstance(items, list | tuple):
        raise InputError(_TEXTS_NOT_A_LIST, code="invalid_texts")
    items = list(items)
    if not items or not any(isinstance(item, dict) for item in items):
        return Submitted(texts=texts_validate(items, limits=limits))
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(
                gettext_noop(
                    "texts[%(i)s] is %(type)s, but other items are objects: send all of them as "
                    'strings, or all as objects like {"id": "A-17", "text": "..."}.'
                ),
                params={"i": str(i), "type": _json_type(item)},
                code="invalid_texts",
            )
        if TEXT_KEY not in item:
            raise InputError(
                gettext_noop(
                    'texts[%(i)s] has no "%(key)s" field; each object needs '
                    'one, like {"id": "A-17", "text": "..."}.'
                ),
                params={"i": str(i), "key": TEXT_KEY},
                code="invalid_texts",
            )
        for key in item:
            if not _is_encodable(key) or "\x00" in key:
                raise InputError(
                    gettext_noop("texts[%(i)s] has a field name that is not valid text."),
                    params={"i": str(i)},
                    code="invalid_texts",
                )
    try:
        texts = texts_validate([item[TEXT_KEY] for item in items], limits=limits)
    except InputError as exc:
        if "item" not in exc.localizable.params:
            raise
        # Name the item as sent: texts[3].text, not texts[3].
        params = {**exc.localizable.params, "item": exc.localizable.params["item"] + ".text"}
        raise type(exc)(exc.localizable.template, params=params, code=exc.code) from None
    columns = list(dict.fromkeys(key for item in items for key in item))
    return Submitted(texts=texts, objects=items, columns=columns)


def group_by_validate(group_by: object) -> str:
    """Check the column to group by is a column name; whether the input has it is known once it is read.

    A name the input turns out not to have is ignored: the job's page offers the columns it has.
    """
    if group_by is None:
        return ""
    if not isinstance(group_by, str):
        raise InputError(
            gettext_noop('"group_by" must be a column name (a string).'), code="invalid_group_by"
        )
    group_by = group_by.strip()
    limit = Job._meta.get_field("group_by").max_length
    if len(group_by) > limit:
        raise InputError(
            gettext_noop('"group_by" is %(chars)s characters; a column name is at most %(limit)s.'),
            params={"chars": len(group_by), "limit": limit},
            code="invalid_group_by",
        )
    return group_by


def job_group_by_set(*, job: Job, column: str) -> Job:
    """Group the job's page by `column` ("" for no grouping); 400 for a column the job cannot group by."""
    column = group_by_validate(column)
    allowed = columns_of(job).groupable
    if column and column not in allowed:
        raise InputError(
            gettext_noop("%(column)s is not a column to group by; use one of: %(listed)s.")
            if allowed
            else gettext_noop("%(column)s is not a column to group by; this job has none to group by."),
            params={"column": repr(column), "listed": ", ".join(allowed)},
            code="unknown_column",
        )
    Job.objects.filter(pk=job.pk).update(group_by=column)
    job.group_by = column
    return job


def _item(i: int) -> dict:
    return {"item": f"texts[{i}]"}


def texts_validate(texts: object, *, limits: Limits | None = None) -> list[str]:
    """Check a list of texts against the limits; raise with the first problem found."""
    limits = limits or Limits.from_settings()
    if not isinstance(texts, list | tuple):
        raise InputError(_TEXTS_NOT_A_LIST, code="invalid_texts")
    texts = list(texts)
    if not texts:
        raise InputError(gettext_noop("There is no text to analyze: give at least one."), code="no_texts")
    if len(texts) > limits.max_texts:
        raise InputTooLarge(
            gettext_noop(
                "%(count)s texts is more than the limit of %(limit)s per job; split them into several jobs."
            ),
            params={"count": len(texts), "limit": limits.max_texts},
            code="too_many_texts",
        )
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(
                gettext_noop("%(item)s must be a string, not %(type)s."),
                params={**_item(i), "type": _json_type(text)},
                code="invalid_texts",
            )
        if not text.strip():
            raise InputError(gettext_noop("%(item)s is empty."), params=_item(i), code="empty_text")
        if len(text) > limits.max_text_chars:
            raise InputTooLarge(
                gettext_noop("%(item)s has %(chars)s characters; the limit is %(limit)s."),
                params={**_item(i), "chars": len(text), "limit": limits.max_text_chars},
                code="text_too_long",
            )
        if "\x00" in text:
            raise InputError(
                gettext_noop("%(item)s contains a NUL character."), params=_item(i), code="invalid_texts"
            )
        if not _is_encodable(text):
            # JSON allows lone surrogates ("\ud800"); no database can store them.
            raise InputError(
                gettext_noop("%(item)s is not valid Unicode text."), params=_item(i), code="invalid_texts"
            )
    return texts


def texts_from_paste(pasted: str) -> list[str]:
    """Split pasted text into one text per non-blank line."""
    # Only \n, \r\n and \r end a line in a text box; str.splitlines() would
    # also split on U+2028, NEL, form feed and the separators U+001C-U+001E.
    return [line.strip() for line in _LINE_BREAK.split(pasted) if line.strip()]


# Characters of a first text that make a pasted job's title.
TITLE_CHARS = 60


def job_title(text: str) -> str:
    """Title a job by the start of its first text: one line, cut at a word, with an ellipsis."""
    line = " ".join(text.split())
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[:TITLE_CHARS]
    space = cut.rfind(" ")
    # Korean and Japanese runs can have no space for a long way: cut mid-word then.
    if space >= TITLE_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


def job_create(
    *,
    session_key: str,
    texts: Sequence[str],
    analyzer: str | None = None,
    callback_url: str | None = None,
    group_by: str | None = None,
    token: ApiToken | None = None,
) -> Job:
    """Store a job and its texts, and enqueue it once the transaction commits.

    `token` is the API token that submitted it: its secret signs the job's webhook.
    """
    submitted = items_validate(texts)
    texts = submitted.texts
    analyzer = analyzer_validate(analyzer)
    callback_url = callback_url_validate(callback_url)
    group_by = group_by_validate(group_by)
    data = json.dumps(submitted.objects or texts, ensure_ascii=False).encode()
    options = {"headers": submitted.columns, "column": TEXT_KEY} if submitted.objects else {}
    queue_name = queue_for(seconds=spec_get(analyzer).cost.seconds_total(texts))
    with transaction.atomic():
        active_jobs_admit(session_key=session_key)
        job = Job.objects.create(
            session_key=session_key,
            analyzer=analyzer,
            queue=queue_name,
            total=len(texts),
            title=job_title(texts[0]),
            callback_url=callback_url,
            webhook_token=token if callback_url else None,
            group_by=group_by,
            columns=submitted.columns,
            text_column=TEXT_KEY if submitted.columns else "",
        )
        JobInput.objects.create(
            job=job, format=JobInput.Format.TEXTS, data=data, size=len(data), options=options
        )
        job_enqueue(job_id=str(job.id), queue_name=queue_name)
    return job


def job_create_from_upload(
    *,
    session_key: str,
    upload: UploadedFile,
    column: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    analyzer: str | None = None,
    callback_url: str | None = None,
    group_by: str | None = None,
    token: ApiToken | None = None,
) -> Job:
    """Check the first KB of an uploaded file, store all of it, and enqueue the job.

    The file is not parsed here (the worker streams it), so this takes time
    in proportion to the bytes received, not to the number of rows. An
    Excel workbook is checked up to its chosen sheet's header row, and the
    worker converts it to CSV before reading it.
    """
    analyzer = analyzer_validate(analyzer)
    callback_url = callback_url_validate(callback_url)
    group_by = group_by_validate(group_by)
    limit = settings.SENTIMETER["MAX_UPLOAD_BYTES"]
    if upload.size is not None and upload.size > limit:
        raise InputTooLarge(
            gettext_noop("The file is %(size)s bytes; the limit is %(limit)s."),
            params={"size": upload.size, "limit": limit},
        )
    upload.seek(0)
    sample = upload.read(inputs.SAMPLE_BYTES)
    at_eof = len(sample) < inputs.SAMPLE_BYTES or upload.size == len(sample)
    filename = upload.name or ""
    problem = workbooks.other_format_problem(sample, filename)
    if problem is not None:
        raise InputError(problem.localizable.template, params=problem.localizable.params, code=problem.code)
    if workbooks.is_workbook(sample, filename):
        fmt, options = JobInput.Format.XLSX, _workbook_options(upload, sheet=sheet, column=column)
        # The worker names them once the sheet is CSV (storedinput.input_workbook_convert).
        columns, text_column = [], ""
        seconds = None
    else:
        if sheet:
            raise InputError(
                gettext_noop('Only an Excel workbook (.xlsx) has sheets: leave "sheet" empty for this file.'),
                code="no_such_sheet",
            )
        spec = inputs.inspect(
            sample, filename=filename, encoding=encoding, column=column or None, at_eof=at_eof
        )
        # A small file is as quick as a short paste: give it the quick queue.
        seconds = None
        if at_eof:
            seconds = spec_get(analyzer).cost.seconds_guess(count=sample.count(b"\n") + 1, units=len(sample))
        fmt = spec.format
        options = {
            "encoding": spec.encoding,
            "delimiter": spec.delimiter,
            "column": spec.column,
            "column_index": spec.column_index,
            "has_header": spec.has_header,
            "lenient": spec.lenient,
            "headers": list(spec.headers),
        }
        columns, text_column = list(spec.headers), spec.text_name
    queue_name = queue_for(seconds=seconds)
    # Compressed before the transaction (a big upload already is, while it streamed in).
    stored, blocks, size = upload_compress(upload)
    with transaction.atomic():
        active_jobs_admit(session_key=session_key)
        filename = filename[:255]
        job = Job.objects.create(
            session_key=session_key,
            analyzer=analyzer,
            queue=queue_name,
            title=job_title(filename) if filename else "",
            callback_url=callback_url,
            webhook_token=token if callback_url else None,
            columns=columns,
            text_column=text_column,
            group_by=group_by,
        )
        job_input = JobInput.objects.create(
            job=job,
            format=fmt,
            data=b"" if connection.vendor == "postgresql" else stored,
            blocks=blocks,
            block_bytes=BLOCK_BYTES,
            size=size,
            filename=filename,
            options=options,
        )
        if connection.vendor == "postgresql":
            _input_data_write(job_input, stored)
        job_enqueue(job_id=str(job.id), queue_name=queue_name)
    return job


def _workbook_options(upload: UploadedFile, *, sheet: str | None, column: str | None) -> dict:
    """Check a workbook up to its sheet's header row; the reading options the worker converts it with.

    The column is checked by the worker, once the sheet is CSV.
    """
    check = workbooks.workbook_check(upload, sheet=sheet or None)
    return {"sheet": check.sheet, "column": column or None}


def _input_data_write(job_input: JobInput, data: bytes) -> None:
    """Send the file as a binary parameter: Django's client-side binding would
    quote 50 MB of bytea as text (twice the size, and several times slower)."""
    table = JobInput._meta.db_table
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"UPDATE {table} SET data = %b WHERE job_id = %s",  # noqa: S608 - our table name
            [data, job_input.pk],
        )


def job_cancel(*, job: Job) -> Job:
    """Cancel a queued or running job (idempotent); JobConflict if it already ended otherwise.

    A running job stops at its next chunk boundary: the worker's progress
    update is a compare-and-set on `running`, so cancel and finish cannot
    both win. Results stored before the cancel stay, marked as partial.
    """
    canceled = Job.objects.filter(pk=job.pk, status__in=Job.ACTIVE_STATUSES).update(
        status=Job.Status.CANCELED, finished_at=Now()
    )
    if canceled:
        partial_summary_store(job.pk)
        webhook_schedule(job.pk)
    job.refresh_from_db()
    if job.status != Job.Status.CANCELED:
        raise JobConflict(
            _ALREADY_ENDED.get(job.status, _ALREADY_ENDED[Job.Status.FAILED]), params={"status": job.status}
        )
    if canceled:
        # Free the workers now rather than at the next chunk boundary.
        job_id = str(job.pk)
        seqs = JobChunk.objects.filter(job=job, status=JobChunk.Status.QUEUED).values_list("seq", flat=True)
        rq_work_stop([job_id, *(chunk_rq_id(job_id, seq) for seq in seqs)])
        input_free(job.pk)
    return job


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_type(value: object) -> Message | str:
    """Name a JSON value's type for a message ("a number"), said in the reader's language."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return Message(gettext_noop("a boolean"))
    if isinstance(value, int | float):
        return Message(gettext_noop("a number"))
    if isinstance(value, list):
        return Message(gettext_noop("a list"))
    if isinstance(value, dict):
        return Message(gettext_noop("an object"))
    if isinstance(value, str):
        return Message(gettext_noop("a string"))
    return type(value).__name__
