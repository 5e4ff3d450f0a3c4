"""Groups and trends (worker/breakdowns.py): what is suggested, what is stored when a job ends,
the API's /groups/ and /trend/, the group filter on results, and the job page's charts."""

import json
import re
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from jsonschema import Draft202012Validator

from tests.builders import (
    browser,
    csrf_token,
    make_job,
    make_results,
    make_table_job,
    owner_session,
    post_json,
)
from web import views
from web.models import ColumnStats, Job
from worker import breakdowns, pipeline
from worker.breakdowns import columns_of, groups_of, trend_of

COLUMNS = ["id", "store", "stars", "date", "text", "note"]
# (store, stars, date, compound): store B is the most negative, C the most positive.
ROWS_SPEC = [
    ("A", "5", "2026-11-02", 0.6),
    ("A", "4", "2026-11-02", 0.3),
    ("A", "2", "2026-11-03", -0.4),
    ("A", "3", "2026-11-10", 0.0),
    ("B", "1", "2026-11-03", -0.8),
    ("B", "1", "2026-11-10", -0.5),
    ("B", "4", "2026-11-11", 0.2),
    ("C", "5", "2026-11-12", 0.9),
    ("C", "5", "not yet", 0.7),
    ("C", "4", None, 0.0),
]


def table_rows() -> list[list]:
    return [
        [f"R-{i}", store, stars, day, f"review number {i}", f"free note {i}"]
        for i, (store, stars, day, _) in enumerate(ROWS_SPEC)
    ]


def compounds() -> list[float]:
    return [c for *_, c in ROWS_SPEC]


@pytest.fixture
def client(db):
    return browser()


@pytest.fixture
def job(client):
    return make_table_job(
        columns=COLUMNS, rows=table_rows(), compounds=compounds(), session_key=owner_session(client)
    )


def schema_check(client, name: str, body: dict) -> None:
    """Validate a body against the served OpenAPI document's schema `name`."""
    doc = client.get("/api/openapi.json").json()
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    validator = Draft202012Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, errors


# --- which columns --------------------------------------------------------


def test_columns_suggest_few_repeated_values_not_ids_text_or_dates(job):
    columns = columns_of(job)

    assert columns.suggested == ["store", "stars"]
    assert columns.dates == ["date"]
    # Every column but the text column can be chosen; the suggested ones come first.
    assert columns.groupable == ["store", "stars", "id", "date", "note"]


def test_a_job_end_stores_the_suggested_groups_and_the_date_columns(job):
    stats = {(s.position, s.kind): s for s in ColumnStats.objects.filter(job=job)}

    assert set(stats) == {(1, "groups"), (2, "groups"), (3, "dates")}
    store = {e[0]: e[1:] for e in stats[1, "groups"].entries}
    assert store["B"][:4] == [3, 1, 0, 2]  # count, positive, neutral, negative
    assert store["B"][4] == pytest.approx(-1.1)
    dates = stats[3, "dates"]
    assert dates.undated == 2
    days = ["2026-11-02", "2026-11-03", "2026-11-10", "2026-11-11", "2026-11-12"]
    assert [e[0] for e in dates.entries] == days


@pytest.mark.parametrize(
    ("values", "suggested"),
    [
        (["x", "y"] * 5, True),
        (["x"] * 10, False),  # one value: nothing to compare
        ([f"v{i}" for i in range(10)], False),  # every value once: an id, not a group
        ([f"v{i % 5}" for i in range(10)], True),  # each value twice
        ([f"v{i % 6}" for i in range(10)], False),  # six values in ten cells: more than half
    ],
)
def test_suggestion_needs_between_2_and_50_values_that_repeat(db, values, suggested):
    job = make_table_job(
        columns=["kind", "text"], rows=[[v, f"text {i}"] for i, v in enumerate(values)], compounds=[0.0] * 10
    )

    assert (columns_of(job).suggested == ["kind"]) is suggested


def test_a_column_of_over_50_values_is_not_suggested(db):
    rows = [[f"product {i % 60}", f"text {i}"] for i in range(180)]
    job = make_table_job(columns=["product", "text"], rows=rows, compounds=[0.1] * 180)

    assert columns_of(job).suggested == []
    assert not ColumnStats.objects.filter(job=job).exists()
    # Still groupable on request: the biggest MAX_GROUPS groups, flagged as truncated.
    groups = groups_of(job, "product")
    assert groups.truncated
    assert len(groups.groups) == breakdowns.MAX_GROUPS


def test_a_column_named_like_an_id_is_not_suggested(db):
    rows = [[str(i % 3), f"text {i}"] for i in range(12)]
    job = make_table_job(columns=["customer_id", "text"], rows=rows, compounds=[0.1] * 12)

    assert columns_of(job).suggested == []


def test_a_job_without_columns_has_nothing_to_break_down(db):
    job = make_table_job(columns=["text"], rows=[["one"], ["two"]], compounds=[0.1, 0.2])

    assert columns_of(job).groupable == []
    with pytest.raises(breakdowns.UnknownColumn):
        groups_of(job, "text")


# --- groups ---------------------------------------------------------------


def test_groups_are_sorted_by_the_share_negative_with_counts_and_mean(job):
    groups = groups_of(job, "store")

    assert [g.value for g in groups.groups] == ["B", "A", "C"]
    b, a, c = groups.groups
    assert (b.count, b.positive, b.neutral, b.negative) == (3, 1, 0, 2)
    assert b.share("negative") == pytest.approx(0.6667)
    assert b.mean_score == pytest.approx(-0.3667, abs=1e-4)
    assert (a.count, a.negative, c.negative) == (4, 1, 0)
    assert not groups.truncated


def test_stored_and_live_groups_agree(job):
    stored = groups_of(job, "stars")
    ColumnStats.objects.filter(job=job).delete()
    live = groups_of(job, "stars")

    assert stored == live
    assert [g.value for g in live.groups] == ["1", "2", "3", "4", "5"][:0] + [g.value for g in stored.groups]


def test_stored_groups_spare_the_results_table(job):
    with CaptureQueriesContext(connection) as queries:
        groups_of(job, "store")

    assert not any("web_result" in q["sql"] for q in queries.captured_queries)


def test_a_running_job_is_grouped_live(db):
    rows = [["A", "good"], ["B", "bad"], ["A", "fine"], ["B", "awful"]]
    job = make_table_job(
        columns=["shop", "text"], rows=rows, compounds=[0.5, -0.5, 0.2, -0.9], status=Job.Status.RUNNING
    )

    assert columns_of(job).suggested == ["shop"]
    assert [(g.value, g.count) for g in groups_of(job, "shop").groups] == [("B", 2), ("A", 2)]


def test_empty_cells_are_a_group_of_their_own(db):
    rows = [["A", "t1"], [None, "t2"], ["A", "t3"], [None, "t4"], ["B", "t5"], ["B", "t6"]]
    job = make_table_job(columns=["shop", "text"], rows=rows, compounds=[0.1] * 6)

    assert {g.value: g.count for g in groups_of(job, "shop").groups} == {"A": 2, None: 2, "B": 2}


# --- trends ---------------------------------------------------------------


def test_trend_buckets_by_span_and_fills_gaps(job):
    trend = trend_of(job, "date")

    assert trend.bucket == "day"  # 10 days
    assert trend.undated == 2
    assert [p.start for p in trend.points][:3] == [date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)]
    assert len(trend.points) == 11
    first = trend.points[0]
    assert (first.count, first.positive, first.mean_score) == (2, 2, pytest.approx(0.45))
    assert trend.points[2].count == 0
    assert trend.points[2].mean_score is None


def test_trend_by_week_and_month(job):
    weeks = trend_of(job, "date", "week")
    months = trend_of(job, "date", "month")

    assert [(p.start, p.count) for p in weeks.points] == [
        (date(2026, 11, 2), 4),
        (date(2026, 11, 9), 4),
    ]
    assert weeks.points[0].mean_score == pytest.approx(-0.075)
    assert [(p.start, p.count) for p in months.points] == [(date(2026, 11, 1), 8)]


def test_stored_and_live_trends_agree(job):
    stored = trend_of(job, "date", "week")
    ColumnStats.objects.filter(job=job).delete()

    assert trend_of(job, "date", "week") == stored


@pytest.mark.parametrize(
    ("values", "starts"),
    [
        (["2026년 11월 3일", "2026년 12월 1일"], [date(2026, 11, 3), date(2026, 12, 1)]),
        (["25/03/2026", "01/04/2026"], [date(2026, 3, 25), date(2026, 4, 1)]),
        (["2026. 11. 3.", "2027. 2. 1."], [date(2026, 11, 2), date(2027, 2, 1)]),  # 90 days: weeks
        (["46329", "46330"], [date(2026, 11, 3), date(2026, 11, 4)]),
        (["2026-11-03T10:00:00Z", "2026-11-04T23:59:59+09:00"], [date(2026, 11, 3), date(2026, 11, 4)]),
    ],
)
def test_trend_reads_each_format(db, values, starts):
    rows = [[v, f"text {i}"] for i, v in enumerate(values)]
    job = make_table_job(columns=["Review date", "text"], rows=rows, compounds=[0.1, -0.1])

    trend = trend_of(job, "Review date")

    assert [p.start for p in trend.points if p.count] == starts


def test_a_trend_needs_a_date_column(job):
    with pytest.raises(breakdowns.UnknownColumn) as raised:
        trend_of(job, "store")

    assert raised.value.allowed == ["date"]


# --- the job's end --------------------------------------------------------


def test_finalize_stores_the_breakdowns(db):
    texts = ["good soup", "bad bread", "fine tea", "awful cake", "nice rice", "poor wine"]
    rows = [[s, texts[i], f"2026-11-0{1 + i % 3}"] for i, s in enumerate("ABABAB")]
    job = make_table_job(
        columns=["shop", "text", "day"],
        rows=rows,
        compounds=[0.5, -0.5] * 3,
        status=Job.Status.RUNNING,
        chunks_total=0,
        chunks_done=0,
    )

    assert pipeline.job_finalize(job.pk)

    kinds = dict(ColumnStats.objects.filter(job=job).values_list("position", "kind"))
    assert kinds == {0: "groups", 2: "dates"}


# --- API ------------------------------------------------------------------


def test_api_groups(client, job):
    response = client.get(f"/api/jobs/{job.pk}/groups/?by=store")

    assert response.status_code == 200
    body = response.json()
    schema_check(client, "Groups", body)
    assert body["column"] == "store"
    assert body["suggested"] == ["store", "stars"]
    assert [g["value"] for g in body["groups"]] == ["B", "A", "C"]
    assert body["groups"][0] == {
        "value": "B",
        "count": 3,
        "positive": 1,
        "neutral": 0,
        "negative": 2,
        "shares": {"positive": 0.3333, "neutral": 0.0, "negative": 0.6667},
        "mean_score": -0.3667,
    }


@pytest.mark.parametrize("query", ["?by=nope", "", "?by=text", "?by="])
def test_api_groups_refuses_other_columns_listing_the_allowed(client, job, query):
    response = client.get(f"/api/jobs/{job.pk}/groups/{query}")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_column"
    assert "store, stars, id, date, note" in error["message"]


def test_api_trend(client, job):
    response = client.get(f"/api/jobs/{job.pk}/trend/?by=date&bucket=week")

    assert response.status_code == 200
    body = response.json()
    schema_check(client, "Trend", body)
    assert body["bucket"] == "week"
    assert body["buckets"] == ["day", "week", "month"]
    assert body["undated"] == 2
    assert body["points"][0] == {
        "start": "2026-11-02",
        "count": 4,
        "positive": 2,
        "neutral": 0,
        "negative": 2,
        "mean_score": -0.075,
    }
    assert client.get(f"/api/jobs/{job.pk}/trend/?by=date").json()["bucket"] == "day"


@pytest.mark.parametrize(
    ("query", "code", "listed"),
    [
        ("?by=store", "not_a_date_column", "date"),
        ("?by=nope", "unknown_column", "date"),
        ("", "unknown_column", "date"),
        ("?by=date&bucket=year", "invalid_bucket", "day, week, month"),
    ],
)
def test_api_trend_refuses_with_400_listing_what_is_allowed(client, job, query, code, listed):
    response = client.get(f"/api/jobs/{job.pk}/trend/{query}")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"].endswith(f"use one of: {listed}.")


@pytest.mark.parametrize("path", ["groups/?by=store", "trend/?by=date", "results/?group=A&by=store"])
def test_another_sessions_job_is_404(job, path):
    other = browser()
    owner_session(other)

    response = other.get(f"/api/jobs/{job.pk}/{path}")

    assert response.status_code == 404


def test_api_results_filter_by_group(client, job):
    response = client.get(f"/api/jobs/{job.pk}/results/?group=B&by=store")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [r["idx"] for r in body["results"]] == [4, 5, 6]
    negative = client.get(f"/api/jobs/{job.pk}/results/?group=B&by=store&label=negative").json()
    assert (negative["count"], [r["idx"] for r in negative["results"]]) == (2, [4, 5])


def test_api_results_group_defaults_to_the_jobs_grouping(client, job):
    assert client.get(f"/api/jobs/{job.pk}/results/?group=B").status_code == 400
    Job.objects.filter(pk=job.pk).update(group_by="stars")

    body = client.get(f"/api/jobs/{job.pk}/results/?group=5").json()

    assert [r["idx"] for r in body["results"]] == [0, 7, 8]


def test_api_results_group_of_an_unknown_column_is_400(client, job):
    response = client.get(f"/api/jobs/{job.pk}/results/?group=B&by=nope")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_column"


def test_stored_counts_answer_the_filtered_counts(client, job):
    with CaptureQueriesContext(connection) as queries:
        body = client.get(f"/api/jobs/{job.pk}/results/?group=B&by=store&label=negative").json()

    assert body["count"] == 2
    assert not any("COUNT(" in q["sql"] for q in queries.captured_queries)


def test_submit_keeps_group_by(client):
    response = post_json(client, "/api/jobs/", {"texts": ["fine"], "group_by": " store "})

    assert response.status_code == 202
    assert Job.objects.get(pk=response.json()["id"]).group_by == "store"


@pytest.mark.parametrize("group_by", [5, ["store"], "x" * 256])
def test_submit_refuses_a_group_by_that_is_no_column_name(client, group_by):
    response = post_json(client, "/api/jobs/", {"texts": ["fine"], "group_by": group_by})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_group_by"
    assert not Job.objects.exists()


def test_upload_keeps_group_by(client):
    upload = SimpleUploadedFile("r.csv", b"shop,text\nA,good\n", content_type="text/csv")
    response = client.post(
        "/api/jobs/",
        {"file": upload, "group_by": "shop"},
        headers={"X-CSRFToken": csrf_token(client)},
    )

    assert response.status_code == 202, response.content
    assert Job.objects.get(pk=response.json()["id"]).group_by == "shop"


# --- the page -------------------------------------------------------------


def test_page_offers_the_columns_suggested_first(client, job):
    html = client.get(f"/jobs/{job.pk}/").content.decode()

    assert 'id="group-form"' in html
    options = re.findall(r'<option value="([^"]*)"', html.split('id="group-by"')[1].split("</select>")[0])
    assert options == ["", "store", "stars", "id", "date", "note"]
    assert 'id="group-chart"' not in html


def test_choosing_a_grouping_on_the_page_shows_the_group_chart(client, job):
    response = group_post(client, job, "store")

    assert response.status_code == 303
    assert response["Location"] == f"/jobs/{job.pk}/#groups"
    job.refresh_from_db()
    assert job.group_by == "store"
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    chart = html.split('id="group-chart"')[1].split("</figure>")[0]
    assert re.findall(r'class="group-link" href="([^"]+)"', chart) == [
        "?group=B#results",
        "?group=A#results",
        "?group=C#results",
    ]
    assert chart.count('class="bar bar-negative"') == 2  # C has no negative text


def group_post(client, job, column: str):
    return client.post(
        f"/jobs/{job.pk}/group/", {"group_by": column, "csrfmiddlewaretoken": csrf_token(client)}
    )


@pytest.mark.parametrize(("owner", "status"), [(True, 303), (False, 404)])
def test_a_grouping_by_an_unknown_column_or_from_another_session_is_ignored(client, job, owner, status):
    if not owner:
        client = browser()
        owner_session(client)

    response = group_post(client, job, "nope" if owner else "store")

    assert response.status_code == status
    job.refresh_from_db()
    assert job.group_by == ""


def test_a_group_chosen_at_submit_that_the_file_lacks_is_ignored(client, job):
    Job.objects.filter(pk=job.pk).update(group_by="branch")

    html = client.get(f"/jobs/{job.pk}/").content.decode()

    assert 'id="group-chart"' not in html
    assert 'id="group-form"' in html


def test_clicking_a_group_filters_the_results_table(client, job):
    Job.objects.filter(pk=job.pk).update(group_by="store")

    html = client.get(f"/jobs/{job.pk}/?group=B").content.decode()

    assert 'id="group-filter"' in html
    table = html.split('class="results"')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + 3  # the header row and group B's three
    assert "review number 4" in table
    assert "review number 0" not in table
    assert "Showing 1–3 of 3 matching results." in html


def test_page_draws_the_trend_chart(client, job):
    html = client.get(f"/jobs/{job.pk}/").content.decode()

    trend = html.split('id="trend"')[1]
    counts = trend.split('id="trend-counts"')[1].split("</figure>")[0]
    # One bar per label on each of the 5 days with texts: 11-10 has a neutral and a negative text.
    assert counts.count("<rect") == 6
    assert "2026-11-02" in counts and "2026-11-12" in counts
    score = trend.split('id="trend-score"')[1].split("</figure>")[0]
    assert score.count("<circle") == 5
    assert re.search(r'<polyline class="trend-line" points="[\d., ]+"', score)
    assert "2 texts have no date." in trend


def test_page_trend_by_month(client, job):
    html = client.get(f"/jobs/{job.pk}/?trend=date&bucket=month").content.decode()

    assert '<option value="month" selected>' in html
    assert html.split('id="trend-score"')[1].split("</figure>")[0].count("<circle") == 1


def test_a_running_jobs_page_draws_no_breakdowns(client):
    job = make_table_job(
        columns=["shop", "text"],
        rows=[["A", "good"], ["A", "bad"]],
        compounds=[0.5, -0.5],
        status=Job.Status.RUNNING,
        session_key=owner_session(client),
    )

    html = client.get(f"/jobs/{job.pk}/").content.decode()

    assert 'id="groups"' not in html
    assert 'id="trend"' not in html


def test_the_submit_form_takes_a_column_to_group_by(client):
    upload = SimpleUploadedFile("r.csv", b"shop,text\nA,good\n", content_type="text/csv")
    response = client.post(
        "/jobs/",
        {"file": upload, "group_by": "shop", "analyzer": "vader", "csrfmiddlewaretoken": csrf_token(client)},
    )

    assert response.status_code == 303
    assert Job.objects.get().group_by == "shop"


def test_groups_api_body_is_json_serializable_for_empty_cells(client, db):
    rows = [["A", "t1"], [None, "t2"], ["A", "t3"], [None, "t4"]]
    job = make_table_job(
        columns=["shop", "text"], rows=rows, compounds=[0.1] * 4, session_key=owner_session(client)
    )

    body = client.get(f"/api/jobs/{job.pk}/groups/?by=shop").json()

    assert json.dumps(body)
    assert {g["value"] for g in body["groups"]} == {"A", None}


# --- paging a big job -----------------------------------------------------


def paged_job(client, n: int, *, idxs=None) -> Job:
    """A finished job of n results whose texts say their idx (idx 0..n-1, or `idxs`)."""

    job = make_job(texts=["x"] * n, status=Job.Status.SUCCEEDED, session_key=owner_session(client))
    make_results(job, [f"text {i}" for i in range(n)])
    if idxs is not None:
        for result, idx in zip(job.results.order_by("-idx"), sorted(idxs, reverse=True), strict=True):
            job.results.filter(pk=result.pk).update(idx=idx)
    return job


def shown_texts(html: str) -> list[str]:
    table = html.split('class="results"')[1].split("</table>")[0]
    return re.findall(r'<td class="text">([^<]*)</td>', table)


def test_input_order_pages_by_idx_however_deep(client):
    job = paged_job(client, 120)

    with CaptureQueriesContext(connection) as queries:
        html = client.get(f"/jobs/{job.pk}/?page=3").content.decode()

    assert shown_texts(html) == [f"text {i}" for i in range(100, 120)]
    page_query = next(q["sql"] for q in queries.captured_queries if "LIMIT 50" in q["sql"])
    assert "OFFSET" not in page_query
    assert '"idx" >= 100' in page_query


def test_results_with_gaps_in_idx_page_by_offset(client):
    # idx 0..59, then 70..129: a row skipped in the middle (results keep the input's idx).
    job = paged_job(client, 120, idxs=[*range(60), *range(70, 130)])

    html = client.get(f"/jobs/{job.pk}/?page=3").content.decode()

    assert shown_texts(html) == [f"text {i}" for i in range(100, 120)]


def test_sorted_and_filtered_views_stop_at_max_pages(client, monkeypatch):
    monkeypatch.setattr(views, "MAX_PAGES", 2)
    job = paged_job(client, 260)

    sorted_page = client.get(f"/jobs/{job.pk}/?sort=compound&page=9").content.decode()
    search = client.get(f"/jobs/{job.pk}/?q=text").content.decode()
    plain = client.get(f"/jobs/{job.pk}/?page=6").content.decode()

    assert "Page 2 of 2" in sorted_page
    assert 'id="pages-capped"' in sorted_page
    assert "Showing 1–50 of more than 100 matching results." in search
    assert 'id="pages-capped"' in search
    assert "Page 6 of 6" in plain
    assert 'id="pages-capped"' not in plain


def test_a_failed_job_keeps_the_breakdowns_of_what_it_analyzed(db):
    texts = ["good soup", "bad bread", "fine tea", "awful cake", "nice rice", "poor wine"]
    rows = [[s, texts[i]] for i, s in enumerate("ABABAB")]
    job = make_table_job(
        columns=["shop", "text"], rows=rows, compounds=[0.5, -0.5] * 3, status=Job.Status.RUNNING
    )

    assert pipeline.job_fail(job.pk, code="input_error", message="row 8: no text")

    assert list(ColumnStats.objects.filter(job=job).values_list("position", "kind")) == [(0, "groups")]
