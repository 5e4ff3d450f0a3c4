"""In-process cost of one poll (GET /api/jobs/<id>/): a browser session's against an API token's.

Drives Django's WSGI handler directly, as gunicorn's worker does, with the
production settings (DEBUG=0, the whole middleware stack, the SSL redirect
satisfied by X-Forwarded-Proto: https as Heroku's router sends it), so what
it times is the app alone: no HTTP parsing, no network, no client. Each
request's response is closed, which sends request_finished as gunicorn does.

Run it from the project root:

    .venv/bin/python tests/benchmarks/bench_poll_cpu.py [--requests 3000 --rounds 5 --profile]

It drops and re-creates the database `sentimeter_pollcpu` (--db-name) and
migrates it, makes one browser session, one token of that session and one
queued job, then alternates rounds of session polls and token polls (so both
meet the same load on a shared machine) and prints, per kind, the CPU
(time.process_time) and wall time per request, medians over the rounds, with
the token/session ratio, and the SQL statements of one poll of each. The
job is queued (never run), so every poll reads the same row and answers
with Retry-After, as most polls in bench_load.py do. --profile prints
cProfile's top functions for each kind.

The file name does not start with `test_`, so pytest does not collect it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable

from harness import ROOT, database_recreate, database_url, loadavg, run_main

DB_NAME = "sentimeter_pollcpu"
HOST = "sentimeter.example"
# As a browser's: the csrftoken cookie rides along with the session's.
CSRF_COOKIE = "x" * 32


def django_setup(db_name: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url(db_name),
        DEBUG="0",
        SECRET_KEY="poll-cpu-bench-secret-key-not-used-in-production-0123456789abcdef",  # noqa: S106
        ALLOWED_HOSTS=HOST,
        LOG_LEVEL="WARNING",
    )
    os.environ.pop("DYNO", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def environ_for(path: str, headers: dict[str, str]) -> dict:
    """A WSGI environ of a GET as Heroku's router forwards it."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": HOST,
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": HOST,
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_ACCEPT": "application/json",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    environ.update(headers)
    return environ


def poller(handler, path: str, headers: dict[str, str]) -> Callable[[], int]:
    """One poll, start to close; returns the status code."""
    base = environ_for(path, headers)
    statuses: list[str] = []

    def start_response(status, response_headers, exc_info=None):
        statuses.append(status)

    def poll() -> int:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(b"")
        response = handler(environ, start_response)
        b"".join(response)
        response.close()
        return int(statuses.pop()[:3])

    return poll


def fixtures() -> tuple[str, str, str]:
    """Make a session, a token of it and a queued job of it; return (session key, token, job path)."""
    from django.contrib.sessions.backends.db import SessionStore

    from web.models import Job
    from web.sessions import OWNER_KEY
    from web.tokens import token_create

    session = SessionStore()
    session[OWNER_KEY] = 1
    session.create()
    job = Job.objects.create(session_key=session.session_key, analyzer="vader", queue="quick", total=1)
    made = token_create(owner_key=session.session_key, name="bench")
    return session.session_key, made.token, f"/api/jobs/{job.pk}/"


def statements(poll: Callable[[], int]) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        poll()
    return [q["sql"] for q in queries]


def timed(poll: Callable[[], int], n: int) -> tuple[float, float]:
    """CPU and wall seconds per request over n polls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        poll()
    return (time.process_time() - cpu) / n, (time.perf_counter() - wall) / n


def profile(poll: Callable[[], int], n: int, title: str) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        poll()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    print(f"\n--- cProfile, {title}, {n} polls, by own time ---")
    print(out.getvalue())


def bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="polls of each kind per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db-name", default=DB_NAME)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions too")
    args = parser.parse_args()

    print(f"loadavg before: {loadavg()}")
    database_recreate(args.db_name)
    django_setup(args.db_name)
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    session_key, token, path = fixtures()
    handler = WSGIHandler()
    cookie = f"sessionid={session_key}; csrftoken={CSRF_COOKIE}"
    kinds = {
        "session": poller(handler, path, {"HTTP_COOKIE": cookie}),
        "token": poller(handler, path, {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
    }
    for name, poll in kinds.items():
        status = poll()
        if status != 200:
            raise SystemExit(f"a {name} poll answered {status}, not 200")
        for _ in range(200):  # warm caches (URL resolver, prepared plans, connection)
            poll()

    results: dict[str, list[tuple[float, float]]] = {name: [] for name in kinds}
    for _ in range(args.rounds):
        for name, poll in kinds.items():
            results[name].append(timed(poll, args.requests))

    print(f"\n{args.rounds} rounds x {args.requests} polls of each kind; medians of the rounds")
    cpu = {name: statistics.median(r[0] for r in rounds) for name, rounds in results.items()}
    wall = {name: statistics.median(r[1] for r in rounds) for name, rounds in results.items()}
    for name in kinds:
        spread = ", ".join(f"{r[0] * 1e6:.0f}" for r in results[name])
        print(
            f"  {name:8} CPU {cpu[name] * 1e6:6.0f} us  wall {wall[name] * 1e6:6.0f} us"
            f"  (CPU per round: {spread})"
        )
    cpu_ratio, wall_ratio = cpu["token"] / cpu["session"], wall["token"] / wall["session"]
    print(f"  token/session: CPU {cpu_ratio:.2f}, wall {wall_ratio:.2f}")
    for name, poll in kinds.items():
        sql = statements(poll)
        print(f"\nSQL of one {name} poll ({len(sql)} statements):")
        for line in sql:
            print(f"  {line[:160]}")
    if args.profile:
        for name, poll in kinds.items():
            profile(poll, args.requests, name)
    print(f"\nloadavg after: {loadavg()}")


if __name__ == "__main__":
    sys.exit(run_main(bench))
