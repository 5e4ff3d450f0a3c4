"""Browser pages, through the Django test client with CSRF checks on."""

import re

import pytest
from django.test import Client

from tests.builders import browser, csrf_token, make_job, make_results, owner_session
from web.models import Job
from worker import pipeline

TEXTS = [
    "I love this, it is wonderful!",
    "This is terrible and I hate it.",
    "The box is brown.",
]
XSS = "<script>alert(1)</script>"


@pytest.fixture
def page(db):
    """A browser that has loaded the home page (and so holds a CSRF token)."""
    return browser()


def submit_form(client: Client, texts: str, **extra):
    return client.post(
        "/jobs/", {"texts": texts, "analyzer": "vader", "csrfmiddlewaretoken": csrf_token(client), **extra}
    )


def html(response) -> str:
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


# --- home -----------------------------------------------------------------


def test_home_has_a_labelled_textarea_and_a_csrf_token(page):
    response = page.get("/")

    assert response.status_code == 200
    content = html(response)
    textarea = re.search(r"<textarea[^>]*\bid=\"([^\"]+)\"", content)
    assert textarea, "a textarea with an id"
    assert re.search(rf"<label for=\"{textarea.group(1)}\">[^<]+</label>", content)
    assert 'name="texts"' in textarea.group(0)
    assert 'name="csrfmiddlewaretoken"' in content
    assert '<form method="post" action="/jobs/"' in content


@pytest.mark.parametrize("path", ["/", "/jobs/", "/jobs/{id}/"])
def test_pages_send_a_content_security_policy(page, path):
    job = make_job(session_key=owner_session(page))

    response = page.get(path.format(id=job.pk))

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy


def test_pages_forbid_framing_and_sniffing(page):
    response = page.get("/")

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


# --- submit form ----------------------------------------------------------


def test_submit_form_redirects_to_the_job_page_with_303(page):
    response = submit_form(page, "I love it\r\n\r\n  I hate it  \r\n")

    assert response.status_code == 303
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.total == 2
    assert page.get(response["Location"]).status_code == 200


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        pytest.param("", "Paste at least one text", id="empty"),
        pytest.param(" \r\n\t\r\n ", "Paste at least one text", id="only-blank-lines"),
    ],
)
def test_submit_form_without_text_is_400_with_the_message(page, texts, message):
    response = submit_form(page, texts)

    assert response.status_code == 400
    content = html(response)
    assert message in content
    assert 'role="alert"' in content
    assert not Job.objects.exists()


def test_submit_form_with_too_many_texts_shows_the_limit(page, sentimeter_settings):
    sentimeter_settings["MAX_TEXTS_PER_JOB"] = 2

    response = submit_form(page, "one\ntwo\nthree")

    assert response.status_code == 413
    assert "the limit of 2" in html(response)
    assert not Job.objects.exists()


def test_submit_form_keeps_what_was_typed_after_an_error(page, sentimeter_settings):
    sentimeter_settings["MAX_TEXT_CHARS"] = 5

    response = submit_form(page, "short\nmuch too long")

    assert "much too long" in html(response)
    assert not Job.objects.exists()


def test_submit_form_with_an_unknown_analyzer_is_400(page):
    response = submit_form(page, "I love it", analyzer="nope")

    assert response.status_code == 400
    assert not Job.objects.exists()


def test_submit_form_without_csrf_token_is_403(page):
    response = page.post("/jobs/", {"texts": "I love it"})

    assert response.status_code == 403
    assert not Job.objects.exists()


# --- job list -------------------------------------------------------------


def test_job_list_shows_only_this_browsers_jobs(page):
    mine = [make_job(session_key=owner_session(page)) for _ in range(2)]
    theirs = make_job()

    content = html(page.get("/jobs/"))

    for job in mine:
        assert f'href="/jobs/{job.pk}/"' in content
    assert str(theirs.pk)[:8] not in content


def test_job_list_of_a_new_browser_invites_to_start(page):
    response = page.get("/jobs/")

    assert response.status_code == 200
    assert "No jobs from this browser yet" in html(response)


# --- job page -------------------------------------------------------------


def test_job_page_shows_progress_while_running(page):
    job = make_job(session_key=owner_session(page), texts=TEXTS, status=Job.Status.RUNNING)
    make_results(job, TEXTS[:2])

    content = html(page.get(f"/jobs/{job.pk}/"))

    assert '<progress id="job-progress" max="3" value="2"' in content
    assert "2 of 3 texts" in content
    assert f'action="/jobs/{job.pk}/cancel/"' in content
    assert "job.js" in content
    assert "Summary" not in content


def test_job_page_of_a_queued_job_without_a_count(page):
    job = make_job(session_key=owner_session(page), total=None)

    content = html(page.get(f"/jobs/{job.pk}/"))

    assert "0 of ? texts" in content


def test_job_page_shows_summary_results_and_downloads_when_succeeded(page):
    job = make_job(session_key=owner_session(page), texts=TEXTS)
    pipeline.job_process(job.pk)

    content = html(page.get(f"/jobs/{job.pk}/"))

    assert "Summary" in content
    assert "<progress" not in content
    assert "job.js" not in content
    assert f'href="/api/jobs/{job.pk}/results.csv"' in content
    assert f'href="/api/jobs/{job.pk}/results.jsonl"' in content
    rows = re.findall(r'<td class="text">([^<]*)</td>', content)
    assert rows == ["I love this, it is wonderful!", "This is terrible and I hate it.", "The box is brown."]
    for label in ("positive", "negative", "neutral"):
        assert f'class="label label-{label}"' in content
    assert content.count('<rect class="bar') == 20


def test_job_page_filters_results_by_label(page):
    job = make_job(session_key=owner_session(page), texts=TEXTS)
    pipeline.job_process(job.pk)

    content = html(page.get(f"/jobs/{job.pk}/?label=negative"))

    assert re.findall(r'<td class="text">([^<]*)</td>', content) == ["This is terrible and I hate it."]


def test_job_page_ignores_a_bad_label_or_page(page):
    job = make_job(session_key=owner_session(page), texts=TEXTS)
    pipeline.job_process(job.pk)

    response = page.get(f"/jobs/{job.pk}/?label=<b>&page=banana")

    assert response.status_code == 200
    assert len(re.findall(r'<td class="text">', html(response))) == 3


def test_job_page_paginates_results(page):
    texts = [f"text number {i}" for i in range(60)]
    job = make_job(session_key=owner_session(page), texts=texts, status=Job.Status.SUCCEEDED)
    make_results(job, texts)

    first = html(page.get(f"/jobs/{job.pk}/"))
    second = html(page.get(f"/jobs/{job.pk}/?page=2"))

    assert len(re.findall(r'<td class="text">', first)) == 50
    assert "Page 1 of 2" in first
    assert re.findall(r'<td class="text">([^<]*)</td>', second) == texts[50:]


def test_job_page_escapes_user_text(page):
    job = make_job(session_key=owner_session(page), texts=[XSS, "fine"])
    pipeline.job_process(job.pk)

    content = html(page.get(f"/jobs/{job.pk}/"))

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert XSS not in content


def test_job_page_escapes_the_error_message(page):
    job = make_job(
        session_key=owner_session(page),
        status=Job.Status.FAILED,
        error_code="invalid_input",
        error_message=f"row 3: {XSS}",
    )

    content = html(page.get(f"/jobs/{job.pk}/"))

    assert "The job failed" in content
    assert "row 3: &lt;script&gt;" in content
    assert XSS not in content


def test_job_page_of_a_canceled_job_shows_partial_results(page):
    job = make_job(session_key=owner_session(page), texts=TEXTS, status=Job.Status.CANCELED)
    make_results(job, TEXTS[:1])

    content = html(page.get(f"/jobs/{job.pk}/"))

    assert "This job was canceled" in content
    assert "(partial)" in content
    assert re.findall(r'<td class="text">([^<]*)</td>', content) == TEXTS[:1]


@pytest.mark.parametrize("job_id", ["another-session", "unknown", "not-a-uuid"])
def test_job_page_is_404_unless_it_is_this_browsers_job(page, job_id):
    owner_session(page)
    paths = {
        "another-session": f"/jobs/{make_job().pk}/",
        "unknown": "/jobs/00000000-0000-4000-8000-000000000000/",
        "not-a-uuid": "/jobs/not-a-uuid/",
    }

    response = page.get(paths[job_id])

    assert response.status_code == 404
    assert "Not found" in html(response)


# --- cancel button --------------------------------------------------------


def test_cancel_button_cancels_and_returns_to_the_job_page(page):
    job = make_job(session_key=owner_session(page), status=Job.Status.RUNNING)

    response = page.post(f"/jobs/{job.pk}/cancel/", {"csrfmiddlewaretoken": csrf_token(page)})

    assert response.status_code == 303
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELED


def test_cancel_button_for_another_browsers_job_is_404(page):
    owner_session(page)
    job = make_job(status=Job.Status.RUNNING)

    response = page.post(f"/jobs/{job.pk}/cancel/", {"csrfmiddlewaretoken": csrf_token(page)})

    assert response.status_code == 404
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING


# --- health ---------------------------------------------------------------


def test_healthz_reports_database_and_redis(db):
    response = Client().get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["redis"] == "ok"
    assert body["status"] == "ok"
