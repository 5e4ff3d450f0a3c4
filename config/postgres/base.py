"""Django's PostgreSQL backend, with a health check that costs no round trip.

With CONN_HEALTH_CHECKS, Django checks a kept connection before the first
query of each request by sending `SELECT 1`: a round trip to Postgres per
request, a quarter of a poll's time in the web process under load
(py-spy, tests/benchmarks/bench_load.py). Between requests a healthy
connection is idle and the server has nothing to send; one the server
closed (a restart, a failover, pg_terminate_backend) has a readable socket:
its farewell message, then EOF. So an idle connection is checked with a
zero-timeout poll of its socket; in any other state, Django's own check.
A server that vanished without a word (a cut cable) is not seen this way;
the request that finds out fails and its connection is dropped, as before
the check existed.

It also says plainly when Postgres refuses a new connection because it has
too many: every web thread and worker process holds one, and Heroku's
smaller plans allow a few tens (README "Connections"). The error itself
still goes up to the caller (a failed request, a job retried later).
"""

from __future__ import annotations

import logging
import os
import select

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq

logger = logging.getLogger(__name__)

# Postgres's SQLSTATE for every form of it: "too many connections for role" or
# "for database" (a CONNECTION LIMIT), "sorry, too many clients already" and
# "remaining connection slots are reserved ..." (max_connections). A refusal at
# connect time reaches psycopg as libpq's message, often without the code.
TOO_MANY_CONNECTIONS = "53300"
TOO_MANY_PHRASES = ("too many connections", "too many clients", "remaining connection slots are reserved")


def too_many_connections(exc: BaseException) -> bool:
    """Whether a connection error is Postgres refusing one more connection."""
    if getattr(exc, "sqlstate", None) == TOO_MANY_CONNECTIONS:
        return True
    message = str(exc).lower()
    return any(phrase in message for phrase in TOO_MANY_PHRASES)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        try:
            return super().get_new_connection(conn_params)
        except psycopg.OperationalError as exc:
            if too_many_connections(exc):
                logger.warning(
                    "Postgres refused a new connection: it has too many (%s). This process (pid %s) "
                    "cannot reach the database until others close theirs. Each web thread "
                    "(WEB_CONCURRENCY x GUNICORN_THREADS per web dyno) and each worker process "
                    "(WORKER_CONCURRENCY per worker dyno) may hold one: lower those or the dyno "
                    'counts, or move to a Postgres plan with more connections (README "Connections").',
                    " ".join(str(exc).split()),
                    os.getpid(),
                )
            raise

    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            return super().is_usable()
        try:
            poller = select.poll()
            poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
            return not poller.poll(0)
        except (OSError, ValueError):  # a socket closed under us
            return False
