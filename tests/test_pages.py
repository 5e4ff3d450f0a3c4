"""Browser pages, through the Django test client with CSRF checks on."""

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.builders import browser, csrf_token, make_job, make_results, owner_session
from web import services, views
from web.models import Job, JobInput, Result
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


def test_submit_form_with_a_callback_url_stores_it_for_the_webhook(page, settings):
    settings.SENTIMETER = {**settings.SENTIMETER, "WEBHOOK_ALLOW_PRIVATE": True}
    assert 'name="callback_url"' in html(page.get("/"))

    response = submit_form(page, "I love it", callback_url="http://127.0.0.1:9/hook")
    upload = SimpleUploadedFile("r.csv", b"text\nfine\n", content_type="text/csv")
    uploaded = page.post(
        "/jobs/",
        {"file": upload, "callback_url": "http://127.0.0.1:9/other", "csrfmiddlewaretoken": csrf_token(page)},
    )

    assert response.status_code == 303 and uploaded.status_code == 303
    assert sorted(Job.objects.values_list("callback_url", flat=True)) == [
        "http://127.0.0.1:9/hook",
        "http://127.0.0.1:9/other",
    ]


def test_submit_form_with_a_private_callback_url_is_400_next_to_the_field(page):
    response = submit_form(page, "I love it", callback_url="http://127.0.0.1:9/hook")

    assert response.status_code == 400
    errors = re.search(r'id="id_callback_url".*?</div>', html(response), re.S).group(0)
    assert "https" in errors
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
    assert str(theirs.pk) not in content


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
    # What is stored so far: its summary (no drivers yet), the rows stored last first, no downloads.
    assert '<h2 id="summary-heading">Summary so far</h2>' in content
    assert re.search(r'<span class="share-label">Texts</span> <strong>2</strong>', content)
    assert "What drives it" not in content
    assert row_texts(content) == [TEXTS[1], TEXTS[0]]
    assert '<option value="latest" selected>Latest analyzed first</option>' in content
    assert "results.csv" not in content and 'id="downloads-later"' in content


def test_a_running_jobs_summary_is_computed_once_for_every_viewer_in_its_interval(page):
    job = make_job(session_key=owner_session(page), texts=TEXTS, status=Job.Status.RUNNING)
    make_results(job, TEXTS[:2])
    html(page.get(f"/jobs/{job.pk}/"))
    # A third result arrives within the interval: the summary shown stays the one computed.
    Result.objects.create(
        job=job, idx=2, text=TEXTS[2], label="neutral", compound=0.0, pos=0.0, neu=1.0, neg=0.0
    )
    Job.objects.filter(pk=job.pk).update(done=3)

    with CaptureQueriesContext(connection) as queries:
        again = html(page.get(f"/jobs/{job.pk}/"))

    assert not [q["sql"] for q in queries if "GROUP BY" in q["sql"] or "AVG(" in q["sql"]]
    assert re.search(r'<span class="share-label">Texts</span> <strong>2</strong>', again)
    assert "3 of 3 texts" in again


def test_a_running_jobs_page_shows_its_summary_so_far_with_redis_down(page, redis_down):
    job = make_job(session_key=owner_session(page), texts=TEXTS, status=Job.Status.RUNNING)
    make_results(job, TEXTS[:2])

    response = page.get(f"/jobs/{job.pk}/")

    assert response.status_code == 200
    assert re.search(r'<span class="share-label">Texts</span> <strong>2</strong>', html(response))


def test_a_running_job_sorted_by_input_order_goes_back_to_it_and_latest_is_gone_once_it_ends(page):
    job = make_job(session_key=owner_session(page), texts=TEXTS, status=Job.Status.RUNNING)
    make_results(job, TEXTS[:2])
    assert row_texts(html(page.get(f"/jobs/{job.pk}/?sort=idx"))) == TEXTS[:2]

    Job.objects.filter(pk=job.pk).update(status=Job.Status.CANCELED)
    content = html(page.get(f"/jobs/{job.pk}/?sort=latest"))

    assert row_texts(content) == TEXTS[:2]
    assert 'value="latest"' not in content


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
    histogram = re.search(r'<figure class="chart" id="histogram">.*?</figure>', content, re.S).group(0)
    split = re.search(r'<figure class="chart" id="label-chart">.*?</figure>', content, re.S).group(0)
    assert histogram.count('<rect class="bar') == 20
    # The bins around 0 hold neutral scores ("The box is brown." is 0.0).
    assert re.findall(r'<rect class="bar bar-neutral" x="(45|50)\.0"', histogram) == ["45", "50"]
    assert re.findall(r'<rect class="bar bar-(\w+)" x="([\d.]+)" y="0" width="([\d.]+)"', split) == [
        ("positive", "0.0", "33.333"),
        ("neutral", "33.333", "33.333"),
        ("negative", "66.667", "33.333"),
    ]
    assert "Label split: positive 33.3%, neutral 33.3%, negative 33.3%." in split


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


def assert_partial_summary_and_rows(content: str, stored: list[str]) -> None:
    """A partial job's page summarizes exactly the stored results and lists them."""
    assert "Summary (partial)" in content
    assert re.search(rf"Texts</span> <strong>{len(stored)}</strong>", content)
    assert re.findall(r'<td class="text">([^<]*)</td>', content) == stored


def test_job_page_of_a_canceled_job_shows_partial_results(page):
    job = make_job(session_key=owner_session(page), texts=TEXTS, status=Job.Status.CANCELED)
    make_results(job, TEXTS[:1])

    content = html(page.get(f"/jobs/{job.pk}/"))

    assert "Canceled after 1 of 3 texts; these results are partial." in content
    assert "Results (partial)" in content
    # The summary is of the one stored result (the worker writes none for a canceled job).
    assert_partial_summary_and_rows(content, TEXTS[:1])


def test_job_page_of_a_job_that_failed_midway_shows_its_partial_results(page):
    job = make_job(
        session_key=owner_session(page),
        texts=TEXTS,
        status=Job.Status.FAILED,
        error_code="timeout",
        error_message="Part of the analysis took longer than 120 s and was stopped (4 attempts).",
    )
    make_results(job, TEXTS[:2])

    content = html(page.get(f"/jobs/{job.pk}/"))

    assert "The job failed" in content
    assert "It stopped after 2 of 3 texts; the results below are partial." in content
    assert_partial_summary_and_rows(content, TEXTS[:2])


def test_job_page_of_a_job_canceled_before_it_started(page):
    job = make_job(session_key=owner_session(page), texts=TEXTS, status=Job.Status.CANCELED)

    content = html(page.get(f"/jobs/{job.pk}/"))

    assert "This job was canceled before any text was analyzed." in content
    assert "Summary" not in content
    assert "<table" not in content


def row_texts(content: str) -> list[str]:
    return re.findall(r'<td class="text">([^<]*)</td>', content)


def test_job_page_searches_the_text_in_any_case(page):
    job = make_job(session_key=owner_session(page), texts=TEXTS)
    pipeline.job_process(job.pk)

    content = html(page.get(f"/jobs/{job.pk}/", {"q": "HATE"}))

    assert row_texts(content) == ["This is terrible and I hate it."]
    assert 'value="HATE"' in content
    assert "Showing 1–1 of 1 matching result." in content


def test_job_page_search_with_no_match_says_so(page):
    job = make_job(session_key=owner_session(page), texts=TEXTS)
    pipeline.job_process(job.pk)

    content = html(page.get(f"/jobs/{job.pk}/", {"q": "zebra", "label": "positive"}))

    assert row_texts(content) == []
    assert "No results labelled positive and containing “zebra”." in content


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-compound", [TEXTS[0], TEXTS[2], TEXTS[1]]),
        ("compound", [TEXTS[1], TEXTS[2], TEXTS[0]]),
        ("bogus", TEXTS),
    ],
)
def test_job_page_sorts_by_score(page, sort, expected):
    job = make_job(session_key=owner_session(page), texts=TEXTS)
    pipeline.job_process(job.pk)

    content = html(page.get(f"/jobs/{job.pk}/", {"sort": sort}))

    assert row_texts(content) == expected


def test_job_page_filter_form_is_a_plain_get_form_with_labelled_controls(page):
    job = make_job(session_key=owner_session(page), texts=TEXTS)
    pipeline.job_process(job.pk)

    content = html(page.get(f"/jobs/{job.pk}/", {"label": "negative", "sort": "compound"}))

    form = re.search(r'<form method="get"[^>]*id="filters".*?</form>', content, re.S).group(0)
    for name, control_id in (("label", "filter-label"), ("q", "filter-q"), ("sort", "filter-sort")):
        assert re.search(rf'<(select|input)[^>]*name="{name}" id="{control_id}"', form), name
        assert f'<label for="{control_id}">' in form
    assert '<option value="negative" selected>' in form
    assert '<option value="compound" selected>' in form
    assert '<button type="submit">Show</button>' in form


def test_job_page_pagination_keeps_the_filter_search_and_sort(page):
    texts = [f"good text number {i}" if i % 2 else f"text number {i}" for i in range(130)]
    job = make_job(session_key=owner_session(page), texts=texts, status=Job.Status.SUCCEEDED)
    make_results(job, texts)
    matching = [t for t in texts if "good" in t]

    first = html(page.get(f"/jobs/{job.pk}/", {"q": "good", "sort": "-compound"}))
    next_url = re.search(r'<a href="([^"]+)#results" rel="next">', first).group(1).replace("&amp;", "&")
    second = html(page.get(f"/jobs/{job.pk}/{next_url}"))
    beyond = html(page.get(f"/jobs/{job.pk}/", {"q": "good", "page": "99"}))

    assert next_url == "?q=good&sort=-compound&page=2"
    assert "Showing 1–50 of 65 matching results." in first
    assert "Page 1 of 2" in first
    assert "Showing 51–65 of 65 matching results." in second
    assert set(row_texts(first)) | set(row_texts(second)) == set(matching)
    assert 'rel="prev"' in second
    assert "Page 2 of 2" in beyond  # past the end: the last page


def test_job_page_shows_rate_time_left_and_elapsed_while_running(page):
    started = timezone.now() - timedelta(seconds=40)
    job = make_job(
        session_key=owner_session(page),
        texts=[f"t{i}" for i in range(5000)],
        status=Job.Status.RUNNING,
        started_at=started,
    )
    Job.objects.filter(pk=job.pk).update(done=1200)

    content = html(page.get(f"/jobs/{job.pk}/"))

    assert "1,200 of 5,000 texts · 24.0%" in content
    assert re.search(r'<dd id="job-rate">30 texts/s</dd>', content)
    # 3,800 left at 30 a second.
    assert re.search(r'<dd id="job-remaining">about 2 min 0[67] s</dd>', content)
    assert re.search(r'<dd id="job-elapsed">4[01] s</dd>', content)
    assert f'data-started-at="{int(started.timestamp())}"' in content


def test_job_page_of_a_queued_job_says_it_waits_for_a_worker(page):
    job = make_job(session_key=owner_session(page))

    content = html(page.get(f"/jobs/{job.pk}/"))

    assert "Waiting for a worker." in content
    assert re.search(r"pasted texts \(\d+\xa0bytes\)", content)
    assert '<dd id="job-elapsed">not started</dd>' in content
    assert '<button type="submit" class="secondary" id="cancel-button">Cancel job</button>' in content


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, ""), (0.4, "under 1 s"), (59.6, "1 min 00 s"), (125, "2 min 05 s"), (7260, "2 h 01 min")],
)
def test_duration_text(seconds, text):
    assert views.duration_text(seconds) == text


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


# --- history and limits -------------------------------------------------


def test_job_list_shows_status_input_size_and_links(page):
    session_key = owner_session(page)
    pasted = make_job(session_key=session_key, texts=TEXTS, status=Job.Status.SUCCEEDED)
    make_results(pasted, TEXTS)
    upload = make_job(session_key=session_key, texts=["a"] * 1500, status=Job.Status.RUNNING)
    JobInput.objects.filter(job=upload).update(filename="reviews <2024>.csv", size=123_456)
    Job.objects.filter(pk=upload.pk).update(done=300, title="reviews <2024>.csv")

    content = html(page.get("/jobs/"))

    rows = re.findall(r"<tr>.*?</tr>", content.split("<tbody>")[1], re.S)
    assert len(rows) == 2
    newest, oldest = rows
    assert "Running" in newest and "20.0%" in newest
    assert "reviews &lt;2024&gt;.csv" in newest and "120.6\xa0KB" in newest
    assert "300 / 1,500" in newest
    assert "Succeeded" in oldest and "Pasted texts" in oldest
    assert f'href="/jobs/{pasted.pk}/"' in oldest
    assert f'href="/api/jobs/{pasted.pk}/results.csv"' in oldest
    assert f'href="/api/jobs/{pasted.pk}/results.jsonl"' in oldest


def test_job_list_reads_every_job_and_its_input_in_one_query_without_the_bytes(page):
    session_key = owner_session(page)
    for _ in range(3):
        make_job(session_key=session_key)

    with CaptureQueriesContext(connection) as queries:
        content = html(page.get("/jobs/"))

    assert content.count("Pasted texts") == 3
    input_queries = [q["sql"] for q in queries if '"web_jobinput"' in q["sql"]]
    assert len(input_queries) == 1, input_queries
    assert 'JOIN "web_jobinput"' in input_queries[0]
    assert '"web_jobinput"."data"' not in input_queries[0]


def test_home_shows_the_limits_from_the_settings(page, sentimeter_settings):
    sentimeter_settings.update(
        MAX_TEXTS_PER_JOB=1234, MAX_TEXT_CHARS=5678, MAX_UPLOAD_BYTES=3 * 1024 * 1024, SUBMITS_PER_MINUTE=7
    )

    content = html(page.get("/"))

    assert "up to 1,234 per job, each at most 5,678 characters" in content
    assert "Files: at most 3.0\xa0MB" in content
    assert "At most 7 submissions a minute." in content
    assert 'data-max-bytes="3145728"' in content
    assert "submit.js" in content


def test_home_describes_each_field_for_screen_readers(page):
    content = html(page.get("/"))

    for field in ("texts", "file", "column"):
        assert re.search(rf'aria-describedby="id_{field}_helptext"[^>]*id="id_{field}"', content), field
        assert f'id="id_{field}_helptext"' in content


def test_submit_form_with_an_unknown_column_shows_it_next_to_the_column_field(page):
    upload = SimpleUploadedFile("r.csv", b"id,review\n1,great\n", content_type="text/csv")

    response = page.post(
        "/jobs/", {"file": upload, "column": "opinion", "csrfmiddlewaretoken": csrf_token(page)}
    )

    assert response.status_code == 400
    assert re.search(r'id="id_column_error" role="alert">There is no column', html(response))


# --- health ---------------------------------------------------------------


def test_healthz_reports_database_and_redis(db):
    response = Client().get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["redis"] == "ok"
    assert body["status"] == "ok"


@pytest.mark.parametrize(
    ("counts", "label"),
    [
        pytest.param({"positive": 2, "neutral": 1, "negative": 0}, "positive", id="most-positive"),
        pytest.param({"positive": 0, "neutral": 1, "negative": 3}, "negative", id="most-negative"),
        pytest.param({"positive": 2, "neutral": 0, "negative": 2}, "neutral", id="tie"),
        pytest.param({"positive": 0, "neutral": 0, "negative": 0}, "neutral", id="empty"),
    ],
)
def test_a_histogram_bar_takes_the_colour_of_its_commonest_label(counts, label):
    b = {"start": 0.3, "end": 0.4, "count": sum(counts.values()), **counts}

    assert views._bin_label(b) == label


@pytest.mark.parametrize(
    ("start", "label"), [(-0.1, "neutral"), (0.0, "neutral"), (0.1, "positive"), (-0.5, "negative")]
)
def test_a_summary_written_before_bins_counted_labels_colours_the_bins_at_0_neutral(start, label):
    assert views._bin_label({"start": start, "end": round(start + 0.1, 2), "count": 1}) == label


@pytest.mark.parametrize(
    ("peak", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (20, [0, 5, 10, 15, 20]),
        (150, [0, 50, 100, 150]),
        (151, [0, 50, 100, 150, 200]),
        (98_765, [0, 50_000, 100_000]),
    ],
)
def test_the_histogram_count_axis_goes_to_a_round_number_in_at_most_four_steps(peak, ticks):
    assert views.count_ticks(peak) == ticks


def test_the_histogram_has_a_count_axis_with_a_gridline_per_label(page):
    texts = ["I love it!"] * 7 + ["I hate it."] * 3
    job = make_job(session_key=owner_session(page), texts=texts)
    pipeline.job_process(job.pk)

    histogram = re.search(
        r'<figure class="chart" id="histogram">.*?</figure>', html(page.get(f"/jobs/{job.pk}/")), re.S
    )

    labels = re.findall(
        r"<span>(\d+)</span>", re.search(r'class="yaxis".*?</div>', histogram.group(0)).group(0)
    )
    assert labels == ["8", "6", "4", "2", "0"]
    assert re.findall(r'class="gridline" x1="0" y1="([\d.]+)"', histogram.group(0)) == [
        "100.0",
        "75.0",
        "50.0",
        "25.0",
        "0.0",
    ]
    # The bar of the 7 positives reaches 7/8 of the axis.
    assert re.search(r'<rect class="bar bar-positive" x="[\d.]+" y="12.5"', histogram.group(0))


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Great value.", "Great value."),
        ("  Two\n lines\tand   spaces ", "Two lines and spaces"),
        (
            "The delivery was quick but the box arrived dented and the manual was missing entirely",
            "The delivery was quick but the box arrived dented and the…",
        ),
        ("배송이빠르고포장도꼼꼼했어요" * 6, ("배송이빠르고포장도꼼꼼했어요" * 6)[:60] + "…"),
    ],
)
def test_a_pasted_job_is_titled_by_the_start_of_its_first_text(text, title):
    assert services.job_title(text) == title
    assert len(services.job_title(text)) <= services.TITLE_CHARS + 1


def test_the_job_page_and_list_are_titled_by_the_file_name_or_the_first_text(page):
    session_key = owner_session(page)
    pasted = services.job_create(session_key=session_key, texts=["Loved the colour, hated the fit.", "Fine."])
    upload = SimpleUploadedFile("march reviews.csv", b"text\nGreat!\n", content_type="text/csv")
    uploaded = services.job_create_from_upload(session_key=session_key, upload=upload)

    assert pasted.title == "Loved the colour, hated the fit."
    assert uploaded.title == "march reviews.csv"
    content = html(page.get(f"/jobs/{pasted.pk}/"))
    assert "<title>Loved the colour, hated the fit. · Sentimeter</title>" in content
    assert '<h1 id="job-title">Loved the colour, hated the fit.</h1>' in content
    assert '<h1 id="job-title">march reviews.csv</h1>' in html(page.get(f"/jobs/{uploaded.pk}/"))
    listing = html(page.get("/jobs/"))
    assert "Loved the colour, hated the fit." in listing and "march reviews.csv" in listing
    assert page.get(f"/api/jobs/{pasted.pk}/").json()["title"] == "Loved the colour, hated the fit."


def test_a_job_made_before_titles_existed_is_headed_by_the_end_of_its_id(page):
    job = make_job(session_key=owner_session(page))

    assert job.title == ""
    assert f'<h1 id="job-title">Job {str(job.pk)[-8:]}</h1>' in html(page.get(f"/jobs/{job.pk}/"))


def test_long_texts_are_folded_to_a_few_lines_and_short_ones_are_not(page):
    long_review = "The fabric is soft and the stitching looks careful. " * 8
    job = make_job(session_key=owner_session(page), texts=[long_review, "Short and sweet."])
    pipeline.job_process(job.pk)

    content = html(page.get(f"/jobs/{job.pk}/"))

    folded = re.findall(r'<details class="long-text"><summary><span class="clamp">(.*?)</span>', content)
    assert folded == [long_review]
    assert '<td class="text">Short and sweet.</td>' in content


def test_the_job_page_speaks_plainly(page):
    job = make_job(session_key=owner_session(page), texts=TEXTS)
    pipeline.job_process(job.pk)

    content = html(page.get(f"/jobs/{job.pk}/"))

    assert "compound" not in content.lower().replace('value="compound"', "").replace('value="-compound"', "")
    assert "Average score" in content and ">Score</th>" in content
    assert re.search(
        r'id="job-analyzer">Analyzed with <strong>VADER \(English, fast\)</strong>: Rules and', content
    )
