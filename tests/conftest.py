"""Shared fixtures: a clean Redis database per test, and small builders."""

import pytest
from django.conf import settings
from django.utils import translation

from worker.queues import get_redis


@pytest.fixture(autouse=True)
def _static_storage(settings):
    # The manifest storage needs `collectstatic`; pages under test use plain URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _language_reset():
    # LocaleMiddleware leaves a request's language active in its thread: a Korean
    # request in one test would make the next test's plain function calls speak Korean.
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def redis_clean():
    """Give every test an empty Redis database (REDIS_URL points at a test db)."""
    redis = get_redis()
    redis.flushdb()
    yield redis
    redis.flushdb()


# A port where nothing listens.
CLOSED_REDIS_URL = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(settings):
    """Point every queue (and the shared connection) at a port where nothing listens."""
    get_redis.cache_clear()
    settings.RQ_QUEUES = {
        name: {**conf, "URL": CLOSED_REDIS_URL} for name, conf in settings.RQ_QUEUES.items()
    }
    yield
    # The settings fixture restores RQ_QUEUES after this; the next get_redis() reconnects to it.
    get_redis.cache_clear()


@pytest.fixture
def sentimeter_settings(settings):
    """The SENTIMETER limits, as a mutable copy a test may change."""
    settings.SENTIMETER = dict(settings.SENTIMETER)
    return settings.SENTIMETER


def pytest_report_header(config):
    return [f"database: {settings.DATABASES['default']['NAME']}", f"redis: {settings.REDIS_URL}"]


def pytest_terminal_summary(terminalreporter):
    """Print what the chaos tests survived (tests/test_chaos.py), for the closing notes."""
    import sys

    chaos = sys.modules.get("tests.test_chaos")
    if chaos is None or not chaos.CHAOS_REPORT:
        return
    terminalreporter.section("chaos report")
    for line in chaos.CHAOS_REPORT:
        terminalreporter.write_line(line)
