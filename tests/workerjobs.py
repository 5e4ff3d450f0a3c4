"""Jobs run by real worker processes: sample texts, waiting for the jobs to end, checking their results."""

from __future__ import annotations

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tests.procs import wait_for
from web.models import Job, Result

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
