"""End to end over HTTP: the Procfile's web and worker processes with production settings.

The client plays the Heroku router: it speaks plain HTTP to gunicorn and
says `X-Forwarded-Proto: https`. The session and CSRF cookies are Secure,
so it keeps them itself and sends the Cookie header by hand.
"""

from __future__ import annotations

import contextlib
import csv
import http.client
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from config import webworker
from tests.procs import PROJECT_DIR, ProcessRunner, production_app, redis_db_aside, wait_for
from web.table import OUR_COLUMNS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# A Redis database of its own: the per-test flush of the test database
# (tests/conftest.py) must not pull the queues from under a worker that
# lives for the whole module.
E2E_REDIS_DB = redis_db_aside(2)
TEXTS = [
    "I love this product, it is wonderful!",
    "This is terrible. I hate it.",
    "The box is brown.",
    "Best purchase ever 😊",
    "=SUM(A1:A3) is a great formula",
    "좋아요, 정말 최고예요",
    "Not bad at all :)",
]
SCORE_FIELDS = ("compound", "pos", "neu", "neg")


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class RouterClient:
    """A browser behind the Heroku router: HTTPS to the router, plain HTTP to the dyno."""

    def __init__(self, port: int, host: str = "localhost") -> None:
        self.port = port
        self.host = f"{host}:{port}"
        self.origin = f"https://{self.host}"
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        forwarded: bool = True,
        body: bytes | None = None,
        content_type: str | None = None,
        chunked: bool = False,
    ) -> Response:
        headers = {"Host": self.host, "Accept": "application/json, text/html"}
        if forwarded:
            headers["X-Forwarded-Proto"] = "https"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method not in ("GET", "HEAD"):
            headers["Referer"] = self.origin + "/"
            if "csrftoken" in self.cookies:
                headers["X-CSRFToken"] = self.cookies["csrftoken"]
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if content_type is not None:
            headers["Content-Type"] = content_type
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            if chunked:
                # An iterable body without a Content-Length goes out as Transfer-Encoding: chunked.
                conn.request(
                    method, path, body=iter([body[:5], body[5:]]), headers=headers, encode_chunked=True
                )
            else:
                conn.request(method, path, body=body, headers=headers)
            raw = conn.getresponse()
            response = Response(status=raw.status, headers=raw.headers, body=raw.read())
        finally:
            conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Response:
        return self.request("POST", path, **kwargs)


@dataclass(frozen=True)
class Site:
    port: int
    runner: ProcessRunner

    def client(self) -> RouterClient:
        return RouterClient(self.port)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in self.runner.procs)


@pytest.fixture(scope="module")
def site(django_db_setup, tmp_path_factory) -> Iterator[Site]:
    """Procfile web and worker with production settings, for the whole module."""
    log_dir = tmp_path_factory.mktemp("e2e-logs")
    with production_app(log_dir, redis_db=E2E_REDIS_DB, start_worker=True, SECURE_SSL_REDIRECT=None) as app:
        runner, port, _ = app
        yield Site(port=port, runner=runner)


def test_pages_carry_the_security_headers_and_plain_http_is_redirected(site):
    client = site.client()

    home = client.get("/")
    assert home.status == 200, site.logs()
    assert "default-src 'self'" in home.headers["Content-Security-Policy"]
    assert home.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert home.headers["X-Frame-Options"] == "DENY"
    assert "csrftoken" in client.cookies
    # The manifest's hashed name, served by WhiteNoise.
    stylesheet = re.search(rb'href="(/static/web/app\.[0-9a-f]{12}\.css)"', home.body)
    assert stylesheet, home.body[:2000]
    assert client.get(stylesheet.group(1).decode()).status == 200

    insecure = client.get("/", forwarded=False)
    assert insecure.status == 301
    assert insecure.headers["Location"] == f"https://localhost:{site.port}/"


def test_healthz_answers_behind_the_router_and_without_it(site):
    client = site.client()
    for forwarded in (True, False):
        response = client.get("/healthz", forwarded=forwarded)
        assert response.status == 200, response.body
        assert response.json()["status"] == "ok"


def test_json_job_round_trip_matches_vader(site):
    client = site.client()
    assert client.get("/").status == 200

    submitted = client.post("/api/jobs/", json_body={"texts": TEXTS})
    assert submitted.status == 202, submitted.body
    job = submitted.json()
    assert submitted.headers["Location"] == f"/api/jobs/{job['id']}/"
    assert int(submitted.headers["Retry-After"]) >= 1
    assert job["status"] in ("queued", "running")
    assert "sessionid" in client.cookies

    def finished() -> dict | None:
        polled = client.get(submitted.headers["Location"])
        assert polled.status == 200, polled.body
        body = polled.json()
        return body if body["status"] not in ("queued", "running") else None

    job = wait_for(finished, interval=0.25, what=lambda: f"job {job['id']} to finish\n{site.logs()}")
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == {"done": len(TEXTS), "total": len(TEXTS), "percent": 100.0}
    assert job["summary"]["count"] == len(TEXTS)

    sia = SentimentIntensityAnalyzer()
    expected = [{f: sia.polarity_scores(t)[f] for f in SCORE_FIELDS} for t in TEXTS]
    page = client.get(f"/api/jobs/{job['id']}/results/?limit=500")
    assert page.status == 200
    results = page.json()
    assert results["count"] == len(TEXTS)
    assert [r["idx"] for r in results["results"]] == list(range(len(TEXTS)))
    assert [r["text"] for r in results["results"]] == TEXTS
    assert [{f: r[f] for f in SCORE_FIELDS} for r in results["results"]] == expected

    download = client.get(f"/api/jobs/{job['id']}/results.csv")
    assert download.status == 200
    assert download.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in download.headers["Content-Disposition"]
    text = download.body.decode("utf-8")
    assert text.startswith("\ufeff")
    header, *rows = list(csv.reader(io.StringIO(text[1:])))
    assert header == ["row", "text", *OUR_COLUMNS]
    assert len(rows) == len(TEXTS)
    assert [row[0] for row in rows] == [str(i) for i in range(1, len(TEXTS) + 1)]
    assert [row[1] for row in rows] == ["'" + t if t.startswith("=") else t for t in TEXTS]
    assert [{f: float(row[3 + i]) for i, f in enumerate(SCORE_FIELDS)} for row in rows] == expected


@pytest.mark.parametrize("kind", ["json", "multipart"])
def test_a_chunked_body_is_411_in_the_error_shape(site, kind):
    client = site.client()
    assert client.get("/").status == 200
    if kind == "json":
        body, content_type = json.dumps({"texts": ["I love it"]}).encode(), "application/json"
    else:
        boundary = "sentimeter-boundary"
        body = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="r.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
            f"text\r\nI love it\r\n\r\n--{boundary}--\r\n"
        ).encode()
        content_type = f"multipart/form-data; boundary={boundary}"

    response = client.post("/api/jobs/", body=body, content_type=content_type, chunked=True)

    assert response.status == 411, response.body
    assert response.json()["error"]["code"] == "length_required"
    # The same body with a Content-Length is accepted (and ends before the test database is flushed).
    accepted = client.post("/api/jobs/", body=body, content_type=content_type)
    assert accepted.status == 202, accepted.body
    location = accepted.headers["Location"]
    job = wait_for(lambda: (j := client.get(location).json())["status"] in ("succeeded", "failed") and j)
    assert job["status"] == "succeeded", job["error"]


def test_a_request_line_past_gunicorns_default_reaches_the_app(site):
    client = site.client()
    # 1,000 characters of 'é', percent-encoded: a 6 KB request line (gunicorn's default limit is 4,094).
    path = "/api/jobs/00000000-0000-0000-0000-000000000000/results/?q=" + "%C3%A9" * 1000

    response = client.get(path)

    assert response.status == 404, response.body  # parsed by Django: not this session's job
    assert response.json()["error"]["code"] == "not_found"


def test_stalled_connections_neither_hold_the_site_nor_stay_open(site):
    # More stalled sockets than web has threads (2 x 4): half stop in their
    # headers, half in their bodies (tests/benchmarks/bench_slowclients.py at scale).
    stalled = []
    for n in range(12):
        sock = socket.create_connection(("127.0.0.1", site.port), timeout=30)
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: "
            if n % 2
            else b'POST /api/jobs/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{"texts": ['
        )
        stalled.append(sock)
    try:
        started = time.monotonic()
        response = site.client().get("/healthz")
        assert response.status == 200, response.body
        assert time.monotonic() - started < 2.0

        # Each is closed by the server (recv returns b"") within its head or body timeout.
        for sock in stalled:
            assert sock.recv(1024) == b"", "a stalled socket got an answer instead of being closed"
        assert time.monotonic() - started < webworker.HEAD_TIMEOUT + 5
    finally:
        for sock in stalled:
            sock.close()


# --- examples/analyze.py, as a user runs it -----------------------------------------------

# Headers that describe one hop of a connection, not the message (RFC 9110 7.6.1).
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


@contextlib.contextmanager
def router(port: int) -> Iterator[int]:
    """The Heroku router in front of the web process: where TLS would end, it says X-Forwarded-Proto: https.

    A client script talks to it as to a deploy's https:// address (without the TLS, which the
    router, not the app, does); yields its port.
    """

    class Forward(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            headers["X-Forwarded-Proto"] = "https"
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                payload = answer.read()
            finally:
                conn.close()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_HEADERS | {"content-length"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _forward

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_example_script_analyzes_a_csv_with_a_token(site, tmp_path):
    """README's examples/analyze.py: submit with a token, wait by Retry-After, download the results."""
    browser = site.client()
    browser.get("/")  # the CSRF cookie, to make the token as a person does on /tokens/
    made = browser.post("/api/tokens/", json_body={"name": "example"})
    assert made.status == 201, made.body
    reviews = ["I love this product, it is wonderful!", "This is terrible. I hate it.", "The box is brown."]
    source = tmp_path / "reviews.csv"
    source.write_text(
        "id,review\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(reviews)), encoding="utf-8"
    )
    output = tmp_path / "results.csv"

    with router(site.port) as router_port:
        env = {"PATH": os.environ["PATH"], "SENTIMETER_URL": f"http://127.0.0.1:{router_port}"}
        run = subprocess.run(
            [
                sys.executable,
                "examples/analyze.py",
                str(source),
                "--column",
                "review",
                "--analyzer",
                "vader",
                "-o",
                str(output),
            ],
            cwd=PROJECT_DIR,
            env={**env, "SENTIMETER_TOKEN": made.json()["token"]},
            capture_output=True,
            text=True,
            timeout=120,
        )
        refused = subprocess.run(
            [sys.executable, "examples/analyze.py", str(source)],
            cwd=PROJECT_DIR,
            env={**env, "SENTIMETER_TOKEN": "smt_revoked-or-mistyped"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert run.returncode == 0, run.stderr + site.logs()
    assert re.search(r"queued|running", run.stderr) and "waiting" in run.stderr, run.stderr
    rows = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8-sig"))))
    # The file's own table back, its columns first, then ours.
    assert [(r["id"], r["review"]) for r in rows] == [(str(i), t) for i, t in enumerate(reviews)]
    compounds = [SentimentIntensityAnalyzer().polarity_scores(t)["compound"] for t in reviews]
    assert [r["sentiment"] for r in rows] == [
        "positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral" for c in compounds
    ]
    assert refused.returncode == 2
    assert "401 invalid_token" in refused.stderr, refused.stderr
