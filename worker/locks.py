"""Writes that give up rather than wait on a lock: freeing space must never hold up a request or a job."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from django.db import OperationalError, connection, transaction

# How long a skippable write may wait for a row or table lock (a chunk being
# stored holds its row for the length of its COPY).
LOCK_WAIT_MS = 200


def unless_locked(write: Callable[[], int]) -> int | None:
    """Run write() in a savepoint; None, and nothing written, if a lock held it over LOCK_WAIT_MS.

    What it skipped is left for the reconciler's sweep (worker/reconcile.py).
    """
    try:
        with transaction.atomic():
            if connection.vendor != "postgresql":
                return write()
            with connection.cursor() as cursor:
                # SET LOCAL outlives a released savepoint: set it back for the rest of the transaction.
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{LOCK_WAIT_MS}ms"])
                done = write()
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", ["0"])
            return done
    except OperationalError as exc:
        if not isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
            raise
        return None
