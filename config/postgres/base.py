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
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
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
