"""worker/pipeline.py in-process, against the real Postgres: results, summary, exactly-once, resume."""

import statistics

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tests.builders import make_job, make_results, vader
from web import services
from web.models import Job, JobInput, Result
from worker import pipeline
from worker.analyzers import Scores, get_analyzer, label_for
from worker.tasks import job_run

# Commits matter here: the pipeline's own transactions and row locks must really commit.
pytestmark = pytest.mark.django_db(transaction=True)

REFERENCE = SentimentIntensityAnalyzer()

TEXTS = [
    "I love this, it is wonderful!",
    "This is terrible and I hate it.",
    "The box is brown.",
    "Not bad at all :)",
    "The WORST service EVER!!!",
    "Great value 😀",
    "It arrived.",
]


def scores_with(*compounds: float) -> list[Scores]:
    return [Scores(compound=c, pos=0.0, neu=1.0, neg=0.0) for c in compounds]


def running_job(texts=TEXTS, **overrides) -> Job:
    return make_job(texts=texts, status=Job.Status.RUNNING, **overrides)


@pytest.fixture
def analyze_calls(monkeypatch):
    """Record every batch the shared VADER instance is asked to analyze."""
    analyzer = get_analyzer("vader")
    real = analyzer.analyze
    calls: list[list[str]] = []

    def spy(texts):
        calls.append(list(texts))
        return real(texts)

    monkeypatch.setattr(analyzer, "analyze", spy)
    return calls


# --- a whole job ----------------------------------------------------------


def test_job_process_stores_one_result_per_text_with_exact_scores():
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk, chunk_size=3)

    results = list(Result.objects.filter(job=job).order_by("idx"))
    assert [r.idx for r in results] == list(range(len(TEXTS)))
    assert [r.text for r in results] == TEXTS
    for r, text in zip(results, TEXTS, strict=True):
        expected = REFERENCE.polarity_scores(text)
        assert (r.compound, r.pos, r.neu, r.neg) == (
            expected["compound"],
            expected["pos"],
            expected["neu"],
            expected["neg"],
        )
        assert r.label == label_for(expected["compound"])


def test_job_process_marks_the_job_succeeded():
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk, chunk_size=3)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.done == job.total == len(TEXTS)
    assert job.attempts == 1
    assert job.started_at is not None
    assert job.finished_at is not None and job.finished_at >= job.started_at
    assert job.error_code == "" and job.error_message == ""


def test_job_process_counts_an_uncounted_input():
    job = make_job(texts=TEXTS, total=None)

    pipeline.job_process(job.pk)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.total == job.done == len(TEXTS)


def test_job_process_analyzes_in_chunks_of_the_given_size(analyze_calls):
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk, chunk_size=3)

    assert analyze_calls == [TEXTS[0:3], TEXTS[3:6], TEXTS[6:7]]


def test_job_process_uses_the_chunk_size_setting(analyze_calls, sentimeter_settings):
    sentimeter_settings["CHUNK_SIZE"] = 4
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk)

    assert analyze_calls == [TEXTS[0:4], TEXTS[4:7]]


# --- summary --------------------------------------------------------------


def test_summary_counts_labels_and_mean():
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk, chunk_size=2)

    summary = Job.objects.get(pk=job.pk).summary
    compounds = [REFERENCE.polarity_scores(t)["compound"] for t in TEXTS]
    labels = [label_for(c) for c in compounds]
    assert summary["count"] == len(TEXTS)
    assert summary["positive"] == labels.count("positive")
    assert summary["neutral"] == labels.count("neutral")
    assert summary["negative"] == labels.count("negative")
    assert summary["positive"] + summary["neutral"] + summary["negative"] == len(TEXTS)
    assert summary["mean_compound"] == pytest.approx(statistics.fmean(compounds), abs=1e-4)


def test_summary_histogram_has_20_bins_covering_minus_one_to_one():
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk)

    histogram = Job.objects.get(pk=job.pk).summary["histogram"]
    assert len(histogram) == 20
    assert histogram[0]["start"] == -1.0
    assert histogram[-1]["end"] == 1.0
    for i, b in enumerate(histogram):
        assert b["start"] == pytest.approx(-1.0 + i * 0.1)
        assert b["end"] == pytest.approx(-1.0 + (i + 1) * 0.1)
    assert sum(b["count"] for b in histogram) == len(TEXTS)


def test_summary_histogram_puts_the_extremes_in_the_edge_bins():
    job = running_job(texts=["a", "b", "c", "d", "e"])
    pipeline.results_store(
        job_id=job.pk,
        start=0,
        texts=["a", "b", "c", "d", "e"],
        scores=scores_with(1.0, -1.0, 0.999, -0.999, 0.0),
    )

    summary = pipeline.summary_compute(job.pk)

    counts = [b["count"] for b in summary["histogram"]]
    assert counts[0] == 2
    assert counts[19] == 2
    assert counts[10] == 1
    assert sum(counts) == summary["count"] == 5
    assert summary["mean_compound"] == 0.0
    assert (summary["positive"], summary["neutral"], summary["negative"]) == (2, 1, 2)


@pytest.mark.parametrize("compound", [-0.94, -0.74, 0.07, 0.68])
def test_summary_histogram_bin_contains_its_compound(compound):
    job = running_job(texts=["a"])
    pipeline.results_store(job_id=job.pk, start=0, texts=["a"], scores=scores_with(compound))

    histogram = pipeline.summary_compute(job.pk)["histogram"]

    [counted] = [b for b in histogram if b["count"]]
    assert counted["start"] <= compound < counted["end"]


def test_summary_of_a_job_without_results():
    job = running_job(texts=["a"])

    summary = pipeline.summary_compute(job.pk)

    assert summary["count"] == 0
    assert summary["mean_compound"] is None
    assert [b["count"] for b in summary["histogram"]] == [0] * 20


# --- exactly once ---------------------------------------------------------


def test_results_store_twice_stores_the_chunk_once():
    job = running_job()
    chunk = TEXTS[:3]

    first = pipeline.results_store(job_id=job.pk, start=0, texts=chunk, scores=vader(chunk))
    second = pipeline.results_store(job_id=job.pk, start=0, texts=chunk, scores=vader(chunk))

    assert (first, second) == (3, 0)
    assert Result.objects.filter(job=job).count() == 3
    assert Job.objects.get(pk=job.pk).done == 3


def test_results_store_with_an_overlapping_chunk_counts_only_new_rows():
    job = running_job()

    pipeline.results_store(job_id=job.pk, start=0, texts=TEXTS[0:3], scores=vader(TEXTS[0:3]))
    added = pipeline.results_store(job_id=job.pk, start=2, texts=TEXTS[2:5], scores=vader(TEXTS[2:5]))

    assert added == 2
    assert Job.objects.get(pk=job.pk).done == Result.objects.filter(job=job).count() == 5
    assert list(Result.objects.filter(job=job).values_list("idx", flat=True)) == [0, 1, 2, 3, 4]


def test_results_store_keeps_the_first_stored_row():
    job = running_job()
    pipeline.results_store(job_id=job.pk, start=0, texts=TEXTS[:1], scores=scores_with(0.5))

    pipeline.results_store(job_id=job.pk, start=0, texts=TEXTS[:1], scores=scores_with(-0.5))

    assert Result.objects.get(job=job, idx=0).compound == 0.5


def test_job_process_twice_is_harmless():
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=3)
    before = Job.objects.get(pk=job.pk)
    rows_before = list(Result.objects.filter(job=job).values_list("idx", "compound"))

    pipeline.job_process(job.pk, chunk_size=3)

    after = Job.objects.get(pk=job.pk)
    assert after.status == Job.Status.SUCCEEDED
    assert (after.done, after.attempts, after.finished_at, after.summary) == (
        before.done,
        before.attempts,
        before.finished_at,
        before.summary,
    )
    assert list(Result.objects.filter(job=job).values_list("idx", "compound")) == rows_before


def test_done_equals_the_result_count_after_every_chunk(monkeypatch):
    job = make_job(texts=TEXTS)
    observed = []
    real_store = pipeline.results_store

    def store_and_observe(**kwargs):
        stored = real_store(**kwargs)
        observed.append((Job.objects.get(pk=job.pk).done, Result.objects.filter(job=job).count()))
        return stored

    monkeypatch.setattr(pipeline, "results_store", store_and_observe)

    pipeline.job_process(job.pk, chunk_size=2)

    assert observed == [(2, 2), (4, 4), (6, 6), (7, 7)]


# --- resume ---------------------------------------------------------------


@pytest.mark.parametrize("status", [Job.Status.QUEUED, Job.Status.RUNNING])
def test_job_process_resumes_after_the_last_committed_chunk(analyze_calls, status):
    job = running_job()
    # Two chunks were committed before the worker died (scores marked so a redo would show).
    pipeline.results_store(job_id=job.pk, start=0, texts=TEXTS[0:2], scores=scores_with(0.9, 0.9))
    pipeline.results_store(job_id=job.pk, start=2, texts=TEXTS[2:4], scores=scores_with(0.9, 0.9))
    Job.objects.filter(pk=job.pk).update(status=status)

    pipeline.job_process(job.pk, chunk_size=2)

    assert analyze_calls == [TEXTS[4:6], TEXTS[6:7]]
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.done == Result.objects.filter(job=job).count() == len(TEXTS)
    assert job.attempts == 1
    stored = list(Result.objects.filter(job=job).order_by("idx").values_list("compound", flat=True))
    assert stored[:4] == [0.9] * 4
    assert stored[4:] == [REFERENCE.polarity_scores(t)["compound"] for t in TEXTS[4:]]
    assert job.summary["count"] == len(TEXTS)


def test_job_process_resumes_with_a_different_chunk_size(analyze_calls):
    job = running_job()
    pipeline.results_store(job_id=job.pk, start=0, texts=TEXTS[0:3], scores=scores_with(0.1, 0.1, 0.1))

    pipeline.job_process(job.pk, chunk_size=2)

    assert analyze_calls == [TEXTS[3:5], TEXTS[5:7]]
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


def test_job_process_keeps_the_first_start_time_when_resuming():
    job = make_job(texts=TEXTS)
    pipeline.job_claim(job.pk)
    first_start = Job.objects.get(pk=job.pk).started_at

    pipeline.job_process(job.pk)

    job.refresh_from_db()
    assert job.started_at == first_start
    assert job.attempts == 2


# --- cancel ---------------------------------------------------------------


def test_results_store_on_a_canceled_job_stores_nothing():
    job = running_job()
    pipeline.results_store(job_id=job.pk, start=0, texts=TEXTS[0:2], scores=vader(TEXTS[0:2]))
    services.job_cancel(job=job)

    with pytest.raises(pipeline.JobStopped):
        pipeline.results_store(job_id=job.pk, start=2, texts=TEXTS[2:4], scores=vader(TEXTS[2:4]))

    assert Result.objects.filter(job=job).count() == 2
    assert Job.objects.get(pk=job.pk).done == 2


def test_job_finalize_does_not_finish_a_canceled_job():
    job = running_job(texts=TEXTS[:2])
    pipeline.results_store(job_id=job.pk, start=0, texts=TEXTS[:2], scores=vader(TEXTS[:2]))
    services.job_cancel(job=job)

    assert pipeline.job_finalize(job.pk) is False

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert job.summary is None


def test_job_finalize_finishes_a_complete_running_job():
    job = running_job(texts=TEXTS[:2])
    pipeline.results_store(job_id=job.pk, start=0, texts=TEXTS[:2], scores=vader(TEXTS[:2]))

    assert pipeline.job_finalize(job.pk) is True
    assert pipeline.job_finalize(job.pk) is False

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.summary["count"] == 2


def test_job_finalize_refuses_an_incomplete_job():
    job = running_job()
    pipeline.results_store(job_id=job.pk, start=0, texts=TEXTS[:2], scores=vader(TEXTS[:2]))

    with pytest.raises(RuntimeError, match="2 results stored, 7 expected"):
        pipeline.job_finalize(job.pk)

    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING


def test_cancel_during_processing_stops_at_the_chunk_boundary(monkeypatch):
    job = make_job(texts=TEXTS)
    analyzer = get_analyzer("vader")
    real = analyzer.analyze
    calls = []

    def analyze_then_cancel(texts):
        calls.append(list(texts))
        if len(calls) == 2:
            services.job_cancel(job=Job.objects.get(pk=job.pk))
        return real(texts)

    monkeypatch.setattr(analyzer, "analyze", analyze_then_cancel)

    pipeline.job_process(job.pk, chunk_size=2)

    assert len(calls) == 2
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert job.summary is None
    assert job.done == Result.objects.filter(job=job).count() == 2


def test_job_process_on_a_canceled_job_does_nothing(analyze_calls):
    job = make_job(texts=TEXTS, status=Job.Status.CANCELED)

    pipeline.job_process(job.pk)

    assert analyze_calls == []
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert job.attempts == 0
    assert not Result.objects.filter(job=job).exists()


def test_job_fail_does_not_overwrite_a_finished_job():
    job = make_job(status=Job.Status.SUCCEEDED)

    assert pipeline.job_fail(job.pk, code="x", message="y") is False
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


# --- the RQ job function --------------------------------------------------


def test_job_run_processes_a_job():
    job = make_job(texts=TEXTS)

    job_run(str(job.pk))

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.done == len(TEXTS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"this is not json", "not valid JSON", id="not-json"),
        pytest.param(b"\x80\x81 broken", "not valid JSON", id="not-utf8"),
        pytest.param(b"", "not valid JSON", id="empty"),
        pytest.param(b'{"texts": ["a"]}', "not a list of texts", id="an-object"),
        pytest.param(b'["fine", 5]', "not a list of texts", id="a-number-inside"),
    ],
)
def test_job_run_fails_a_job_with_corrupt_input_readably(data, message):
    job = make_job(texts=["ignored"], data=data)

    job_run(str(job.pk))

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error_code == "invalid_input"
    assert message in job.error_message
    assert "please submit" in job.error_message
    assert "Traceback" not in job.error_message
    assert 'File "' not in job.error_message
    assert job.finished_at is not None
    assert not Result.objects.filter(job=job).exists()


def test_job_run_fails_a_job_whose_input_is_missing():
    job = make_job(texts=["ignored"])
    JobInput.objects.filter(job=job).delete()

    job_run(str(job.pk))

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error_code == "input_missing"
    assert "submit it again" in job.error_message


def test_job_run_leaves_a_finished_job_alone():
    job = make_job(texts=TEXTS[:1], status=Job.Status.SUCCEEDED)
    make_results(job, TEXTS[:1])

    job_run(str(job.pk))

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.attempts == 0
    assert job.error_code == ""
