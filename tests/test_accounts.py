"""LOGIN_REQUIRED: pages need a signed-in user, the API answers 401, jobs and tokens belong to the user."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.builders import csrf_headers, make_job, post_json
from web.models import ApiToken, Job

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test user's


@pytest.fixture
def login_required(sentimeter_settings):
    sentimeter_settings["LOGIN_REQUIRED"] = True
    return sentimeter_settings


def user_make(name: str, **fields):
    return get_user_model().objects.create_user(username=name, password=PASSWORD, **fields)


def signed_in(name: str) -> Client:
    """A browser that has logged in through the login page (CSRF checks on) and holds a CSRF token."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    response = client.post(
        "/accounts/login/", {"username": name, "password": PASSWORD}, headers=csrf_headers(client)
    )
    assert response.status_code == 302, response.content
    assert client.get("/").status_code == 200
    return client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/jobs/", "/tokens/", f"/jobs/{'0' * 32}/", "/api/docs/"])
def test_pages_redirect_to_the_login(login_required, path):
    response = Client().get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/jobs/"), ("post", "/api/jobs/"), ("get", "/api/tokens/"), ("get", "/api/analyzers/")],
)
def test_the_api_answers_401_not_a_redirect(login_required, method, path):
    response = getattr(Client(enforce_csrf_checks=True), method)(path)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "login_required"
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_health_and_the_login_page_stay_open(login_required):
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/accounts/login/").status_code == 200


@pytest.mark.django_db
def test_a_wrong_password_stays_on_the_login_page(login_required):
    user_make("ana")
    client = Client()

    response = client.post("/accounts/login/", {"username": "ana", "password": "wrong"})

    assert response.status_code == 200
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_jobs_belong_to_the_user_across_browsers(login_required):
    ana = user_make("ana")
    user_make("ben")
    laptop, phone, ben = signed_in("ana"), signed_in("ana"), signed_in("ben")

    job = post_json(laptop, "/api/jobs/", {"texts": ["fine"], "analyzer": "vader"}).json()

    assert Job.objects.get(pk=job["id"]).session_key == f"user:{ana.pk}"
    assert [j["id"] for j in phone.get("/api/jobs/").json()["jobs"]] == [job["id"]]
    assert phone.get(f"/jobs/{job['id']}/").status_code == 200
    assert ben.get(f"/api/jobs/{job['id']}/").status_code == 404
    assert ben.get("/api/jobs/").json() == {"jobs": []}


@pytest.mark.django_db
def test_a_users_token_sees_the_users_jobs_from_a_script(login_required):
    user_make("ana")
    laptop = signed_in("ana")
    job = post_json(laptop, "/api/jobs/", {"texts": ["fine"], "analyzer": "vader"}).json()
    token = post_json(laptop, "/api/tokens/", {"name": "ci"}).json()["token"]
    script = Client(enforce_csrf_checks=True)

    assert [j["id"] for j in script.get("/api/jobs/", headers=bearer(token)).json()["jobs"]] == [job["id"]]
    submitted = script.post(
        "/api/jobs/",
        data=json.dumps({"texts": ["ok"]}),
        content_type="application/json",
        headers=bearer(token),
    )
    assert submitted.status_code == 202
    assert len(signed_in("ana").get("/api/jobs/").json()["jobs"]) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("poll", [False, True], ids=["list", "poll"])
def test_a_deactivated_users_token_is_refused(login_required, poll):
    ana = user_make("ana")
    laptop = signed_in("ana")
    job = post_json(laptop, "/api/jobs/", {"texts": ["fine"], "analyzer": "vader"}).json()
    token = post_json(laptop, "/api/tokens/", {"name": "ci"}).json()["token"]
    path = f"/api/jobs/{job['id']}/" if poll else "/api/jobs/"
    assert Client().get(path, headers=bearer(token)).status_code == 200
    ana.is_active = False
    ana.save()

    response = Client().get(path, headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


@pytest.mark.django_db
def test_a_token_made_by_a_session_before_login_was_required_is_refused(sentimeter_settings):
    session = Client()
    session.get("/")
    token = post_json(session, "/api/tokens/", {"name": "old"}).json()["token"]
    assert Client().get("/api/jobs/", headers=bearer(token)).status_code == 200
    sentimeter_settings["LOGIN_REQUIRED"] = True

    assert Client().get("/api/jobs/", headers=bearer(token)).status_code == 401


@pytest.mark.django_db
def test_tokens_belong_to_the_user(login_required):
    user_make("ana")
    user_make("ben")
    post_json(signed_in("ana"), "/api/tokens/", {"name": "ana's"})

    assert [t["name"] for t in signed_in("ana").get("/api/tokens/").json()["tokens"]] == ["ana's"]
    assert signed_in("ben").get("/api/tokens/").json() == {"tokens": []}
    assert ApiToken.objects.get().owner_key.startswith("user:")


@pytest.mark.django_db
def test_logout_ends_the_session(login_required):
    user_make("ana")
    client = signed_in("ana")

    response = client.post("/accounts/logout/", headers=csrf_headers(client))

    assert response.status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_without_login_required_jobs_stay_with_the_browser_session(sentimeter_settings):
    user_make("ana")
    client = Client()
    client.get("/")
    client.force_login(get_user_model().objects.get(username="ana"))

    job = post_json(client, "/api/jobs/", {"texts": ["fine"], "analyzer": "vader"}).json()

    assert Job.objects.get(pk=job["id"]).session_key == client.session.session_key


@pytest.mark.django_db
def test_staff_see_every_job_in_the_admin(login_required):
    get_user_model().objects.create_superuser(username="root", password=PASSWORD)
    job = make_job(session_key="someone")
    admin = Client()
    admin.force_login(get_user_model().objects.get(username="root"))

    response = admin.get("/admin/web/job/")

    assert response.status_code == 200
    assert str(job.pk) in response.content.decode()
