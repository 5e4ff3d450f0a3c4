"""The worker process: RQ's Heroku-aware worker, made safe for Django.

RQ forks a work horse per job. A database connection (and its SSL state)
inherited across fork() is shared by two processes and breaks both, so the
parent closes every Django connection right before each fork; the horse
opens its own on first use.
"""

from __future__ import annotations

from django.db import connections
from rq.worker import HerokuWorker

from worker.analyzers import analyzer_names, get_analyzer


class SentimeterWorker(HerokuWorker):
    """HerokuWorker that closes Django's DB connections before every fork."""

    def fork_work_horse(self, job, queue):
        connections.close_all()
        super().fork_work_horse(job, queue)


def analyzers_preload() -> None:
    """Load every analyzer in the parent, so each forked horse starts warm."""
    for name in analyzer_names():
        get_analyzer(name)
