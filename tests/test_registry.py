"""The analyzer registry drives everything: add one analyzer in one place and it is offered everywhere."""

from collections.abc import Sequence

import pytest

from tests.builders import browser, make_job, post_json
from web.models import Job, Result
from web.openapi import openapi_document
from worker import pipeline
from worker.analyzers.base import AnalyzerSpec, CostModel, NeutralBand, Scores
from worker.analyzers.registry import register, spec_get, unregister
from worker.checks import default_analyzer_check

FAKE_BAND = NeutralBand(negative_at=-0.5, positive_at=0.5)


class FakeAnalyzer:
    """Scores a text by its length: long texts positive, short ones negative."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def analyze(self, texts: Sequence[str]) -> list[Scores]:
        self.batches.append(list(texts))
        return [
            FAKE_BAND.scores(compound=0.9 if len(t) > 10 else -0.9, pos=0.0, neu=0.0, neg=0.0) for t in texts
        ]


FAKE = AnalyzerSpec(
    name="fake",
    label="Fake (for tests)",
    description="Judges a text by its length.",
    languages=("en", "xx"),
    batch_size=3,
    # Ten seconds a text: never the quick queue.
    cost=CostModel(per_text=10.0, per_unit=0.0),
    load=FakeAnalyzer,
)


@pytest.fixture
def fake():
    register(FAKE)
    yield FAKE
    unregister(FAKE.name)


@pytest.mark.django_db
def test_the_form_offers_a_registered_analyzer_with_what_it_reads_and_its_speed(fake):
    content = browser().get("/").content.decode()

    assert 'value="fake"' in content
    assert "Fake (for tests)" in content
    assert "Judges a text by its length. Reads English. About 0.1 short texts a second per worker." in content


@pytest.mark.django_db
def test_the_api_lists_a_registered_analyzer(fake):
    body = browser().get("/api/analyzers/").json()

    [listed] = [a for a in body["analyzers"] if a["name"] == "fake"]
    assert listed == {
        "name": "fake",
        "label": "Fake (for tests)",
        "description": "Judges a text by its length.",
        "languages": ["en", "xx"],
        "default": False,
        "texts_per_second": 0.1,
    }


def test_the_openapi_document_names_a_registered_analyzer(fake):
    schemas = openapi_document()["components"]["schemas"]

    assert "fake" in schemas["JobSubmit"]["properties"]["analyzer"]["enum"]
    assert "fake" in schemas["JobUpload"]["properties"]["analyzer"]["enum"]
    assert "fake" in schemas["Analyzer"]["properties"]["name"]["enum"]


def test_without_it_the_openapi_document_does_not_name_it():
    assert (
        "fake"
        not in openapi_document()["components"]["schemas"]["JobSubmit"]["properties"]["analyzer"]["enum"]
    )


@pytest.mark.django_db(transaction=True)
def test_a_job_is_routed_by_its_analyzers_estimated_seconds(fake):
    client = browser()

    slow = post_json(client, "/api/jobs/", {"texts": ["one text"], "analyzer": "fake"}).json()
    quick = post_json(client, "/api/jobs/", {"texts": ["one text"], "analyzer": "vader"}).json()

    assert Job.objects.get(pk=slow["id"]).queue == "bulk"  # 10 s estimated
    assert Job.objects.get(pk=quick["id"]).queue == "quick"


@pytest.mark.django_db
def test_a_job_is_analyzed_and_labelled_by_its_analyzer(fake, sentimeter_settings):
    # Chunks hold 2 of these texts (20 s estimated, 10 s a text); labels follow the fake's band.
    sentimeter_settings["CHUNK_SECONDS"] = 20
    texts = ["a long enough text", "short", "another long text", "tiny", "and a long last one"]
    job = make_job(texts=texts, analyzer="fake", queue="bulk", total=None)

    pipeline.job_process(job.pk)
    for seq in range(3):
        pipeline.chunk_process(job.pk, seq)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.chunks_total == 3
    labels = list(Result.objects.filter(job=job).order_by("idx").values_list("label", flat=True))
    assert labels == ["positive", "negative", "positive", "negative", "positive"]


def test_registering_replaces_and_unregistering_removes(fake):
    assert spec_get("fake") is FAKE
    unregister("fake")
    with pytest.raises(LookupError):
        spec_get("fake")


def test_a_default_analyzer_that_is_not_registered_fails_the_system_check(sentimeter_settings):
    assert default_analyzer_check(None) == []
    sentimeter_settings["DEFAULT_ANALYZER"] = "nope"

    [error] = default_analyzer_check(None)

    assert error.id == "sentimeter.E001"
    assert "e5, vader" in error.hint
