"""`python manage.py purgejobs`: delete old finished jobs now (workers also do it hourly)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from worker.reconcile import jobs_purge


class Command(BaseCommand):
    help = "Delete jobs (input, chunks, results) that ended more than --days days ago (RETENTION_DAYS)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Keep jobs that ended within this many days (default: RETENTION_DAYS).",
        )

    def handle(self, *args, days: int | None, **options):
        if days is None:
            days = settings.SENTIMETER["RETENTION_DAYS"]
            if days <= 0:
                raise CommandError("Retention is off (RETENTION_DAYS=0); pass --days N to purge anyway.")
        elif days <= 0:
            raise CommandError("--days must be at least 1.")
        deleted = jobs_purge(days=days)
        self.stdout.write(f"Deleted {deleted} jobs that ended more than {days} days ago.")
