"""`python manage.py queuestats`: queue depth and the oldest waiting job, for operators."""

import json

from django.core.management.base import BaseCommand
from django.db.models import Min

from web.models import Job
from worker.queues import queue_stats


class Command(BaseCommand):
    help = "Show each queue's depth, its oldest queued job's age, and jobs waiting in Postgres."

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print one JSON object (for scripts)."
        )

    def handle(self, *args, as_json: bool = False, **options):
        stats = queue_stats()
        waiting = Job.objects.filter(status=Job.Status.QUEUED)
        oldest_created = waiting.aggregate(oldest=Min("created_at"))["oldest"]
        data = {
            "queues": [
                {
                    "name": s.name,
                    "depth": s.depth,
                    "oldest_age_seconds": s.oldest_age_seconds,
                    "running": s.running,
                    "failed": s.failed,
                }
                for s in stats
            ],
            "jobs_queued": waiting.count(),
            "jobs_running": Job.objects.filter(status=Job.Status.RUNNING).count(),
            "oldest_queued_job_created_at": oldest_created.isoformat() if oldest_created else None,
        }
        if as_json:
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(f"{'queue':<8} {'depth':>7} {'oldest (s)':>11} {'running':>8} {'failed':>7}")
        for q in data["queues"]:
            age = "-" if q["oldest_age_seconds"] is None else f"{q['oldest_age_seconds']:.1f}"
            self.stdout.write(f"{q['name']:<8} {q['depth']:>7} {age:>11} {q['running']:>8} {q['failed']:>7}")
        self.stdout.write(
            f"jobs in Postgres: {data['jobs_queued']} queued, {data['jobs_running']} running; "
            f"oldest queued since {data['oldest_queued_job_created_at'] or '-'}"
        )
