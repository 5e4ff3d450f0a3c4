"""worker/pipeline.py in-process, against the real Postgres: results, summary, fan-out, exactly-once, resume.

No worker runs here: a chunk job is run by calling `chunk_process` directly,
taking its RQ job off the bulk queue first as a worker would (`chunk_take`).
tests/test_fanout.py runs the same pipeline in real worker processes.
"""

import ast
import csv
import io
import logging
import re
import statistics
import threading
from pathlib import Path

import pytest
from django.db import OperationalError, connections, transaction
from rq import Worker
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tests.builders import SAMPLE_TEXTS, make_job, make_results, vader, vader_scores
from tests.workerjobs import chunk_take
from web import services
from web.models import Job, JobChunk, JobInput, Result
from worker import pipeline, split
from worker.analyzers.base import Scores
from worker.analyzers.registry import get_analyzer
from worker.analyzers.vader import BAND as VADER_BAND
from worker.analyzers.vader import SPEC as VADER_SPEC
from worker.chunking import TAIL_SHRINK
from worker.exceptions import JobStopped
from worker.fanout import chunks_refill, chunks_window
from worker.queues import BULK, chunk_rq_id, get_queue, get_redis
from worker.results import results_copy, results_store
from worker.summary import summary_compute
from worker.tasks import chunk_run, job_run

# Commits matter here: the pipeline's own transactions and row locks must really commit.
pytestmark = pytest.mark.django_db(transaction=True)

REFERENCE = SentimentIntensityAnalyzer()

TEXTS = SAMPLE_TEXTS
ALL = list(range(len(TEXTS)))
# How a job is run end to end: inline (it fits one chunk) or fanned out into chunks of 3.
MODES = ("inline", "fanout")
CSV_OPTIONS = {
    "encoding": "utf-8",
    "delimiter": ",",
    "column": "review",
    "column_index": 1,
    "has_header": True,
}


def scores_with(*compounds: float) -> list[Scores]:
    return [vader_scores(c, pos=0.0, neu=1.0, neg=0.0) for c in compounds]


def running_job(texts=TEXTS, **overrides) -> Job:
    """A job a worker has claimed and counted, to be processed inline (no chunks)."""
    return make_job(texts=texts, status=Job.Status.RUNNING, chunks_total=0, **overrides)


def store(job: Job, idxs: list[int], scores: list[Scores] | None = None) -> int:
    texts = [TEXTS[i] for i in idxs]
    return results_store(
        job_id=job.pk, idxs=idxs, texts=texts, scores=vader(texts) if scores is None else scores
    )


def make_csv_job(data: bytes) -> Job:
    """A job whose input is an uploaded CSV with the texts in its `review` column."""
    job = make_job(texts=[], total=None, queue=BULK)
    JobInput.objects.filter(job=job).update(
        format=JobInput.Format.CSV, data=data, size=len(data), options=CSV_OPTIONS
    )
    return job


def chunk_statuses(job: Job) -> list[str]:
    return list(JobChunk.objects.filter(job=job).order_by("seq").values_list("status", flat=True))


def input_size(job: Job) -> int:
    return len(bytes(JobInput.objects.get(job=job).data))


def queued_seqs(job: Job) -> list[int]:
    chunks = JobChunk.objects.filter(job=job, status=JobChunk.Status.QUEUED).order_by("seq")
    return list(chunks.values_list("seq", flat=True))


def bulk_ids() -> list[str]:
    return get_queue(BULK).job_ids


def rq_ids(job: Job, seqs) -> list[str]:
    return [chunk_rq_id(str(job.pk), seq) for seq in seqs]


def chunks_drain(job: Job, *, pick=min) -> list[int]:
    """Run queued chunks one at a time (the `pick`ed one first) until none is queued; return their seqs."""
    ran: list[int] = []
    while seqs := queued_seqs(job):
        seq = pick(seqs)
        assert seq not in ran, f"chunk {seq} is still queued after it ran"
        chunk_take(job, seq)
        ran.append(seq)
    return ran


def job_run_mode(job: Job, mode: str) -> None:
    if mode == "inline":
        pipeline.job_process(job.pk)
    else:
        pipeline.job_process(job.pk, chunk_size=3)
        chunks_drain(job)


def stored(job: Job, *fields: str) -> list:
    rows = Result.objects.filter(job=job).order_by("idx")
    return list(rows.values_list(*fields, flat=True) if len(fields) == 1 else rows.values_list(*fields))


def assert_one_result_per_text(job: Job, texts=TEXTS) -> None:
    job.refresh_from_db()
    assert stored(job, "idx") == list(range(len(texts)))
    assert stored(job, "text") == list(texts)
    assert job.done == job.total == Result.objects.filter(job=job).count() == len(texts)


def run_concurrently(*calls) -> None:
    """Run each call in a thread of its own (its own DB connection), all inside analyze() at once.

    The shared analyzer waits until every thread is in it, so each has read
    its chunk as not done before any of them commits: a real race.
    """
    errors: list[BaseException] = []

    def target(call):
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


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


@pytest.fixture
def analyze_together(monkeypatch):
    """Make analyze() wait at a barrier: `analyze_together(n)` before starting n racing threads."""
    analyzer = get_analyzer("vader")
    real = analyzer.analyze

    def arm(parties: int) -> None:
        barrier = threading.Barrier(parties, timeout=30)

        def wait_then_analyze(texts):
            barrier.wait()
            return real(texts)

        monkeypatch.setattr(analyzer, "analyze", wait_then_analyze)

    return arm


# --- a whole job ----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_job_stores_one_result_per_text_with_exact_scores(mode):
    job = make_job(texts=TEXTS)

    job_run_mode(job, mode)

    results = list(Result.objects.filter(job=job).order_by("idx"))
    assert [r.idx for r in results] == ALL
    assert [r.text for r in results] == TEXTS
    for r, text in zip(results, TEXTS, strict=True):
        expected = REFERENCE.polarity_scores(text)
        assert (r.compound, r.pos, r.neu, r.neg) == (
            expected["compound"],
            expected["pos"],
            expected["neu"],
            expected["neg"],
        )
        assert r.label == VADER_BAND.label(expected["compound"])


@pytest.mark.parametrize(("mode", "chunks"), [("inline", 0), ("fanout", 3)])
def test_job_is_marked_succeeded(mode, chunks):
    job = make_job(texts=TEXTS)

    job_run_mode(job, mode)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.done == job.total == len(TEXTS)
    assert job.chunks_done == job.chunks_total == chunks
    assert job.percent == 100.0
    assert job.attempts == 1
    assert job.started_at is not None
    assert job.finished_at is not None and job.finished_at >= job.started_at
    assert job.error_code == "" and job.error_message == ""
    assert job.summary["count"] == len(TEXTS)


@pytest.mark.parametrize("mode", MODES)
def test_job_process_counts_an_uncounted_input(mode):
    job = make_job(texts=TEXTS, total=None)

    job_run_mode(job, mode)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.total == job.done == len(TEXTS)


def test_a_job_that_fits_one_chunk_is_analyzed_inline_in_one_batch(analyze_calls):
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk)

    assert analyze_calls == [TEXTS]
    assert not JobChunk.objects.filter(job=job).exists()
    assert bulk_ids() == []
    assert Job.objects.get(pk=job.pk).chunks_total == 0


def test_exactly_one_full_chunk_is_still_inline(analyze_calls):
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk, chunk_size=len(TEXTS))

    assert analyze_calls == [TEXTS]
    assert not JobChunk.objects.filter(job=job).exists()
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


def test_a_bigger_job_is_split_into_chunks_and_analyzes_nothing_itself(analyze_calls):
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk, chunk_size=3)

    assert analyze_calls == []
    chunks = list(JobChunk.objects.filter(job=job).order_by("seq"))
    assert [c.seq for c in chunks] == [0, 1, 2]
    assert [c.size for c in chunks] == [3, 3, 1]
    assert [(c.idx_first, c.idx_last) for c in chunks] == [(0, 2), (3, 5), (6, 6)]
    job.refresh_from_db()
    assert (job.status, job.total, job.chunks_total, job.chunks_done, job.done) == (
        Job.Status.RUNNING,
        len(TEXTS),
        3,
        0,
        0,
    )
    assert job.summary is None
    assert not Result.objects.filter(job=job).exists()


def test_each_chunk_is_analyzed_once_in_one_batch(analyze_calls):
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=3)

    chunks_drain(job)

    assert analyze_calls == [TEXTS[0:3], TEXTS[3:6], TEXTS[6:7]]
    assert chunk_statuses(job) == [JobChunk.Status.DONE] * 3


def test_each_stored_chunk_logs_the_cpu_of_its_steps(caplog):
    # bench_throughput.py sums these lines to show where a big job's time goes.
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=4)

    with caplog.at_level(logging.INFO, logger="worker.pipeline"):
        chunks_drain(job)

    lines = [r.getMessage() for r in caplog.records if "stored," in r.getMessage()]
    pattern = (
        rf"job {job.pk}: chunk (\d) stored, (\d) texts; "
        r"cpu s: load \d+\.\d{3}, analyze \d+\.\d{3}, store \d+\.\d{3}, refill \d+\.\d{3}"
    )
    assert [re.fullmatch(pattern, line).groups() for line in lines] == [("0", "4"), ("1", "3")]


def test_the_chunk_size_setting_splits_the_job(analyze_calls, sentimeter_settings):
    sentimeter_settings["CHUNK_SIZE"] = 4
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk)
    chunks_drain(job)

    assert analyze_calls == [TEXTS[0:4], TEXTS[4:7]]
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


def test_the_chunk_seconds_setting_splits_the_job(sentimeter_settings):
    # A chunk closes once it holds CHUNK_SECONDS of analysis, as VADER's cost model estimates it.
    sentimeter_settings["CHUNK_SECONDS"] = VADER_COST.seconds_for(len(TEXTS[0])) + VADER_COST.seconds_for(
        len(TEXTS[1])
    )
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk)

    sizes = list(JobChunk.objects.filter(job=job).order_by("seq").values_list("size", flat=True))
    assert sizes[0] == 2
    assert len(sizes) > 1 and sum(sizes) == len(TEXTS)


def test_long_texts_weigh_more_so_a_chunk_of_them_holds_fewer(sentimeter_settings):
    # VADER's time per character grows with a text's length: so does its estimate.
    long_text, short_text = "The battery is great. " * 45, "Great battery."
    per_char = VADER_COST.per_unit
    assert VADER_COST.seconds_for(len(long_text)) > 2 * len(long_text) * per_char
    assert VADER_COST.seconds_for(len(short_text)) < 1.1 * len(short_text) * per_char
    sentimeter_settings["CHUNK_SECONDS"] = 10 * VADER_COST.seconds_for(len(long_text))
    long_job = make_job(texts=[long_text] * 30, queue=BULK, total=None)
    short_job = make_job(texts=[short_text] * 3000, queue=BULK, total=None)

    pipeline.job_process(long_job.pk)
    pipeline.job_process(short_job.pk)

    # By characters alone a chunk of the long texts would hold more than twice as many.
    assert chunk_sizes(long_job) == [10, 10, 10]
    per_short_chunk = int(
        10 * VADER_COST.seconds_for(len(long_text)) // VADER_COST.seconds_for(len(short_text))
    )
    assert chunk_sizes(short_job)[0] in (per_short_chunk, per_short_chunk + 1)


def test_the_chunk_seconds_argument_wins_over_the_setting():
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk, chunk_seconds=1e-9)  # every text fills a chunk

    assert list(JobChunk.objects.filter(job=job).order_by("seq").values_list("size", flat=True)) == [1] * 7


# Texts of one length, so chunk sizes in texts follow the characters bound exactly.
VADER_COST = VADER_SPEC.cost
EVEN_TEXTS = [f"Review {i:04d}: the battery is great, but the screen is a bit dim." for i in range(400)]


def workers_running(count: int) -> None:
    """Register `count` RQ workers in Redis, as running Procfile workers would be."""
    for i in range(count):
        Worker([get_queue(BULK)], connection=get_redis(), name=f"tail-test-{i}").register_birth()


def chunk_sizes(job: Job) -> list[int]:
    return list(JobChunk.objects.filter(job=job).order_by("seq").values_list("size", flat=True))


def assert_tail_shrinks(sizes: list[int], *, full: int, total: int) -> None:
    """Full chunks first, then smaller and smaller ones down to full / TAIL_SHRINK; every text once."""
    assert sum(sizes) == total
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[:4] == [full] * 4
    assert sizes[-2] <= -(-full // TAIL_SHRINK) < full
    assert min(sizes[:-1]) >= full // TAIL_SHRINK


def test_with_several_workers_the_last_chunks_are_smaller(sentimeter_settings):
    # 400 texts, 40 a chunk: ten chunks for one worker; with two, the last ones shrink
    # so that neither waits long for the other at the end.
    sentimeter_settings["CHUNK_SECONDS"] = 40 * VADER_COST.seconds_for(len(EVEN_TEXTS[0]))
    workers_running(2)
    job = make_job(texts=EVEN_TEXTS, queue=BULK, total=None)

    pipeline.job_process(job.pk)
    chunks_drain(job)

    assert_tail_shrinks(chunk_sizes(job), full=40, total=400)
    assert_one_result_per_text(job, EVEN_TEXTS)
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


def test_the_tail_of_long_texts_is_measured_in_their_weight(sentimeter_settings):
    # What is left is counted in characters; chunks in seconds, 2.65 times a character's
    # for these texts. Scaled alike, chunks shrink once unread x 2.65 / (2 x 2 workers) is
    # under a chunk: within the last 40 texts. In characters alone: within the last 106.
    text = "The battery is great. " * 45
    weight = VADER_COST.seconds_for(len(text))
    sentimeter_settings["CHUNK_SECONDS"] = 10 * weight
    workers_running(2)
    job = make_job(texts=[text] * 200, queue=BULK, total=None)

    pipeline.job_process(job.pk)

    sizes = chunk_sizes(job)
    assert sum(sizes) == 200
    assert sizes[:17] == [10] * 17, sizes
    assert sizes[17] < 10, sizes


@pytest.mark.parametrize("workers", [0, 1])
def test_with_one_worker_every_chunk_but_the_last_is_full(sentimeter_settings, workers):
    sentimeter_settings["CHUNK_SECONDS"] = 40 * VADER_COST.seconds_for(len(EVEN_TEXTS[0]))
    workers_running(workers)
    job = make_job(texts=EVEN_TEXTS[:390], queue=BULK, total=None)

    pipeline.job_process(job.pk)

    assert chunk_sizes(job) == [40] * 9 + [30]


def test_the_last_chunks_of_an_upload_are_smaller_too(sentimeter_settings):
    # A file's unread part is counted in bytes as it streams in (InputReader.unread).
    texts = [f"{text} ({i})" for i in range(10) for text in EVEN_TEXTS]
    out = io.StringIO()
    csv.writer(out).writerows([("id", "review"), *enumerate(texts)])
    data = out.getvalue().encode()
    per_chunk = 400
    sentimeter_settings["CHUNK_SECONDS"] = per_chunk * VADER_COST.seconds_for(len(texts[0]))
    workers_running(3)
    job = make_csv_job(data)

    pipeline.job_process(job.pk)
    chunks_drain(job)

    sizes = chunk_sizes(job)
    assert len(sizes) > len(texts) // per_chunk
    assert sum(sizes) == len(texts)
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[:4] == [per_chunk] * 4
    assert_one_result_per_text(job, texts)


def test_a_small_job_with_several_workers_is_still_analyzed_inline(analyze_calls):
    # Its texts hold fewer characters than the smallest tail chunk: no split.
    workers_running(2)
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk)

    assert analyze_calls == [TEXTS]
    assert JobChunk.objects.filter(job=job).count() == 0


def test_chunks_processed_in_any_order_finalize_with_the_last_one():
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=2)

    ran = chunks_drain(job, pick=max)

    assert ran == [3, 2, 1, 0]
    assert_one_result_per_text(job)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.summary["count"] == len(TEXTS)


def test_fanout_of_an_upload_keeps_row_indexes_and_reports_skipped_rows():
    data = b"id,review\n1,I love it\n2,\n3,Awful.\n4,   \n5,It is fine\n6,Great!\n7,Meh\n"
    job = make_csv_job(data)

    pipeline.job_process(job.pk, chunk_size=2)
    chunks_drain(job)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    # Data rows 2 and 4 (spreadsheet rows 3 and 5) have no text.
    assert stored(job, "idx") == [0, 2, 4, 5, 6]
    assert stored(job, "text") == ["I love it", "Awful.", "It is fine", "Great!", "Meh"]
    assert job.done == job.total == 5
    assert job.skipped == 2
    # Each reason stored in English and as its template (said in the reader's language when shown).
    reason = {"id": "no text in column %(column)s", "params": {"column": "'review'"}}
    assert job.skipped_examples == [
        {"row": 3, "reason": "no text in column 'review'", "text": reason},
        {"row": 5, "reason": "no text in column 'review'", "text": reason},
    ]
    assert job.chunks_total == job.chunks_done == 3


# --- summary --------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_summary_counts_labels_and_mean(mode):
    job = make_job(texts=TEXTS)

    job_run_mode(job, mode)

    summary = Job.objects.get(pk=job.pk).summary
    compounds = [REFERENCE.polarity_scores(t)["compound"] for t in TEXTS]
    labels = [VADER_BAND.label(c) for c in compounds]
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
    job = running_job()
    store(job, [0, 1, 2, 3, 4], scores_with(1.0, -1.0, 0.999, -0.999, 0.0))

    summary = summary_compute(job.pk)

    counts = [b["count"] for b in summary["histogram"]]
    assert counts[0] == 2
    assert counts[19] == 2
    assert counts[10] == 1
    assert sum(counts) == summary["count"] == 5
    assert summary["mean_compound"] == 0.0
    assert (summary["positive"], summary["neutral"], summary["negative"]) == (2, 1, 2)


def test_summary_histogram_bins_count_their_texts_by_label():
    # e5 labels by its most probable class: one bin may hold positive and neutral texts.
    job = running_job()
    scores = [
        Scores(compound=0.31, pos=0.6, neu=0.29, neg=0.29, label="positive"),
        Scores(compound=0.32, pos=0.6, neu=0.28, neg=0.28, label="positive"),
        Scores(compound=0.33, pos=0.33, neu=0.67, neg=0.0, label="neutral"),
    ]
    store(job, [0, 1, 2], scores)

    histogram = summary_compute(job.pk)["histogram"]

    [counted] = [b for b in histogram if b["count"]]
    assert (counted["count"], counted["positive"], counted["neutral"], counted["negative"]) == (3, 2, 1, 0)


@pytest.mark.parametrize("compound", [-0.94, -0.9, -0.74, -0.05, 0.0, 0.07, 0.68, 0.9])
def test_summary_histogram_bin_contains_its_compound(compound):
    job = running_job()
    store(job, [0], scores_with(compound))

    histogram = summary_compute(job.pk)["histogram"]

    [counted] = [b for b in histogram if b["count"]]
    assert counted["start"] <= compound < counted["end"]


def test_summary_of_a_job_without_results():
    job = running_job(texts=["a"])

    summary = summary_compute(job.pk)

    assert summary["count"] == 0
    assert summary["mean_compound"] is None
    assert [b["count"] for b in summary["histogram"]] == [0] * 20


# --- exactly once: results_store -------------------------------------------


def test_results_store_twice_stores_the_rows_once():
    job = running_job()

    first = store(job, [0, 1, 2])
    second = store(job, [0, 1, 2])

    assert (first, second) == (3, 0)
    assert Result.objects.filter(job=job).count() == 3
    assert Job.objects.get(pk=job.pk).done == 3


def test_results_store_with_overlapping_rows_counts_only_new_ones():
    job = running_job()

    store(job, [0, 1, 2])
    added = store(job, [2, 3, 4])

    assert added == 2
    assert Job.objects.get(pk=job.pk).done == Result.objects.filter(job=job).count() == 5
    assert stored(job, "idx") == [0, 1, 2, 3, 4]


def test_results_store_uses_the_given_row_indexes():
    job = running_job()

    store(job, [6, 3])

    assert stored(job, "idx", "text") == [(3, TEXTS[3]), (6, TEXTS[6])]


def test_results_store_keeps_the_first_stored_row():
    job = running_job()
    store(job, [0], scores_with(0.5))

    store(job, [0], scores_with(-0.5))

    assert Result.objects.get(job=job, idx=0).compound == 0.5


def test_results_store_on_a_canceled_job_stores_nothing():
    job = running_job()
    store(job, [0, 1])
    services.job_cancel(job=job)

    with pytest.raises(JobStopped):
        store(job, [2, 3])

    assert Result.objects.filter(job=job).count() == 2
    assert Job.objects.get(pk=job.pk).done == 2


# --- exactly once: job_process and chunk_process ------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_job_process_twice_after_success_is_harmless(mode, analyze_calls):
    job = make_job(texts=TEXTS)
    job_run_mode(job, mode)
    before = Job.objects.get(pk=job.pk)
    rows_before = stored(job, "idx", "compound")
    calls_before = len(analyze_calls)

    pipeline.job_process(job.pk, chunk_size=3)

    after = Job.objects.get(pk=job.pk)
    assert after.status == Job.Status.SUCCEEDED
    assert (after.done, after.attempts, after.finished_at, after.summary, after.chunks_total) == (
        before.done,
        before.attempts,
        before.finished_at,
        before.summary,
        before.chunks_total,
    )
    assert stored(job, "idx", "compound") == rows_before
    assert len(analyze_calls) == calls_before
    assert bulk_ids() == []


def test_splitting_twice_writes_and_queues_each_chunk_once():
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=3)
    queued_before = bulk_ids()

    pipeline.job_process(job.pk, chunk_size=3)

    assert JobChunk.objects.filter(job=job).count() == 3
    assert bulk_ids() == queued_before == rq_ids(job, [0, 1, 2])
    chunks_drain(job)
    assert_one_result_per_text(job)
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


def test_done_equals_the_result_count_after_every_chunk():
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=2)
    observed = []

    for seq in [0, 1, 2, 3]:
        chunk_take(job, seq)
        job.refresh_from_db()
        observed.append((job.done, Result.objects.filter(job=job).count(), job.chunks_done))

    assert observed == [(2, 2, 1), (4, 4, 2), (6, 6, 3), (7, 7, 4)]


def test_a_chunk_processed_twice_is_stored_once(analyze_calls):
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=3)
    chunk_take(job, 1)
    before = Job.objects.get(pk=job.pk)

    pipeline.chunk_process(job.pk, 1)

    after = Job.objects.get(pk=job.pk)
    assert analyze_calls == [TEXTS[3:6]]
    assert (after.done, after.chunks_done) == (before.done, before.chunks_done) == (3, 1)
    assert stored(job, "idx") == [3, 4, 5]
    chunks_drain(job)
    assert_one_result_per_text(job)


def test_a_chunk_run_again_after_the_job_succeeded_changes_nothing():
    job = make_job(texts=TEXTS)
    job_run_mode(job, "fanout")
    before = Job.objects.get(pk=job.pk)

    for seq in [0, 1, 2, 99]:
        chunk_run(str(job.pk), seq)

    after = Job.objects.get(pk=job.pk)
    assert (after.status, after.done, after.chunks_done, after.finished_at, after.summary) == (
        before.status,
        before.done,
        before.chunks_done,
        before.finished_at,
        before.summary,
    )
    assert_one_result_per_text(job)


def test_two_deliveries_of_one_chunk_racing_store_it_once(analyze_together):
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=3)
    analyze_together(2)

    run_concurrently(lambda: pipeline.chunk_process(job.pk, 0), lambda: pipeline.chunk_process(job.pk, 0))

    job.refresh_from_db()
    assert stored(job, "idx") == [0, 1, 2]
    assert (job.done, job.chunks_done) == (3, 1)
    assert chunk_statuses(job) == [JobChunk.Status.DONE, JobChunk.Status.QUEUED, JobChunk.Status.QUEUED]


def test_the_last_two_chunks_finishing_at_once_finalize_the_job_once(analyze_together):
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=3)
    chunk_take(job, 0)
    analyze_together(4)

    # Chunks 1 and 2, each delivered twice, all in flight together.
    run_concurrently(*(lambda seq=seq: pipeline.chunk_process(job.pk, seq) for seq in (1, 2, 1, 2)))

    assert_one_result_per_text(job)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.chunks_done == job.chunks_total == 3
    assert job.summary["count"] == len(TEXTS)


def test_a_chunk_retried_after_a_crash_past_its_commit_still_finalizes_the_job(monkeypatch):
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=3)
    chunk_take(job, 0)
    chunk_take(job, 1)
    real_finalize = pipeline.job_finalize

    def connection_lost(job_id):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(pipeline, "job_finalize", connection_lost)
    with pytest.raises(OperationalError):
        pipeline.chunk_process(job.pk, 2)  # its results and counters are committed
    monkeypatch.setattr(pipeline, "job_finalize", real_finalize)

    pipeline.chunk_process(job.pk, 2)  # RQ's retry of the same chunk job

    assert_one_result_per_text(job)
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


# --- the window of queued chunks ------------------------------------------


def test_refill_keeps_at_most_the_window_of_chunks_queued(sentimeter_settings):
    sentimeter_settings["CHUNK_WINDOW"] = 2
    assert chunks_window() == 2
    job = make_job(texts=TEXTS)

    pipeline.job_process(job.pk, chunk_size=1)  # 7 chunks

    assert chunk_statuses(job) == ["queued", "queued"] + ["pending"] * 5
    assert bulk_ids() == rq_ids(job, [0, 1])
    chunk_take(job, 0)
    assert queued_seqs(job) == [1, 2]
    assert bulk_ids() == rq_ids(job, [1, 2])
    while seqs := queued_seqs(job):
        assert len(seqs) <= 2
        assert sorted(bulk_ids()) == sorted(rq_ids(job, seqs))
        chunk_take(job, seqs[-1])
    assert chunk_statuses(job) == ["done"] * 7
    assert bulk_ids() == []
    assert_one_result_per_text(job)
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


def test_the_window_grows_with_the_number_of_workers(sentimeter_settings):
    sentimeter_settings["CHUNK_WINDOW"] = 2
    for i in range(3):
        Worker([get_queue(BULK)], connection=get_redis(), name=f"window-test-{i}").register_birth()

    assert chunks_window() == 6


def test_refill_of_a_job_that_is_not_running_queues_nothing(sentimeter_settings):
    sentimeter_settings["CHUNK_WINDOW"] = 2
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=1)
    services.job_cancel(job=job)
    get_queue(BULK).empty()

    assert chunks_refill(job.pk) is False

    assert chunk_statuses(job) == ["queued", "queued"] + ["pending"] * 5
    assert bulk_ids() == []


# --- resume ---------------------------------------------------------------


@pytest.mark.parametrize("status", [Job.Status.QUEUED, Job.Status.RUNNING])
def test_a_fanout_job_resumes_with_its_done_chunks_kept(analyze_calls, status):
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=2)
    chunk_take(job, 0)
    chunk_take(job, 2)
    # The worker died; the job is run again (as RQ's retry or a re-enqueue would).
    Job.objects.filter(pk=job.pk).update(status=status)

    pipeline.job_process(job.pk, chunk_size=2)
    chunks_drain(job)

    assert sorted(analyze_calls) == sorted([TEXTS[0:2], TEXTS[2:4], TEXTS[4:6], TEXTS[6:7]])
    assert_one_result_per_text(job)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.attempts == 2
    assert JobChunk.objects.filter(job=job).count() == 4
    assert job.chunks_done == job.chunks_total == 4
    assert job.summary["count"] == len(TEXTS)
    assert stored(job, "compound") == [REFERENCE.polarity_scores(t)["compound"] for t in TEXTS]


def test_a_job_split_again_after_all_chunks_ran_succeeds():
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=2)
    # Every chunk ran, but the job was never finalized (say its last finalize crashed).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "job_finalize", lambda job_id: False)
        chunks_drain(job)
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING

    pipeline.job_process(job.pk, chunk_size=2)

    assert_one_result_per_text(job)
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


def test_a_fanout_job_resumes_with_a_different_chunk_size():
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=2)  # seqs 0..3 hold idx 0-1, 2-3, 4-5, 6
    chunk_take(job, 0)
    chunk_take(job, 1)

    pipeline.job_process(job.pk, chunk_size=1)  # CHUNK_SIZE changed by a deploy in between
    chunks_drain(job)

    assert_one_result_per_text(job)
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


def test_running_a_job_again_after_redis_lost_its_chunks_puts_them_back():
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=2)
    chunk_take(job, 0)
    get_redis().flushdb()  # Redis lost everything

    pipeline.job_process(job.pk, chunk_size=2)  # what a reconciler does for a running job

    assert sorted(bulk_ids()) == sorted(rq_ids(job, queued_seqs(job)))
    assert queued_seqs(job) == [1, 2, 3]


def test_job_process_keeps_the_first_start_time_when_resuming():
    job = make_job(texts=TEXTS)
    pipeline.job_claim(job.pk)
    first_start = Job.objects.get(pk=job.pk).started_at

    pipeline.job_process(job.pk)

    job.refresh_from_db()
    assert job.started_at == first_start
    assert job.attempts == 2


# --- finalize ---------------------------------------------------------------


def test_job_finalize_finishes_a_complete_running_job():
    job = running_job(texts=TEXTS[:2])
    store(job, [0, 1])

    assert pipeline.job_finalize(job.pk) is True
    assert pipeline.job_finalize(job.pk) is False

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.summary["count"] == 2


def test_job_finalize_does_not_finish_a_canceled_job():
    job = running_job(texts=TEXTS[:2])
    store(job, [0, 1])
    services.job_cancel(job=job)

    assert pipeline.job_finalize(job.pk) is False

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    # The summary of the two results kept at the cancel, not a finished job's.
    assert job.summary["count"] == 2


def test_job_finalize_waits_until_every_chunk_is_done():
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=2)
    for seq in [0, 1, 3]:
        chunk_take(job, seq)

    assert pipeline.job_finalize(job.pk) is False

    job.refresh_from_db()
    assert (job.status, job.chunks_done, job.chunks_total, job.summary) == (Job.Status.RUNNING, 3, 4, None)


def test_job_finalize_waits_until_the_input_is_counted():
    job = make_job(texts=TEXTS, total=None, status=Job.Status.RUNNING)

    assert pipeline.job_finalize(job.pk) is False

    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING


def test_job_finalize_refuses_a_job_whose_counts_disagree():
    job = running_job()
    store(job, [0, 1])

    with pytest.raises(RuntimeError, match="2 results stored, 7 expected"):
        pipeline.job_finalize(job.pk)

    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING


# --- cancel ---------------------------------------------------------------


def test_cancel_during_fanout_stores_nothing_more(sentimeter_settings, analyze_calls):
    sentimeter_settings["CHUNK_WINDOW"] = 4
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=1)  # 7 chunks, 4 of them queued
    chunk_take(job, 0)
    chunk_take(job, 1)
    services.job_cancel(job=Job.objects.get(pk=job.pk))
    queued_after_cancel = sorted(bulk_ids())

    for seq in range(7):
        chunk_take(job, seq)

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert job.summary["count"] == 2  # what the cancel kept, computed then
    assert job.done == Result.objects.filter(job=job).count() == 2
    assert stored(job, "idx") == [0, 1]
    assert job.chunks_done == 2
    assert len(analyze_calls) == 2
    assert chunk_statuses(job) == ["done", "done", "queued", "queued", "queued", "queued", "pending"]
    # The cancel took the waiting chunks off the queue, and nothing new was queued.
    assert queued_after_cancel == []
    assert bulk_ids() == []
    assert job.percent == pytest.approx(100 * 2 / 7, abs=0.1)


def test_chunks_hold_no_texts_only_their_range_of_the_input():
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=3)

    chunks = JobChunk.objects.filter(job=job).order_by("seq")
    assert [(c.start, c.end, c.idx_first, c.idx_last, c.size) for c in chunks] == [
        (0, 3, 0, 2, 3),
        (3, 6, 3, 5, 3),
        (6, 7, 6, 6, 1),
    ]


def test_cancel_frees_the_stored_input_at_once(sentimeter_settings):
    sentimeter_settings["CHUNK_WINDOW"] = 2
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=1)  # 7 chunks: 2 queued, 5 pending
    chunk_take(job, 0)

    services.job_cancel(job=Job.objects.get(pk=job.pk))

    assert input_size(job) == 0
    assert chunk_statuses(job) == ["done", "queued", "queued", "pending", "pending", "pending", "pending"]
    # A chunk delivered after the cancel finds no texts, and the job keeps what it had.
    chunk_take(job, 1)
    job.refresh_from_db()
    assert (job.status, job.done, stored(job, "idx")) == (Job.Status.CANCELED, 1, [0])


def test_a_failed_job_frees_its_stored_input_at_once(sentimeter_settings):
    sentimeter_settings["CHUNK_WINDOW"] = 2
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=2)  # 4 chunks
    chunk_take(job, 0)

    assert pipeline.job_fail(job.pk, code="timeout", message="Took too long.")

    assert input_size(job) == 0
    job.refresh_from_db()
    assert (job.status, job.done, job.summary["count"]) == (Job.Status.FAILED, 2, 2)


def test_a_split_canceled_midway_leaves_no_texts_behind(monkeypatch):
    job = make_job(texts=TEXTS * 2)
    real_write = split.chunk_write

    def cancel_before_the_sixth_chunk(job_id, seq, rows):
        # The splitter notices a cancel only at its next refill (every SPLIT_REFILL_EVERY chunks by then).
        if seq == 5:
            services.job_cancel(job=Job.objects.get(pk=job_id))
        real_write(job_id, seq, rows)

    monkeypatch.setattr(split, "chunk_write", cancel_before_the_sixth_chunk)

    pipeline.job_process(job.pk, chunk_size=1)

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    # Chunks 5 to 8 were written after the cancel; the refill after chunk 8 stopped the split.
    assert JobChunk.objects.filter(job=job).count() == 2 * split.SPLIT_REFILL_EVERY + 1
    assert input_size(job) == 0


def test_cancel_while_a_chunk_is_analyzed_stores_nothing_of_it(monkeypatch):
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=3)
    chunk_take(job, 0)
    analyzer = get_analyzer("vader")
    real = analyzer.analyze

    def cancel_then_analyze(texts):
        services.job_cancel(job=Job.objects.get(pk=job.pk))
        return real(texts)

    monkeypatch.setattr(analyzer, "analyze", cancel_then_analyze)

    chunk_take(job, 1)

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert job.done == Result.objects.filter(job=job).count() == 3
    assert job.chunks_done == 1
    assert chunk_statuses(job) == ["done", "queued", "queued"]


def test_cancel_while_an_inline_job_is_analyzed_stores_nothing(monkeypatch):
    job = make_job(texts=TEXTS)
    analyzer = get_analyzer("vader")
    real = analyzer.analyze

    def cancel_then_analyze(texts):
        services.job_cancel(job=Job.objects.get(pk=job.pk))
        return real(texts)

    monkeypatch.setattr(analyzer, "analyze", cancel_then_analyze)

    pipeline.job_process(job.pk)

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert job.summary is None
    assert job.done == 0
    assert not Result.objects.filter(job=job).exists()


# Result rows have no foreign key constraint in the database (see Result.job):
# these pin the guarantee the code gives instead, that no result outlives its job.


def job_delete_then_analyze(monkeypatch, job: Job) -> None:
    analyzer = get_analyzer("vader")
    real = analyzer.analyze

    def delete_then_analyze(texts):
        Job.objects.filter(pk=job.pk).delete()
        return real(texts)

    monkeypatch.setattr(analyzer, "analyze", delete_then_analyze)


def test_results_store_on_a_deleted_job_stores_nothing():
    job = running_job()
    Job.objects.filter(pk=job.pk).delete()

    with pytest.raises(JobStopped):
        store(job, [0, 1])

    assert not Result.objects.filter(job_id=job.pk).exists()


def test_a_job_deleted_while_a_chunk_is_analyzed_leaves_no_result_behind(monkeypatch):
    job = make_job(texts=TEXTS)
    pipeline.job_process(job.pk, chunk_size=3)
    job_delete_then_analyze(monkeypatch, job)

    chunk_take(job, 0)

    assert not Job.objects.filter(pk=job.pk).exists()
    assert not Result.objects.filter(job_id=job.pk).exists()


def test_a_job_deleted_while_it_is_analyzed_inline_leaves_no_result_behind(monkeypatch):
    job = make_job(texts=TEXTS)
    job_delete_then_analyze(monkeypatch, job)

    pipeline.job_process(job.pk)

    assert not Job.objects.filter(pk=job.pk).exists()
    assert not Result.objects.filter(job_id=job.pk).exists()


def test_cancel_while_splitting_stops_the_split(monkeypatch, sentimeter_settings):
    sentimeter_settings["CHUNK_WINDOW"] = 2
    job = make_job(texts=TEXTS)
    real_refill = split.chunks_refill
    refills = []

    def cancel_on_second_refill(job_id):
        refills.append(job_id)
        if len(refills) == 2:
            services.job_cancel(job=Job.objects.get(pk=job_id))
        return real_refill(job_id)

    monkeypatch.setattr(split, "chunks_refill", cancel_on_second_refill)

    pipeline.job_process(job.pk, chunk_size=1)

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert JobChunk.objects.filter(job=job).count() == 2  # it stopped after the second chunk
    assert job.chunks_total is None
    # The chunk queued before the cancel was taken off the queue by it.
    assert bulk_ids() == []


def test_job_process_on_a_canceled_job_does_nothing(analyze_calls):
    job = make_job(texts=TEXTS, status=Job.Status.CANCELED)

    pipeline.job_process(job.pk, chunk_size=2)

    assert analyze_calls == []
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert job.attempts == 0
    assert not Result.objects.filter(job=job).exists()
    assert not JobChunk.objects.filter(job=job).exists()


def test_job_fail_does_not_overwrite_a_finished_job():
    job = make_job(status=Job.Status.SUCCEEDED)

    assert pipeline.job_fail(job.pk, code="x", message="y") is False
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


# --- the RQ job functions -------------------------------------------------


def test_job_run_processes_a_job():
    job = make_job(texts=TEXTS)

    job_run(str(job.pk))

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.done == len(TEXTS)


def test_job_run_and_chunk_run_process_a_fanout_job(sentimeter_settings):
    sentimeter_settings["CHUNK_SIZE"] = 2
    job = make_job(texts=TEXTS)

    job_run(str(job.pk))
    while seqs := queued_seqs(job):
        get_queue(BULK).remove(chunk_rq_id(str(job.pk), seqs[0]))
        chunk_run(str(job.pk), seqs[0])

    assert_one_result_per_text(job)
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


def assert_failed_readably(job: Job, *, code: str, message: str) -> None:
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error_code == code
    assert message in job.error_message
    assert "Traceback" not in job.error_message
    assert 'File "' not in job.error_message
    assert "\n" not in job.error_message
    assert job.finished_at is not None


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

    assert_failed_readably(job, code="invalid_input", message=message)
    assert "please submit" in job.error_message
    assert not Result.objects.filter(job=job).exists()


def test_job_run_fails_an_upload_that_breaks_midway_and_its_chunks_store_nothing(sentimeter_settings):
    sentimeter_settings["CHUNK_SIZE"] = 100
    # Far enough in (past the reader's first blocks) that chunks are written before the bad row.
    good = b"".join(b"%d,Nice thing number %d\n" % (i, i) for i in range(1, 1001))
    job = make_csv_job(b"id,review\n" + good + b"1001,caf\xe9 \xff\xfe\n1002,never read\n")

    job_run(str(job.pk))

    # Data row 1001 is spreadsheet row 1002 (the header is row 1).
    assert_failed_readably(job, code="undecodable", message="Row 1002")
    assert "utf-8" in job.error_message.lower()
    # Chunks written before the bad row was reached may still be delivered: they store nothing.
    written = list(JobChunk.objects.filter(job=job).values_list("seq", flat=True))
    assert written
    for seq in written:
        chunk_run(str(job.pk), seq)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.done == 0
    assert not Result.objects.filter(job=job).exists()


def test_job_run_fails_an_upload_without_any_text_naming_a_row():
    job = make_csv_job(b"id,review\n1,\n2,  \n")

    job_run(str(job.pk))

    assert_failed_readably(job, code="no_texts", message="all 2 rows were skipped")
    assert "row 2: no text in column 'review'" in job.error_message


def test_job_run_fails_a_job_whose_input_is_missing():
    job = make_job(texts=["ignored"])
    JobInput.objects.filter(job=job).delete()

    job_run(str(job.pk))

    assert_failed_readably(job, code="input_missing", message="submit it again")


def test_job_run_leaves_a_finished_job_alone():
    job = make_job(texts=TEXTS[:1], status=Job.Status.SUCCEEDED)
    make_results(job, TEXTS[:1])

    job_run(str(job.pk))

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.attempts == 0
    assert job.error_code == ""


def test_results_written_with_binary_copy_round_trip_any_text_and_exact_scores():
    texts = [
        "naïve café",
        "emoji 😀👍 and 한국어",
        "tab\there\nnew line\r\n",
        "back\\slash",
        "\\N",
        'comma, "quoted"',
    ]
    job = make_job(texts=texts, status=Job.Status.RUNNING)
    scores = [vader_scores(-0.1234, pos=0.0, neu=0.5, neg=0.5), *vader(texts[1:])]
    # Scores with more digits than VADER's four, to show nothing is rounded on the way.
    scores.append(vader_scores(0.123456789012345, pos=1 / 3, neu=2 / 3, neg=0.0))
    texts.append("last")

    with transaction.atomic():
        inserted = results_copy(job_id=job.pk, idxs=list(range(7)), texts=texts, scores=scores)

    assert inserted == 7
    rows = list(
        Result.objects.filter(job=job)
        .order_by("idx")
        .values_list("text", "label", "compound", "pos", "neu", "neg")
    )
    assert rows == [(t, s.label, s.compound, s.pos, s.neu, s.neg) for t, s in zip(texts, scores, strict=True)]


@pytest.mark.parametrize(
    "part",
    ["chunk", "chunking", "exceptions", "fanout", "locks", "results", "split", "storedinput", "summary"],
)
def test_the_pipelines_parts_never_import_the_state_machine_or_the_job_functions(part):
    # Imports run one way: pipeline.py drives its parts; a part that reached back would start a circle.
    tree = ast.parse((Path(pipeline.__file__).parent / f"{part}.py").read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    assert not imported & {"worker.pipeline", "worker.tasks"}, part
