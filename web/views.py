"""Browser pages: they work without JavaScript, except the live progress bar."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from web import limits, selectors, services
from web.exceptions import JobNotFound, SentimeterError
from web.forms import SubmitForm
from web.models import Result
from web.sessions import session_key_ensure, session_key_get
from worker.queues import get_redis

logger = logging.getLogger(__name__)

RESULTS_PER_PAGE = 50


def _limits() -> dict:
    conf = settings.SENTIMETER
    return {
        "max_texts": conf["MAX_TEXTS_PER_JOB"],
        "max_text_chars": conf["MAX_TEXT_CHARS"],
        "max_upload_mb": conf["MAX_UPLOAD_BYTES"] // (1024 * 1024),
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
                    analyzer=data["analyzer"],
                )
            else:
                job = services.job_create(
                    session_key=session_key,
                    texts=services.texts_from_paste(data["texts"]),
                    analyzer=data["analyzer"],
                )
        except SentimeterError as exc:
            form.add_error("file" if data["file"] else "texts", exc.message)
            status = exc.status
            if exc.retry_after:
                headers["Retry-After"] = str(exc.retry_after)
        else:
            return _see_other(job.pk)
    response = render(request, "web/home.html", {"form": form, "limits": _limits()}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


@require_GET
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    """Show a job: its progress, then its summary and a page of results."""
    try:
        job = selectors.job_get(job_id=job_id, session_key=session_key_get(request))
    except JobNotFound:
        raise Http404("No such job.") from None
    label = request.GET.get("label") or None
    if label not in (None, *Result.Label.values):
        label = None
    paginator = Paginator(selectors.results_queryset(job=job, label=label), RESULTS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "web/job_detail.html",
        {
            "job": job,
            "page": page,
            "label": label,
            "labels": Result.Label.values,
            "bars": _histogram_bars(job.summary),
            "shares": _label_shares(job.summary),
            "poll_interval": settings.SENTIMETER["POLL_INTERVAL"],
        },
    )


@require_POST
def job_cancel(request: HttpRequest, job_id: str) -> HttpResponse:
    """Cancel from the job page's button (303 back to the page)."""
    try:
        job = selectors.job_get(job_id=job_id, session_key=session_key_get(request))
        services.job_cancel(job=job)
    except JobNotFound:
        raise Http404("No such job.") from None
    except SentimeterError:
        pass  # Already finished: the page shows how.
    return _see_other(job_id)


def _see_other(job_id) -> HttpResponseRedirect:
    """Redirect to the job page with 303, so a reload does not post the form again."""
    response = HttpResponseRedirect(reverse("job-detail", args=[str(job_id)]))
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


def _histogram_bars(summary: dict | None) -> list[dict]:
    """Lay out the compound histogram as SVG bars (heights in a 0-100 box)."""
    if not summary or not summary.get("histogram"):
        return []
    bins = summary["histogram"]
    peak = max(b["count"] for b in bins) or 1
    width = 100.0 / len(bins)
    bars = []
    for i, b in enumerate(bins):
        height = 100.0 * b["count"] / peak
        mid = (b["start"] + b["end"]) / 2
        kind = "positive" if mid >= 0.05 else "negative" if mid <= -0.05 else "neutral"
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
