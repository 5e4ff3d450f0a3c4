"""Gunicorn settings tuned for the Heroku router.

Sources: devcenter.heroku.com/articles/http-routing (30 s request timeout,
90 s idle keep-alive on the router side) and heroku/python-getting-started's
gunicorn.conf.py.
"""

import os

# Heroku tells each dyno which port to bind to.
bind = ["[::]:" + os.environ.get("PORT", "8000")]

# Heroku sets WEB_CONCURRENCY from the dyno size; 2 suits a small dyno.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"

# Our requests do O(bytes received) work and answer in milliseconds; kill a
# stuck one well before the router gives up on it at 30 s.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "20"))

# Heroku sends SIGTERM and then SIGKILL 30 s later: finish in-flight requests
# within that window.
graceful_timeout = 20

# Above the router's 90 s idle timeout, so gunicorn never closes a
# connection the router still thinks is open (which would surface as H18s).
keepalive = 100

# Load the app before forking so workers share its memory and a broken
# deploy fails at boot rather than on the first request.
preload_app = True

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
