"""The job as the JSON API shows it (DESIGN.md, "HTTP contract")."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext

from web.messages import job_error, job_warnings, skipped_examples
from web.models import ApiToken, Job
from web.table import columns_kept
from worker.analyzers.base import LABELS, AnalyzerSpec
from worker.breakdowns import Columns, Groups, Trend
from worker.dates import BUCKETS


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def job_links(job: Job) -> dict[str, str]:
    """Return the URLs a client follows from a job."""
    pk = str(job.pk)
    return {
        "self": reverse("api-job-detail", args=[pk]),
        "page": reverse("job-detail", args=[pk]),
        "cancel": reverse("api-job-cancel", args=[pk]),
        "results": reverse("api-job-results", args=[pk]),
        "csv": reverse("api-job-results-csv", args=[pk]),
        "jsonl": reverse("api-job-results-jsonl", args=[pk]),
        "xlsx": reverse("api-job-results-xlsx", args=[pk]),
    }


def _webhook(job: Job) -> dict | None:
    """The job's webhook and its deliveries so far (null without a callback_url)."""
    if not job.callback_url:
        return None
    record = {
        "url": job.callback_url,
        "attempts": 0,
        "last_status": None,
        "last_error": None,
        "delivered_at": None,
    }
    return {**record, **(job.webhook or {})}


def job_to_dict(job: Job) -> dict:
    """Serialize a job for the API."""
    return {
        "id": str(job.pk),
        "title": job.heading,
        "status": job.status,
        "analyzer": job.analyzer,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "progress": {"done": job.done, "total": job.total, "percent": job.percent},
        "partial": job.is_partial,
        "error": {"code": job.error_code, "message": job_error(job)} if job.error_code else None,
        "summary": job.summary,
        "skipped": {"count": job.skipped, "examples": skipped_examples(job)},
        "warnings": job_warnings(job),
        "columns": {"all": list(job.columns or []), "text": job.text_column, "kept": columns_kept(job)},
        "webhook": _webhook(job),
        "links": job_links(job),
    }


def analyzer_to_dict(spec: AnalyzerSpec, *, default: str) -> dict:
    """Serialize an analyzer's spec for GET /api/analyzers/."""
    return {
        "name": spec.name,
        "label": gettext(spec.label),
        "description": gettext(spec.description),
        "languages": list(spec.languages),
        "default": spec.name == default,
        "texts_per_second": round(spec.texts_per_second, 1),
    }


def token_to_dict(record: ApiToken) -> dict:
    """Serialize a token for GET /api/tokens/: never its token or secret, which are not stored."""
    return {
        "id": record.pk,
        "name": record.name,
        "prefix": record.prefix,
        "created_at": _iso(record.created_at),
        "last_used_at": _iso(record.last_used_at),
    }


def new_token_to_dict(record: ApiToken, *, token: str, webhook_secret: str) -> dict:
    """Serialize a token just made: the only answer that holds its token and webhook secret."""
    return {
        "id": record.pk,
        "name": record.name,
        "token": token,
        "webhook_secret": webhook_secret,
        "created_at": _iso(record.created_at),
    }


def groups_to_dict(groups: Groups, *, columns: Columns) -> dict:
    """Serialize a job's groups: per value, its count, label counts and shares, and mean score."""
    return {
        "column": groups.column,
        "groups": [
            {
                "value": g.value,
                "count": g.count,
                **{label: getattr(g, label) for label in LABELS},
                "shares": {label: g.share(label) for label in LABELS},
                "mean_score": g.mean_score,
            }
            for g in groups.groups
        ],
        "truncated": groups.truncated,
        "suggested": columns.suggested,
    }


def trend_to_dict(trend: Trend) -> dict:
    """Serialize a job's trend: per bucket, its first day, count, label counts and mean score."""
    return {
        "column": trend.column,
        "bucket": trend.bucket,
        "buckets": list(BUCKETS),
        "day_first": trend.reading.day_first,
        "points": [
            {
                "start": p.start.isoformat(),
                "count": p.count,
                **{label: getattr(p, label) for label in LABELS},
                "mean_score": p.mean_score,
            }
            for p in trend.points
        ],
        "undated": trend.undated,
    }
