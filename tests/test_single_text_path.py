"""A single text's way from queued to succeeded: few statements, one flushed commit (issue 15 item 5)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.builders import make_job
from web.models import Job, JobInput, Result
from worker import pipeline

pytestmark = pytest.mark.django_db(transaction=True)


def _transactions(sql: list[str]) -> list[list[str]]:
    """The statements, grouped by transaction (a statement outside BEGIN..COMMIT is one alone)."""
    groups, current = [], None
    for statement in sql:
        if statement.startswith("BEGIN"):
            current = []
        elif statement.startswith(("COMMIT", "ROLLBACK")):
            groups.append(current)
            current = None
        elif current is None:
            groups.append([statement])
        else:
            current.append(statement)
    return groups


def test_a_single_text_is_counted_stored_and_succeeds_in_one_transaction():
    job = make_job(texts=["The delivery was late and the box was crushed."])

    with CaptureQueriesContext(connection) as captured:
        pipeline.job_process(job.pk)

    sql = [q["sql"] for q in captured.captured_queries]
    writes = [g for g in _transactions(sql) if any(s.startswith(("UPDATE", "INSERT")) for s in g)]
    claim, work = writes[0], writes[1]
    # The claim does not wait for the disk; the count, the results and the success are one transaction.
    assert any("synchronous_commit" in s for s in claim)
    assert any("\"status\" = 'running'" in s for s in claim)
    assert any(s.startswith('UPDATE "web_job" SET "total"') for s in work)
    assert any(s.startswith("INSERT INTO web_result") for s in work)
    assert any("'succeeded'" in s for s in work)
    assert not any("synchronous_commit" in s for s in work)
    # Up to the commit that shows the success: 16 statements, COMMITs counted; no savepoint.
    until_success = sql[: sql.index(next(s for s in sql if "'succeeded'" in s)) + 2]
    assert not any(s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")) for s in until_success)
    assert len(until_success) <= 16
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.summary["count"] == 1 and job.summary["negative"] == 1
    assert job.summary["extremes"]["negative"][0]["idx"] == 0
    assert job.summary["extremes"]["positive"] == []
    assert job.summary["drivers"] == {"negative": [], "positive": []}
    # The input is dropped after the success.
    assert bytes(JobInput.objects.get(job=job).data) == b""


def test_a_job_canceled_during_its_analysis_stores_nothing(monkeypatch):
    job = make_job(texts=["Great value.", "Awful."])
    real = pipeline.get_analyzer

    class CanceledMeanwhile:
        def __init__(self, analyzer):
            self.analyzer = analyzer

        def analyze(self, texts):
            # The cancel commits while the texts are analyzed, before the writes' transaction.
            Job.objects.filter(pk=job.pk).update(status=Job.Status.CANCELED)
            return self.analyzer.analyze(texts)

    monkeypatch.setattr(pipeline, "get_analyzer", lambda name: CanceledMeanwhile(real(name)))
    pipeline.job_process(job.pk)

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert not Result.objects.filter(job=job).exists()
    assert job.total == 2  # counted at submit, not by the rolled-back transaction


def test_the_summary_counts_and_mean_match_the_results():
    texts = ["I love it!", "Terrible.", "The box is brown.", "Great, great, great.", "Not good."]
    job = make_job(texts=texts)
    pipeline.job_process(job.pk)
    job.refresh_from_db()

    results = list(Result.objects.filter(job=job).values_list("label", "compound"))
    assert job.summary["count"] == len(texts)
    for label in ("positive", "neutral", "negative"):
        assert job.summary[label] == sum(1 for lab, _ in results if lab == label)
    assert job.summary["mean_compound"] == round(sum(c for _, c in results) / len(results), 4)
    assert sum(b["count"] for b in job.summary["histogram"]) == len(texts)
