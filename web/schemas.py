"""The JSON API's shapes, declared once: web/openapi.py generates the document from them,
and web/api.py takes the fields a request may send from them.

Pydantic models (what django-ninja builds on), used for their JSON Schema: the
responses themselves are made by web/serializers.py, and tests/test_openapi.py
checks every real response against these shapes (extra="forbid" makes a field
added on one side only fail there). Limits and choices come from the code's own
constants and the analyzer registry, never typed here again.
"""

from __future__ import annotations

from typing import Annotated, Literal

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field

from web import models
from web.selectors import DEFAULT_PAGE, MAX_PAGE, MAX_QUERY_CHARS, SORTS, analyzer_list
from web.tokens import MAX_NAME_CHARS, TOKEN_PREFIX
from worker.breakdowns import MAX_GROUPS
from worker.dates import BUCKETS
from worker.inputs import ENCODINGS
from worker.webhooks import EVENTS, MAX_URL_CHARS

# What a user may write for "detect it" (worker.inputs.encoding_normalize).
ENCODING_AUTO = "auto"

Score = Annotated[float, Field(ge=-1, le=1)]
Share = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


def _analyzer_enum(schema: dict) -> None:
    """The registered analyzers, read when the document is made (a registry may gain one)."""
    schema["enum"] = [spec.name for spec in analyzer_list()]


def _analyzer_choice(schema: dict) -> None:
    _analyzer_enum(schema)
    schema["default"] = settings.SENTIMETER["DEFAULT_ANALYZER"]


def _texts_limit(schema: dict) -> None:
    """This deploy's MAX_TEXTS_PER_JOB (413 `too_many_texts` past it)."""
    schema["maxItems"] = settings.SENTIMETER["MAX_TEXTS_PER_JOB"]


def _text_limit(schema: dict) -> None:
    """This deploy's MAX_TEXT_CHARS (413 `text_too_long`), and what services.texts_validate refuses:
    a text with nothing but spaces (`empty_text`) or with a NUL character (no database stores one)."""
    schema["maxLength"] = settings.SENTIMETER["MAX_TEXT_CHARS"]
    schema["pattern"] = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"


class Shape(BaseModel):
    """A JSON object with exactly these fields."""

    model_config = ConfigDict(extra="forbid")


# --- errors -------------------------------------------------------------------------


class ErrorDetail(Shape):
    code: str = Field(description="Machine-readable, e.g. `too_many_texts` or `unknown_field`.")
    message: str = Field(description="What went wrong and what to do, in words.")


class Error(Shape):
    """Every answer that is not 2xx under /api/."""

    error: ErrorDetail


# --- jobs ---------------------------------------------------------------------------


class Progress(Shape):
    done: Count
    total: Count | None = Field(description="Null until counted.")
    percent: float = Field(ge=0, le=100)


class HistogramBin(Shape):
    start: Score
    end: Score
    count: Count
    positive: Count | None = Field(None, description="Of `count`, labelled positive.")
    neutral: Count | None = Field(None, description="Of `count`, labelled neutral.")
    negative: Count | None = Field(None, description="Of `count`, labelled negative.")


class Extreme(Shape):
    idx: Count
    row: int | None = Field(None, ge=1, description="As on Result (summaries written before rows have none).")
    text: str
    compound: Score


class Extremes(Shape):
    """The texts with the highest scores among those labelled positive, and the lowest among
    those labelled negative (up to 5 each, clipped to 300 characters)."""

    positive: list[Extreme]
    negative: list[Extreme]


class Driver(Shape):
    term: str
    z: float
    negative: Count = Field(description="Negative texts that have the term.")
    positive: Count = Field(description="Positive texts that have the term.")


class Drivers(Shape):
    """Words and two-word phrases over-represented in negative texts against positive ones, and
    the reverse: a log-odds ratio with an informative Dirichlet prior, z-scored (above 0: more
    negative), |z| >= 1.96, in at least 3 texts, up to 10 a side."""

    positive: list[Driver]
    negative: list[Driver]


class Summary(Shape):
    count: Count
    positive: Count
    neutral: Count
    negative: Count
    mean_compound: Score | None
    histogram: list[HistogramBin]
    extremes: Extremes | None = Field(None, description="Summaries written before 2026-12 have none.")
    drivers: Drivers | None = Field(None, description="Summaries written before 2026-12 have none.")


class JobError(Shape):
    code: str
    message: str


class SkippedRow(BaseModel):
    row: int
    reason: str


class Skipped(Shape):
    """Rows of an upload with no usable text: skipped, not failed."""

    count: Count
    examples: list[SkippedRow]


class WebhookRecord(Shape):
    """The job's webhook and its deliveries so far. A failed delivery never changes the job's status."""

    url: str
    attempts: Count
    last_status: int | None = Field(
        description="The HTTP status of the last attempt (null: none yet, or no answer)."
    )
    last_error: str | None = Field(description="Why the last attempt failed.")
    delivered_at: Time | None


class Links(BaseModel):
    """The URLs a client follows from a job (more may be added)."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": {"type": "string"}})

    self: str
    page: str
    cancel: str
    results: str
    csv: str
    jsonl: str
    xlsx: str


class JobColumns(Shape):
    """The input's columns in order (`all`; empty for texts without columns), the one analyzed
    (`text`) and the others, given back in the downloads (`kept`)."""

    all: list[str]
    text: str
    kept: list[str]


class Job(Shape):
    id: str = Field(json_schema_extra={"format": "uuid"})
    title: str = Field(
        description="The uploaded file's name or the start of the first text "
        '("Job" and the start of the id for jobs made before titles existed).'
    )
    status: Literal[tuple(models.Job.Status.values)]
    analyzer: str
    created_at: Time
    started_at: Time | None
    finished_at: Time | None
    progress: Progress
    partial: bool = Field(
        description="The job was canceled or failed after storing some results: they are kept, "
        "but cover only part of the input."
    )
    error: JobError | None
    summary: Summary | None
    skipped: Skipped
    warnings: list[JobError] = Field(
        description="What to know about the results, e.g. `language_unread`: most texts are in a "
        "language the job's analyzer does not read. Empty until the job succeeds."
    )
    webhook: WebhookRecord | None
    columns: JobColumns
    links: Links


class JobList(Shape):
    jobs: list[Job]


_CALLBACK_URL = Field(
    None,
    max_length=MAX_URL_CHARS,
    description="An https:// URL on a public address: when the job ends it is POSTed "
    '{"event", "job"} there, signed (see `webhooks`). 400 `invalid_callback_url` otherwise.',
)
_ANALYZER = Field(None, description="See GET /api/analyzers/.", json_schema_extra=_analyzer_choice)
_GROUP_BY = Field(
    None,
    max_length=models.Job._meta.get_field("group_by").max_length,
    description="The column the job's page groups results by; ignored if the input has no such column.",
)


class TextItem(BaseModel):
    """A text with fields of its own: they come back in the downloads, `id` on each result."""

    model_config = ConfigDict(extra="allow")

    text: Annotated[str, Field(json_schema_extra=_text_limit)]


class JobSubmit(Shape):
    """Texts as JSON."""

    texts: list[Annotated[str, Field(json_schema_extra=_text_limit)] | TextItem] = Field(
        min_length=1,
        description='Strings, or objects with a "text" field and any others ({"id": "A-17", "text": "..."}), '
        "all of one kind.",
        json_schema_extra=_texts_limit,
    )
    analyzer: str = _ANALYZER
    callback_url: str = _CALLBACK_URL
    group_by: str = _GROUP_BY


class JobUpload(Shape):
    """A file, as multipart/form-data."""

    file: bytes = Field(
        description="CSV, TSV, Excel (.xlsx), plain text (one text per line) or JSON Lines; one file."
    )
    column: str = Field(
        None, description="The column (or JSON field) holding the text (default: chosen by content)."
    )
    encoding: Literal[(ENCODING_AUTO, *ENCODINGS)] = Field(
        ENCODING_AUTO, description="Detected when left out (or `auto`); case does not matter."
    )
    sheet: str = Field(None, description="Excel workbooks: the sheet to read, by name (default: the first).")
    analyzer: str = _ANALYZER
    callback_url: str = _CALLBACK_URL
    group_by: str = _GROUP_BY


class WebhookEvent(Shape):
    event: Literal[tuple(EVENTS.values())]
    job: Job


# --- results ------------------------------------------------------------------------


class Result(Shape):
    idx: Count = Field(description="Position of the text in the input, from 0.")
    row: int | None = Field(
        ge=1,
        description="The row a spreadsheet shows it on (header = row 1); for texts sent as a list, "
        "idx + 1. Null for results stored before rows were kept.",
    )
    id: str | None = Field(
        None,
        description="The row's `id` (a JSON submit's object, or the input's `id` column), as text; "
        "only for inputs with one.",
    )
    text: str
    label: Literal[tuple(models.Result.Label.values)]
    compound: Score
    pos: Share
    neu: Share
    neg: Share


class ResultPage(Shape):
    count: Count
    offset: Count
    limit: int = Field(ge=1)
    results: list[Result]


class ResultQuery(Shape):
    """The query parameters of GET /api/jobs/{job_id}/results/."""

    offset: Count = 0
    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    label: Literal[tuple(models.Result.Label.values)] = None
    q: str = Field(
        None,
        max_length=MAX_QUERY_CHARS,
        description="Only results whose text contains this, in any case "
        "(no text holds a NUL character, so q may not either).",
        json_schema_extra={"pattern": "^[^\\u0000]*$"},
    )
    sort: Literal[tuple(SORTS)] = Field(
        "idx",
        description="idx: input order (default); compound: most negative first; "
        "-compound: most positive first.",
    )
    group: str = Field(None, description="Only results whose cell in column `by` is this value.")
    by: str = Field(None, description="The column `group` is a value of (default: the job's group_by).")


class TableRow(BaseModel):
    """One row of a download: the input's own columns by name (texts without columns: `row` and
    `text`), then ours. A skipped row has its reason in `sentiment_note` and no scores."""

    model_config = ConfigDict(extra="allow")

    sentiment: Literal[tuple(models.Result.Label.values)] | None
    score: Score | None
    positive: Share | None
    neutral: Share | None
    negative: Share | None
    sentiment_note: str | None


# --- groups, trends and what drives them --------------------------------------------


class LabelShares(Shape):
    positive: Share
    neutral: Share
    negative: Share


class Group(Shape):
    value: str | None = Field(description="The cell (null: empty).")
    count: int = Field(ge=1)
    positive: Count
    neutral: Count
    negative: Count
    shares: LabelShares
    mean_score: Score


class Groups(Shape):
    column: str
    groups: list[Group] = Field(description="Sorted by the share of negative texts, highest first.")
    truncated: bool = Field(description=f"More than {MAX_GROUPS} values: these are the biggest.")
    suggested: list[str] = Field(description="Columns of a few values each, such as products or stores.")


class GroupsQuery(Shape):
    """The query parameters of GET /api/jobs/{job_id}/groups/."""

    by: str = Field(description="A column of the job, not its text column.")


class TrendPoint(Shape):
    start: str = Field(json_schema_extra={"format": "date"})
    count: Count
    positive: Count
    neutral: Count
    negative: Count
    mean_score: Score | None


class Trend(Shape):
    column: str
    bucket: Literal[BUCKETS]
    buckets: list[Literal[BUCKETS]]
    day_first: bool = Field(description="Dates like 03/04/2026 were read day first.")
    points: list[TrendPoint] = Field(
        description="Every bucket from the first date to the last, empty ones included."
    )
    undated: Count = Field(description="Results with no readable date.")


class TrendQuery(Shape):
    """The query parameters of GET /api/jobs/{job_id}/trend/."""

    by: str = Field(description="A column of dates.")
    bucket: Literal[BUCKETS] = Field(None, description="Default: by the dates' span.")


class GroupDetails(Shape):
    """What drives one group of a job (or the whole job without `by`)."""

    by: str | None
    group: str | None
    count: Count
    positive: Count
    negative: Count
    extremes: Extremes | None
    drivers: Drivers | None


class GroupDetailsQuery(Shape):
    """The query parameters of GET /api/jobs/{job_id}/drivers/."""

    by: str = Field(None, description="A column of the job (not its text column); none: the whole job.")
    group: str = Field(None, description="A value of that column (empty: the rows with an empty cell).")


# --- analyzers, tokens, health ------------------------------------------------------------


class Analyzer(Shape):
    name: str = Field(description="What a job's `analyzer` names.", json_schema_extra=_analyzer_enum)
    label: str
    description: str
    languages: list[str] = Field(
        description="ISO 639-1 codes of the languages it reads (`latin`: other languages in Latin letters)."
    )
    default: bool = Field(description="Used when a job names no analyzer.")
    texts_per_second: float = Field(
        gt=0, description="Texts of about twenty words one worker process analyzes per second."
    )


class AnalyzerList(Shape):
    analyzers: list[Analyzer]


class TokenCreate(Shape):
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)


class NewToken(Shape):
    id: int
    name: str
    token: str = Field(
        pattern=f"^{TOKEN_PREFIX}",
        description="Send as `Authorization: Bearer <token>`. Shown only in this answer.",
    )
    webhook_secret: str = Field(
        pattern="^whsec_", description="Signs the webhooks of the jobs this token submits. Shown only here."
    )
    created_at: Time


class Token(Shape):
    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to tell it apart.")
    created_at: Time
    last_used_at: Time | None = Field(description="To the minute; null if never used.")


class TokenList(Shape):
    tokens: list[Token]


Check = Literal["ok", "unavailable"]


class Health(BaseModel):
    status: Check
    database: Check
    redis: Check


# Every shape the document lists under components.schemas (those they use come along).
COMPONENTS: tuple[type[BaseModel], ...] = (
    Error,
    Job,
    JobList,
    JobSubmit,
    JobUpload,
    WebhookEvent,
    Result,
    ResultPage,
    TableRow,
    Groups,
    Trend,
    GroupDetails,
    AnalyzerList,
    TokenCreate,
    NewToken,
    TokenList,
    Health,
)


def field_names(shape: type[BaseModel]) -> tuple[str, ...]:
    """The fields a request of this shape may send, in declaration order."""
    return tuple(shape.model_fields)
