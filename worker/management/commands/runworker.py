"""`python manage.py runworker`: the Procfile's `worker:` process."""

from django.core.management.base import BaseCommand
from django.db import connections
from django_rq import get_worker

from worker.process import SentimeterWorker, analyzers_preload
from worker.queues import QUEUE_NAMES


class Command(BaseCommand):
    help = "Run an RQ worker on the quick queue first, then bulk."

    def add_arguments(self, parser):
        parser.add_argument("--burst", action="store_true", help="Exit once the queues are empty.")
        parser.add_argument("--name", default=None, help="Worker name (default: RQ's random one).")
        parser.add_argument("--max-jobs", type=int, default=None, help="Exit after this many jobs.")

    def handle(self, *args, burst: bool, name: str | None, max_jobs: int | None, **options):
        analyzers_preload()
        worker = get_worker(*QUEUE_NAMES, worker_class=SentimeterWorker, name=name)
        connections.close_all()
        # The scheduler runs delayed retries (RETRY_INTERVALS in worker/queues.py).
        worker.work(burst=burst, with_scheduler=True, max_jobs=max_jobs, logging_level="INFO")
