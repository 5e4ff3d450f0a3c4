"""Load benchmark: many concurrent clients submitting single texts and polling, for a fixed time.

Runs the real app: the Procfile's `web:` (gunicorn, config/gunicorn.py) and
`worker:` (ONE RQ worker) lines, against PostgreSQL and Redis, and drives it
over HTTP the way the page's own script does (session cookie + CSRF token,
JSON API, polling with Retry-After).

Run it from the project root:

    .venv/bin/python tests/benchmarks/bench_load.py [--clients 200 --duration 60]

Options worth knowing (all optional; see --help):

    --submits-per-minute N --max-active-jobs N --max-queue-depth N   app limits (env overrides)
    --web-concurrency N --threads N                                   gunicorn workers / threads
    --env NAME=VALUE                                                  any other app env variable
    --redis-url URL | --private-redis                                 where Redis is (see below)
    --single-address                                                  every client from 127.0.0.1 (old mode)
    --auth token                                                      a script with an API token
    --db-name NAME                                                    the database to drop and create

What it does:

- drops and re-creates the database `sentimeter_load` (--db-name; on postgres://postgres@127.0.0.1:5432)
  and runs `python manage.py migrate` against it; the database is left behind
  for inspection and dropped again by the next run;
- uses Redis database 11 (redis://127.0.0.1:6379/11, --redis-url), flushed
  before and after. If another process flushes it during the run (a test
  suite pointed at the same database), the rate counters and queued jobs
  vanish and the figures mean nothing: a sentinel key catches that and the run
  exits 1. --private-redis starts a throwaway redis-server on a free port
  instead, out of everyone else's reach;
- runs web and worker as in production on Heroku: DEBUG=0 (Django keeps no
  record of each SQL query; a SECRET_KEY of the benchmark's own, and
  collectstatic after migrate, as a Heroku release does), with the SSL
  redirect, HSTS and Secure cookies as they are there. The client plays
  Heroku's router, which terminates TLS and talks plain HTTP to the dyno:
  every request carries X-Forwarded-Proto: https (the app's
  SECURE_PROXY_SSL_HEADER), the client's X-Forwarded-For (below) and an
  X-Request-ID (a uuid4 per request, logged with it in web.log), and the
  client sends the Secure cookies back. A POST also carries the Origin a
  browser's fetch sends, which Django's CSRF check wants on https requests.
  Web listens on a free port, logs go to a temporary directory (printed,
  kept: web.log holds gunicorn's access log with each request's server
  time), and both are always stopped (SIGTERM, then SIGKILL of each process
  group and of any RQ work horse, which leaves the group), also on Ctrl-C,
  SIGTERM or error;
- runs one warm-up job end to end first (it warms the worker up, takes one
  of the first minute's submits, and stops the run with exit 1 if the app
  cannot even do that);
- makes each virtual client a different person behind Heroku's router: client
  n has its own address from 198.18.0.0/15 (RFC 2544's benchmarking range),
  sent on every request as X-Forwarded-For, the header the router appends the
  connecting address to, and the app runs with TRUST_X_FORWARDED_FOR=1 as on
  Heroku, so the last entry is the client (web/limits.py client_ip).
  --single-address is the old mode: no header, every client 127.0.0.1, and the
  per-address limit (SUBMITS_PER_MINUTE, 30 by default, per calendar minute)
  then answers most submits 429;
- keeps the app's own limits ON unless a flag overrides them: per-address
  rate, MAX_ACTIVE_JOBS_PER_SESSION, MAX_QUEUE_DEPTH. 429s are counted apart
  from errors, and the client waits Retry-After (capped by --max-wait, 5 s)
  and tries again. A 503 `overloaded` (the queue-depth cap, with Retry-After)
  is by design too but is a 5xx: it is reported apart and the "no 5xx" target
  counts it. With the defaults it cannot happen: each client has at most one
  job in flight, so the queues never hold more than --clients (200) jobs,
  under MAX_QUEUE_DEPTH (1000);
- opens --clients virtual clients in one asyncio process, each with its own
  cookie jar and keep-alive connection, through the small HTTP/1.1 client
  below (HttpClient, on asyncio streams). It replaced httpx, which cost
  ~1.5 ms of CPU per request: a third of one of the 2 cores went to the
  client, competing with the app it measured, and its event loop lagged. A
  connection the server closed while idle is reopened before the next
  request; a request that fails once sent is an error (no answer), never
  retried. Each client GETs / once for the csrftoken cookie (the "setup"
  burst, outside the measured time), waits a random 0..--ramp s (default 5 s) so that, like
  real browsers, the clients do not move in lockstep. Then it loops for
  --duration s: POST /api/jobs/ {"texts": [one short review]}; on 202 poll
  the job's Location, honouring Retry-After, until it is final; then submit
  again. Each poll waits Retry-After +-20 % (POLL_JITTER), as the job page's
  script does: in exact lockstep, clients that one hiccup delayed together
  poll together every second after, and the p99 poll measures that herd
  (131-282 ms on 2026-11-24, against ~60 ms spread). No new request starts
  after the deadline; those in flight are finished and counted.
  With --auth token each client is a script instead: in the setup it makes an
  API token (POST /api/tokens/ from its session, as a person does on /tokens/),
  then forgets its cookies and sends only `Authorization: Bearer <token>` (no
  cookie, CSRF token or Origin) on every submit and poll: the issue-14 target
  is that this costs no more than the session (within 10 % at p50 and p99).
  --auth both runs the two side by side, every other client a script, and
  prints each side's submit and poll (client-side, and server-side from the
  X-Request-ID's start in gunicorn's log: "srv") with the token/session ratios: the
  fair comparison on a shared machine, where two runs meet different loads.

It prints, per kind of request: count, throughput, and p50/p90/p99/max latency
(nearest rank, client-side wall time: from just before the request is written,
connecting first if needed, until the whole body is read) of the 2xx answers,
and the same from the server's side (gunicorn's access log); counts by status;
5xx; 429s (by design); other errors (connection errors, timeouts, other 4xx);
jobs completed per second and their created -> finished time (one worker
cannot keep up with 200 clients, so jobs queue: that is expected; the poll
latency is what the target is about); CPU used by the client, web, worker and the whole machine, and
the client's event-loop lag (if that is high, the client, not the app, is the
bottleneck). Targets: no 5xx, p99 of poll <= 100 ms: PASS or MISS is printed
next to each. A missed target still exits 0 (this is a measurement, not a
test); a broken setup (database, Redis, a process that will not start or
dies) exits 1.

The machine may be shared (2 cores here): the load average before and after
is printed; compare runs made under similar load.

The file name does not start with `test_`, so pytest does not collect it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import math
import os
import platform
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import psycopg
import redis
from harness import (
    PG_ADMIN_URL,
    ROOT,
    SHORT_REVIEWS,
    VENV_BIN,
    BenchError,
    Process,
    free_port,
    loadavg,
    machine_cpu,
    migrate,
    procfile_commands,
    tree_cpu_seconds,
    wait_until_ready,
)

DB_NAME = "sentimeter_load"
# As the job page's script (web/static/web/job.js): each poll waits Retry-After +-20 %.
POLL_JITTER = 0.2
HOST = "127.0.0.1"  # where the client finds web (gunicorn binds [::], which takes IPv4 too)
REDIS_URL = "redis://127.0.0.1:6379/11"
# Set after the first flush and looked for at the end: if it is gone, someone
# else flushed this Redis database during the run (a test suite pointed at
# it), taking the rate counters and the queued jobs with it.
SENTINEL_KEY = "sentimeter:bench:load:sentinel"

TARGET_POLL_P99_MS = 100.0
OVERLOADED_CODE = "overloaded"  # web.exceptions.Overloaded: the queue-depth cap

STARTUP_TIMEOUT = 60.0  # seconds for web and worker to come up
LAG_TICK = 0.01  # seconds between event-loop lag probes

FINAL_STATUSES = ("succeeded", "failed", "canceled")
KINDS = ("home", "submit", "poll")

REVIEWS = SHORT_REVIEWS


def database_url(db_name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{db_name}"


# Each virtual client is a different person behind Heroku's router: its own address from
# 198.18.0.0/15 (RFC 2544, set aside for benchmarks; never routed on the internet), sent as the
# X-Forwarded-For the router would append. The warm-up job comes from the last address.
CLIENT_NETWORK = ipaddress.ip_network("198.18.0.0/15")
WARM_UP_ADDRESS = str(CLIENT_NETWORK[-2])


def client_address(n: int) -> str:
    """Virtual client n's address (n = 0, 1, ...)."""
    if not 0 <= n < CLIENT_NETWORK.num_addresses - 3:
        raise ValueError(f"no address for client {n} in {CLIENT_NETWORK}")
    return str(CLIENT_NETWORK[n + 1])


def app_env(port: int, redis_url: str, overrides: dict[str, str], *, db_name: str) -> dict[str, str]:
    """Web's and worker's environment: production settings (DEBUG=0), the benchmark's database and Redis.

    Unlike harness.app_env(debug=False), the SSL redirect and HSTS stay as in production: the client
    sends X-Forwarded-Proto: https, as Heroku's router does (HttpClient).
    """
    env = dict(os.environ)
    env.pop("DYNO", None)  # not on Heroku: no forced database SSL
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(ROOT / ".venv"),
        DATABASE_URL=database_url(db_name),
        REDIS_URL=redis_url,
        DEBUG="0",
        SECRET_KEY="load-bench-secret-key-not-used-in-production-0123456789abcdef",  # noqa: S106
        PORT=str(port),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


# The app's effective limits, DEBUG and gunicorn's workers/threads, as the app itself reads them.
_CONFIG_PROBE = """
import json, os, runpy
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.conf import settings
g = runpy.run_path("config/gunicorn.py")
print(json.dumps({**settings.SENTIMETER, "DEBUG": settings.DEBUG,
                  "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
                  "workers": g["workers"], "threads": g["threads"],
                  "worker_class": g["worker_class"], "DB_CONN_MAX_AGE": settings.DATABASES["default"]
                  .get("CONN_MAX_AGE")}))
"""


def app_config(env: dict[str, str]) -> dict:
    out = subprocess.run(  # noqa: S603 - the project's own settings, read by its own Python
        [str(VENV_BIN / "python"), "-c", _CONFIG_PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise BenchError(f"could not read the app's settings:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


async def warm_up(port: int, web: Process, worker: Process, headers: dict[str, str]) -> None:
    """Run one job end to end before the load: warms the worker up, and stops here if the app is broken.

    It takes one of the first minute's SUBMITS_PER_MINUTE from its address (WARM_UP_ADDRESS, or
    127.0.0.1 with --single-address, where the clients then have one submit fewer that minute).
    """
    deadline = time.monotonic() + STARTUP_TIMEOUT
    http = HttpClient(HOST, port, timeout=30, headers=headers)
    try:
        home = await http.request("GET", "/")
        csrf = http.cookies.get("csrftoken")
        if home.status != 200 or not csrf:
            raise BenchError(f"warm-up: GET / answered {home.status} without a csrftoken cookie")
        response = await http.request(
            "POST", "/api/jobs/", payload={"texts": [REVIEWS[0]]}, headers=http.csrf_headers(csrf)
        )
        if response.status != 202 or "location" not in response.headers:
            raise BenchError(f"warm-up: POST /api/jobs/ answered {response.status}: {response.text[:300]}")
        location = request_target(response.headers["location"])
        job = response.json()
        while job.get("status") not in FINAL_STATUSES:
            web.check_alive()
            worker.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"warm-up: the job did not finish in {STARTUP_TIMEOUT:.0f} s: {job}")
            await asyncio.sleep(0.2)
            response = await http.request("GET", location)
            if response.status != 200:
                raise BenchError(f"warm-up: polling answered {response.status}: {response.text[:300]}")
            job = response.json()
        if job["status"] != "succeeded":
            raise BenchError(f"warm-up: the job ended {job['status']}: {job.get('error')}")
    finally:
        http.close()


# --- database and Redis ---------------------------------------------------


def database_recreate(db_name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')


def redis_flush(redis_url: str, *, sentinel: bool = False) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
        if sentinel:
            client.set(SENTINEL_KEY, "1")
    finally:
        client.close()


def redis_sentinel_present(redis_url: str) -> bool:
    client = redis.Redis.from_url(redis_url)
    try:
        return bool(client.exists(SENTINEL_KEY))
    finally:
        client.close()


def private_redis(port: int, *, env: dict[str, str], log_dir: Path) -> Process:
    """Start a throwaway redis-server (no persistence) and wait until it answers."""
    server = Process(
        "redis",
        f"exec redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no",
        env=env,
        log_dir=log_dir,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while True:
            server.check_alive()
            try:
                client.ping()
                return server
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise BenchError(f"redis-server did not answer on port {port}") from None
                time.sleep(0.05)
    except BaseException:
        server.stop()
        raise
    finally:
        client.close()


# --- the HTTP client ------------------------------------------------------
#
# httpx cost ~1.5 ms of CPU per request: with 200 virtual clients the client process took a third
# of one of the machine's two cores, beside the app it measured, and its event loop lagged. What
# a virtual client needs is small: HTTP/1.1 on one keep-alive connection, and a cookie jar.


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.x as this client understands it."""


# What a failed request raises: OSError holds connection errors and TimeoutError, EOFError
# asyncio.IncompleteReadError (the server closed the connection in mid-answer).
REQUEST_ERRORS = (OSError, EOFError, asyncio.LimitOverrunError, ProtocolError)

_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) (\d{3})[ \r]")


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; a field sent more than once joined with ", "
    set_cookies: list[str]  # each Set-Cookie apart: their values hold commas (Expires)
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


class HttpClient:
    """One browser's HTTP/1.1 connection to the app and its cookie jar, one request at a time.

    It plays Heroku's router too, which terminates TLS and forwards plain HTTP to the dyno: every
    request says X-Forwarded-Proto: https and carries a fresh X-Request-ID, and the jar sends the
    app's Secure cookies back over this plain connection, as the browser does over TLS.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float,
        headers: dict[str, str] | None = None,
        request_id_prefix: str = "",
    ):
        self.host = host
        # Starts each X-Request-ID: gunicorn's access log then tells whose request a line is.
        self.request_id_prefix = request_id_prefix
        self.port = port
        self.timeout = timeout
        self.origin = f"https://{host}:{port}"  # the page's origin, as the browser sees it
        self.cookies: dict[str, str] = {}  # name -> value: one site, every path
        # Sent with every request, written once: Host and the router's own header, then `headers`.
        fixed = {"Host": f"{host}:{port}", "X-Forwarded-Proto": "https", **(headers or {})}
        self._fixed_head = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def csrf_headers(self, csrf: str) -> dict[str, str]:
        """What the page's script sends with a POST: the token, and the Origin the browser adds.

        Over https Django's CSRF check wants an Origin (or Referer) of the app's own.
        """
        return {"X-CSRFToken": csrf, "Origin": self.origin}

    async def request(
        self,
        method: str,
        target: str,
        *,
        payload: object = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send one request (payload: a JSON body) and read the whole answer.

        A connection the server closed while idle is reopened first: nothing was sent on it, so
        nothing is lost. Once the request is on its way, a failure raises one of REQUEST_ERRORS
        (TimeoutError after `timeout` s) and drops the connection; it is never retried.
        """
        head = [
            f"{method} {target} HTTP/1.1\r\n",
            self._fixed_head,
            f"X-Request-ID: {self.request_id_prefix}{uuid.uuid4()}\r\n",
        ]
        if self.cookies:
            head.append(f"Cookie: {'; '.join(f'{n}={v}' for n, v in self.cookies.items())}\r\n")
        body = b""
        if payload is not None:
            body = json.dumps(payload).encode()
            head.append("Content-Type: application/json\r\n")
        if payload is not None or method not in ("GET", "HEAD"):
            head.append(f"Content-Length: {len(body)}\r\n")
        head.extend(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head.append("\r\n")
        data = "".join(head).encode("latin-1") + body
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await self._connection()
                writer.write(data)
                await writer.drain()
                response, reusable = await _response_read(reader)
        except BaseException:  # a timeout, an error, a cancel: the connection is in an unknown state
            self.close()
            raise
        if not reusable:
            self.close()
        for set_cookie in response.set_cookies:
            cookie_store(self.cookies, set_cookie)
        return response

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The open connection, or a new one if there is none or the server has closed it."""
        if self._reader is None or self._writer is None or self._reader.at_eof() or self._writer.is_closing():
            self.close()
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def _response_read(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    """Read one answer: (the response, whether the connection may carry another request)."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        status_line = _STATUS_LINE.match(head)
        if not status_line:
            raise ProtocolError(f"not an HTTP/1.x status line: {head[:80]!r}")
        status = int(status_line[2])
        if status >= 200:
            break  # 1xx: an interim answer (100 Continue, 103 Early Hints); the final one follows
    headers: dict[str, str] = {}
    set_cookies: list[str] = []
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ProtocolError(f"not a header field: {line[:80]!r}")
        name, value = name.strip().lower(), value.strip()
        if name == "set-cookie":
            set_cookies.append(value)
        else:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value

    tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    # HTTP/1.1 keeps the connection unless told otherwise, HTTP/1.0 only when told to.
    reusable = "close" not in tokens if status_line[1] == b"1" else "keep-alive" in tokens
    if status in (204, 304):
        body = b""
    elif "transfer-encoding" in headers:
        if headers["transfer-encoding"].rpartition(",")[2].strip().lower() == "chunked":
            body = await _chunked_read(reader)
        else:  # RFC 9112 6.3: a body not chunked last lasts until the server closes the connection
            body, reusable = await reader.read(), False
    elif "content-length" in headers:
        body = await reader.readexactly(_size(headers["content-length"]))
    else:
        body, reusable = await reader.read(), False
    return Response(status, headers, set_cookies, body), reusable


async def _chunked_read(reader: asyncio.StreamReader) -> bytes:
    """A `Transfer-Encoding: chunked` body: chunks up to the empty one, then any trailer fields."""
    chunks = []
    while size := _size(((await reader.readuntil(b"\r\n")).partition(b";")[0]), base=16):
        chunks.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise ProtocolError("a chunk does not end with CRLF")
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass  # trailer fields: none that this client uses
    return b"".join(chunks)


def _size(text: str | bytes, *, base: int = 10) -> int:
    try:
        size = int(text, base)
    except ValueError:
        size = -1
    if size < 0:
        raise ProtocolError(f"not a size: {text[:40]!r}")
    return size


def cookie_store(jar: dict[str, str], set_cookie: str) -> None:
    """Keep one Set-Cookie's cookie in the jar, or drop it if it has expired (a server's delete).

    Max-Age wins over Expires (RFC 6265 5.3). Domain and Path do not matter with one site, nor
    Secure (the client plays the router behind TLS), HttpOnly or SameSite.
    """
    pair, *attributes = set_cookie.split(";")
    name, equals, value = pair.partition("=")
    name = name.strip()
    if not equals or not name:
        return  # RFC 6265 5.2: ignored
    max_age: int | None = None
    expires: datetime | None = None
    for attribute in attributes:
        key, _, setting = attribute.partition("=")
        key = key.strip().lower()
        if key == "max-age":
            with contextlib.suppress(ValueError):
                max_age = int(setting.strip())
        elif key == "expires":
            with contextlib.suppress(TypeError, ValueError, IndexError):
                expires = parsedate_to_datetime(setting.strip())
                if expires.tzinfo is None:  # "-0000": UTC, said without a zone
                    expires = expires.replace(tzinfo=UTC)
    if max_age is not None:
        expired = max_age <= 0
    else:
        expired = expires is not None and expires <= datetime.now(UTC)
    if expired:
        jar.pop(name, None)
    else:
        jar[name] = value.strip()


def request_target(location: str) -> str:
    """The path (and query) to request for a Location, whether it is a path or an absolute URL."""
    url = urlsplit(location)
    return (url.path or "/") + (f"?{url.query}" if url.query else "")


# --- the virtual clients --------------------------------------------------


@dataclass
class Stats:
    # (kind, status, latency ms, error code); status 0 = no HTTP answer (connection error, timeout)
    records: list[tuple[str, int, float, str]] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)  # perf_counter() at each submit/poll's start
    jobs_submitted: int = 0
    jobs_final: Counter = field(default_factory=Counter)
    jobs_unfinished: int = 0  # still being polled when the time was up
    job_server_ms: list[float] = field(default_factory=list)  # created_at -> finished_at
    loop_lag_ms: list[float] = field(default_factory=list)
    # (auth, kind, status, latency ms): the records again, by how the client authenticates.
    auth_records: list[tuple[str, str, int, float]] = field(default_factory=list)


def _retry_after(response: Response, default: float) -> float:
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return default


def _error_code(response: Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "?"


class VirtualClient:
    """One browser: its own cookie jar and keep-alive connection, one request at a time."""

    def __init__(self, n: int, args: argparse.Namespace, stats: Stats):
        self.n = n
        self.args = args
        self.stats = stats
        self.rng = random.Random(n)  # noqa: S311 - jitter, not security
        self.csrf = ""
        # What authenticates each submit and poll: the CSRF headers of the session, or a token.
        self.submit_headers: dict[str, str] = {}
        self.poll_headers: dict[str, str] = {}
        # What Heroku's router sends on: the client's own address as the last X-Forwarded-For entry.
        self.address = "127.0.0.1" if args.single_address else client_address(n)
        headers = {} if args.single_address else {"X-Forwarded-For": self.address}
        # --auth both: every other client a script with a token, side by side with the browsers.
        self.auth = "token" if args.auth == "token" or (args.auth == "both" and n % 2) else "session"
        self.http = HttpClient(
            HOST, args.port, timeout=args.timeout, headers=headers, request_id_prefix=f"{self.auth}-"
        )

    async def request(
        self,
        kind: str,
        method: str,
        target: str,
        *,
        payload: object = None,
        headers: dict[str, str] | None = None,
    ) -> Response | None:
        """Send one request and record it: its status (0: no answer) and its time, to the body's end."""
        t0 = time.perf_counter()
        if kind != "home":
            self.stats.starts.append(t0)
        try:
            response = await self.http.request(method, target, payload=payload, headers=headers)
        except REQUEST_ERRORS as exc:
            self.stats.records.append((kind, 0, (time.perf_counter() - t0) * 1000, type(exc).__name__))
            self.stats.auth_records.append((self.auth, kind, 0, (time.perf_counter() - t0) * 1000))
            return None
        ms = (time.perf_counter() - t0) * 1000
        code = _error_code(response) if response.status >= 400 else ""
        self.stats.records.append((kind, response.status, ms, code))
        self.stats.auth_records.append((self.auth, kind, response.status, ms))
        return response

    async def setup(self) -> None:
        """GET / once for the csrftoken cookie (a few tries if the burst is refused); with
        --auth token, make a token with it and keep only that."""
        for _ in range(3):
            response = await self.request("home", "GET", "/")
            self.csrf = self.http.cookies.get("csrftoken", "")
            if response is not None and response.status == 200 and self.csrf:
                break
            await asyncio.sleep(1)
        else:
            return
        self.submit_headers = self.http.csrf_headers(self.csrf)
        if self.auth == "token":
            made = await self.request(
                "home",
                "POST",
                "/api/tokens/",
                payload={"name": f"bench {self.n}"},
                headers=self.submit_headers,
            )
            if made is None or made.status != 201:
                self.csrf = ""  # not ready: counted in setup's records
                return
            # A script: no cookie, CSRF token or Origin from here on, only the token.
            self.http.cookies.clear()
            self.submit_headers = self.poll_headers = {"Authorization": f"Bearer {made.json()['token']}"}

    async def run(self, deadline: float) -> None:
        if not self.csrf:
            return  # counted in setup's records; nothing useful to do without a token
        await self.sleep(self.rng.uniform(0, self.args.ramp), deadline)
        i = 0
        while time.monotonic() < deadline:
            text = f"{REVIEWS[(self.n + i) % len(REVIEWS)]} (client {self.n}, #{i})"
            i += 1
            response = await self.request(
                "submit",
                "POST",
                "/api/jobs/",
                payload={"texts": [text]},
                headers=self.submit_headers,
            )
            if response is None or response.status >= 500:
                await self.sleep(1.0 if response is None else self._wait(response), deadline)
            elif response.status == 202:
                self.stats.jobs_submitted += 1
                await self.follow(response, deadline)
            elif response.status == 429:
                await self.sleep(self._wait(response), deadline)
            else:  # 4xx other than 429: the client is doing something wrong; do not spin
                await self.sleep(1.0, deadline)

    def _wait(self, response: Response) -> float:
        return min(_retry_after(response, 1.0), self.args.max_wait)

    async def follow(self, submitted: Response, deadline: float) -> None:
        """Poll the job's Location, honouring Retry-After (+-POLL_JITTER), until it is final or time is up."""
        location = request_target(submitted.headers.get("location", ""))
        job = submitted.json()
        wait = _retry_after(submitted, 1.0)
        while job.get("status") not in FINAL_STATUSES:
            if not await self.sleep(wait * self.rng.uniform(1 - POLL_JITTER, 1 + POLL_JITTER), deadline):
                self.stats.jobs_unfinished += 1
                return
            response = await self.request("poll", "GET", location, headers=self.poll_headers or None)
            if response is None or response.status != 200:
                if not await self.sleep(1.0, deadline):
                    self.stats.jobs_unfinished += 1
                    return
                continue
            try:
                job = response.json()
            except ValueError:  # count this poll (the last record: no await since) as an error
                self.stats.records[-1] = ("poll", 0, self.stats.records[-1][2], "invalid JSON")
                return
            wait = _retry_after(response, 1.0)
        self.stats.jobs_final[job["status"]] += 1
        if job.get("created_at") and job.get("finished_at"):
            created = datetime.fromisoformat(job["created_at"])
            finished = datetime.fromisoformat(job["finished_at"])
            self.stats.job_server_ms.append((finished - created).total_seconds() * 1000)

    @staticmethod
    async def sleep(seconds: float, deadline: float) -> bool:
        """Sleep, but not past the deadline; False if the time is up."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(seconds, remaining))
        return time.monotonic() < deadline


async def loop_lag_probe(stats: Stats, stop: asyncio.Event) -> None:
    """How late the event loop wakes a sleeper: high lag means the client is the bottleneck."""
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(LAG_TICK)
        stats.loop_lag_ms.append(max(0.0, (time.perf_counter() - t0 - LAG_TICK) * 1000))


@dataclass
class LoadResult:
    wall_s: float
    client_cpu_s: float
    web_cpu_s: float
    worker_cpu_s: float
    machine_busy_cores: float
    machine_cores: int
    web_log_offset: int  # where the load phase starts in web.log


async def drive(args: argparse.Namespace, stats: Stats, web: Process, worker: Process) -> LoadResult:
    clients = [VirtualClient(n, args, stats) for n in range(args.clients)]
    try:
        t_setup = time.perf_counter()
        await asyncio.gather(*(c.setup() for c in clients))
        ready = sum(1 for c in clients if c.csrf)
        print(
            f"setup: {ready}/{args.clients} clients have a csrftoken "
            f"({time.perf_counter() - t_setup:.1f} s); load for {args.duration:g} s ...",
            flush=True,
        )
        if not ready:
            raise BenchError("no client got a csrftoken cookie from GET /")

        stop = asyncio.Event()
        probe = asyncio.create_task(loop_lag_probe(stats, stop))
        web_log_offset = web.log_path.stat().st_size
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        web0, worker0, m0 = tree_cpu_seconds(web.pgid), tree_cpu_seconds(worker.pgid), machine_cpu()
        t0 = time.perf_counter()
        deadline = time.monotonic() + args.duration
        await asyncio.gather(*(c.run(deadline) for c in clients))
        wall = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        web1, worker1, m1 = tree_cpu_seconds(web.pgid), tree_cpu_seconds(worker.pgid), machine_cpu()
        stop.set()
        await probe
    finally:
        for client in clients:
            client.http.close()
    period = m1 - m0
    cores = len(os.sched_getaffinity(0))
    return LoadResult(
        wall_s=wall,
        client_cpu_s=(ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime),
        web_cpu_s=web1 - web0,
        worker_cpu_s=worker1 - worker0,
        machine_busy_cores=period.busy / period.total * cores if period.total else float("nan"),
        machine_cores=cores,
        web_log_offset=web_log_offset,
    )


# --- report ---------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


_ACCESS_LINE = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) \S+ (?P<ms>\d+)ms'
    r"(?: request_id=(?P<auth>session|token)-)?"
)
_POLL_PATH = re.compile(r"^/api/jobs/[0-9a-f-]{36}/$")


def access_log_times(web_log: Path, offset: int) -> dict[tuple[str, int, str], list[float]]:
    """Server-side milliseconds per (kind, status, auth) from gunicorn's access log (%(M)sms), from offset on.

    auth is "session" or "token", read from the X-Request-ID's start (HttpClient's request_id_prefix).
    """
    times: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    with web_log.open("rb") as log:
        log.seek(offset)
        text = log.read().decode("utf-8", errors="replace")
    for line in text.splitlines():
        m = _ACCESS_LINE.search(line)
        if not m:
            continue
        method, path = m["method"], m["path"].split("?")[0]
        if method == "POST" and path == "/api/jobs/":
            kind = "submit"
        elif method == "GET" and _POLL_PATH.match(path):
            kind = "poll"
        elif method == "GET" and path == "/":
            kind = "home"
        else:
            continue
        times[(kind, int(m["status"]), m["auth"] or "")].append(float(m["ms"]))
    return times


HEADER = f"{'':<22}{'count':>7}{'req/s':>8}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}   (ms)"


def row(label: str, values: list[float], seconds: float | None) -> str:
    if not values:
        return f"{label:<22}{0:>7}"
    rate = f"{len(values) / seconds:8.1f}" if seconds else f"{'':>8}"
    return (
        f"{label:<22}{len(values):>7}{rate}{percentile(values, 50):8.1f}{percentile(values, 90):8.1f}"
        f"{percentile(values, 99):8.1f}{max(values):8.1f}"
    )


def auth_report(stats: Stats, server: dict[tuple[str, int, str], list[float]], wall: float) -> None:
    """--auth both: submit and poll of the token clients against the session clients, in the same run."""
    title = "by authentication"
    print(f"\n{title}{HEADER[len(title) :]}")
    ratios = []
    for kind in ("submit", "poll"):
        for side in ("client", "server"):
            figures = {}
            for auth in ("session", "token"):
                if side == "client":
                    values = [
                        ms for a, k, s, ms in stats.auth_records if a == auth and k == kind and 200 <= s < 300
                    ]
                else:
                    values = [
                        ms
                        for (k, s, a), v in server.items()
                        if a == auth and k == kind and 200 <= s < 300
                        for ms in v
                    ]
                label = f"{kind} {auth} ({'cli' if side == 'client' else 'srv'})"
                print(row(label, values, wall if side == "client" else None))
                figures[auth] = values
            if figures["session"] and figures["token"]:
                p50, p99 = (
                    percentile(figures["token"], p) / max(percentile(figures["session"], p), 0.1)
                    for p in (50, 99)
                )
                ratios.append(f"{kind} {side}-side token/session: p50 {p50:.2f}, p99 {p99:.2f}")
    print("\n".join(ratios))


def report(stats: Stats, result: LoadResult, web_log: Path, args: argparse.Namespace) -> None:
    wall = result.wall_s
    by_kind: dict[str, list[tuple[int, float, str]]] = defaultdict(list)
    for kind, status, ms, code in stats.records:
        by_kind[kind].append((status, ms, code))

    def latencies(kind: str, ok: range | int) -> list[float]:
        statuses = ok if isinstance(ok, range) else range(ok, ok + 1)
        return [ms for status, ms, _ in by_kind[kind] if status in statuses]

    ok = range(200, 300)
    print(f"\nauthentication: {args.auth}")
    print(f"\nload phase: {wall:.1f} s wall ({args.duration:g} s of new requests, then the ones in flight)")
    print("\nclient-side latency" + HEADER[len("client-side latency") :])
    print(row("home 2xx (setup)", latencies("home", ok), None))
    print(row("submit 2xx", latencies("submit", ok), wall))
    print(row("poll 2xx", latencies("poll", ok), wall))
    print(row("submit 429 (by design)", latencies("submit", 429), wall))
    all_load = [ms for kind in ("submit", "poll") for _, ms, _ in by_kind[kind]]
    print(row("all load requests", all_load, wall))
    if stats.starts:
        first = min(stats.starts)
        per_second = Counter(int(t - first) for t in stats.starts)
        busiest = ", ".join(f"{n} at +{second} s" for second, n in per_second.most_common(4))
        print(f"requests started per second: mean {len(stats.starts) / wall:.1f}; busiest: {busiest}")

    server = access_log_times(web_log, result.web_log_offset)
    title = "server-side (gunicorn)"
    print(f"\n{title}{HEADER[len(title) :]}")
    for label, kind, statuses in (
        ("submit 2xx", "submit", ok),
        ("poll 2xx", "poll", ok),
        ("submit 429", "submit", range(429, 430)),
    ):
        values = [ms for (k, s, _), v in server.items() if k == kind and s in statuses for ms in v]
        print(row(label, values, None))
    if args.auth == "both":
        auth_report(stats, server, wall)

    print("\nstatus codes:")
    for kind in KINDS:
        counts = Counter(status for status, _, _ in by_kind[kind])
        text = "  ".join(f"{s if s else 'no answer'}: {n}" for s, n in sorted(counts.items()))
        print(f"  {kind:<7}{text or '-'}")
    records = stats.records
    n5xx = [r for r in records if r[1] >= 500]
    # MAX_QUEUE_DEPTH's refusal: a 503 by design (with Retry-After), but still a 5xx.
    overloaded = [r for r in n5xx if r[0] == "submit" and r[1] == 503 and r[3] == OVERLOADED_CODE]
    n429 = [r for r in records if r[1] == 429]
    other = [r for r in records if r[1] == 0 or (400 <= r[1] < 500 and r[1] != 429)]
    print(f"5xx: {len(n5xx)}  {dict(Counter(f'{r[1]} {r[3]}' for r in n5xx)) if n5xx else ''}".rstrip())
    print(
        f"  of which 503 {OVERLOADED_CODE} (MAX_QUEUE_DEPTH, by design, Retry-After): {len(overloaded)}; "
        f"other 5xx (errors): {len(n5xx) - len(overloaded)}"
    )
    print(f"429 (by design): {len(n429)}  {dict(Counter(r[3] for r in n429))}")
    print(
        f"other errors (connection errors, timeouts, other 4xx): {len(other)}"
        + (f"  {dict(Counter(f'{r[0]} {r[1] or r[3]}' for r in other))}" if other else "")
    )

    final = stats.jobs_final
    print(
        f"\njobs: {stats.jobs_submitted} accepted (202), "
        + ", ".join(f"{final[s]} {s}" for s in FINAL_STATUSES)
        + f", {stats.jobs_unfinished} still being polled when the time was up"
        + f"; {sum(final.values()) / wall:.2f} completed/s"
    )
    if stats.job_server_ms:
        v = stats.job_server_ms
        print(
            f"job created -> finished (server clock): p50 {percentile(v, 50):.0f} ms, "
            f"p99 {percentile(v, 99):.0f} ms, max {max(v):.0f} ms"
        )

    n_load = len(all_load)
    lag = stats.loop_lag_ms
    print(
        f"\nCPU during the load phase ({wall:.1f} s): client {result.client_cpu_s:.1f} s "
        f"({result.client_cpu_s / wall * 100:.0f}% of one core"
        + (f", {result.client_cpu_s / n_load * 1e6:.0f} us/request" if n_load else "")
        + f"), web {result.web_cpu_s:.1f} s ({result.web_cpu_s / wall * 100:.0f}%), "
        f"worker {result.worker_cpu_s:.1f} s ({result.worker_cpu_s / wall * 100:.0f}%); "
        f"whole machine busy {result.machine_busy_cores:.2f} of {result.machine_cores} cores"
    )
    rest = result.machine_busy_cores * wall - result.client_cpu_s - result.web_cpu_s - result.worker_cpu_s
    print(
        f"the rest of the machine (this run's Postgres and Redis, and anyone else's work): {rest:.1f} CPU-s "
        f"({rest / wall:.2f} cores). If the machine was busy near all its cores, the client-side figures "
        "hold CPU queueing: compare the server-side ones, and runs made at low loadavg"
    )
    if lag:
        print(
            f"client event-loop lag ({LAG_TICK * 1000:g} ms probe): p50 {percentile(lag, 50):.1f} ms, "
            f"p99 {percentile(lag, 99):.1f} ms, max {max(lag):.1f} ms"
        )
    print(f"loadavg after: {loadavg()}")

    poll_ok = latencies("poll", ok)
    print("\ntargets:")
    print(
        f"  no 5xx:            {'PASS' if not n5xx else 'MISS'} ({len(n5xx)}"
        + (f", {len(overloaded)} of them 503 {OVERLOADED_CODE} by design" if overloaded else "")
        + ")"
    )
    if poll_ok:
        p99 = percentile(poll_ok, 99)
        verdict = "PASS" if p99 <= TARGET_POLL_P99_MS else "MISS"
        print(
            f"  p99 poll <= {TARGET_POLL_P99_MS:.0f} ms: {verdict} ({p99:.1f} ms over {len(poll_ok)} polls)"
        )
    else:
        print(f"  p99 poll <= {TARGET_POLL_P99_MS:.0f} ms: MISS (no successful poll)")


# --- main -----------------------------------------------------------------


def _env_assignment(value: str) -> tuple[str, str]:
    name, sep, val = value.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {value!r}")
    return name, val


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200, help="virtual clients (default 200)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument(
        "--ramp",
        type=float,
        default=5.0,
        help="each client starts after a random 0..RAMP s (default 5, one capped Retry-After)",
    )
    parser.add_argument(
        "--max-wait", type=float, default=5.0, help="cap on a 429/503's Retry-After, seconds (default 5)"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s (default 30)")
    parser.add_argument(
        "--single-address",
        action="store_true",
        help="send every client from 127.0.0.1 without X-Forwarded-For (the old mode: the per-address "
        "limit then answers most submits 429); default: each client its own address, as X-Forwarded-For",
    )
    parser.add_argument(
        "--auth",
        choices=("session", "token", "both"),
        default="session",
        help="session (default): the page's script, cookie and CSRF token; token: a script sending "
        "'Authorization: Bearer' only (each client makes its token in the setup); both: every other "
        "client a token's, reported apart, so that the two meet the same load (fair on a shared machine)",
    )
    parser.add_argument(
        "--db-name",
        default=DB_NAME,
        help=f"PostgreSQL database to drop, create and use (default {DB_NAME})",
    )
    redis_where = parser.add_mutually_exclusive_group()
    redis_where.add_argument(
        "--redis-url",
        default=REDIS_URL,
        help=f"Redis database, flushed before and after (default {REDIS_URL})",
    )
    redis_where.add_argument(
        "--private-redis",
        action="store_true",
        help="start a throwaway redis-server (from PATH) on a free port instead: immune to test "
        "suites flushing a shared database",
    )
    overrides = parser.add_argument_group("app environment overrides (default: the app's own)")
    overrides.add_argument("--submits-per-minute", type=int, help="SUBMITS_PER_MINUTE (0 turns it off)")
    overrides.add_argument("--max-active-jobs", type=int, help="MAX_ACTIVE_JOBS_PER_SESSION")
    overrides.add_argument("--max-queue-depth", type=int, help="MAX_QUEUE_DEPTH")
    overrides.add_argument("--web-concurrency", type=int, help="WEB_CONCURRENCY (gunicorn workers)")
    overrides.add_argument("--threads", type=int, help="GUNICORN_THREADS (threads per gunicorn worker)")
    overrides.add_argument(
        "--env", type=_env_assignment, action="append", default=[], metavar="NAME=VALUE", help="any other"
    )
    args = parser.parse_args(argv)
    if args.clients < 1 or args.duration <= 0 or args.ramp < 0 or args.max_wait < 0 or args.timeout <= 0:
        parser.error("--clients >= 1, --duration and --timeout > 0, --ramp and --max-wait >= 0")
    env = {}
    for flag, name in (
        ("submits_per_minute", "SUBMITS_PER_MINUTE"),
        ("max_active_jobs", "MAX_ACTIVE_JOBS_PER_SESSION"),
        ("max_queue_depth", "MAX_QUEUE_DEPTH"),
        ("web_concurrency", "WEB_CONCURRENCY"),
        ("threads", "GUNICORN_THREADS"),
    ):
        if getattr(args, flag) is not None:
            env[name] = str(getattr(args, flag))
    if not args.single_address:
        # As on Heroku (where it defaults on): the last X-Forwarded-For entry is the client.
        env["TRUST_X_FORWARDED_FOR"] = "1"
    env.update(dict(args.env))
    args.overrides = env
    return args


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def bench(args: argparse.Namespace) -> None:
    commands = procfile_commands()
    args.port = port = free_port()
    args.base_url = f"http://{HOST}:{port}"
    redis_port = free_port() if args.private_redis else None
    redis_url = f"redis://127.0.0.1:{redis_port}/0" if redis_port else args.redis_url
    env = app_env(port, redis_url, args.overrides, db_name=args.db_name)
    log_dir = Path(tempfile.mkdtemp(prefix="sentimeter-load-"))

    print("Sentimeter load benchmark")
    print(
        f"machine: nproc={len(os.sched_getaffinity(0))}, python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, loadavg before: {loadavg()}"
    )
    private = " (private redis-server)" if redis_port else ""
    print(f"database: {database_url(args.db_name)}   redis: {redis_url}{private}   web: {args.base_url}")
    print(f"web:    {commands['web']}\nworker: {commands['worker']}  (one)")
    print(f"logs:   {log_dir}", flush=True)

    database_recreate(args.db_name)
    migrate(env, log_dir)
    config = app_config(env)

    def marked(name: str) -> str:
        return "" if name in args.overrides else " (default)"

    print(
        f"parameters: clients={args.clients} duration={args.duration:g} s ramp={args.ramp:g} s "
        f"max-wait={args.max_wait:g} s timeout={args.timeout:g} s, "
        "one keep-alive connection per client, 1 text per job, addresses: "
        + (
            "all 127.0.0.1 (--single-address)"
            if args.single_address
            else f"one per client from {CLIENT_NETWORK}, as X-Forwarded-For"
        )
        + f"; DEBUG={config.get('DEBUG', '?')} ("
        + ("NOT production" if config.get("DEBUG") else "production")
        + f" mode, SECURE_SSL_REDIRECT={config.get('SECURE_SSL_REDIRECT', '?')}), every request as Heroku's "
        "router forwards it: X-Forwarded-Proto: https, X-Request-ID"
    )
    print(
        "app: "
        + " ".join(
            f"{name}={config.get(name, '?')}{marked(name)}"
            for name in (
                "SUBMITS_PER_MINUTE",
                "MAX_ACTIVE_JOBS_PER_SESSION",
                "MAX_QUEUE_DEPTH",
                "POLL_INTERVAL",
                "TRUST_X_FORWARDED_FOR",
            )
        )
    )
    print(
        f"gunicorn: {config['workers']} workers{marked('WEB_CONCURRENCY')} x {config['threads']} threads"
        f"{marked('GUNICORN_THREADS')} ({config['worker_class']}); "
        f"DB_CONN_MAX_AGE={config['DB_CONN_MAX_AGE']}"
        + (f"; other env: {args.overrides}" if args.overrides else ""),
        flush=True,
    )
    processes: list[Process] = []
    try:
        if redis_port:
            processes.append(private_redis(redis_port, env=env, log_dir=log_dir))
        redis_flush(redis_url, sentinel=True)
        web = Process("web", commands["web"], env=env, log_dir=log_dir)
        processes.append(web)
        worker = Process("worker", commands["worker"], env=env, log_dir=log_dir)
        processes.append(worker)
        wait_until_ready(args.base_url, web, [worker])
        asyncio.run(
            warm_up(port, web, worker, {} if args.single_address else {"X-Forwarded-For": WARM_UP_ADDRESS})
        )

        stats = Stats()
        result = asyncio.run(drive(args, stats, web, worker))
        report(stats, result, web.log_path, args)
        web.check_alive()
        worker.check_alive()
        if not redis_sentinel_present(redis_url):
            raise BenchError(
                f"{redis_url} was flushed by another process during the run (a test suite pointed at "
                "it?): rate counters and queued jobs were lost, so the figures above are not valid. "
                "Run again with --private-redis, or --redis-url set to a database nobody else uses."
            )
    finally:
        # A second Ctrl-C (or SIGTERM) must not cut the cleanup short and leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(f"\nstopping {', '.join(p.name for p in reversed(processes)) or 'nothing'} ...", flush=True)
        for process in reversed(processes):
            process.stop()
        if not redis_port:  # a private server is gone with its data
            try:
                redis_flush(redis_url)
            except redis.RedisError as exc:
                print(f"could not flush {redis_url}: {exc}", file=sys.stderr)
        print(f"logs kept in {log_dir}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        bench(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (BenchError, psycopg.Error, redis.RedisError, *REQUEST_ERRORS) as exc:
        print(f"\nBENCHMARK BROKE: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
