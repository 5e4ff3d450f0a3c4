"""web/limits.py: client addresses, and the admission limits as the API and the form answer them."""

import html
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client, RequestFactory
from rq import Queue

from tests.builders import browser, csrf_headers, csrf_token, owner_session, post_json
from web import limits
from web.models import Job
from worker.queues import BULK, QUICK, get_redis

TEXTS = {"texts": ["I love it.", "I hate it."]}
# A fixed clock 10 s into a rate window, so a test's submits never straddle two windows.
FROZEN_NOW = 1_700_000_040.0 + 10


@pytest.fixture
def frozen_clock(monkeypatch):
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=lambda: FROZEN_NOW))
    return FROZEN_NOW


def _forwarded(forwarded_for: str | None) -> dict[str, str]:
    return {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}


def submit(client, body=TEXTS, *, forwarded_for: str | None = None):
    """POST /api/jobs/ as the page's script does (JSON, CSRF header)."""
    return client.post(
        "/api/jobs/",
        data=json.dumps(body),
        content_type="application/json",
        headers={**csrf_headers(client), **_forwarded(forwarded_for)},
    )


def form_submit(client, texts="I love it.\nI hate it.", *, forwarded_for: str | None = None):
    """POST the home page's form."""
    return client.post(
        "/jobs/",
        {"csrfmiddlewaretoken": csrf_token(client), "texts": texts, "analyzer": "vader"},
        headers=_forwarded(forwarded_for),
    )


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


def retry_after(response) -> int:
    value = response["Retry-After"]
    assert value.isdigit(), value
    return int(value)


# --- client_ip --------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote_addr", "forwarded", "trust", "expected"),
    [
        pytest.param("203.0.113.7", None, False, "203.0.113.7", id="remote-addr-only"),
        pytest.param("203.0.113.7", None, True, "203.0.113.7", id="remote-addr-only-trusting"),
        pytest.param("10.1.2.3", "198.51.100.66, 203.0.113.9", True, "203.0.113.9", id="xff-last-entry"),
        pytest.param("10.1.2.3", "203.0.113.9", True, "203.0.113.9", id="xff-single-entry"),
        pytest.param("10.1.2.3", "198.51.100.66,203.0.113.9", True, "203.0.113.9", id="xff-no-space"),
        pytest.param("10.1.2.3", "198.51.100.66, 203.0.113.9", False, "10.1.2.3", id="xff-ignored-untrusted"),
        pytest.param("10.1.2.3", "   ", True, "10.1.2.3", id="xff-blank-falls-back"),
        pytest.param("10.1.2.3", "1.2.3.4, not-an-ip", True, "unknown", id="xff-garbage"),
        pytest.param("not-an-ip", None, False, "unknown", id="remote-addr-garbage"),
        pytest.param("", None, False, "unknown", id="remote-addr-empty"),
        pytest.param("999.1.1.1", None, False, "unknown", id="remote-addr-out-of-range"),
        pytest.param("2001:DB8:0:0::1", None, False, "2001:db8::1", id="ipv6-normalized"),
        pytest.param("10.1.2.3", "198.51.100.66, 2001:db8::2", True, "2001:db8::2", id="ipv6-in-xff"),
        pytest.param("::1", None, False, "::1", id="ipv6-loopback"),
    ],
)
def test_client_ip(sentimeter_settings, remote_addr, forwarded, trust, expected):
    sentimeter_settings["TRUST_X_FORWARDED_FOR"] = trust
    meta = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    request = RequestFactory().get("/", **meta)

    assert limits.client_ip(request) == expected


def test_client_ip_without_remote_addr_is_unknown(sentimeter_settings):
    sentimeter_settings["TRUST_X_FORWARDED_FOR"] = False
    request = RequestFactory().get("/")
    del request.META["REMOTE_ADDR"]

    assert limits.client_ip(request) == "unknown"


# --- redis_admit: the window and Retry-After ----------------------------


@pytest.mark.parametrize(
    ("offset", "expected_retry_after"),
    [
        pytest.param(0.0, 61, id="window-start"),
        pytest.param(30.0, 31, id="mid-window"),
        pytest.param(59.9, 1, id="window-end"),
    ],
)
def test_redis_admit_retry_after_is_the_window_end_plus_jitter(
    sentimeter_settings, offset, expected_retry_after
):
    sentimeter_settings["SUBMITS_PER_MINUTE"] = 1
    now = 1_700_000_040.0 + offset  # a multiple of 60 plus offset
    limits.redis_admit(ip="203.0.113.1", now=now)

    with pytest.raises(limits.RateLimited) as caught:
        limits.redis_admit(ip="203.0.113.1", now=now)

    assert caught.value.code == "rate_limited"
    # Jitter spreads refused clients over a few seconds past the window's end.
    assert expected_retry_after <= caught.value.retry_after < expected_retry_after + limits.RETRY_JITTER


def test_refused_clients_are_told_different_waits(sentimeter_settings):
    """Jitter: otherwise every refused client returns in the same second when the minute turns."""
    sentimeter_settings["SUBMITS_PER_MINUTE"] = 1
    now = 1_700_000_040.0 + 30.0
    waits = set()
    for n in range(20):
        ip = f"203.0.113.{n + 1}"
        limits.redis_admit(ip=ip, now=now)
        with pytest.raises(limits.RateLimited) as caught:
            limits.redis_admit(ip=ip, now=now)
        waits.add(caught.value.retry_after)

    assert len(waits) > 1  # 20 equal draws of 10 values: probability 1e-19
    assert min(waits) >= 31 and max(waits) < 31 + limits.RETRY_JITTER


class _BrokenSocketRedis:
    """Stands in for a client whose socket died under it: real Redis cannot be made to do this on demand."""

    def pipeline(self):
        raise OSError(9, "Bad file descriptor")


@pytest.mark.django_db
def test_a_redis_socket_error_at_admission_answers_503_not_500(monkeypatch):
    client = browser()
    monkeypatch.setattr(limits, "get_redis", lambda: _BrokenSocketRedis())

    response = submit(client)

    assert_error(response, 503, "queue_unavailable")
    assert Job.objects.count() == 0


def test_redis_admit_starts_afresh_in_the_next_window(sentimeter_settings):
    sentimeter_settings["SUBMITS_PER_MINUTE"] = 1
    limits.redis_admit(ip="203.0.113.1", now=1_700_000_040.0)
    with pytest.raises(limits.RateLimited):
        limits.redis_admit(ip="203.0.113.1", now=1_700_000_099.0)

    limits.redis_admit(ip="203.0.113.1", now=1_700_000_100.0)


def test_redis_admit_counter_expires(sentimeter_settings):
    sentimeter_settings["SUBMITS_PER_MINUTE"] = 5
    limits.redis_admit(ip="203.0.113.1", now=1_700_000_040.0)

    keys = get_redis().keys(f"{limits.RATE_KEY_PREFIX}*")
    assert len(keys) == 1
    assert 0 < get_redis().ttl(keys[0]) <= 2 * limits.RATE_WINDOW_SECONDS


def test_redis_admit_off_at_zero_touches_no_redis(sentimeter_settings):
    sentimeter_settings["SUBMITS_PER_MINUTE"] = 0
    for _ in range(50):
        limits.redis_admit(ip="203.0.113.1")

    assert get_redis().keys(f"{limits.RATE_KEY_PREFIX}*") == []


# --- the submit rate through the API ------------------------------------------


@pytest.fixture
def three_a_minute(sentimeter_settings, frozen_clock):
    sentimeter_settings["SUBMITS_PER_MINUTE"] = 3
    return sentimeter_settings


@pytest.mark.django_db
def test_fourth_submit_in_a_minute_is_rate_limited_and_stores_nothing(three_a_minute):
    client = browser()
    for _ in range(3):
        assert submit(client).status_code == 202

    response = submit(client)

    body = assert_error(response, 429, "rate_limited")
    assert 1 <= retry_after(response) <= 61 + limits.RETRY_JITTER
    assert "3" in body["error"]["message"]
    assert Job.objects.count() == 3


@pytest.mark.django_db
def test_rate_limit_is_per_client_address_behind_a_trusted_router(three_a_minute):
    three_a_minute["TRUST_X_FORWARDED_FOR"] = True
    first, second = browser(), browser()
    for _ in range(3):
        assert submit(first, forwarded_for="198.51.100.1").status_code == 202
    assert submit(first, forwarded_for="198.51.100.1").status_code == 429

    # The second client claims to be the first one in a spoofed entry; the router's entry wins.
    response = submit(second, forwarded_for="198.51.100.1, 198.51.100.2")

    assert response.status_code == 202, response.content
    assert Job.objects.count() == 4


@pytest.mark.django_db
def test_spoofed_forwarded_entries_do_not_escape_the_rate_limit(three_a_minute):
    three_a_minute["TRUST_X_FORWARDED_FOR"] = True
    client = browser()
    for i in range(3):
        assert submit(client, forwarded_for=f"10.0.0.{i}, 198.51.100.1").status_code == 202

    response = submit(client, forwarded_for="10.0.0.99, 198.51.100.1")

    assert_error(response, 429, "rate_limited")


@pytest.mark.django_db
def test_forwarded_header_is_ignored_when_untrusted(three_a_minute):
    three_a_minute["TRUST_X_FORWARDED_FOR"] = False
    client = browser()
    for i in range(3):
        assert submit(client, forwarded_for=f"198.51.100.{i}").status_code == 202

    response = submit(client, forwarded_for="198.51.100.200")

    assert_error(response, 429, "rate_limited")
    assert Job.objects.count() == 3


@pytest.mark.django_db
def test_rate_limit_off_at_zero(sentimeter_settings, frozen_clock):
    sentimeter_settings["SUBMITS_PER_MINUTE"] = 0
    client = browser()

    statuses = [submit(client).status_code for _ in range(5)]

    assert statuses == [202] * 5


# --- active jobs per session --------------------------------------------------


@pytest.fixture
def two_active(sentimeter_settings):
    sentimeter_settings["MAX_ACTIVE_JOBS_PER_SESSION"] = 2
    return sentimeter_settings


@pytest.mark.django_db
def test_third_active_job_is_refused_until_one_finishes(two_active):
    client = browser()
    first = submit(client)
    assert first.status_code == 202
    assert submit(client).status_code == 202

    refused = submit(client)

    assert_error(refused, 429, "too_many_active_jobs")
    assert retry_after(refused) >= 1
    assert Job.objects.count() == 2

    Job.objects.filter(pk=json.loads(first.content)["id"]).update(status=Job.Status.SUCCEEDED)
    accepted = submit(client)

    assert accepted.status_code == 202, accepted.content
    assert Job.objects.count() == 3


@pytest.mark.django_db
def test_canceling_an_active_job_frees_a_slot(two_active):
    client = browser()
    first = json.loads(submit(client).content)
    assert submit(client).status_code == 202
    assert submit(client).status_code == 429

    assert post_json(client, first["links"]["cancel"], {}).status_code == 202

    assert submit(client).status_code == 202


@pytest.mark.django_db
def test_active_job_limit_is_per_session(two_active):
    first, second = browser(), browser()
    for _ in range(2):
        assert submit(first).status_code == 202
    assert submit(first).status_code == 429

    assert submit(second).status_code == 202


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["json", "upload"])
def test_simultaneous_submits_from_one_session_never_pass_the_cap(sentimeter_settings, kind):
    sentimeter_settings.update(MAX_ACTIVE_JOBS_PER_SESSION=3, SUBMITS_PER_MINUTE=0, MAX_QUEUE_DEPTH=0)
    owner = browser()
    session_key = owner_session(owner)
    submitters = 24
    start = threading.Barrier(submitters)

    def one_submit(n: int) -> int:
        client = Client()
        client.cookies = owner.cookies  # the same session, as one browser's tabs
        start.wait()
        try:
            if kind == "json":
                return submit(client, forwarded_for=f"198.51.100.{n}").status_code
            upload = SimpleUploadedFile("r.csv", b"text\nI love it\n", content_type="text/csv")
            return client.post("/api/jobs/", {"file": upload}, headers=csrf_headers(owner)).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=submitters) as pool:
        statuses = list(pool.map(one_submit, range(submitters)))

    assert sorted(statuses) == [202] * 3 + [429] * (submitters - 3)
    assert Job.objects.filter(session_key=session_key).count() == Job.objects.count() == 3


# --- queue depth ---------------------------------------------------------------


def _enqueue_raw(queue_name: str) -> None:
    """Put a placeholder job straight on an RQ queue (no worker runs in these tests)."""
    Queue(queue_name, connection=get_redis()).enqueue("worker.tasks.job_run", "not-a-job")


@pytest.mark.django_db
def test_submit_is_refused_when_the_queues_are_full(sentimeter_settings):
    sentimeter_settings["MAX_QUEUE_DEPTH"] = 2
    _enqueue_raw(QUICK)
    _enqueue_raw(BULK)  # the cap counts every queue
    client = browser()

    response = submit(client)

    assert_error(response, 503, "overloaded")
    assert retry_after(response) >= 1
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_submit_is_accepted_just_below_the_queue_cap(sentimeter_settings):
    sentimeter_settings["MAX_QUEUE_DEPTH"] = 2
    _enqueue_raw(QUICK)

    response = submit(browser())

    assert response.status_code == 202, response.content


# --- Redis down ------------------------------------------------------------------


@pytest.mark.django_db
def test_submit_with_redis_down_is_503_and_stores_nothing(redis_down):
    client = browser()

    response = submit(client)

    assert_error(response, 503, "queue_unavailable")
    assert retry_after(response) >= 1
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_submit_with_redis_down_and_rate_limit_off_is_still_503(sentimeter_settings, redis_down):
    # With no rate counter to touch, the queue-depth check must still notice.
    sentimeter_settings["SUBMITS_PER_MINUTE"] = 0
    client = browser()

    response = submit(client)

    assert_error(response, 503, "queue_unavailable")
    assert Job.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_submit_with_redis_down_and_every_limit_off_is_never_a_500(sentimeter_settings, redis_down):
    # Nothing checks Redis before the enqueue on commit: that enqueue must not turn into a 500.
    sentimeter_settings["SUBMITS_PER_MINUTE"] = 0
    sentimeter_settings["MAX_QUEUE_DEPTH"] = 0
    client = browser(raise_request_exception=False)

    response = submit(client)

    assert response.status_code != 500
    if response.status_code == 503:
        assert_error(response, 503, "queue_unavailable")
        assert Job.objects.count() == 0
    else:
        # Accepted: Postgres holds the job, and the reconciler enqueues it once Redis is back.
        assert response.status_code == 202, response.content
        assert list(Job.objects.values_list("status", flat=True)) == [Job.Status.QUEUED]


@pytest.mark.django_db
def test_healthz_reports_redis_down(redis_down, client):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["redis"] == "unavailable"
    assert body["database"] == "ok"
    assert body["status"] == "unavailable"


@pytest.mark.django_db
def test_healthz_is_200_when_both_answer(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok", "database": "ok", "redis": "ok"}


# --- the same limits through the HTML form ----------------------------------------


def assert_form_refused(response, status, message_part):
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert retry_after(response) >= 1
    assert message_part in html.unescape(response.content.decode())


@pytest.mark.django_db
def test_form_submit_under_the_limits_redirects_to_the_job_page(three_a_minute):
    response = form_submit(browser())

    assert response.status_code == 303
    assert response["Location"] == f"/jobs/{Job.objects.get().pk}/"


# The jobs before the refused one go through the API: the limits count per address and
# per session, whichever door a submit came through.


@pytest.mark.django_db
def test_form_fourth_submit_in_a_minute_is_429_with_the_message(three_a_minute):
    client = browser()
    for _ in range(3):
        assert submit(client).status_code == 202

    response = form_submit(client)

    assert_form_refused(response, 429, "Too many submissions")
    assert 1 <= retry_after(response) <= 61 + limits.RETRY_JITTER
    assert Job.objects.count() == 3


@pytest.mark.django_db
def test_form_keeps_the_pasted_texts_when_refused(three_a_minute):
    client = browser()
    for _ in range(3):
        assert submit(client).status_code == 202

    response = form_submit(client, texts="please keep me")

    assert response.status_code == 429
    assert "please keep me" in response.content.decode()


@pytest.mark.django_db
def test_form_third_active_job_is_429_with_the_message(two_active):
    client = browser()
    assert submit(client).status_code == 202
    assert submit(client).status_code == 202

    response = form_submit(client)

    assert_form_refused(response, 429, "unfinished jobs")
    assert Job.objects.count() == 2


@pytest.mark.django_db
def test_form_with_full_queues_is_503_with_the_message(sentimeter_settings):
    sentimeter_settings["MAX_QUEUE_DEPTH"] = 1
    _enqueue_raw(QUICK)

    response = form_submit(browser())

    assert_form_refused(response, 503, "busy")
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_form_with_redis_down_is_503_with_the_message(redis_down):
    response = form_submit(browser())

    assert_form_refused(response, 503, "queue is unavailable")
    assert Job.objects.count() == 0


class _CountingRedis:
    """The real Redis client, counting round trips: single commands and pipeline executions."""

    def __init__(self, real):
        self.real = real
        self.round_trips = 0

    def pipeline(self, *args, **kwargs):
        pipe = self.real.pipeline(*args, **kwargs)
        execute = pipe.execute

        def counted(*a, **k):
            self.round_trips += 1
            return execute(*a, **k)

        pipe.execute = counted
        return pipe

    def __getattr__(self, name):
        attr = getattr(self.real, name)
        if callable(attr):

            def counted(*a, **k):
                self.round_trips += 1
                return attr(*a, **k)

            return counted
        return attr


def test_admission_is_one_round_trip_to_redis(sentimeter_settings, monkeypatch):
    sentimeter_settings.update(SUBMITS_PER_MINUTE=5, MAX_QUEUE_DEPTH=2)
    counting = _CountingRedis(get_redis())
    monkeypatch.setattr(limits, "get_redis", lambda: counting)
    Queue(QUICK, connection=get_redis()).enqueue("math.floor", 1.5)
    Queue(BULK, connection=get_redis()).enqueue("math.floor", 2.5)

    # Both checks ran in that one trip: the queues (2 jobs) are at the cap.
    with pytest.raises(limits.Overloaded):
        limits.redis_admit(ip="203.0.113.1")

    assert counting.round_trips == 1
    key = f"{limits.RATE_KEY_PREFIX}203.0.113.1:*"
    assert [int(get_redis().get(k)) for k in get_redis().keys(key)] == [1]
