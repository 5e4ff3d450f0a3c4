"""Browser pages: they work without JavaScript, except the live progress bar."""

from __future__ import annotations

import logging
from math import ceil
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from web import limits, selectors, services, tokens
from web.exceptions import JobNotFound, SentimeterError, TokenNotFound
from web.forms import SubmitForm
from web.messages import job_error, job_warnings, message_say, skipped_examples
from web.models import Job, Result
from web.sessions import session_key_ensure, session_key_get
from web.table import columns_kept
from worker.dates import BUCKETS
from worker.queues import get_redis
from worker.webhooks import owner_webhook_secret

logger = logging.getLogger(__name__)

RESULTS_PER_PAGE = 50
# Pages a sorted or filtered view of the results reaches. Postgres walks the results in
# order to a page (or, guessing a group rarer than it is, scans them all: 0.45 s for page 40
# of a group of 5 % of a million results); README, "The pages".
MAX_PAGES = 20
# The two sides of "What drives it", in the order the page shows them.
SIDES = ("negative", "positive")
# Texts longer than this (or on several lines) are folded in the results table to
# their first lines, with the rest a click away: the page's height must not grow
# with the length of the reviews.
LONG_TEXT_CHARS = 200
# A sort the page offers only while a job runs (the API's sorts are selectors.SORTS).
LATEST = "latest"
BUCKET_NAMES = {"day": gettext_lazy("day"), "week": gettext_lazy("week"), "month": gettext_lazy("month")}
BUCKET_CHOICES = [
    ("day", gettext_lazy("Days")),
    ("week", gettext_lazy("Weeks")),
    ("month", gettext_lazy("Months")),
]
SORT_CHOICES = [
    ("idx", gettext_lazy("Input order")),
    ("-compound", gettext_lazy("Most positive first")),
    ("compound", gettext_lazy("Most negative first")),
]


def _limits() -> dict:
    conf = settings.SENTIMETER
    return {
        "max_texts": f"{conf['MAX_TEXTS_PER_JOB']:,}",
        "max_text_chars": f"{conf['MAX_TEXT_CHARS']:,}",
        "max_upload": filesizeformat(conf["MAX_UPLOAD_BYTES"]),
        "max_active_jobs": conf["MAX_ACTIVE_JOBS_PER_SESSION"],
        "submits_per_minute": conf["SUBMITS_PER_MINUTE"],
    }


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Show the submit form."""
    return render(request, "web/home.html", {"form": SubmitForm(), "limits": _limits()})


@require_http_methods(["GET", "POST"])
def jobs(request: HttpRequest) -> HttpResponse:
    """List this browser's jobs (GET) or submit the form (POST, 303 to the job page)."""
    if request.method == "GET":
        jobs_ = selectors.job_list(session_key=session_key_get(request))
        return render(request, "web/job_list.html", {"jobs": jobs_})
    form = SubmitForm(request.POST, request.FILES)
    status, headers = 400, {}
    if form.is_valid():
        data = form.cleaned_data
        try:
            session_key = session_key_ensure(request)
            limits.job_admit(request, session_key=session_key)
            if data["file"]:
                job = services.job_create_from_upload(
                    session_key=session_key,
                    upload=data["file"],
                    column=data["column"],
                    encoding=data["encoding"],
                    sheet=data["sheet"],
                    analyzer=data["analyzer"],
                    group_by=data["group_by"] or None,
                    callback_url=data["callback_url"],
                )
            else:
                job = services.job_create(
                    session_key=session_key,
                    texts=services.texts_from_paste(data["texts"]),
                    analyzer=data["analyzer"],
                    group_by=data["group_by"] or None,
                    callback_url=data["callback_url"],
                )
        except SentimeterError as exc:
            form.add_error(_error_field(exc, upload=bool(data["file"])), message_say(exc.localizable))
            status = exc.status
            if exc.retry_after:
                headers["Retry-After"] = str(exc.retry_after)
        else:
            return _see_other(job.pk)
    context = {"form": form, "limits": _limits(), "file_lost": bool(request.FILES)}
    response = render(request, "web/home.html", context, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _own_job(request: HttpRequest, job_id: str) -> Job:
    """This browser's (or user's) job; 404 for any other, as if it did not exist."""
    try:
        return selectors.job_get(job_id=job_id, session_key=session_key_get(request))
    except JobNotFound:
        raise Http404("No such job.") from None


@require_GET
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    """Show a job: its progress, then its summary and a page of results."""
    job = _own_job(request, job_id)
    table = _results_table(request, job)
    summary = selectors.job_summary(job)
    analyzer = selectors.analyzer_of(job)
    summary_ = summary or {}
    peak = max((b["count"] for b in summary_.get("histogram") or []), default=0)
    ticks = count_ticks(peak)
    progress = selectors.job_progress(job, now=timezone.now())
    breakdown = _breakdowns(request, job, group_by=table["group_by"], columns=table["columns"])
    if breakdown.get("breakdown_columns") and table["group"]:
        # The group the table is filtered to: what drives it, beside its texts.
        details = selectors.group_drivers(job, by=table["group_by"], group=table["group"])
        breakdown["group_drivers_block"] = drivers_block(details, by=table["group_by"], group=table["group"])
    return render(
        request,
        "web/job_detail.html",
        {
            "job": job,
            # What the worker stored, said in the reader's language.
            "job_error": job_error(job),
            "job_warnings": job_warnings(job),
            "skipped_examples": skipped_examples(job),
            "analyzer": analyzer,
            "summary": summary,
            "input": selectors.job_input_describe(job),
            "progress": progress,
            "elapsed": duration_text(progress.elapsed),
            "remaining": remaining_text(progress.remaining),
            "rate": rate_text(progress.rate),
            "labels": Result.Label.values,
            "bars": _histogram_bars(summary, top=ticks[-1]),
            "bars_peak": peak,
            "count_ticks": ticks,
            "gridlines": [round(100.0 - 100.0 * t / ticks[-1], 3) for t in ticks],
            "long_text_chars": LONG_TEXT_CHARS,
            "shares": _label_shares(summary),
            "split": _label_split(summary),
            # Summaries stored before these existed have neither.
            "drivers_block": drivers_block(summary_),
            "poll_interval": settings.SENTIMETER["POLL_INTERVAL"],
            "kept_columns": columns_kept(job),
            **table,
            **breakdown,
        },
    )


# The order a group's stacked bar shows the labels in: negative first, as the groups are sorted.
GROUP_BAR_LABELS = ("negative", "neutral", "positive")


def _breakdowns(request: HttpRequest, job: Job, *, group_by: str, columns) -> dict:
    """The groups and trend sections of a finished job's page (a running one's would cost every poll)."""
    if columns is None or not job.is_final or not job.done:
        return {"breakdown_columns": None}
    context: dict = {"breakdown_columns": columns, "group_rows": [], "trend": None}
    if group_by:
        groups = selectors.job_groups(job=job, by=group_by)
        context["group_rows"] = _group_rows(groups)
        context["groups_truncated"] = groups.truncated
    if columns.dates:
        column = request.GET.get("trend")
        if column not in columns.dates:
            column = columns.dates[0]
        bucket = request.GET.get("bucket")
        if bucket not in BUCKETS:
            bucket = None
        trend = selectors.job_trend(job=job, by=column, bucket=bucket)
        context.update(
            trend=trend,
            trend_chart=_trend_chart(trend),
            trend_bucket_name=BUCKET_NAMES.get(trend.bucket, trend.bucket),
            buckets=BUCKET_CHOICES,
        )
    return context


def _group_rows(groups) -> list[dict]:
    """Lay out each group as a stacked SVG bar of its label shares (x and width in a 0-100 box)."""
    rows = []
    for g in groups.groups:
        x, parts = 0.0, []
        for label in GROUP_BAR_LABELS:
            width = 100.0 * getattr(g, label) / g.count if g.count else 0.0
            parts.append(
                {"label": label, "count": getattr(g, label), "x": round(x, 3), "width": round(width, 3)}
            )
            x += width
        rows.append(
            {
                "value": g.value,
                "count": g.count,
                "mean_score": g.mean_score,
                "parts": parts,
                "percent": {label: round(100.0 * g.share(label), 1) for label in GROUP_BAR_LABELS},
                "url": "?" + urlencode({"group": g.value}) + "#results" if g.value else None,
            }
        )
    return rows


def _trend_chart(trend) -> dict:
    """Lay out a trend: bars of each bucket's texts stacked by label, and a line of its mean score.

    Both in 0-100 boxes: the bars' top counts the axis's last tick; the
    line's top is a score of +1 and its bottom -1.
    """
    points = trend.points
    if not points:
        return {}
    peak = max(p.count for p in points)
    ticks = count_ticks(peak)
    top = ticks[-1]
    width = 100.0 / len(points)
    bars, line = [], []
    for i, p in enumerate(points):
        y = 100.0
        for label in GROUP_BAR_LABELS:
            height = 100.0 * getattr(p, label) / top
            y -= height
            if height:
                bars.append(
                    {
                        "label": label,
                        "x": round(i * width + width * 0.05, 3),
                        "width": round(width * 0.9, 3),
                        "y": round(y, 3),
                        "height": round(height, 3),
                        "count": getattr(p, label),
                        "start": p.start,
                    }
                )
        if p.count:
            line.append(
                {"x": round((i + 0.5) * width, 3), "y": round(50.0 - 50.0 * p.mean_score, 3), "point": p}
            )
    return {
        "bars": bars,
        "line": " ".join(f"{pt['x']},{pt['y']}" for pt in line),
        "dots": line,
        "count_ticks": ticks,
        "gridlines": [round(100.0 - 100.0 * t / top, 3) for t in ticks],
        "peak": peak,
        "first": points[0].start,
        "last": points[-1].start,
    }


@require_POST
def job_group(request: HttpRequest, job_id: str) -> HttpResponse:
    """Group the job's page by the column chosen in its form (303 back to the groups)."""
    job = _own_job(request, job_id)
    try:
        services.job_group_by_set(job=job, column=request.POST.get("group_by", ""))
    except SentimeterError:
        pass  # Not one of its columns (the form offers only those): the page stays as it was.
    return _see_other(job.pk, fragment="groups")


def drivers_block(details: dict, *, by: str | None = None, group: str | None = None) -> dict:
    """The context of web/_drivers.html: a job's "What drives it" (a summary), or one group's.

    `details` is a summary or selectors.group_drivers()'s answer. A group's
    block prefixes its element ids and keeps the group in its terms' links.
    """
    block = {
        "group": None,
        "prefix": "",
        "link_params": "",
        "count": details.get("count") or 0,
        "terms": [(side, (details.get("drivers") or {}).get(side, [])) for side in SIDES],
        "extremes": [(side, (details.get("extremes") or {}).get(side, [])) for side in SIDES],
    }
    if by:
        block.update(
            group=group or "", prefix="group-", link_params=urlencode({"by": by, "group": group or ""}) + "&"
        )
    return block


def _results_table(request: HttpRequest, job: Job) -> dict:
    """Read the table's GET parameters leniently (a bad one falls back to its default)."""
    label = request.GET.get("label") or ""
    if label not in Result.Label.values:
        label = ""
    q = request.GET.get("q", "").strip()[: selectors.MAX_QUERY_CHARS].replace("\x00", "")
    # While a job runs its page shows the rows stored last first, so each refresh shows new ones.
    running = job.status == Job.Status.RUNNING
    default = LATEST if running else "idx"
    sort = request.GET.get("sort") or default
    if sort not in selectors.SORTS and not (running and sort == LATEST):
        sort = default
    # The job's input columns, worked out only for a page that shows its groups and trends.
    columns = selectors.job_columns(job) if job.columns and job.is_final else None
    group_by = job.group_by if columns and job.group_by in columns.groupable else ""
    group = request.GET.get("group", "")[:1000] if group_by else ""
    if q:
        return {
            **_search_table(
                request, job, label=label, q=q, sort=sort, default=default, group=group, by=group_by
            ),
            "columns": columns,
        }
    # Input order, unfiltered, pages by idx however deep; other views page with OFFSET, which
    # scans every row before the page (0.7 s for the last of a million), so they stop at MAX_PAGES.
    keyset = sort == "idx" and not (label or group) and selectors.results_dense(job)
    cap = None if keyset else MAX_PAGES * RESULTS_PER_PAGE + 1
    count = selectors.results_count(job=job, label=label, group=group or None, by=group_by, cap=cap)
    pages = max(ceil(count / RESULTS_PER_PAGE), 1)
    capped = not keyset and pages > MAX_PAGES
    if capped:
        pages = MAX_PAGES
    number = _page_number(request, pages)
    offset = (number - 1) * RESULTS_PER_PAGE
    rows = selectors.results_queryset(
        job=job, label=label, sort=None if sort == LATEST else sort, group=group or None, by=group_by
    )
    if sort == LATEST:
        rows = rows.order_by(*selectors.LATEST_ORDER)
    rows = (
        rows.filter(idx__gte=offset)[:RESULTS_PER_PAGE]
        if keyset
        else rows[offset : offset + RESULTS_PER_PAGE]
    )
    params = _table_params(label=label, q=q, group=group, sort=sort, default=default)
    return {
        **_table_context(label=label, q=q, sort=sort, default=default, group=group, group_by=group_by),
        "rows": rows,
        "columns": columns,
        "result_count": count,
        # More results match than the pages reach; a count that stopped at the cap is a lower bound.
        "capped": capped,
        "count_more": cap is not None and count >= cap,
        **_pager(params, number=number, pages=pages, offset=offset, count=count),
    }


def _search_table(
    request: HttpRequest, job: Job, *, label: str, q: str, sort: str, default: str, group: str, by: str
) -> dict:
    """The results table searched for `q`: as many texts as SEARCH_SECONDS allows, from `?from=`.

    A search reads every text it looks at (no index serves ILIKE '%q%'), so
    the page searches the job in slices by idx for a bounded time and offers
    to search further from where it stopped (README, "The pages").
    """
    try:
        start = max(int(request.GET.get("from", 0)), 0)
    except ValueError:
        start = 0
    conf = settings.SENTIMETER
    scan = selectors.results_search(
        job=job,
        q=q,
        label=label,
        order=selectors.LATEST_ORDER if sort == LATEST else selectors.SORTS[sort],
        group=group or None,
        by=by,
        start=start,
        cap=MAX_PAGES * RESULTS_PER_PAGE,
        seconds=conf["SEARCH_SECONDS"],
        slice_rows=conf["SEARCH_SLICE_ROWS"],
    )
    count = len(scan.matches)
    pages = max(ceil(count / RESULTS_PER_PAGE), 1)
    number = _page_number(request, pages)
    offset = (number - 1) * RESULTS_PER_PAGE
    params = _table_params(label=label, q=q, group=group, sort=sort, default=default)
    further = scan.end < scan.span
    return {
        **_table_context(label=label, q=q, sort=sort, default=default, group=group, group_by=by),
        "rows": selectors.results_at(job=job, idxs=scan.matches[offset : offset + RESULTS_PER_PAGE]),
        "result_count": count,
        "capped": scan.more,
        "count_more": scan.more,
        # Texts before `start` or from `end` on were not searched: the count is a lower bound.
        "search_partial": not scan.complete,
        "search_first": scan.start + 1,
        "search_last": scan.end,
        "search_span": scan.span,
        "search_further_url": "?" + urlencode({**params, "from": scan.end}) if further else None,
        "search_again_url": "?" + urlencode(params) if scan.start else None,
        **_pager(
            {**params, **({"from": scan.start} if scan.start else {})},
            number=number,
            pages=pages,
            offset=offset,
            count=count,
        ),
    }


def _page_number(request: HttpRequest, pages: int) -> int:
    try:
        return min(max(int(request.GET.get("page", 1)), 1), pages)
    except ValueError:
        return 1


def _table_params(*, label: str, q: str, group: str, sort: str, default: str) -> dict:
    """The table's GET parameters that its links keep (a default sort left out)."""
    return {
        k: v
        for k, v in (("label", label), ("q", q), ("group", group), ("sort", sort if sort != default else ""))
        if v
    }


def _table_context(*, label: str, q: str, sort: str, default: str, group: str, group_by: str) -> dict:
    running = default == LATEST
    return {
        "label": label,
        "q": q,
        "sort": sort,
        "sort_default": default,
        "sorts": ([(LATEST, _("Latest analyzed first"))] if running else []) + SORT_CHOICES,
        "filtered": bool(label or q or group),
        "group": group,
        "group_by": group_by,
        "paged_rows": MAX_PAGES * RESULTS_PER_PAGE,
    }


def _pager(params: dict, *, number: int, pages: int, offset: int, count: int) -> dict:
    def page_url(n: int) -> str:
        return "?" + urlencode({**params, **({"page": n} if n > 1 else {})})

    return {
        "first_row": offset + 1 if count else 0,
        "last_row": min(offset + RESULTS_PER_PAGE, count),
        "page_number": number,
        "num_pages": pages,
        "prev_url": page_url(number - 1) if number > 1 else None,
        "next_url": page_url(number + 1) if number < pages else None,
    }


def duration_text(seconds: float | None) -> str:
    """Say a duration the way a person reads it: 45 s, 3 min 05 s, 2 h 07 min."""
    if seconds is None:
        return ""
    if seconds < 1:
        return _("under 1 s")
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("%(h)d h %(min)02d min") % {"h": hours, "min": minutes}
    if minutes:
        return _("%(min)d min %(s)02d s") % {"min": minutes, "s": secs}
    return _("%(s)d s") % {"s": secs}


def remaining_text(seconds: float | None) -> str:
    """Say an estimate of the time left."""
    if seconds is None:
        return ""
    return _("under 1 s") if seconds < 1 else _("about %(duration)s") % {"duration": duration_text(seconds)}


def rate_text(rate: float | None) -> str:
    """Say a rate in texts per second, with as many digits as are meaningful."""
    if rate is None:
        return ""
    return _("%(rate)s texts/s") % {"rate": f"{rate:,.0f}" if rate >= 10 else f"{rate:.1f}"}


@require_POST
def job_cancel(request: HttpRequest, job_id: str) -> HttpResponse:
    """Cancel from the job page's button (303 back to the page)."""
    job = _own_job(request, job_id)
    try:
        services.job_cancel(job=job)
    except SentimeterError:
        pass  # Already finished: the page shows how.
    return _see_other(job_id)


@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    """List this browser's API tokens and the page's webhook secret (GET), or make a token (POST)."""
    owner = session_key_ensure(request)
    context: dict = {"name_max": tokens.MAX_NAME_CHARS}
    status = 200
    if request.method == "POST":
        try:
            context["new"] = tokens.token_create(owner_key=owner, name=request.POST.get("name"))
        except SentimeterError as exc:
            context["error"], status = message_say(exc.localizable), exc.status
    context["tokens"] = tokens.token_list(owner_key=owner)
    context["page_secret"] = owner_webhook_secret(owner)
    response = render(request, "web/tokens.html", context, status=status)
    if "new" in context:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
def token_revoke(request: HttpRequest, token_id: str) -> HttpResponse:
    """Revoke a token from the tokens page (303 back to it)."""
    try:
        tokens.token_revoke(owner_key=session_key_get(request), token_id=token_id)
    except TokenNotFound:
        raise Http404("No such token.") from None
    response = HttpResponseRedirect(reverse("tokens"))
    response.status_code = 303
    return response


# Upload problems that are about one of the form's other fields, by error code.
ERROR_FIELDS = {
    "no_such_column": "column",
    "no_text_column": "column",
    "not_text_column": "column",
    "unknown_encoding": "encoding",
    "unknown_analyzer": "analyzer",
    "invalid_callback_url": "callback_url",
}
# Fields of both kinds of submit (the others belong to an upload only).
ANY_SUBMIT_ERRORS = ("unknown_analyzer", "invalid_callback_url")


def _error_field(exc: SentimeterError, *, upload: bool) -> str:
    """Return the form field an error is shown next to."""
    if exc.code in ERROR_FIELDS and (upload or exc.code in ANY_SUBMIT_ERRORS):
        return ERROR_FIELDS[exc.code]
    return "file" if upload else "texts"


def _see_other(job_id, *, fragment: str = "") -> HttpResponseRedirect:
    """Redirect to the job page (at `fragment`) with 303, so a reload does not post the form again."""
    response = HttpResponseRedirect(
        reverse("job-detail", args=[str(job_id)]) + (f"#{fragment}" if fragment else "")
    )
    response.status_code = 303
    return response


def _label_shares(summary: dict | None) -> list[dict]:
    if not summary or not summary.get("count"):
        return []
    count = summary["count"]
    return [
        {"label": label, "count": summary[label], "percent": round(100.0 * summary[label] / count, 1)}
        for label in Result.Label.values
    ]


def _label_split(summary: dict | None) -> list[dict]:
    """Lay out the label split as one stacked SVG bar (x and width in a 0-100 box)."""
    x = 0.0
    parts = []
    for share in _label_shares(summary):
        width = 100.0 * share["count"] / summary["count"]
        parts.append({**share, "x": round(x, 3), "width": round(width, 3), "mid": round(x + width / 2, 3)})
        x += width
    return parts


def count_ticks(peak: int) -> list[int]:
    """The histogram's count axis: 0 up to a round number at or above `peak`, in at most 4 equal steps.

    The steps are 1, 2 or 5 times a power of ten, so the labels read 0, 50, 100, 150.
    """
    if peak <= 0:
        return [0, 1]
    step = 1
    while True:
        for factor in (1, 2, 5):
            if peak <= 4 * step * factor:
                size = step * factor
                top = -(-peak // size) * size
                return list(range(0, top + 1, size))
        step *= 10


def _histogram_bars(summary: dict | None, *, top: int) -> list[dict]:
    """Lay out the score histogram as SVG bars (heights in a 0-100 box whose top counts `top` texts).

    Each bar has its commonest label's colour; summaries written before bins
    counted labels colour by the bin's side of 0.
    """
    if not summary or not summary.get("histogram"):
        return []
    bins = summary["histogram"]
    width = 100.0 / len(bins)
    bars = []
    for i, b in enumerate(bins):
        height = 100.0 * b["count"] / max(top, 1)
        kind = _bin_label(b)
        bars.append(
            {
                "x": round(i * width, 3),
                "width": round(width * 0.9, 3),
                "y": round(100.0 - height, 3),
                "height": round(height, 3),
                "count": b["count"],
                "start": b["start"],
                "end": b["end"],
                "kind": kind,
            }
        )
    return bars


def _bin_label(b: dict) -> str:
    """The label most of a histogram bin's texts have (neutral on a tie or an empty bin)."""
    if "neutral" not in b:
        # Written before bins counted labels: the bins at 0 hold the neutral scores.
        return "neutral" if b["start"] <= 0.0 <= b["end"] else "positive" if b["start"] > 0 else "negative"
    top = max(b["positive"], b["neutral"], b["negative"])
    winners = [label for label in ("positive", "neutral", "negative") if b[label] == top]
    return winners[0] if top and len(winners) == 1 else "neutral"


def login(request: HttpRequest) -> HttpResponse:
    """The sign-in page (LOGIN_REQUIRED), closed for a while (429) to an address that keeps failing."""
    try:
        limits.login_admit(request)
    except SentimeterError as exc:
        return _login_locked(exc)
    response = auth_views.LoginView.as_view(template_name="web/login.html", redirect_authenticated_user=True)(
        request
    )
    if request.method == "POST" and response.status_code == 200:
        limits.login_failed(request)
    return response


def _login_locked(exc: SentimeterError) -> HttpResponse:
    response = HttpResponse(
        message_say(exc.localizable), status=exc.status, content_type="text/plain; charset=utf-8"
    )
    if exc.retry_after:
        response["Retry-After"] = str(exc.retry_after)
    return response


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's login page, closed for a while (429) to an address that keeps failing."""
    try:
        limits.login_admit(request)
    except SentimeterError as exc:
        return _login_locked(exc)
    response = admin.site.login(request)
    if request.method == "POST" and response.status_code == 200:
        # The form came back with its error: a wrong user name or password.
        limits.login_failed(request)
    return response


@require_GET
def api_docs(request: HttpRequest) -> HttpResponse:
    """Interactive documentation of the JSON API (Swagger UI over /api/openapi.json)."""
    return render(request, "web/api_docs.html")


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Answer 200 when Postgres and Redis both answer, else 503."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        logger.exception("healthz: database check failed")
        checks["database"] = "unavailable"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception:
        logger.exception("healthz: redis check failed")
        checks["redis"] = "unavailable"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )
