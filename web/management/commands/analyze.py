"""`python manage.py analyze FILE [--column C] [--wait]`: submit a file from a shell.

Made for `heroku run`: the file goes through the same service as a browser
upload (stored in Postgres, enqueued for the workers), and `--wait` shows a
progress bar read from the job's row until the job ends. The job belongs to
no browser session, so its pages and API answer 404 to browsers; with
`--wait` the command prints the summary itself.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from web import selectors, services
from web.exceptions import SentimeterError
from web.models import Job

# How often --wait reads the job's row: often enough for a smooth bar, rare
# enough to cost the database nothing.
WAIT_POLL_SECONDS = 0.5
# Exit status after Ctrl-C, as a shell reports a process ended by SIGINT.
EXIT_INTERRUPTED = 130


class Command(BaseCommand):
    help = "Analyze a CSV, TSV, text or JSON Lines file with the workers; --wait shows progress."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV, TSV, plain text (one text per line) or JSON Lines.")
        parser.add_argument("--column", default=None, help="CSV/TSV column with the text (default: guessed).")
        parser.add_argument("--encoding", default=None, help="The file's encoding (default: detected).")
        parser.add_argument(
            "--analyzer",
            default=None,
            choices=[spec.name for spec in selectors.analyzer_list()],
            help="Analyzer (default: DEFAULT_ANALYZER); GET /api/analyzers/ describes each.",
        )
        parser.add_argument(
            "--wait", action="store_true", help="Show progress until the job ends; exit 1 unless it succeeds."
        )

    def handle(self, *args, file: str, column, encoding, analyzer, wait: bool, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        try:
            with path.open("rb") as handle:
                job = services.job_create_from_upload(
                    # Jobs belong to a session; a command's job to one of its own.
                    session_key=f"cli-{uuid.uuid4().hex}",
                    upload=File(handle, name=path.name),
                    column=column,
                    encoding=encoding,
                    analyzer=analyzer,
                )
        except SentimeterError as exc:
            raise CommandError(exc.message) from None
        size = os.path.getsize(path)
        self.stdout.write(f"Job {job.pk} queued: {path.name} ({size:,} bytes), analyzer {job.analyzer}.")
        if not wait:
            self.stdout.write("The workers analyze it now; run with --wait to follow it.")
            return
        try:
            job = self._wait(job)
        except KeyboardInterrupt:
            self.stderr.write(
                f"\nStopped waiting. Job {job.pk} goes on running in the workers; nothing was canceled."
            )
            raise SystemExit(EXIT_INTERRUPTED) from None
        self._report(job)

    def _wait(self, job: Job) -> Job:
        """Show a tqdm bar of the job's progress until it reaches a final state; return it then."""
        with tqdm(total=job.total, unit="text", desc="Analyzing", file=sys.stderr, dynamic_ncols=True) as bar:
            while True:
                job.refresh_from_db(fields=["status", "done", "total", "summary", "error_message", "skipped"])
                if job.total is not None and bar.total != job.total:
                    bar.total = job.total
                    bar.refresh()
                bar.update(job.done - bar.n)
                bar.set_postfix_str(job.status, refresh=False)
                if job.is_final:
                    return job
                time.sleep(WAIT_POLL_SECONDS)

    def _report(self, job: Job) -> None:
        if job.status == Job.Status.FAILED:
            raise CommandError(f"Job {job.pk} failed: {job.error_message}")
        if job.status == Job.Status.CANCELED:
            total = f"{job.total:,}" if job.total is not None else "?"
            raise CommandError(
                f"Job {job.pk} was canceled after {job.done:,} of {total} texts; its results are partial."
            )
        summary = job.summary or {}
        count = summary.get("count") or 0
        self.stdout.write(self.style.SUCCESS(f"Job {job.pk} succeeded: {count:,} texts."))
        for label in ("positive", "neutral", "negative"):
            n = summary.get(label, 0)
            self.stdout.write(f"  {label:<9} {n:>10,}  {100.0 * n / count if count else 0:5.1f}%")
        self.stdout.write(f"  mean compound {summary.get('mean_compound')}")
        if job.skipped:
            self.stdout.write(f"  {job.skipped:,} rows without text were skipped.")
