"""`python manage.py runworker`: the Procfile's `worker:` process (one worker, or a supervisor of several)."""

import gc
import logging
import os

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, connections
from django.db.migrations.executor import MigrationExecutor

# RQ imports a job's function by name in each work horse: imported here, in
# the parent, before any fork, the horses (and the workers a supervisor forks)
# find worker.tasks (and with it worker.pipeline and worker.inputs) loaded
# instead of importing, and without bytecode caches compiling, them again.
import worker.tasks  # noqa: F401
from worker.process import analyzers_preload, worker_run
from worker.supervisor import ConcurrencyInvalid, Supervisor, concurrency_choose, dyno_inspect

logger = logging.getLogger("worker.supervisor")


class Command(BaseCommand):
    help = "Run WORKER_CONCURRENCY RQ workers (default: one per CPU) on the quick queue first, then bulk."

    def add_arguments(self, parser):
        parser.add_argument("--burst", action="store_true", help="Exit once the queues are empty.")
        parser.add_argument("--name", default=None, help="Worker name (default: RQ's random one).")
        parser.add_argument("--max-jobs", type=int, default=None, help="Exit after this many jobs.")

    def handle(self, *args, burst: bool, name: str | None, max_jobs: int | None, **options):
        self._database_check()
        analyzers_preload()
        # Nothing the workers may share crosses a fork: the check's connection is closed here,
        # and the Redis connections are made by each worker (redis-py's pools also reset
        # themselves in a forked process).
        connections.close_all()
        # What is loaded by now lives as long as the worker: keep the garbage
        # collector from walking it again at each full collection (see config/gunicorn.py),
        # which would also write to, and so unshare, pages the forked workers share.
        gc.freeze()
        try:
            concurrency = concurrency_choose(dyno_inspect(), os.environ.get("WORKER_CONCURRENCY"))
        except ConcurrencyInvalid as exc:
            raise CommandError(str(exc)) from exc
        logger.info("worker concurrency %s: %s", concurrency.count, concurrency.reason)
        if concurrency.count == 1:
            # One worker is this process itself, as before there was a supervisor: no process
            # more, no signal passed on, the same shutdown and the same memory.
            worker_run(name=name, burst=burst, max_jobs=max_jobs)
            return

        def work(index: int) -> int:
            return worker_run(name=f"{name}.{index + 1}" if name else None, burst=burst, max_jobs=max_jobs)

        supervisor = Supervisor(
            concurrency.count,
            work,
            before_fork=connections.close_all,
            restart_clean_exits=not burst and max_jobs is None,
        )
        status = supervisor.run()
        if status:
            raise SystemExit(status)

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
