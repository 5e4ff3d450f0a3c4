"""Admission control for new jobs: per-client rate, per-session active jobs, queue depth.

Views call `job_admit` (rate and queue depth, in Redis) before
`services.job_create`, which calls `active_jobs_admit` inside the
transaction that stores the job, so the per-session cap holds however many
submits arrive at once. The command line does not go through `job_admit`
(an operator running `heroku run` is not a stranger on the internet), and
its jobs belong to no session.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from django.utils.translation import gettext_noop
from redis.exceptions import RedisError

from web.exceptions import Overloaded, RateLimited
from web.models import Job
from worker.queues import QUEUE_NAMES, get_queue, get_redis

logger = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60
RETRY_JITTER = 10
RATE_KEY_PREFIX = "sentimeter:rate:submit:"
# How long an overloaded client should wait before trying again.
OVERLOAD_RETRY_AFTER = 30
UNKNOWN_CLIENT = "unknown"
# What a Redis call raises when Redis does not answer. OSError/ValueError:
# redis-py has surfaced a socket closed under it as "Bad file descriptor" /
# "I/O operation on closed file" under heavy load.
REDIS_ERRORS = (RedisError, OSError, ValueError)
# The first key of the per-session admission lock (pg_advisory_xact_lock's
# two-integer form), so it never meets another advisory lock: "SENT".
ADMISSION_LOCK_SPACE = 0x53454E54
LOGIN_FAILURES_KEY_PREFIX = "sentimeter:login:failures:"
# Failed admin logins from one address are remembered this long after the
# last one; ADMIN_LOGIN_FAILURES of them close the login to it until then.
LOGIN_WINDOW_SECONDS = 15 * 60


def client_ip(request: HttpRequest) -> str:
    """Return the client's IP address, as the Heroku router saw it.

    The router appends the address it saw to X-Forwarded-For, so the last
    entry is the one we can trust; anything before it came from the client
    (devcenter.heroku.com/articles/http-routing#heroku-headers). Without a
    trusted proxy in front, REMOTE_ADDR is the client.
    """
    candidate = request.META.get("REMOTE_ADDR", "")
    if settings.SENTIMETER["TRUST_X_FORWARDED_FOR"]:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            candidate = forwarded.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return UNKNOWN_CLIENT


def redis_admit(*, ip: str, now: float | None = None, per_owner: bool = False) -> None:
    """Count one submit for this client and check the queues' depth, in one round trip to Redis.

    Raises RateLimited past SUBMITS_PER_MINUTE from this address (or token
    owner, `per_owner`), Overloaded
    when the queues hold MAX_QUEUE_DEPTH jobs (each check is off at 0).
    """
    conf = settings.SENTIMETER
    limit, cap = conf["SUBMITS_PER_MINUTE"], conf["MAX_QUEUE_DEPTH"]
    if limit <= 0 and cap <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // RATE_WINDOW_SECONDS)
    pipe = get_redis().pipeline()
    if limit > 0:
        key = f"{RATE_KEY_PREFIX}{ip}:{window}"
        pipe.incr(key)
        pipe.expire(key, RATE_WINDOW_SECONDS * 2)
    if cap > 0:
        for name in QUEUE_NAMES:
            pipe.llen(get_queue(name).key)
    results = pipe.execute()
    if limit > 0:
        count, _, *results = results
        if count > limit:
            # The window's end, plus a few seconds of jitter: otherwise every
            # refused client comes back in the same second when the minute turns.
            window_left = max(1, int((window + 1) * RATE_WINDOW_SECONDS - now) + 1)
            retry_after = window_left + secrets.randbelow(RETRY_JITTER)
            if per_owner:
                template = gettext_noop(
                    "Too many submissions: at most %(limit)s a minute from one token owner. "
                    "Try again in %(seconds)s s."
                )
            else:
                template = gettext_noop(
                    "Too many submissions: at most %(limit)s a minute from "
                    "one address. Try again in %(seconds)s s."
                )
            raise RateLimited(
                template, params={"limit": limit, "seconds": retry_after}, retry_after=retry_after
            )
    if cap > 0 and sum(results) >= cap:
        raise Overloaded(
            gettext_noop("Sentimeter is busy right now; please try again in a little while."),
            retry_after=OVERLOAD_RETRY_AFTER,
        )


def active_jobs_check(*, session_key: str | None) -> None:
    """Raise RateLimited if this session already has the most active jobs allowed."""
    limit = settings.SENTIMETER["MAX_ACTIVE_JOBS_PER_SESSION"]
    if limit <= 0 or not session_key:
        return
    active = Job.objects.owned_by(session_key).active().count()
    if active >= limit:
        raise RateLimited(
            gettext_noop(
                "You already have %(active)s unfinished jobs (the limit is %(limit)s). "
                "Wait for one to finish, or cancel one."
            ),
            params={"active": active, "limit": limit},
            code="too_many_active_jobs",
            retry_after=settings.SENTIMETER["POLL_INTERVAL"] * 5,
        )


def active_jobs_admit(*, session_key: str | None) -> None:
    """Take this session's admission lock until the transaction ends, then check its active jobs.

    Call it inside the transaction that creates the job. Submits from one
    session wait for each other here, so each counts the jobs the ones
    before it stored: counted without the lock, 20 simultaneous submits got
    12 jobs past a cap of 10. A Postgres advisory lock, not a row lock: the
    session may live in a cookie or a cache, and no row must exist first.
    SQLite (the local quick try) runs one writer at a time anyway.
    """
    if settings.SENTIMETER["MAX_ACTIVE_JOBS_PER_SESSION"] <= 0 or not session_key:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [ADMISSION_LOCK_SPACE, session_key]
            )
    active_jobs_check(session_key=session_key)


def job_admit(request: HttpRequest, *, session_key: str | None) -> None:
    """Check this request's rate (per address, or per token owner) and the queues' depth; raise the first hit.

    Redis holds the rate counters and the queues: if it does not answer, the
    submit is refused with 503 and nothing is stored. The session's active
    jobs are checked when the job is stored (active_jobs_admit).
    """
    with _redis_required(
        gettext_noop("The job queue is unavailable right now; nothing was stored. Please try again shortly."),
        code="queue_unavailable",
    ):
        token = getattr(request, "api_token", None)
        if token is not None:
            # A token's submits count against its owner, wherever they come from:
            # scripts of several teams behind one CI address do not share a limit.
            redis_admit(ip=f"owner:{token.owner_key}", per_owner=True)
        else:
            redis_admit(ip=client_ip(request))


@contextmanager
def _redis_required(message: str, *, code: str) -> Iterator[None]:
    """Answer Overloaded (503, with this message) when Redis does not answer."""
    try:
        yield
    except REDIS_ERRORS:
        logger.exception("%s: Redis did not answer", code)
        raise Overloaded(message, code=code, retry_after=OVERLOAD_RETRY_AFTER) from None


def login_admit(request: HttpRequest) -> None:
    """Raise RateLimited while this address has failed to log in ADMIN_LOGIN_FAILURES times lately.

    Redis keeps the count: if it does not answer, the login is refused
    (Overloaded) rather than left open to guessing.
    """
    limit = settings.SENTIMETER["ADMIN_LOGIN_FAILURES"]
    if limit <= 0:
        return
    key = LOGIN_FAILURES_KEY_PREFIX + client_ip(request)
    with _redis_required(
        gettext_noop("Logging in is unavailable right now; please try again shortly."),
        code="login_unavailable",
    ):
        failures, ttl = get_redis().pipeline().get(key).ttl(key).execute()
    if failures is not None and int(failures) >= limit:
        retry_after = max(int(ttl), 1)
        raise RateLimited(
            gettext_noop("Too many failed logins from this address: try again in %(seconds)s s."),
            params={"seconds": retry_after},
            code="login_locked",
            retry_after=retry_after,
        )


def login_failed(request: HttpRequest) -> None:
    """Count a failed admin login from this address (the window restarts with each)."""
    if settings.SENTIMETER["ADMIN_LOGIN_FAILURES"] <= 0:
        return
    key = LOGIN_FAILURES_KEY_PREFIX + client_ip(request)
    try:
        get_redis().pipeline().incr(key).expire(key, LOGIN_WINDOW_SECONDS).execute()
    except REDIS_ERRORS:
        logger.exception("admin login: could not count a failure")
