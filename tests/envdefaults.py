"""Environment defaults for the test run, loaded before Django's settings.

Registered with `-p tests.envdefaults` in pyproject.toml, so it runs before
pytest-django imports config.settings. Anything already set in the
environment wins, so CI or a developer can point the suite elsewhere.
"""

import os

TEST_DEFAULTS = {
    "SECRET_KEY": "test-secret-key-not-used-in-production-0123456789abcdefghij",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/sentimeter",
    # A Redis database of its own, flushed between tests.
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    # The Django test client speaks plain HTTP; production settings otherwise.
    "SECURE_SSL_REDIRECT": "0",
    "LOG_LEVEL": "WARNING",
    # Most tests are about the job system, not the analysis: VADER runs them in
    # milliseconds. Tests of the multilingual analyzer name it (analyzer="e5").
    "DEFAULT_ANALYZER": "vader",
}

for name, value in TEST_DEFAULTS.items():
    os.environ.setdefault(name, value)
os.environ.pop("DYNO", None)
