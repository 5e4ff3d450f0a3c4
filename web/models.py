"""Jobs, their raw input and their results: Postgres is the source of truth."""

import os
import time
import uuid

from django.db import models
from django.utils.translation import gettext


def job_id_new() -> uuid.UUID:
    """A new job's id: a time-ordered UUID (version 7, RFC 9562), 74 of its bits random.

    Its first 48 bits are the Unix time in milliseconds, so a new job's id sorts
    after the jobs before it, and its results' (job_id, idx) keys go to the
    right end of web_result's key index, where Postgres fills pages full.
    Random ids put every job's keys inside the index, where full pages split
    50:50 and stay half empty (README, "Storage", has the figures). Python's
    own uuid7() comes in 3.14.
    """
    value = (time.time_ns() // 1_000_000 % (1 << 48)) << 80 | int.from_bytes(os.urandom(10))
    value = value & ~(0xF << 76) | 0x7 << 76  # the version, 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # the variant, RFC 9562's
    return uuid.UUID(int=value)


class JobQuerySet(models.QuerySet):
    def owned_by(self, session_key: str | None) -> "JobQuerySet":
        """Jobs that belong to this browser session (none without a session)."""
        if not session_key:
            return self.none()
        return self.filter(session_key=session_key)

    def active(self) -> "JobQuerySet":
        """Jobs that have not reached a final state."""
        return self.filter(status__in=Job.ACTIVE_STATUSES)


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)

    id = models.UUIDField(primary_key=True, default=job_id_new, editable=False)
    session_key = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    analyzer = models.CharField(max_length=32)
    # What a person calls the job: its file's name, or the start of its first text
    # (services.job_title). Empty for jobs made before titles existed: see `heading`.
    title = models.CharField(max_length=100, blank=True, db_default="")
    queue = models.CharField(max_length=16)
    # Null until the input has been counted (by the worker for uploads).
    total = models.PositiveIntegerField(null=True, blank=True)
    # Always equal to the number of stored Result rows (written in one transaction).
    done = models.PositiveIntegerField(default=0)
    summary = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    # The error as a template and its parameters (worker.messages.Message.to_json), said in
    # the reader's language when shown; null for jobs failed before templates (their English stands).
    error_text = models.JSONField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Rows of an upload with no usable text: how many, and the first few
    # as {"row": spreadsheet row number, "reason": "...", "text": the reason's Message}.
    skipped = models.PositiveIntegerField(default=0)
    skipped_examples = models.JSONField(default=list, blank=True)
    # What the user should know about the results, as [{"code", "message", "text"}] ("text": Message):
    # e.g. most texts are in a language the analyzer does not read.
    warnings = models.JSONField(default=list, blank=True, db_default=[])
    # Fan-out: null until the input has been split (0 when processed inline).
    chunks_total = models.PositiveIntegerField(null=True, blank=True)
    chunks_done = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Webhook (worker/webhooks.py): where to POST the job when it ends, the token
    # whose secret signs it (none: the owner's page secret), and the deliveries
    # so far as {"url", "attempts", "last_status", "last_error", "delivered_at"}.
    callback_url = models.CharField(max_length=2000, blank=True, default="", db_default="")
    webhook_token = models.ForeignKey(
        "ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    webhook = models.JSONField(null=True, blank=True)
    # The input's own table: its column names in order ([] for pasted plain
    # texts; ["id", "text"] for JSON objects), and the one analyzed. Each
    # Result keeps its row's other cells, so downloads give the table back.
    columns = models.JSONField(default=list, blank=True, db_default=[])
    text_column = models.CharField(max_length=255, blank=True, default="", db_default="")
    # The column the job page groups results by (chosen at submit or later on the page); "" for none.
    group_by = models.CharField(max_length=255, blank=True, default="", db_default="")

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["session_key", "-created_at"], name="job_session_recent")]

    def __str__(self) -> str:
        return f"Job {self.id} ({self.status})"

    @property
    def heading(self) -> str:
        """The job's title, or the end of its id when it has none (random; its start is a time)."""
        return self.title or gettext("Job %(id)s") % {"id": str(self.id)[-8:]}

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def is_partial(self) -> bool:
        """Canceled or failed after storing some results: they stay, but cover part of the input."""
        return self.status in (self.Status.CANCELED, self.Status.FAILED) and self.done > 0

    @property
    def percent(self) -> float:
        if self.status == self.Status.SUCCEEDED:
            return 100.0
        if not self.total:
            return 0.0
        return round(100.0 * self.done / self.total, 1)


class JobInput(models.Model):
    """The raw input of a job, kept in Postgres: web and worker dynos share no disk."""

    class Format(models.TextChoices):
        # A JSON array of strings (from the API or the paste box).
        TEXTS = "texts"
        CSV = "csv"
        TSV = "tsv"
        TXT = "txt"
        JSONL = "jsonl"
        # An Excel workbook as uploaded: the worker's first pass converts the
        # chosen sheet to CSV and stores that instead (worker/workbooks.py).
        XLSX = "xlsx"

    job = models.OneToOneField(Job, on_delete=models.CASCADE, primary_key=True, related_name="input")
    format = models.CharField(max_length=16, choices=Format.choices)
    # An upload is stored as zlib blocks (worker/storedinput.py), their
    # compressed lengths in `blocks`; pasted texts, and uploads stored before
    # blocks, as they are (`blocks` empty). Postgres does not compress it
    # again (STORAGE EXTERNAL, migration 0002), so the worker reads one block
    # per query without Postgres inflating the whole value each time. Emptied
    # once the job has ended.
    data = models.BinaryField()
    blocks = models.JSONField(default=list, blank=True, db_default=[])
    # Bytes of the file in each block (the last may hold fewer): where a byte range's blocks are.
    block_bytes = models.PositiveIntegerField(null=True, blank=True)
    # Bytes of the file as uploaded.
    size = models.PositiveBigIntegerField()
    filename = models.CharField(max_length=255, blank=True)
    # How to read an upload, as worker.inputs.inspect() decided: encoding,
    # delimiter, column, column_index, has_header.
    options = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"Input of job {self.job_id} ({self.format}, {self.size} bytes)"


class Result(models.Model):
    """One analyzed input text; `(job, idx)` is its key, so retries cannot duplicate it."""

    class Label(models.TextChoices):
        POSITIVE = "positive"
        NEUTRAL = "neutral"
        NEGATIVE = "negative"

    # The key a result is found and stored by: no surrogate id, whose 8 bytes and
    # index a row cost for nothing (README, "Storage"). Its index serves every
    # read of a job's results in input order, and the worker's ON CONFLICT.
    # The table's column order (no padding) and the key's fill factor are
    # migration 0016's: Django's state holds neither.
    pk = models.CompositePrimaryKey("job", "idx")
    # No foreign key constraint in the database: Postgres checked it once per
    # row when a chunk's transaction committed, over half of the server's CPU
    # for a COPY of results (0.18 vs 0.08 CPU-s per 23,000 rows). The code
    # keeps the same guarantee: every insert shares a transaction with a
    # compare-and-set on the job row while the job is running (none if it is
    # gone), and only ended jobs are deleted, with their results (the ORM's
    # cascade deletes them in the same transaction).
    job = models.ForeignKey(
        Job, on_delete=models.CASCADE, related_name="results", db_index=False, db_constraint=False
    )
    idx = models.PositiveIntegerField()
    # The row number a spreadsheet shows for it (the header is row 1); for
    # pasted texts, idx + 1. Null for results stored before rows were kept.
    row = models.PositiveIntegerField(null=True, blank=True)
    text = models.TextField()
    # The row's cells in Job.columns order, as strings, with null in the
    # text column's place (the text is `text`, not stored twice). Null when
    # the input has no columns (pasted plain texts).
    cells = models.JSONField(null=True, blank=True)
    label = models.CharField(max_length=8, choices=Label.choices)
    compound = models.FloatField()
    pos = models.FloatField()
    neu = models.FloatField()
    neg = models.FloatField()

    class Meta:
        ordering = ["job", "idx"]
        # The job page sorted by score: without it Postgres sorts all of a job's results for
        # each page (0.6 s for a million; README, "Groups and trends" has the figures).
        indexes = [models.Index(fields=["job", "compound"], name="result_job_compound")]

    def __str__(self) -> str:
        return f"Result {self.idx} of job {self.job_id}: {self.label}"


class SkippedRow(models.Model):
    """A row of the input with no text to analyze: kept so downloads have every row of the upload."""

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="skipped_rows", db_index=False)
    row = models.PositiveIntegerField()
    cells = models.JSONField(null=True, blank=True)
    reason = models.TextField()
    # The reason as a template and its parameters, said in the reader's language (null: older rows).
    reason_text = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["job", "row"]
        constraints = [models.UniqueConstraint(fields=["job", "row"], name="skippedrow_job_row_unique")]

    def __str__(self) -> str:
        return f"Skipped row {self.row} of job {self.job_id}"


class JobChunk(models.Model):
    """A slice of a big job's texts that any worker can analyze (fan-out)."""

    class Status(models.TextChoices):
        PENDING = "pending"  # written, waiting for a queue slot
        QUEUED = "queued"  # on the bulk queue
        DONE = "done"  # results stored

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chunks", db_index=False)
    seq = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    # Where the chunk's rows are in the job's stored input: a byte range of an
    # uploaded file (a list range of pasted texts), end exclusive, which the
    # chunk job reads and parses itself (worker/storedinput.py), with the
    # idx and row number of its first row and the idx of its last. The texts
    # are not written again.
    start = models.PositiveBigIntegerField(null=True, blank=True)
    end = models.PositiveBigIntegerField(null=True, blank=True)
    idx_first = models.PositiveIntegerField(null=True, blank=True)
    idx_last = models.PositiveIntegerField(null=True, blank=True)
    row_first = models.PositiveIntegerField(null=True, blank=True)
    # Texts in the chunk (rows without text in its range are not counted).
    size = models.PositiveIntegerField()
    # Runs of the chunk the reconciler found lost (Redis had lost its RQ job,
    # or the worker running it had died) and counted before enqueueing it
    # again: capped, so a chunk that kills its worker every time fails the
    # job instead of looping.
    requeues = models.PositiveIntegerField(db_default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="chunk_job_seq_unique")]
        indexes = [models.Index(fields=["job", "status", "seq"], name="chunk_job_status_seq")]

    def __str__(self) -> str:
        return f"Chunk {self.seq} of job {self.job_id} ({self.status})"


class ApiToken(models.Model):
    """A token a program sends as `Authorization: Bearer ...`; it acts for the owner that made it.

    Only the SHA-256 of the token is stored, so the database holds nothing a
    caller could send. The webhook secret is not stored either: it is derived
    from SECRET_KEY and `secret_salt` (worker/webhooks.py), so it can sign
    deliveries, and it changes if SECRET_KEY does.
    """

    name = models.CharField(max_length=100)
    # The owner of the jobs the token sees: a browser session key, or
    # "user:<id>" with LOGIN_REQUIRED (web/sessions.py).
    owner_key = models.CharField(max_length=64, db_index=True)
    # The first characters of the token (its "smt_" prefix and a few more), to tell tokens apart.
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    secret_salt = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Revoked tokens stay (a job they submitted still signs its webhook with their secret).
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ColumnStats(models.Model):
    """A finished job's results counted by the values of one of its columns, written when it ends.

    For a column of few values (groups): one entry per value; for a column of
    dates (trends): one per day. Each entry is `[key, count, positive,
    neutral, negative, score_sum]`, the key being the cell (null for an empty
    one) or the day in ISO form. The page and the API read these instead of
    aggregating a big job's results on every view (worker/breakdowns.py).
    """

    class Kind(models.TextChoices):
        GROUPS = "groups"
        DATES = "dates"

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="column_stats", db_index=False)
    # The column's place in Job.columns.
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # Distinct non-empty values of the column over the job (groups), or days (dates).
    distinct = models.PositiveIntegerField()
    # Dates: how the column's cells were read ({"day_first", "serials"}), and
    # how many results had no readable date.
    reading = models.JSONField(default=dict, blank=True)
    undated = models.PositiveIntegerField(default=0)
    entries = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "position", "kind"], name="columnstats_job_position_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind} of column {self.position} of job {self.job_id}"
