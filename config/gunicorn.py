"""Gunicorn settings tuned for the Heroku router.

Sources: devcenter.heroku.com/articles/http-routing (30 s request timeout,
90 s idle keep-alive on the router side) and heroku/python-getting-started's
gunicorn.conf.py.
"""

import gc
import os

# Heroku tells each dyno which port to bind to.
bind = ["[::]:" + os.environ.get("PORT", "8000")]

# Defaults for a 512 MB dyno (an explicit WEB_CONCURRENCY, ours or one the
# buildpack sets, wins). Measured (tests/benchmarks/bench_load.py and a
# fixed poll load, README "Benchmarks"): a worker is ~60 MB RSS, ~29 MB PSS
# with preload_app, so memory allows many; what limits is CPU and Postgres
# connections. A poll costs ~1.5 ms of web CPU whatever the worker/thread
# mix (1x1, 1x4, 2x1, 2x2, 2x4 all measured within noise of each other), but
# most of its wall time is waiting on Postgres: 4 threads doubled one
# worker's poll throughput over 1 thread by overlapping those waits, and a
# second worker lets two requests run Python at once (the GIL holds one per
# process). Each thread keeps its own persistent Postgres connection
# (DB_CONN_MAX_AGE): 2 x 4 = 8 per web dyno, well inside the smallest Heroku
# Postgres plans' connection limits with the worker's beside them.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# gthread, with each request read whole (headers and body, without blocking)
# before a thread serves it: stalled or slow clients cost a socket, never a
# thread (config/webworker.py; tests/benchmarks/bench_slowclients.py).
worker_class = "config.webworker.BufferingWorker"

# Our requests do O(bytes received) work and answer in milliseconds; kill a
# stuck one well before the router gives up on it at 30 s.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "20"))

# Read every request line Heroku's router passes (it refuses lines over
# 8 KB: help.heroku.com/TQ80D553), so an over-long query (q past its limit)
# gets our JSON 400 instead of gunicorn's HTML 414 at its default 4,094
# bytes. 8190 is gunicorn's maximum.
limit_request_line = 8190

# Heroku sends SIGTERM and then SIGKILL 30 s later: finish in-flight requests
# within that window.
graceful_timeout = 20

# Above the router's 90 s idle timeout, so gunicorn never closes a
# connection the router still thinks is open (which would surface as H18s).
keepalive = 100

# Load the app before forking so workers share its memory and a broken
# deploy fails at boot rather than on the first request.
preload_app = True


def pre_fork(server, worker):
    """Move everything the app loaded out of the garbage collector's sight.

    Otherwise each full collection in a worker walks all of Django's objects
    with the GIL held, stalling every thread of that worker: 47-135 ms
    pauses, several a minute, under bench_load.py's 200 clients. Frozen,
    they are never collected (they live as long as the process anyway), and
    their memory pages stay shared with the master.
    """
    gc.freeze()


accesslog = "-"
errorlog = "-"
# Heroku's router sets X-Request-ID; log it with each request.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}i)s'
forwarded_allow_ips = "*"
# Let the Heroku router (and any local proxy) tell us the scheme.
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# Gunicorn 25+ opens a control socket at one fixed path per user; we do not
# use `gunicornc`, and several instances on one machine (tests, benchmarks)
# would fight over that path.
control_socket_disable = True
