"""Webhooks: signed, retried, never redirected, only to public addresses (issue 14).

The receiver is a real HTTP server in this test process, on 127.0.0.1: the
tests that deliver to it turn WEBHOOK_ALLOW_PRIVATE on, as a developer would.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from tests.builders import browser, csrf_headers, post_json
from tests.procs import procs_fixture, wait_for, worker_proc_fixture  # noqa: F401 - fixtures
from web.models import Job
from worker import pipeline, webhooks
from worker.queues import QUICK, get_queue


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server that records each request and answers the next of `answers` (then 200)."""

    port: int
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.requests.append(Received(self.path, dict(self.headers), body))
            status = state.answers.pop(0) if state.answers else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def allow_private(sentimeter_settings):
    sentimeter_settings["WEBHOOK_ALLOW_PRIVATE"] = True
    return sentimeter_settings


@pytest.fixture
def owner(db) -> Client:
    return browser()


def token_make(client: Client) -> dict:
    response = post_json(client, "/api/tokens/", {"name": "hooks"})
    assert response.status_code == 201
    return response.json()


def submit_with_token(token: str, callback_url: str, texts=("I love it",)):
    return Client(enforce_csrf_checks=True).post(
        "/api/jobs/",
        data=json.dumps({"texts": list(texts), "analyzer": "vader", "callback_url": callback_url}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def verify(secret: str, received: Received) -> dict:
    """Check the signature as a receiver would (Stripe's scheme), and return the parsed body."""
    header = received.headers[webhooks.SIGNATURE_HEADER]
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + received.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected), "the signature does not verify"
    return json.loads(received.body)


def fake_dns(monkeypatch, name: str, answers: list[str]) -> list[str]:
    """Make `name` resolve to the next of `answers` at each lookup (others as before); return its lookups."""
    real = socket.getaddrinfo
    pending = iter(answers)
    looked_up: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != name:
            return real(host, port, *args, **kwargs)
        looked_up.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(pending), port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


def finished(job_id: str) -> Job:
    pipeline.job_process(job_id)
    return Job.objects.get(pk=job_id)


def job_hooked(owner: Client, callback_url: str) -> tuple[dict, Job]:
    """A new token of `owner`, and a job it submitted with this callback_url, run to success."""
    made = token_make(owner)
    return made, finished(submit_with_token(made["token"], callback_url).json()["id"])


# --- delivery ------------------------------------------------------------------------


def test_a_succeeded_job_is_delivered_signed_with_its_tokens_secret(owner, receiver, allow_private):
    made = token_make(owner)
    response = submit_with_token(made["token"], receiver.url())
    assert response.status_code == 202, response.content
    assert response.json()["webhook"] == {
        "url": receiver.url(),
        "attempts": 0,
        "last_status": None,
        "last_error": None,
        "delivered_at": None,
    }
    job = finished(response.json()["id"])
    assert job.status == Job.Status.SUCCEEDED

    webhooks.webhook_deliver(str(job.pk))

    [received] = receiver.requests
    assert received.path == "/hook"
    assert received.headers["Content-Type"] == "application/json"
    payload = verify(made["webhook_secret"], received)
    assert payload["event"] == "job.succeeded"
    assert payload["job"]["id"] == str(job.pk) and payload["job"]["status"] == "succeeded"
    assert payload["job"]["summary"]["count"] == 1
    record = Job.objects.get(pk=job.pk).webhook
    assert record["attempts"] == 1 and record["last_status"] == 200 and record["delivered_at"]
    # Delivered once: a duplicate run of the RQ job sends nothing more.
    webhooks.webhook_deliver(str(job.pk))
    assert len(receiver.requests) == 1


def test_a_job_from_the_page_is_signed_with_the_secret_on_the_tokens_page(owner, receiver, allow_private):
    response = post_json(
        owner, "/api/jobs/", {"texts": ["fine"], "analyzer": "vader", "callback_url": receiver.url()}
    )
    assert response.status_code == 202
    page = owner.get("/tokens/").content.decode()
    secret = webhooks.owner_webhook_secret(owner.session.session_key)
    assert secret in page

    webhooks.webhook_deliver(str(finished(response.json()["id"]).pk))

    assert verify(secret, receiver.requests[0])["event"] == "job.succeeded"


def test_a_signature_with_another_secret_does_not_verify(owner, receiver, allow_private):
    made = token_make(owner)
    job_id = submit_with_token(made["token"], receiver.url()).json()["id"]
    webhooks.webhook_deliver(str(finished(job_id).pk))

    with pytest.raises(AssertionError, match="does not verify"):
        verify(token_make(owner)["webhook_secret"], receiver.requests[0])


def test_a_500_is_retried_and_the_job_keeps_its_status(owner, receiver, allow_private):
    receiver.answers = [500]
    made, job = job_hooked(owner, receiver.url())

    with pytest.raises(webhooks.DeliveryFailed):
        webhooks.webhook_deliver(str(job.pk))
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert (
        job.webhook["attempts"] == 1 and job.webhook["last_status"] == 500 and not job.webhook["delivered_at"]
    )

    webhooks.webhook_deliver(str(job.pk))

    job.refresh_from_db()
    assert job.webhook["attempts"] == 2 and job.webhook["last_status"] == 200 and job.webhook["delivered_at"]
    assert [verify(made["webhook_secret"], r)["event"] for r in receiver.requests] == ["job.succeeded"] * 2


def test_a_redirect_is_not_followed(owner, receiver, allow_private):
    receiver.answers = [302]
    made, job = job_hooked(owner, receiver.url())

    with pytest.raises(webhooks.DeliveryFailed):
        webhooks.webhook_deliver(str(job.pk))

    assert [r.path for r in receiver.requests] == ["/hook"]
    job.refresh_from_db()
    assert job.webhook["last_status"] == 302 and not job.webhook["delivered_at"]


def test_an_unreachable_receiver_is_a_failed_attempt(owner, allow_private):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    made = token_make(owner)
    job = finished(submit_with_token(made["token"], f"http://127.0.0.1:{port}/hook").json()["id"])

    with pytest.raises(webhooks.DeliveryFailed):
        webhooks.webhook_deliver(str(job.pk))

    job.refresh_from_db()
    assert job.webhook["last_status"] is None and "ConnectionRefused" in job.webhook["last_error"]
    assert job.status == Job.Status.SUCCEEDED


def test_the_address_is_checked_again_at_delivery(owner, receiver, allow_private):
    made, job = job_hooked(owner, receiver.url())
    allow_private["WEBHOOK_ALLOW_PRIVATE"] = False

    webhooks.webhook_deliver(str(job.pk))  # refused for good: nothing to retry

    assert receiver.requests == []
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.webhook["attempts"] == 1 and job.webhook["last_status"] is None
    assert "https://" in job.webhook["last_error"]


def test_a_name_that_resolves_to_a_private_address_at_delivery_is_refused(
    owner, sentimeter_settings, monkeypatch
):
    """DNS rebinding: public when submitted, loopback when delivered."""
    fake_dns(monkeypatch, "hooks.example", ["93.184.215.14", "127.0.0.1"])
    made = token_make(owner)
    response = submit_with_token(made["token"], "https://hooks.example/hook")
    assert response.status_code == 202, response.content
    job = finished(response.json()["id"])

    webhooks.webhook_deliver(str(job.pk))

    job.refresh_from_db()
    assert job.webhook["last_status"] is None and "127.0.0.1" in job.webhook["last_error"]


def test_delivery_connects_to_the_checked_address_and_sends_the_name_as_host(
    owner, receiver, allow_private, monkeypatch
):
    looked_up = fake_dns(monkeypatch, "receiver.test", ["127.0.0.1", "127.0.0.1"])
    made = token_make(owner)
    url = f"http://receiver.test:{receiver.port}/hook?team=7"
    job = finished(submit_with_token(made["token"], url).json()["id"])

    webhooks.webhook_deliver(str(job.pk))

    [received] = receiver.requests
    assert received.path == "/hook?team=7"
    assert received.headers["Host"] == f"receiver.test:{receiver.port}"
    assert looked_up == ["receiver.test", "receiver.test"]  # at submit, and again at delivery


@pytest.mark.parametrize(
    ("end", "event"),
    [("fail", "job.failed"), ("cancel", "job.canceled")],
)
def test_failed_and_canceled_jobs_are_delivered_too(
    owner, receiver, allow_private, django_capture_on_commit_callbacks, end, event
):
    made = token_make(owner)
    job_id = submit_with_token(made["token"], receiver.url()).json()["id"]
    get_queue(QUICK).empty()

    with django_capture_on_commit_callbacks(execute=True):
        if end == "fail":
            pipeline.job_fail(job_id, code="worker_lost", message="gone")
        else:
            assert (
                Client()
                .post(f"/api/jobs/{job_id}/cancel/", headers={"Authorization": f"Bearer {made['token']}"})
                .status_code
                == 202
            )

    assert f"{job_id}_webhook" in get_queue(QUICK).job_ids
    webhooks.webhook_deliver(job_id)
    assert verify(made["webhook_secret"], receiver.requests[0])["event"] == event


def test_a_succeeded_job_enqueues_its_delivery_on_commit(
    owner, receiver, allow_private, django_capture_on_commit_callbacks
):
    made = token_make(owner)
    job_id = submit_with_token(made["token"], receiver.url()).json()["id"]
    get_queue(QUICK).empty()

    with django_capture_on_commit_callbacks(execute=True):
        pipeline.job_process(job_id)

    rq_job = get_queue(QUICK).fetch_job(f"{job_id}_webhook")
    assert rq_job is not None and rq_job.func_name == webhooks.DELIVER_FUNC
    assert rq_job.retries_left == 5
    assert rq_job.retry_intervals == [30, 120, 300, 900, 2400]


def test_a_job_without_callback_url_enqueues_no_delivery(owner, django_capture_on_commit_callbacks):
    response = post_json(owner, "/api/jobs/", {"texts": ["fine"], "analyzer": "vader"})
    assert response.json()["webhook"] is None
    job_id = response.json()["id"]
    get_queue(QUICK).empty()

    with django_capture_on_commit_callbacks(execute=True):
        pipeline.job_process(job_id)

    assert get_queue(QUICK).fetch_job(f"{job_id}_webhook") is None


# --- refusing callback URLs ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://93.184.215.14/hook", id="plain-http"),
        pytest.param("ftp://93.184.215.14/hook", id="ftp"),
        pytest.param("https://127.0.0.1/hook", id="loopback"),
        pytest.param("https://localhost/hook", id="localhost"),
        pytest.param("https://10.1.2.3/hook", id="private-10"),
        pytest.param("https://192.168.0.10/hook", id="private-192"),
        pytest.param("https://172.16.0.1/hook", id="private-172"),
        pytest.param("https://100.64.0.1/hook", id="shared-cgnat"),
        pytest.param("https://169.254.169.254/latest/meta-data/", id="cloud-metadata"),
        pytest.param("https://0.0.0.0/hook", id="unspecified"),
        pytest.param("https://[::1]/hook", id="ipv6-loopback"),
        pytest.param("https://[fd00:ec2::254]/hook", id="ipv6-metadata"),
        pytest.param("https://[fe80::1]/hook", id="ipv6-link-local"),
        pytest.param("https://[::ffff:127.0.0.1]/hook", id="ipv4-mapped-loopback"),
        pytest.param("https://user:pw@93.184.215.14/hook", id="credentials"),
        pytest.param("https://93.184.215.14:99999/hook", id="bad-port"),
        pytest.param("https:///hook", id="no-host"),
        pytest.param("https://" + "a" * 2000 + ".example/", id="too-long"),
        pytest.param(42, id="not-a-string"),
    ],
)
def test_submit_refuses_a_callback_url_that_is_not_https_to_a_public_address(owner, url):
    token = token_make(owner)["token"]

    response = submit_with_token(token, url)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_callback_url"
    assert not Job.objects.exists()


def test_with_allow_private_http_and_loopback_are_accepted(owner, allow_private):
    token = token_make(owner)["token"]

    assert submit_with_token(token, "http://127.0.0.1:9/hook").status_code == 202


def test_a_public_https_address_is_accepted(owner):
    token = token_make(owner)["token"]

    response = submit_with_token(token, "https://93.184.215.14/hook")

    assert response.status_code == 202, response.content
    assert response.json()["webhook"]["url"] == "https://93.184.215.14/hook"


def test_an_upload_takes_callback_url_as_a_form_field(owner, receiver, allow_private):
    upload = io.BytesIO(b"text\nI love it\n")
    upload.name = "reviews.csv"

    response = owner.post(
        "/api/jobs/",
        {"file": upload, "analyzer": "vader", "callback_url": receiver.url()},
        headers=csrf_headers(owner),
    )

    assert response.status_code == 202, response.content
    assert response.json()["webhook"]["url"] == receiver.url()
    bad = io.BytesIO(b"text\nI love it\n")
    bad.name = "reviews.csv"
    allow_private["WEBHOOK_ALLOW_PRIVATE"] = False
    refused = owner.post(
        "/api/jobs/", {"file": bad, "callback_url": receiver.url()}, headers=csrf_headers(owner)
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_callback_url"


# --- through a real worker and RQ's retries ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_delivers_retrying_after_a_500(worker_proc, receiver, allow_private):
    receiver.answers = [500]
    worker = worker_proc(WEBHOOK_ALLOW_PRIVATE="1", WEBHOOK_RETRY_INTERVALS="1")
    owner = browser()
    made = token_make(owner)
    job_id = submit_with_token(made["token"], receiver.url()).json()["id"]

    def delivered():
        record = Job.objects.get(pk=job_id).webhook or {}
        return record.get("delivered_at") and record

    record = wait_for(
        delivered, what=lambda: f"the webhook to be delivered; worker log:\n{worker.log_tail()}"
    )

    assert record["attempts"] == 2 and record["last_status"] == 200
    assert [r.path for r in receiver.requests] == ["/hook", "/hook"]
    for received in receiver.requests:
        assert verify(made["webhook_secret"], received)["job"]["status"] == "succeeded"
    assert Job.objects.get(pk=job_id).status == Job.Status.SUCCEEDED
