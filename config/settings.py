"""Sentimeter settings: one file, driven by environment variables (12-factor).

Every variable is listed with its default in README.md ("Configuration").
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """Read an integer environment variable, failing loudly on garbage."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def env_float(name: str, default: float) -> float:
    """Read a non-negative number from an environment variable, failing loudly on garbage."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None
    if not number >= 0 or number == float("inf"):
        raise ImproperlyConfigured(f"{name} must be a non-negative number, got {value!r}")
    return number


def env_ints(name: str, default: list[int]) -> list[int]:
    """Read a comma-separated list of non-negative integers ("5,30,120")."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        numbers = [int(part) for part in value.split(",")]
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be comma-separated integers, got {value!r}") from None
    if any(n < 0 for n in numbers):
        raise ImproperlyConfigured(f"{name} must not be negative, got {value!r}")
    return numbers


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated environment variable."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# Heroku sets DYNO in every dyno; it is how we know we are in production there.
ON_HEROKU = "DYNO" in os.environ

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG:
        # Only for a local try-out; `bin/run` sets DEBUG=1.
        SECRET_KEY = "django-insecure-local-development-key-not-for-production-use"  # noqa: S105
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to a long random string "
            "(heroku config:set SECRET_KEY=...), or set DEBUG=1 for local development."
        )

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [".herokuapp.com"]
)
if ON_HEROKU and "*" in ALLOWED_HOSTS:
    # With "*", any Host header is believed: the HTTPS redirect, password-reset
    # links and absolute URLs would point wherever the sender chose.
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must name this app's host names on Heroku, not '*' "
        "(heroku config:set ALLOWED_HOSTS=myapp.herokuapp.com,www.example.com)."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_rq",
    # Only its static files: Swagger UI for /api/docs/ (web/templates/web/api_docs.html).
    "drf_spectacular_sidecar",
    "web",
    "worker",
]

MIDDLEWARE = [
    "web.middleware.RequestIDMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body (CSRF reads the form's token).
    "web.middleware.ChunkedBodyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The page's language: the one chosen with the switcher (a cookie), else Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CSRF: a Bearer request carries no cookie to forge, so it skips the CSRF check.
    "web.middleware.BearerTokenMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: with LOGIN_REQUIRED, pages redirect to the login and the API answers 401.
    "web.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "web.context_processors.script_strings",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# Postgres via DATABASE_URL in production; a SQLite file when unset, for a
# quick local try. conn_max_age keeps connections across requests and
# conn_health_checks drops ones the server closed (Heroku Postgres restarts)
# before a request uses them.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 600),
        conn_health_checks=True,
        # Heroku Postgres requires SSL; locally the server usually has none.
        ssl_require=env_bool("DATABASE_SSL_REQUIRE", default=ON_HEROKU),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same, with a health check that needs no round trip (config/postgres/base.py).
    DATABASES["default"]["ENGINE"] = "config.postgres"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and RQ ---------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

_redis_queue_config: dict = {"URL": REDIS_URL, "DEFAULT_TIMEOUT": env_int("JOB_TIMEOUT", 900)}
if REDIS_URL.startswith("rediss://"):
    # Heroku Key-Value Store presents a self-signed certificate on rediss://
    # (devcenter.heroku.com/articles/connecting-heroku-redis#connecting-in-python).
    _redis_queue_config["SSL_CERT_REQS"] = None

RQ_QUEUES = {
    "quick": dict(_redis_queue_config),
    "bulk": dict(_redis_queue_config),
}
RQ = {
    # Enqueue only once the transaction that created the Job row commits, so
    # a worker can never pick up a job whose row it cannot see yet. Our own
    # submit path does this explicitly (worker/queues.py: job_enqueue).
    "COMMIT_MODE": "on_db_commit",
}

# --- Sentimeter -----------------------------------------------------------
SENTIMETER = {
    # Jobs whose analysis is estimated (by their analyzer's cost model, worker/analyzers/)
    # at most this many seconds go to the `quick` queue and run in one piece.
    "QUICK_MAX_SECONDS": env_float("QUICK_MAX_SECONDS", 0.5),
    # A chunk (analyzed and committed together, on any worker) holds at most
    # CHUNK_SIZE texts or CHUNK_SECONDS of analysis, as the analyzer's cost model
    # estimates it for one core (worker/chunking.py): ~19,000 texts of ~15 words
    # for VADER, ~2,250 of ~80; ~10 short texts for the multilingual model. Each
    # chunk costs ~11 ms of worker CPU besides the analysis of its rows (README,
    # Benchmarks), a cancel waits for the chunk in hand, and a single text waits
    # for a worker's chunk to end: so neither much smaller nor larger.
    # CHUNK_SIZE only caps chunks of very short texts.
    "CHUNK_SIZE": env_int("CHUNK_SIZE", 20_000),
    "CHUNK_SECONDS": env_float("CHUNK_SECONDS", 0.85),
    # Chunks of one job waiting on the bulk queue at once (at least twice the
    # number of workers): big jobs take turns instead of one after the other.
    "CHUNK_WINDOW": env_int("CHUNK_WINDOW", 4),
    # Largest file upload, in bytes.
    "MAX_UPLOAD_BYTES": env_int("MAX_UPLOAD_BYTES", 50 * 1024 * 1024),
    # Texts in one pasted or JSON job (uploads are bounded by MAX_UPLOAD_BYTES).
    "MAX_TEXTS_PER_JOB": env_int("MAX_TEXTS_PER_JOB", 100_000),
    "MAX_TEXT_CHARS": env_int("MAX_TEXT_CHARS", 10_000),
    # Largest JSON or form body accepted, in bytes.
    "MAX_BODY_BYTES": env_int("MAX_BODY_BYTES", 10 * 1024 * 1024),
    # Attempts for a job that fails for reasons not caused by its input (a dropped
    # database connection, a Redis timeout, a time limit), and the seconds before each
    # (the last one repeats if there are more retries than intervals).
    "JOB_RETRIES": env_int("JOB_RETRIES", 3),
    "RETRY_INTERVALS": env_ints("RETRY_INTERVALS", [5, 30, 120]),
    # The analyzer a job gets when it names none (README, "Analyzers": why e5).
    "DEFAULT_ANALYZER": os.environ.get("DEFAULT_ANALYZER", "e5"),
    # Seconds a client should wait before polling a job again.
    "POLL_INTERVAL": env_int("POLL_INTERVAL", 1),
    # Admission limits (0 turns one off). See web/limits.py.
    "SUBMITS_PER_MINUTE": env_int("SUBMITS_PER_MINUTE", 30),
    "MAX_ACTIVE_JOBS_PER_SESSION": env_int("MAX_ACTIVE_JOBS_PER_SESSION", 10),
    "MAX_QUEUE_DEPTH": env_int("MAX_QUEUE_DEPTH", 1000),
    # Webhooks (worker/webhooks.py). Allow http:// and private, loopback and link-local
    # addresses: for local testing and development only.
    "WEBHOOK_ALLOW_PRIVATE": env_bool("WEBHOOK_ALLOW_PRIVATE", default=False),
    # Seconds to connect and to wait for each read of the receiver's answer.
    "WEBHOOK_TIMEOUT": env_int("WEBHOOK_TIMEOUT", 10),
    # Seconds before each retry of a failed delivery: 6 attempts over about an hour.
    "WEBHOOK_RETRY_INTERVALS": env_ints("WEBHOOK_RETRY_INTERVALS", [30, 120, 300, 900, 2400]),
    # Every page and API call needs a signed-in user (or a token a user made); jobs and
    # tokens then belong to the user. Off: they belong to the browser session.
    "LOGIN_REQUIRED": env_bool("LOGIN_REQUIRED", default=False),
    # API tokens one owner may hold at once (0: no limit).
    "MAX_TOKENS_PER_OWNER": env_int("MAX_TOKENS_PER_OWNER", 20),
    # Failed admin logins from one address before its login closes for 15 minutes.
    "ADMIN_LOGIN_FAILURES": env_int("ADMIN_LOGIN_FAILURES", 5),
    # Behind Heroku's router the last X-Forwarded-For entry is the client.
    "TRUST_X_FORWARDED_FOR": env_bool("TRUST_X_FORWARDED_FOR", default=ON_HEROKU),
    # Reliability: worker/reconcile.py and worker/process.py (README "Never losing a job").
    # Seconds between reconciler passes; every worker runs one when due, a Redis lock keeps it to one.
    "RECONCILE_INTERVAL": env_int("RECONCILE_INTERVAL", 30),
    # Seconds between heartbeats of the job a worker has in hand (RQ's job monitoring interval)...
    "HEARTBEAT_INTERVAL": env_int("HEARTBEAT_INTERVAL", 10),
    # ...and without one for this long, its worker is taken for dead and the job is run again.
    "STALE_AFTER": env_int("STALE_AFTER", 45),
    # A queued job that Redis does not hold this long after it was stored is enqueued again.
    "ENQUEUE_GRACE": env_int("ENQUEUE_GRACE", 10),
    # After SIGTERM a work horse may finish its chunk for this long, then it is interrupted
    # and its job put back on the queue (Heroku sends SIGKILL 30 s after SIGTERM).
    "SHUTDOWN_GRACE": env_int("SHUTDOWN_GRACE", 10),
    # RQ kills a job that runs longer (then it is retried, then failed): the split of the
    # biggest upload, and one chunk (~2 s of analysis).
    "JOB_TIMEOUT": _redis_queue_config["DEFAULT_TIMEOUT"],
    "CHUNK_TIMEOUT": env_int("CHUNK_TIMEOUT", 120),
    # The job page's text search reads the job's texts in slices of SEARCH_SLICE_ROWS (by idx)
    # for at most about SEARCH_SECONDS a request, then offers to search further (issue 13:
    # the page in 300 ms; README "The pages"). At least one slice is read.
    "SEARCH_SECONDS": env_float("SEARCH_SECONDS", 0.2),
    "SEARCH_SLICE_ROWS": env_int("SEARCH_SLICE_ROWS", 25_000),
    # Finished jobs and their results are deleted this many days after they ended (0: never).
    "RETENTION_DAYS": env_int("RETENTION_DAYS", 30),
}
DATA_UPLOAD_MAX_MEMORY_SIZE = SENTIMETER["MAX_BODY_BYTES"]
# One file per request; its size is checked while it streams in (web/uploads.py).
DATA_UPLOAD_MAX_NUMBER_FILES = 1
FILE_UPLOAD_HANDLERS = [
    "web.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "web.uploads.CompressingUploadHandler",
]

# --- Sessions: jobs belong to the browser session that created them -------
SESSION_COOKIE_AGE = 60 * 60 * 24 * 90
SESSION_SAVE_EVERY_REQUEST = False

# --- Accounts (used with LOGIN_REQUIRED) ------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Static files ---------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security -------------------------------------------------------------
# The Heroku router terminates TLS and tells us the scheme in this header.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
# The "preload" token only makes the domain eligible; submitting it to
# hstspreload.org is a separate, manual step (README "Security").
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Django's built-in CSP: our own static files only, no inline script.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# JSON error body under /api/, Django's page elsewhere.
CSRF_FAILURE_VIEW = "web.errors.csrf_failure"
# --- Internationalization -------------------------------------------------
# English is the default; Korean is complete (locale/ko, README "Languages").
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "Korean")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging: everything to stdout, where Heroku's log router reads it ----
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "config.logcontext.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(levelname)s %(name)s [%(context)s] %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain",
            "filters": ["context"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "rq.worker": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
    },
}
