"""web/services.py: validation, job creation and cancellation."""

import json

import pytest
from rq.job import Job as RQJob

from tests.builders import make_job, make_results
from web import services
from web.exceptions import InputError, InputTooLarge, JobConflict
from web.models import Job, JobInput
from worker.analyzers.vader import SPEC as VADER_SPEC
from worker.queues import get_queue, get_redis

SESSION = "a-session-key"


@pytest.fixture
def small_limits(sentimeter_settings):
    sentimeter_settings["MAX_TEXTS_PER_JOB"] = 3
    sentimeter_settings["MAX_TEXT_CHARS"] = 10
    return sentimeter_settings


# --- texts_validate -------------------------------------------------------


@pytest.mark.parametrize(
    ("texts", "code", "message"),
    [
        pytest.param("just one string", "invalid_texts", "must be a list", id="a-string"),
        pytest.param({"texts": ["a"]}, "invalid_texts", "must be a list", id="an-object"),
        pytest.param(None, "invalid_texts", "must be a list", id="null"),
        pytest.param(42, "invalid_texts", "must be a list", id="a-number"),
        pytest.param([], "no_texts", "at least one", id="empty-list"),
        pytest.param(["ok", None], "invalid_texts", "texts[1] must be a string, not null", id="null-item"),
        pytest.param([1], "invalid_texts", "texts[0] must be a string, not a number", id="int-item"),
        pytest.param([1.5], "invalid_texts", "texts[0] must be a string, not a number", id="float-item"),
        pytest.param([True], "invalid_texts", "texts[0] must be a string, not a boolean", id="bool-item"),
        pytest.param([["a"]], "invalid_texts", "texts[0] must be a string, not a list", id="list-item"),
        pytest.param(
            [{"t": "a"}], "invalid_texts", "texts[0] must be a string, not an object", id="dict-item"
        ),
        pytest.param(["ok", ""], "empty_text", "texts[1] is empty", id="empty-string"),
        pytest.param([" \t\n "], "empty_text", "texts[0] is empty", id="blank-string"),
        pytest.param(["\u00a0"], "empty_text", "texts[0] is empty", id="nbsp-only"),
        pytest.param(["bad\x00byte"], "invalid_texts", "NUL", id="nul"),
        pytest.param(
            ["ok", "a\ud800"], "invalid_texts", "texts[1] is not valid Unicode", id="lone-surrogate"
        ),
    ],
)
def test_texts_validate_refuses_bad_input(small_limits, texts, code, message):
    with pytest.raises(InputError) as caught:
        services.texts_validate(texts)

    assert caught.value.code == code
    assert caught.value.status == 400
    assert message in caught.value.message


def test_texts_validate_refuses_a_text_too_long(small_limits):
    with pytest.raises(InputTooLarge) as caught:
        services.texts_validate(["short", "x" * 11])

    assert caught.value.code == "text_too_long"
    assert caught.value.status == 413
    assert "texts[1]" in caught.value.message
    assert "11" in caught.value.message and "10" in caught.value.message


def test_texts_validate_refuses_too_many_texts(small_limits):
    with pytest.raises(InputTooLarge) as caught:
        services.texts_validate(["a", "b", "c", "d"])

    assert caught.value.code == "too_many_texts"
    assert caught.value.status == 413
    assert "4" in caught.value.message and "3" in caught.value.message


def test_texts_validate_accepts_texts_exactly_at_the_limits(small_limits):
    texts = ["x" * 10, "ünïcødé 😀", "  padded  "]

    assert services.texts_validate(texts) == texts


def test_texts_validate_reads_the_limits_at_call_time(sentimeter_settings):
    sentimeter_settings["MAX_TEXT_CHARS"] = 4
    with pytest.raises(InputTooLarge):
        services.texts_validate(["12345"])

    sentimeter_settings["MAX_TEXT_CHARS"] = 5
    assert services.texts_validate(["12345"]) == ["12345"]


# --- texts_from_paste -----------------------------------------------------


@pytest.mark.parametrize(
    ("pasted", "texts"),
    [
        pytest.param("one\ntwo", ["one", "two"], id="lf"),
        pytest.param("one\r\ntwo\r\n", ["one", "two"], id="crlf"),
        pytest.param("one\rtwo", ["one", "two"], id="cr"),
        pytest.param("\n\none\n\n\ntwo\n\n", ["one", "two"], id="blank-lines"),
        pytest.param("  one  \n\t two\t\n   \n", ["one", "two"], id="surrounding-whitespace"),
        pytest.param("a  b   c", ["a  b   c"], id="inner-whitespace-kept"),
        pytest.param("", [], id="empty"),
        pytest.param(" \r\n \n\t", [], id="only-whitespace"),
        pytest.param("😀 great\nкнига", ["😀 great", "книга"], id="unicode"),
        pytest.param(
            "a\u2028b\x85c\x0cd\x1ce\x1df\x1eg\x0bh\u2029i",
            ["a\u2028b\x85c\x0cd\x1ce\x1df\x1eg\x0bh\u2029i"],
            id="other-separators-stay-inside-a-line",
        ),
    ],
)
def test_texts_from_paste_gives_one_text_per_non_blank_line(pasted, texts):
    assert services.texts_from_paste(pasted) == texts


# --- analyzer_validate ----------------------------------------------------


@pytest.mark.parametrize("analyzer", [None, "", "vader"])
def test_analyzer_validate_accepts_default_and_known(analyzer):
    assert services.analyzer_validate(analyzer) == "vader"


def test_analyzer_validate_defaults_to_the_setting(sentimeter_settings):
    sentimeter_settings["DEFAULT_ANALYZER"] = "configured-default"

    assert services.analyzer_validate(None) == "configured-default"
    assert services.analyzer_validate("") == "configured-default"


@pytest.mark.parametrize("analyzer", ["nope", "VADER", " vader", 5, ["vader"], {"name": "vader"}, True])
def test_analyzer_validate_refuses_unknown_names(analyzer):
    with pytest.raises(InputError) as caught:
        services.analyzer_validate(analyzer)

    assert caught.value.code == "unknown_analyzer"
    assert "vader" in caught.value.message


# --- job_create -----------------------------------------------------------


@pytest.mark.django_db
def test_job_create_stores_the_job_and_its_input():
    texts = ["I love it", "Ünïcode 😀 text", "I hate it"]

    job = services.job_create(session_key=SESSION, texts=texts)

    job.refresh_from_db()
    assert job.session_key == SESSION
    assert job.status == Job.Status.QUEUED
    assert job.analyzer == "vader"
    assert job.total == 3
    assert job.done == 0
    assert job.summary is None
    assert job.started_at is None and job.finished_at is None
    stored = JobInput.objects.get(job=job)
    assert stored.format == JobInput.Format.TEXTS
    assert json.loads(bytes(stored.data)) == texts
    assert stored.size == len(bytes(stored.data))


@pytest.mark.django_db
def test_job_create_accepts_any_sequence_of_texts():
    job = services.job_create(session_key=SESSION, texts=("one", "two"))

    assert json.loads(bytes(JobInput.objects.get(job=job).data)) == ["one", "two"]


@pytest.mark.django_db
@pytest.mark.parametrize(("count", "queue"), [(1, "quick"), (2, "quick"), (3, "bulk"), (10, "bulk")])
def test_job_create_routes_by_estimated_seconds(sentimeter_settings, count, queue):
    sentimeter_settings["QUICK_MAX_SECONDS"] = 2.5 * VADER_SPEC.cost.seconds("text 0")

    job = services.job_create(session_key=SESSION, texts=[f"text {i}" for i in range(count)])

    assert job.queue == queue
    assert Job.objects.get(pk=job.pk).queue == queue


@pytest.mark.django_db(transaction=True)
def test_job_create_enqueues_a_bulk_job_on_the_bulk_queue(sentimeter_settings):
    sentimeter_settings["QUICK_MAX_SECONDS"] = 1.5 * VADER_SPEC.cost.seconds("one")

    job = services.job_create(session_key=SESSION, texts=["one", "two"])

    rq_job = RQJob.fetch(str(job.pk), connection=get_redis())
    assert rq_job.origin == "bulk"
    assert str(job.pk) in get_queue("bulk").get_job_ids()
    assert get_queue("quick").get_job_ids() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("texts", "analyzer", "error"),
    [
        ([], None, InputError),
        (["ok", ""], None, InputError),
        (["ok"], "nope", InputError),
        (["ok"] * 4, None, InputTooLarge),
    ],
)
def test_job_create_stores_nothing_for_bad_input(small_limits, texts, analyzer, error):
    with pytest.raises(error):
        services.job_create(session_key=SESSION, texts=texts, analyzer=analyzer)

    assert not Job.objects.exists()
    assert not JobInput.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("texts", ["Great", {"a": "b"}, None, 5], ids=["string", "dict", "null", "number"])
def test_job_create_refuses_texts_that_are_not_a_list(texts):
    with pytest.raises(InputError) as caught:
        services.job_create(session_key=SESSION, texts=texts)

    assert caught.value.code == "invalid_texts"
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_job_create_with_bad_input_enqueues_nothing():
    with pytest.raises(InputError):
        services.job_create(session_key=SESSION, texts=["ok", None])

    assert get_queue("quick").get_job_ids() == []
    assert get_queue("bulk").get_job_ids() == []


# --- job_cancel -----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Job.Status.QUEUED, Job.Status.RUNNING])
def test_job_cancel_cancels_an_active_job(status):
    job = make_job(status=status)

    canceled = services.job_cancel(job=job)

    assert canceled.status == Job.Status.CANCELED
    stored = Job.objects.get(pk=job.pk)
    assert stored.status == Job.Status.CANCELED
    assert stored.finished_at is not None


@pytest.mark.django_db
def test_job_cancel_is_idempotent():
    job = make_job()
    services.job_cancel(job=job)
    first_finished_at = Job.objects.get(pk=job.pk).finished_at

    again = services.job_cancel(job=Job.objects.get(pk=job.pk))

    assert again.status == Job.Status.CANCELED
    assert Job.objects.get(pk=job.pk).finished_at == first_finished_at


@pytest.mark.django_db
def test_job_cancel_works_on_a_stale_instance():
    job = make_job()
    stale = Job.objects.get(pk=job.pk)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)

    assert services.job_cancel(job=stale).status == Job.Status.CANCELED


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Job.Status.SUCCEEDED, Job.Status.FAILED])
def test_job_cancel_conflicts_with_a_finished_job(status):
    job = make_job(status=status)

    with pytest.raises(JobConflict) as caught:
        services.job_cancel(job=job)

    assert caught.value.status == 409
    assert status in caught.value.message
    assert Job.objects.get(pk=job.pk).status == status


@pytest.mark.django_db
def test_job_cancel_stores_the_summary_of_partial_results():
    job = make_job(status=Job.Status.RUNNING, texts=["good", "bad", "so so", "great"])
    make_results(job, ["I love it", "I hate it"])

    services.job_cancel(job=job)

    job.refresh_from_db()
    assert job.summary["count"] == 2
    assert (job.summary["positive"], job.summary["negative"]) == (1, 1)


@pytest.mark.django_db
def test_job_cancel_sees_a_finish_that_happened_after_loading():
    job = make_job(status=Job.Status.RUNNING)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)

    with pytest.raises(JobConflict):
        services.job_cancel(job=job)

    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED
