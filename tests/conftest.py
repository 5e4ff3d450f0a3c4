"""Shared fixtures: a clean Redis database per test, and small builders."""

import pytest
from django.conf import settings

from worker.queues import get_redis


@pytest.fixture(autouse=True)
def _static_storage(settings):
    # The manifest storage needs `collectstatic`; pages under test use plain URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def redis_clean():
    """Give every test an empty Redis database (REDIS_URL points at a test db)."""
    redis = get_redis()
    redis.flushdb()
    yield redis
    redis.flushdb()


@pytest.fixture
def sentimeter_settings(settings):
    """The SENTIMETER limits, as a mutable copy a test may change."""
    settings.SENTIMETER = dict(settings.SENTIMETER)
    return settings.SENTIMETER


def pytest_report_header(config):
    return [f"database: {settings.DATABASES['default']['NAME']}", f"redis: {settings.REDIS_URL}"]
