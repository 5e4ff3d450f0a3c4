"""Security headers, escaping, CSV injection, CSRF, and the production settings."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import string
import subprocess
import sys
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client

from tests.builders import browser, csrf_headers, csrf_token, make_job, make_results, owner_session
from web.models import Job
from web.table import OUR_COLUMNS
from worker.summary import summary_compute

BASE_DIR = Path(django_settings.BASE_DIR)
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTRIBUTE = '"><img src=x onerror=alert(1)>'
JOB_STATES = ("queued", "running", "succeeded", "failed", "canceled")


class PageScan(HTMLParser):
    """Collect what a strict CSP (script-src 'self', style-src 'self') would block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inline_scripts: list[str] = []
        self.data_blocks: list[str] = []
        self.script_srcs: list[str] = []
        self.event_handlers: list[str] = []
        self.style_blocks = 0
        self.style_attributes: list[str] = []
        self.javascript_urls: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "script":
            if attributes.get("src"):
                self.script_srcs.append(attributes["src"])
            elif attributes.get("type") == "application/json":
                # A data block (json_script: the scripts' words): never run, so CSP allows it.
                self.data_blocks.append(attributes.get("id", ""))
            else:
                self.inline_scripts.append("")
                self._in_script = True
        if tag == "style":
            self.style_blocks += 1
        for name, value in attrs:
            if name.startswith("on"):
                self.event_handlers.append(f"<{tag} {name}={value!r}>")
            if name == "style":
                self.style_attributes.append(f"<{tag} style={value!r}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.javascript_urls.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.inline_scripts[-1] += data


def scan(response) -> PageScan:
    parser = PageScan()
    parser.feed(response.content.decode())
    parser.close()
    return parser


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        tokens = part.split()
        if tokens:
            directives[tokens[0].lower()] = tokens[1:]
    return directives


# --- a site with a job in every state ----------------------------------------------


def _job_in_state(session_key: str, state: str, texts: list[str]) -> Job:
    job = make_job(session_key=session_key, texts=texts)
    if state == "queued":
        return job
    if state == "running":
        make_results(job, texts[:1])
        Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
    elif state == "succeeded":
        make_results(job, texts)
        Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED, summary=summary_compute(job.pk))
    elif state == "failed":
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.FAILED,
            error_code="invalid_input",
            error_message=f"row 2: bad text {XSS_SCRIPT}",
        )
    elif state == "canceled":
        make_results(job, texts[:2])
        Job.objects.filter(pk=job.pk).update(status=Job.Status.CANCELED)
    job.refresh_from_db()
    return job


@pytest.fixture
def site(db):
    """A browser with a job in every state, and the paths of every page it can see."""
    client = browser()
    session_key = owner_session(client)
    texts = [XSS_SCRIPT, XSS_ATTRIBUTE, "I love it", "=1+1"]
    jobs = {state: _job_in_state(session_key, state, texts) for state in JOB_STATES}
    pages = {
        "home": "/",
        "job-list": "/jobs/",
        **{f"job-{state}": f"/jobs/{job.pk}/" for state, job in jobs.items()},
        "job-succeeded-filtered": f"/jobs/{jobs['succeeded'].pk}/?label=negative",
        "404-page": "/no-such-page/",
        "404-job": f"/jobs/{uuid.uuid4()}/",
    }
    api = {
        "api-job-list": "/api/jobs/",
        "api-job": f"/api/jobs/{jobs['succeeded'].pk}/",
        "api-results": f"/api/jobs/{jobs['succeeded'].pk}/results/",
        "api-csv": f"/api/jobs/{jobs['succeeded'].pk}/results.csv",
        "api-jsonl": f"/api/jobs/{jobs['succeeded'].pk}/results.jsonl",
        "api-openapi": "/api/openapi.json",
        "api-404": f"/api/jobs/{uuid.uuid4()}/",
        "healthz": "/healthz",
    }
    return {"client": client, "jobs": jobs, "pages": pages, "api": api}


PAGE_NAMES = [
    "home",
    "job-list",
    *(f"job-{state}" for state in JOB_STATES),
    "job-succeeded-filtered",
    "404-page",
    "404-job",
]
API_NAMES = [
    "api-job-list",
    "api-job",
    "api-results",
    "api-csv",
    "api-jsonl",
    "api-openapi",
    "api-404",
    "healthz",
]


def _get(site, name):
    path = site["pages"].get(name) or site["api"][name]
    response = site["client"].get(path)
    expected = 404 if "404" in name else 200
    assert response.status_code == expected, (name, response.status_code)
    return response


# --- headers on every response --------------------------------------------------------


@pytest.mark.parametrize("name", PAGE_NAMES + API_NAMES)
def test_security_headers(site, name):
    response = _get(site, name)

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("name", PAGE_NAMES + API_NAMES)
def test_content_security_policy(site, name):
    response = _get(site, name)
    directives = csp_directives(response)

    assert "'self'" in directives["script-src"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert "*" not in directives["script-src"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]


# --- pages a strict CSP does not break -------------------------------------------------


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_no_inline_script_or_style(site, name):
    page = scan(_get(site, name))

    assert page.inline_scripts == []
    assert page.data_blocks == ["strings"]
    assert page.event_handlers == []
    assert page.style_blocks == 0
    assert page.style_attributes == []
    assert page.javascript_urls == []
    for src in page.script_srcs:
        assert src.startswith(django_settings.STATIC_URL) or src.startswith("/" + django_settings.STATIC_URL)


def test_the_queued_job_page_loads_its_script_from_static(site):
    page = scan(_get(site, "job-queued"))

    assert any(src.endswith("web/job.js") for src in page.script_srcs)


# --- escaping --------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["succeeded", "running", "canceled"])
def test_result_texts_are_escaped_in_the_job_page(site, state):
    html = _get(site, f"job-{state}").content.decode()
    page = scan(_get(site, f"job-{state}"))

    assert XSS_SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    if state != "running":  # the running job has stored only its first result
        assert XSS_ATTRIBUTE not in html
        assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert not [tag for tag, _ in page.tags if tag == "img"]
    assert page.inline_scripts == []


def test_error_message_is_escaped_in_the_failed_job_page(site):
    html = _get(site, "job-failed").content.decode()

    assert XSS_SCRIPT not in html
    assert "row 2: bad text &lt;script&gt;" in html


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [XSS_SCRIPT, XSS_ATTRIBUTE, "</textarea><script>alert(1)</script>"])
def test_pasted_text_is_escaped_when_the_form_comes_back(sentimeter_settings, payload):
    sentimeter_settings["MAX_TEXT_CHARS"] = 5  # every payload is too long: the form comes back
    client = browser()

    response = client.post("/jobs/", {"csrfmiddlewaretoken": csrf_token(client), "texts": payload})

    assert response.status_code == 413
    html = response.content.decode()
    assert payload not in html
    page = scan(response)
    assert page.inline_scripts == []
    assert page.event_handlers == []
    assert not [tag for tag, _ in page.tags if tag == "img"]


def test_api_json_is_not_html(site):
    response = _get(site, "api-results")

    assert response["Content-Type"] == "application/json"
    assert XSS_SCRIPT in [r["text"] for r in json.loads(response.content)["results"]]


# --- CSV injection ---------------------------------------------------------------------


def _csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text",
    [
        pytest.param('=HYPERLINK("http://evil.example","click")', id="equals"),
        pytest.param("+1+cmd|' /C calc'!A0", id="plus"),
        pytest.param("-2+3", id="minus"),
        pytest.param("@SUM(1+1)*cmd|' /C calc'!A0", id="at"),
        pytest.param("\t=1+1", id="tab"),
        pytest.param("\r=1+1", id="carriage-return"),
        pytest.param("   =1+1", id="spaces-then-equals"),
        pytest.param("\n=1+1", id="newline-then-equals"),
        pytest.param(" \n @SUM(1)", id="whitespace-then-at"),
        pytest.param("  -2+3", id="spaces-then-minus"),
    ],
)
def test_csv_download_neutralises_formulas(client, text):
    job = make_job(session_key=owner_session(client), texts=[text])
    make_results(job, [text])
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)

    response = client.get(f"/api/jobs/{job.pk}/results.csv")
    header, row = _csv_rows(response)

    assert header == ["row", "text", *OUR_COLUMNS]
    assert row[1] == "'" + text
    # The JSON Lines download keeps the text exactly as given.
    jsonl = b"".join(client.get(f"/api/jobs/{job.pk}/results.jsonl").streaming_content).decode()
    assert json.loads(jsonl)["text"] == text


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["plain words", "a=b", "1+1", "mail me @home", "'quoted'"])
def test_csv_download_leaves_ordinary_text_alone(client, text):
    job = make_job(session_key=owner_session(client), texts=[text], status=Job.Status.SUCCEEDED)
    make_results(job, [text])

    _, row = _csv_rows(client.get(f"/api/jobs/{job.pk}/results.csv"))

    assert row[1] == text
    assert float(row[3]) == pytest.approx(job.results.get().compound)


# --- CSRF ----------------------------------------------------------------------------------


def test_no_csrf_exempt_in_the_codebase():
    offenders = [
        f"{path.relative_to(BASE_DIR)}:{number}"
        for top in ("web", "worker", "config")
        for path in sorted((BASE_DIR / top).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "csrf_exempt" in line
    ]

    assert offenders == []


def test_every_post_form_carries_the_csrf_token():
    forms = []
    for template in sorted((BASE_DIR / "web" / "templates").rglob("*.html")):
        for form in re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(), flags=re.S | re.I):
            if re.search(r"method=[\"']?post", form, flags=re.I):
                forms.append((template.name, form))

    assert forms, "the templates hold POST forms"
    for name, form in forms:
        assert "{% csrf_token %}" in form, name


@pytest.mark.django_db
def test_form_post_without_token_is_refused():
    strict = Client(enforce_csrf_checks=True)

    response = strict.post("/jobs/", {"texts": "hello"})

    assert response.status_code == 403
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_api_post_with_a_wrong_token_is_refused():
    client = browser()

    response = client.post(
        "/api/jobs/",
        data=json.dumps({"texts": ["hi"]}),
        content_type="application/json",
        headers={"X-CSRFToken": "x" * 32},
    )

    assert response.status_code == 403
    assert json.loads(response.content)["error"]["code"] == "csrf_failed"
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_api_post_from_another_origin_is_refused():
    client = browser()

    response = client.post(
        "/api/jobs/",
        data=json.dumps({"texts": ["hi"]}),
        content_type="application/json",
        headers={**csrf_headers(client), "Origin": "https://evil.example"},
    )

    assert response.status_code == 403
    assert not Job.objects.exists()


# --- production settings -------------------------------------------------------------------

# Variables the test run sets (tests/envdefaults.py) that production would not.
_TEST_ONLY_ENV = (
    "DEBUG",
    "DYNO",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
    "TRUST_X_FORWARDED_FOR",
    "CSRF_TRUSTED_ORIGINS",
)


def _production_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _TEST_ONLY_ENV}
    env.update(overrides)
    return env


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_production_settings():
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    secret_key = "".join(secrets.choice(alphabet) for _ in range(50))
    env = _production_env(DEBUG="0", SECRET_KEY=secret_key, ALLOWED_HOSTS="example.herokuapp.com")

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_would_catch_a_weak_secret_key():
    # The check above can fail: the same command flags a short key.
    env = _production_env(DEBUG="0", SECRET_KEY=secrets.token_hex(4), ALLOWED_HOSTS="example.herokuapp.com")

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_settings_refuse_to_load_without_secret_key_in_production():
    result = _manage("check", env=_production_env(DEBUG="0"))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


@pytest.mark.parametrize("hosts", ["*", "example.herokuapp.com,*"])
def test_settings_refuse_any_host_on_heroku(hosts):
    env = _production_env(DEBUG="0", DYNO="web.1", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS=hosts)

    result = _manage("check", env=env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "ALLOWED_HOSTS" in result.stderr


def test_settings_load_without_secret_key_when_debugging():
    result = _manage("check", env=_production_env(DEBUG="1"))

    assert result.returncode == 0, result.stderr


# --- HTTPS -------------------------------------------------------------------------------------


@pytest.fixture
def ssl_redirect(settings):
    settings.SECURE_SSL_REDIRECT = True
    return settings


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/jobs/", "/api/jobs/"])
def test_plain_http_is_redirected_to_https(ssl_redirect, path):
    response = Client().get(path)

    assert response.status_code == 301
    assert response["Location"] == f"https://testserver{path}"


@pytest.mark.django_db
def test_https_behind_the_router_is_served(ssl_redirect):
    response = Client().get("/", headers={"X-Forwarded-Proto": "https"})

    assert response.status_code == 200
    hsts = response["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts
    assert "includeSubDomains" in hsts


@pytest.mark.django_db
def test_healthz_is_exempt_from_the_redirect(ssl_redirect):
    response = Client().get("/healthz")

    assert response.status_code == 200


# --- cookies -----------------------------------------------------------------------------------


def test_test_settings_are_production_like():
    assert django_settings.DEBUG is False
    assert django_settings.SESSION_COOKIE_SECURE is True
    assert django_settings.CSRF_COOKIE_SECURE is True


@pytest.mark.django_db
def test_csrf_cookie_is_secure():
    response = Client().get("/")

    cookie = response.cookies["csrftoken"]
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Lax"


@pytest.mark.django_db
def test_session_cookie_is_secure_and_http_only():
    client = browser()

    response = client.post(
        "/api/jobs/",
        data=json.dumps({"texts": ["hi"]}),
        content_type="application/json",
        headers=csrf_headers(client),
    )

    assert response.status_code == 202
    cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


# --- admin login -------------------------------------------------------------------------------


@pytest.fixture
def staff(db):
    return User.objects.create_superuser("boss", password="right-horse-battery-staple")  # noqa: S106


def _login(password: str, *, address: str = "203.0.113.7"):
    return Client().post(
        "/admin/login/?next=/admin/",
        {"username": "boss", "password": password},
        REMOTE_ADDR=address,
    )


def test_admin_login_closes_after_repeated_failures(staff, sentimeter_settings):
    sentimeter_settings["ADMIN_LOGIN_FAILURES"] = 3
    assert [_login("wrong").status_code for _ in range(3)] == [200, 200, 200]

    locked = _login("wrong")
    right_password = _login("right-horse-battery-staple")

    assert locked.status_code == 429
    assert 1 <= int(locked["Retry-After"]) <= 15 * 60
    assert right_password.status_code == 429, "locked even for the right password"
    # Another address is not affected.
    assert _login("right-horse-battery-staple", address="198.51.100.9").status_code == 302


def test_admin_login_succeeds_and_counts_nothing(staff, sentimeter_settings, redis_clean):
    sentimeter_settings["ADMIN_LOGIN_FAILURES"] = 3

    assert _login("right-horse-battery-staple").status_code == 302
    assert not redis_clean.keys("sentimeter:login:*")


def test_admin_login_is_refused_while_redis_is_down(staff, redis_down):
    response = _login("right-horse-battery-staple")

    assert response.status_code == 503
    assert response["Retry-After"]
