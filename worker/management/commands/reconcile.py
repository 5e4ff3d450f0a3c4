"""`python manage.py reconcile`: one reconciler pass by hand (workers also run it on their own)."""

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from worker.reconcile import reconcile


class Command(BaseCommand):
    help = (
        "Enqueue again every queued or running job (and chunk) that Redis lost or a dead worker held, "
        "and finalize jobs whose chunks are all stored. Safe to run at any time."
    )

    def handle(self, *args, **options):
        try:
            report = reconcile()
        except RedisError as exc:
            raise CommandError(f"Redis is not answering ({exc}); check REDIS_URL.") from exc
        self.stdout.write(
            f"{report.checked} active jobs checked; enqueued again: {len(report.jobs_enqueued)} jobs, "
            f"{len(report.chunks_enqueued)} chunks; finalized: {len(report.finalized)} jobs; "
            f"failed (worker lost every time): {len(report.failed)} jobs."
        )
        for job_id in report.jobs_enqueued:
            self.stdout.write(f"  job {job_id}: enqueued again")
        for rq_id in report.chunks_enqueued:
            self.stdout.write(f"  {rq_id}: enqueued again")
        for job_id in report.finalized:
            self.stdout.write(f"  job {job_id}: finalized")
        for job_id in report.failed:
            self.stdout.write(f"  job {job_id}: failed, its worker was lost every time")
