"""API tokens: made, used as `Authorization: Bearer`, listed, revoked; hashed at rest (issue 14)."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.builders import browser, csrf_headers, make_job, post_json
from web import limits
from web.models import ApiToken, Job
from web.sessions import session_key_get
from worker.webhooks import owner_webhook_secret


@pytest.fixture
def owner(db) -> Client:
    """A browser session that makes tokens (and owns their jobs)."""
    return browser()


def token_make(client: Client, name: str = "script") -> dict:
    response = post_json(client, "/api/tokens/", {"name": name})
    assert response.status_code == 201, response.content
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def script() -> Client:
    """A client like curl: CSRF checks on, no cookies, never fetched a page."""
    return Client(enforce_csrf_checks=True)


def submit(client: Client, token: str, body: object = None, **kwargs):
    return client.post(
        "/api/jobs/",
        data=json.dumps(body or {"texts": ["I love it"], "analyzer": "vader"}),
        content_type="application/json",
        headers=bearer(token),
        **kwargs,
    )


# --- making one ------------------------------------------------------------------


def test_create_answers_201_with_token_and_secret_once(owner):
    response = post_json(owner, "/api/tokens/", {"name": "nightly import"})

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"id", "name", "token", "webhook_secret", "created_at"}
    assert body["name"] == "nightly import"
    assert body["token"].startswith("smt_") and len(body["token"]) >= 4 + 43
    assert body["webhook_secret"].startswith("whsec_")
    listed = owner.get("/api/tokens/").json()["tokens"]
    assert [t["id"] for t in listed] == [body["id"]]
    assert body["token"] not in json.dumps(listed) and body["webhook_secret"] not in json.dumps(listed)


def test_tokens_are_stored_only_hashed(owner):
    body = token_make(owner)

    record = ApiToken.objects.get(pk=body["id"])
    stored = json.dumps([str(getattr(record, f.attname)) for f in ApiToken._meta.concrete_fields])
    assert body["token"] not in stored
    assert body["token"][4:] not in stored
    assert body["webhook_secret"] not in stored
    assert record.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    # What the database holds is no token: sent as one, it is refused.
    assert submit(script(), record.token_hash).status_code == 401


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({}, "invalid_name", id="no-name"),
        pytest.param({"name": "  "}, "invalid_name", id="blank"),
        pytest.param({"name": 3}, "invalid_name", id="not-a-string"),
        pytest.param({"name": "x" * 101}, "invalid_name", id="too-long"),
        pytest.param({"name": "a", "nmae": "b"}, "unknown_field", id="unknown-field"),
    ],
)
def test_create_refuses_bad_input(owner, body, code):
    response = post_json(owner, "/api/tokens/", body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not ApiToken.objects.exists()


def test_create_refuses_past_the_tokens_per_owner_limit(owner, sentimeter_settings):
    sentimeter_settings["MAX_TOKENS_PER_OWNER"] = 2
    token_make(owner)
    token_make(owner)

    response = post_json(owner, "/api/tokens/", {"name": "third"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_tokens"


def test_create_without_csrf_from_a_session_is_403(owner):
    response = owner.post("/api/tokens/", data='{"name": "x"}', content_type="application/json")

    assert response.status_code == 403
    assert not ApiToken.objects.exists()


# --- using one ---------------------------------------------------------------------


def test_bearer_submits_without_csrf_cookie_or_referer_over_https(owner):
    token = token_make(owner)["token"]
    client = script()

    response = submit(client, token, secure=True)

    assert response.status_code == 202, response.content
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies
    job = Job.objects.get()
    assert job.session_key == owner.session.session_key


def test_a_session_without_referer_over_https_is_still_403_and_says_why(owner):
    response = owner.post(
        "/api/jobs/",
        data='{"texts": ["hi"]}',
        content_type="application/json",
        headers=csrf_headers(owner),
        secure=True,
    )

    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert "no Referer header: send 'Referer: https://<this site>/', or use a Bearer token" in message


def test_bearer_uploads_a_file(owner):
    token = token_make(owner)["token"]
    upload = io.BytesIO(b"text\nI love it\nawful\n")
    upload.name = "reviews.csv"

    response = script().post("/api/jobs/", {"file": upload, "analyzer": "vader"}, headers=bearer(token))

    assert response.status_code == 202, response.content


def test_token_sees_exactly_the_jobs_of_the_session_that_made_it(owner):
    token = token_make(owner)["token"]
    from_page = post_json(owner, "/api/jobs/", {"texts": ["hi"], "analyzer": "vader"}).json()
    from_script = submit(script(), token).json()
    stranger = make_job()

    seen = script().get("/api/jobs/", headers=bearer(token)).json()["jobs"]
    assert {j["id"] for j in seen} == {from_page["id"], from_script["id"]}
    assert {j["id"] for j in owner.get("/api/jobs/").json()["jobs"]} == {from_page["id"], from_script["id"]}
    # The download of a job still queued is 409 (not finished), which only its owner learns.
    for path, owned in (
        ("/api/jobs/{}/", 200),
        ("/api/jobs/{}/results/", 200),
        ("/api/jobs/{}/results.csv", 409),
    ):
        assert script().get(path.format(from_page["id"]), headers=bearer(token)).status_code == owned
        assert script().get(path.format(stranger.pk), headers=bearer(token)).status_code == 404
    cancel = script().post(f"/api/jobs/{from_page['id']}/cancel/", headers=bearer(token))
    assert cancel.status_code == 202


def test_another_owners_token_sees_none_of_these_jobs(owner, db):
    mine = token_make(owner)["token"]
    theirs = token_make(browser())["token"]
    job = submit(script(), mine).json()

    assert script().get(f"/api/jobs/{job['id']}/", headers=bearer(theirs)).status_code == 404
    assert script().get("/api/jobs/", headers=bearer(theirs)).json() == {"jobs": []}


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Bearer smt_not-a-real-token", id="unknown-token"),
        pytest.param("Bearer ", id="empty"),
        pytest.param("Bearer nonsense", id="no-prefix"),
        pytest.param("Basic dXNlcjpwYXNz", id="basic"),
    ],
)
def test_a_bad_token_is_401_with_www_authenticate(db, header):
    response = script().get("/api/jobs/", headers={"Authorization": header})

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "invalid_token"


def test_a_bad_token_is_401_even_with_a_valid_session(owner):
    response = owner.get("/api/jobs/", headers=bearer("smt_wrong"))

    assert response.status_code == 401


def test_authorization_on_a_page_is_ignored(db):
    response = script().get("/", headers=bearer("smt_wrong"))

    assert response.status_code == 200


# --- listing and last use ----------------------------------------------------------


def test_list_shows_last_use_to_the_minute(owner):
    made = token_make(owner)
    assert owner.get("/api/tokens/").json()["tokens"][0]["last_used_at"] is None

    script().get("/api/jobs/", headers=bearer(made["token"]))
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    assert owner.get("/api/tokens/").json()["tokens"][0]["last_used_at"] is not None

    # Within the minute a use writes nothing...
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(seconds=30))
    recent = ApiToken.objects.get().last_used_at
    script().get("/api/jobs/", headers=bearer(made["token"]))
    assert ApiToken.objects.get().last_used_at == recent
    # ...after it, the next use is noted.
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    script().get("/api/jobs/", headers=bearer(made["token"]))
    assert ApiToken.objects.get().last_used_at > timezone.now() - timedelta(seconds=30)


def test_list_is_per_owner(owner, db):
    token_make(owner, "mine")
    token_make(browser(), "theirs")

    assert [t["name"] for t in owner.get("/api/tokens/").json()["tokens"]] == ["mine"]


def test_a_token_can_make_and_list_tokens_of_its_owner(owner):
    token = token_make(owner, "first")["token"]

    response = script().post(
        "/api/tokens/", data='{"name": "second"}', content_type="application/json", headers=bearer(token)
    )

    assert response.status_code == 201
    names = [t["name"] for t in script().get("/api/tokens/", headers=bearer(token)).json()["tokens"]]
    assert sorted(names) == ["first", "second"]


# --- revoking -------------------------------------------------------------------------


def test_revoke_works_at_once(owner):
    made = token_make(owner)
    assert submit(script(), made["token"]).status_code == 202

    response = owner.delete(f"/api/tokens/{made['id']}/", headers=csrf_headers(owner))

    assert response.status_code == 204
    after = submit(script(), made["token"])
    assert after.status_code == 401
    assert after["WWW-Authenticate"].startswith("Bearer")
    assert owner.get("/api/tokens/").json() == {"tokens": []}


def test_revoke_by_the_token_itself(owner):
    made = token_make(owner)

    response = script().delete(f"/api/tokens/{made['id']}/", headers=bearer(made["token"]))

    assert response.status_code == 204
    assert script().get("/api/jobs/", headers=bearer(made["token"])).status_code == 401


@pytest.mark.parametrize("token_id", ["999999", "abc", "-1"])
def test_revoke_unknown_token_is_404(owner, token_id):
    response = owner.delete(f"/api/tokens/{token_id}/", headers=csrf_headers(owner))

    assert response.status_code == 404


def test_revoke_another_owners_token_is_404_and_leaves_it_working(owner, db):
    theirs = token_make(browser())

    response = owner.delete(f"/api/tokens/{theirs['id']}/", headers=csrf_headers(owner))

    assert response.status_code == 404
    assert script().get("/api/jobs/", headers=bearer(theirs["token"])).status_code == 200


def test_revoke_from_a_session_without_csrf_is_403(owner):
    made = token_make(owner)

    assert owner.delete(f"/api/tokens/{made['id']}/").status_code == 403
    assert script().get("/api/jobs/", headers=bearer(made["token"])).status_code == 200


# --- limits per token owner ---------------------------------------------------------------


def test_rate_limit_counts_per_token_owner_not_per_address(owner, sentimeter_settings, monkeypatch):
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=lambda: 1_700_000_050.0))
    sentimeter_settings["SUBMITS_PER_MINUTE"] = 1
    mine = token_make(owner)["token"]
    theirs = token_make(browser())["token"]
    assert submit(script(), mine).status_code == 202

    refused = submit(script(), mine)

    assert refused.status_code == 429
    assert "token owner" in refused.json()["error"]["message"]
    assert int(refused["Retry-After"]) >= 1
    # Another owner from the same address has a limit of their own.
    assert submit(script(), theirs).status_code == 202


def test_active_jobs_are_capped_per_owner_across_session_and_token(owner, sentimeter_settings):
    sentimeter_settings["MAX_ACTIVE_JOBS_PER_SESSION"] = 1
    token = token_make(owner)["token"]
    assert post_json(owner, "/api/jobs/", {"texts": ["hi"], "analyzer": "vader"}).status_code == 202

    refused = submit(script(), token)

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_active_jobs"


# --- the page --------------------------------------------------------------------------------


def test_tokens_page_makes_a_token_shown_once(owner):
    page = owner.get("/tokens/")
    assert page.status_code == 200
    secret = owner_webhook_secret(owner.session.session_key)
    assert secret in page.content.decode()

    made = owner.post("/tokens/", {"name": "from the page"}, headers=csrf_headers(owner))

    assert made.status_code == 200
    assert made["Cache-Control"] == "no-store"
    record = ApiToken.objects.get()
    html = made.content.decode()
    token = html.split("<code>smt_", 1)[1].split("</code>", 1)[0]
    assert hashlib.sha256(("smt_" + token).encode()).hexdigest() == record.token_hash
    again = owner.get("/tokens/").content.decode()
    assert "from the page" in again and token not in again
    assert script().get("/api/jobs/", headers=bearer("smt_" + token)).status_code == 200


def test_tokens_page_refuses_a_blank_name_with_400(owner):
    response = owner.post("/tokens/", {"name": " "}, headers=csrf_headers(owner))

    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_tokens_page_revokes(owner):
    made = token_make(owner)

    response = owner.post(f"/tokens/{made['id']}/revoke/", headers=csrf_headers(owner))

    assert response.status_code == 303 and response["Location"] == "/tokens/"
    assert script().get("/api/jobs/", headers=bearer(made["token"])).status_code == 401


def test_tokens_page_cannot_revoke_another_owners_token(owner, db):
    theirs = token_make(browser())

    response = owner.post(f"/tokens/{theirs['id']}/revoke/", headers=csrf_headers(owner))

    assert response.status_code == 404


def test_a_bearer_poll_makes_as_many_queries_as_a_sessions(owner):
    """The token is checked within the job's own query (bench_poll_cpu.py and bench_load.py time it)."""
    token = token_make(owner)["token"]
    job = post_json(owner, "/api/jobs/", {"texts": ["hi"], "analyzer": "vader"}).json()
    path = f"/api/jobs/{job['id']}/"
    script().get(path, headers=bearer(token))  # notes last_used_at: once a minute, not per request

    with CaptureQueriesContext(connection) as session_queries:
        assert owner.get(path).status_code == 200
    with CaptureQueriesContext(connection) as token_queries:
        response = script().get(path, headers=bearer(token))

    assert response.status_code == 200
    assert response.json()["id"] == job["id"]
    assert len(token_queries) == len(session_queries) == 1, [q["sql"] for q in token_queries]
    assert "web_apitoken" in token_queries[0]["sql"]


def test_a_poll_after_revoke_is_401_at_once(owner):
    made = token_make(owner)
    job = submit(script(), made["token"]).json()
    path = f"/api/jobs/{job['id']}/"
    assert script().get(path, headers=bearer(made["token"])).status_code == 200

    assert owner.delete(f"/api/tokens/{made['id']}/", headers=csrf_headers(owner)).status_code == 204
    response = script().get(path, headers=bearer(made["token"]))

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "invalid_token"
    # The session that made it still sees its job.
    assert owner.get(path).status_code == 200


@pytest.mark.parametrize("job_id", ["own", "stranger", "missing", "not-a-uuid"])
def test_a_poll_with_a_bad_token_is_401_whatever_the_job(owner, job_id):
    own = post_json(owner, "/api/jobs/", {"texts": ["hi"], "analyzer": "vader"}).json()["id"]
    ids = {"own": own, "stranger": make_job().pk, "missing": "0" * 32, "not-a-uuid": "nope"}

    response = owner.get(f"/api/jobs/{ids[job_id]}/", headers=bearer("smt_" + "x" * 43))

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("job_id", ["stranger", "missing", "not-a-uuid"])
def test_a_poll_with_a_working_token_of_a_job_not_its_owners_is_404(owner, job_id):
    token = token_make(owner)["token"]
    ids = {"stranger": make_job().pk, "missing": "0" * 32, "not-a-uuid": "nope"}

    response = script().get(f"/api/jobs/{ids[job_id]}/", headers=bearer(token))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_poll_notes_last_use_to_the_minute(owner):
    made = token_make(owner)
    job = post_json(owner, "/api/jobs/", {"texts": ["hi"], "analyzer": "vader"}).json()
    path = f"/api/jobs/{job['id']}/"

    assert script().get(path, headers=bearer(made["token"])).status_code == 200
    assert ApiToken.objects.get().last_used_at > timezone.now() - timedelta(seconds=30)
    # Within the minute a poll writes nothing...
    recent = timezone.now() - timedelta(seconds=30)
    ApiToken.objects.update(last_used_at=recent)
    with CaptureQueriesContext(connection) as queries:
        assert script().get(path, headers=bearer(made["token"])).status_code == 200
    assert len(queries) == 1
    assert ApiToken.objects.get().last_used_at == recent
    # ...after it, the next poll is noted; and a poll of a job it may not see is noted too.
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    assert script().get(path, headers=bearer(made["token"])).status_code == 200
    assert ApiToken.objects.get().last_used_at > timezone.now() - timedelta(seconds=30)
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    assert script().get(f"/api/jobs/{'0' * 32}/", headers=bearer(made["token"])).status_code == 404
    assert ApiToken.objects.get().last_used_at > timezone.now() - timedelta(seconds=30)


def test_a_token_poll_never_falls_back_to_the_session(owner):
    """A working token of another owner, sent with this session's cookie, sees only its own owner's jobs."""
    job = post_json(owner, "/api/jobs/", {"texts": ["hi"], "analyzer": "vader"}).json()
    theirs = token_make(browser())["token"]

    assert owner.get(f"/api/jobs/{job['id']}/", headers=bearer(theirs)).status_code == 404


def test_a_view_that_checks_its_own_token_cannot_ask_for_the_owner(rf):
    """Falling back to the session with the token unchecked would let a revoked token in."""
    request = rf.get("/api/jobs/")
    request.bearer_hash = "0" * 64

    with pytest.raises(ImproperlyConfigured):
        session_key_get(request)
