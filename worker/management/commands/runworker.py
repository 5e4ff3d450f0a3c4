"""`python manage.py runworker`: the Procfile's `worker:` process."""

import gc

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django_rq import get_worker

# RQ imports a job's function by name in each work horse: imported here, in
# the parent, before any fork, the horses find worker.tasks (and with it
# worker.pipeline and worker.inputs) loaded instead of importing, and without
# bytecode caches compiling, them again for every chunk (~10 ms each).
import worker.tasks  # noqa: F401
from worker.process import SentimeterWorker, analyzers_preload
from worker.queues import QUEUE_NAMES


class Command(BaseCommand):
    help = "Run an RQ worker on the quick queue first, then bulk."

    def add_arguments(self, parser):
        parser.add_argument("--burst", action="store_true", help="Exit once the queues are empty.")
        parser.add_argument("--name", default=None, help="Worker name (default: RQ's random one).")
        parser.add_argument("--max-jobs", type=int, default=None, help="Exit after this many jobs.")

    def handle(self, *args, burst: bool, name: str | None, max_jobs: int | None, **options):
        self._database_check()
        analyzers_preload()
        # What is loaded by now lives as long as the worker: keep the garbage
        # collector from walking it again at each full collection (see config/gunicorn.py).
        gc.freeze()
        worker = get_worker(*QUEUE_NAMES, worker_class=SentimeterWorker, name=name)
        # The scheduler runs delayed retries (RETRY_INTERVALS).
        # Connections the parent opened are closed before each fork (worker/process.py).
        worker.work(burst=burst, with_scheduler=True, max_jobs=max_jobs, logging_level="INFO")

    def _database_check(self) -> None:
        """Refuse to start against an unreachable or unmigrated database."""
        try:
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as exc:
            raise CommandError(f"The database is not reachable: {exc}. Check DATABASE_URL.") from exc
        if pending:
            raise CommandError(
                f"The database has {len(pending)} unapplied migration(s); "
                "run `python manage.py migrate` first."
            )
