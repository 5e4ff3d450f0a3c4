"""Jobs run by worker processes: sample texts, starting workers, running chunks, checking the results."""

from __future__ import annotations

import re

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tests.procs import WORKER_READY, update_waiting, wait_for
from web.models import Job, JobChunk, Result
from worker import pipeline
from worker.queues import BULK, chunk_rq_id, get_queue

PHRASES = (
    "I love this product, it is wonderful!",
    "This is terrible. I hate it.",
    "The box is brown.",
    "Not bad at all :)",
    "The service was VERY slow and the food was cold",
    "Absolutely fantastic experience!!!",
    "meh",
    "I don't think it's good, but the price is fair.",
    "Great value, though the battery dies fast.",
    "Best purchase ever 😊",
    "Worst. Support. Ever.",
    "좋아요, 정말 최고예요",
)
SCORE_FIELDS = ("compound", "pos", "neu", "neg")


def texts_sample(count: int, *, tag: str = "review") -> list[str]:
    """Return `count` distinct texts cycling through PHRASES."""
    return [f"{PHRASES[i % len(PHRASES)]} ({tag} {i})" for i in range(count)]


def vader_expected(texts: list[str]) -> list[dict]:
    sia = SentimentIntensityAnalyzer()
    return [{f: sia.polarity_scores(t)[f] for f in SCORE_FIELDS} for t in texts]


def label_of(compound: float) -> str:
    # VADER's convention, written out again so the test does not trust worker.analyzers.
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"


def jobs_wait_final(job_ids: list, *, worker) -> list[Job]:
    """Wait until every job has reached a final state; return them in the given order."""

    def all_final():
        jobs = Job.objects.in_bulk(job_ids)
        return len(jobs) == len(job_ids) and all(j.is_final for j in jobs.values()) and jobs

    def pending() -> str:
        statuses = dict(Job.objects.filter(pk__in=job_ids).values_list("pk", "status"))
        waiting = {str(pk): s for pk, s in statuses.items() if s in Job.ACTIVE_STATUSES}
        return f"jobs {waiting} to finish; worker log:\n{worker.log_tail()}"

    jobs = wait_for(all_final, what=pending)
    return [jobs[pk] for pk in job_ids]


def assert_results_are_vader(job: Job, texts: list[str]) -> None:
    rows = list(Result.objects.filter(job=job).order_by("idx").values("idx", "text", "label", *SCORE_FIELDS))
    assert [r["idx"] for r in rows] == list(range(len(texts)))
    assert [r["text"] for r in rows] == texts
    assert [{f: r[f] for f in SCORE_FIELDS} for r in rows] == vader_expected(texts)
    assert [r["label"] for r in rows] == [label_of(r["compound"]) for r in rows]


# RQ logs "Worker <name>: <queue>: <description> (<rq id>)" when it starts a job
# and "Worker <name>: <queue>: Job OK (<rq id>)" when it ends well (colors aside).
CHUNK_OK = re.compile(r"Job OK \(([0-9a-f-]{36})_chunk(\d+)\)")


def workers_start(procs, count: int, **env: str) -> list:
    """Start `count` Procfile workers at once; return them once every one is listening."""
    workers = [procs.start("worker", env={"LOG_LEVEL": "INFO", **env}) for _ in range(count)]
    for worker in workers:
        worker.wait_for_log(WORKER_READY)
    return workers


def plain_log(worker) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", worker.log())


def chunk_runs(worker) -> list[tuple[str, int]]:
    """(job id, seq) of every chunk this worker ran to the end, in order (repeats included)."""
    return [(pk, int(seq)) for pk, seq in CHUNK_OK.findall(plain_log(worker))]


def chunks_ok(worker, job: Job) -> list[int]:
    """The seqs of `job`'s chunks this worker ran to the end, in order (repeats included)."""
    return [seq for pk, seq in chunk_runs(worker) if pk == str(job.pk)]


def chunk_update_waiting() -> bool:
    """Whether another session waits on a row lock to update a chunk (a worker at its compare-and-set)."""
    return update_waiting("web_jobchunk")


def assert_exactly_once(job: Job, texts: list[str], *, chunks: int) -> None:
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, (job.error_code, job.error_message)
    assert job.done == job.total == Result.objects.filter(job=job).count() == len(texts)
    assert job.chunks_done == job.chunks_total == chunks
    assert list(JobChunk.objects.filter(job=job).values_list("status", flat=True)) == ["done"] * chunks
    assert_results_are_vader(job, texts)
    assert job.summary["count"] == len(texts)


def chunk_take(job: Job, seq: int) -> None:
    """Run one chunk as a worker does: take its RQ job off the bulk queue, then process it."""
    get_queue(BULK).remove(chunk_rq_id(str(job.pk), seq))
    pipeline.chunk_process(job.pk, seq)
