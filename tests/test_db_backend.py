"""config/postgres: the connection health check that needs no round trip, on the real Postgres."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import close_old_connections, connection

from tests.procs import database_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_connection_after():
    """These tests end the connection under Django: the next test starts on a new one."""
    yield
    connection.close()


def terminate(backend_pid: int) -> None:
    """End a session from the server's side, as a restart or a failover would."""
    with psycopg.connect(database_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend_pid])


def until_unusable(timeout: float = 5.0) -> bool:
    """Wait for the server's farewell to reach the socket; True once the check sees it."""
    deadline = time.monotonic() + timeout
    while connection.is_usable():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_app_uses_the_backend_whose_check_needs_no_round_trip():
    assert connection.settings_dict["ENGINE"] == "config.postgres"
    assert connection.vendor == "postgresql"
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True


def test_an_idle_healthy_connection_passes_without_a_query(monkeypatch):
    connection.ensure_connection()

    def no_query(*args, **kwargs):
        raise AssertionError("the health check sent a query")

    monkeypatch.setattr(connection.connection, "cursor", no_query)
    monkeypatch.setattr(connection.connection, "execute", no_query)

    assert connection.is_usable()


def test_a_connection_the_server_ended_fails_the_check():
    connection.ensure_connection()
    terminate(connection.connection.info.backend_pid)

    assert until_unusable()


def test_inside_a_transaction_the_check_asks_the_server():
    connection.ensure_connection()
    connection.connection.execute("BEGIN")  # not idle: the socket alone cannot tell
    assert connection.is_usable()
    terminate(connection.connection.info.backend_pid)

    assert until_unusable()


def test_a_request_after_the_server_ended_the_kept_connection_gets_a_new_one(client):
    assert client.get("/healthz").status_code == 200
    kept = connection.connection
    assert kept is not None, "the connection should be kept between requests (DB_CONN_MAX_AGE)"
    terminate(kept.info.backend_pid)
    assert until_unusable()

    # What Django does at the start of each request (its test client leaves it out).
    close_old_connections()
    response = client.get("/healthz")  # its query would fail on the ended connection: 503

    assert response.status_code == 200, response.content
    assert connection.connection is not kept
