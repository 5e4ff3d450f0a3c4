"""What drives a job's sentiment: terms, their log-odds ranking, and the summary that keeps them."""

from collections import Counter

import pytest

from tests.builders import make_job, owner_session
from web.models import Result
from worker import drivers, pipeline, summary

NEGATIVE = [
    "The delivery was late and the box was crushed.",
    "Late delivery, poor quality.",
    "Not worth the money, it arrived late.",
    "Poor quality and too small.",
    "Broken on arrival, not worth it.",
    "The strap broke after a week: poor quality.",
]
POSITIVE = [
    "Great quality, fast delivery.",
    "Love it, great value.",
    "Fast shipping and a great fit.",
    "Perfect fit, love the colour.",
    "Great value for the money.",
]


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("The box was crushed.", ["box", "crushed"]),
        ("Not good at all", ["not", "good", "not good"]),
        ("It wasn't sealed", ["wasn't", "sealed", "wasn't sealed"]),
        ("It isn’t sealed", ["isn't", "sealed", "isn't sealed"]),
        # Punctuation ends a phrase: no "late poor".
        ("Late, poor quality!", ["late", "poor", "quality", "poor quality"]),
        ("A 5 star product 10/10", ["star", "product", "star product"]),
        ("", []),
    ],
)
def test_terms_are_words_and_phrases_of_a_clause_without_stop_words(text, terms):
    assert drivers.terms_latin(text) == terms


def test_a_term_found_only_in_negative_texts_leads_the_negative_side():
    ranked = drivers.drivers(
        [(t, "negative") for t in NEGATIVE * 5] + [(t, "positive") for t in POSITIVE * 5]
    )

    negative = [d["term"] for d in ranked["negative"]]
    positive = [d["term"] for d in ranked["positive"]]
    assert {"late", "poor quality"} <= set(negative)
    assert positive[0] == "great"
    assert not set(negative) & set(positive)
    # "delivery" is in both sides' texts: it does not set either apart.
    assert "delivery" not in negative + positive
    late = next(d for d in ranked["negative"] if d["term"] == "late")
    assert (late["negative"], late["positive"]) == (15, 0) and late["z"] >= drivers.MIN_Z


def test_sides_are_symmetric():
    ranked = drivers.drivers(
        [(t, "negative") for t in NEGATIVE * 5] + [(t, "positive") for t in POSITIVE * 5]
    )
    swapped = drivers.drivers(
        [(t, "positive") for t in NEGATIVE * 5] + [(t, "negative") for t in POSITIVE * 5]
    )

    assert [d["term"] for d in ranked["negative"]] == [d["term"] for d in swapped["positive"]]
    assert [d["z"] for d in ranked["negative"]] == [-d["z"] for d in swapped["positive"]]


def test_a_rare_term_is_not_ranked_however_lopsided():
    texts = [("Zipper jammed.", "negative"), ("Zipper jammed again.", "negative")]
    texts += [(t, "positive") for t in POSITIVE * 5] + [(t, "negative") for t in NEGATIVE * 5]

    ranked = drivers.drivers(texts)

    assert "jammed" not in [d["term"] for d in ranked["negative"]]


def test_a_text_counts_each_term_once():
    rant = ("awful " * 200).strip()
    counted = Counter()
    counted.update(drivers.text_terms(rant))

    assert counted["awful"] == 1
    assert counted["awful awful"] == 1


def test_neutral_texts_take_no_part_and_nothing_in_gives_nothing_out():
    assert drivers.drivers([]) == {"negative": [], "positive": []}
    assert drivers.drivers([(t, "neutral") for t in NEGATIVE * 5]) == {"negative": [], "positive": []}


def test_korean_texts_go_to_the_korean_terms_function_given():
    seen = []

    def terms_korean(text):
        seen.append(text)
        return ["배송", "늦다"]

    assert drivers.text_terms("배송이 늦어요", terms_korean=terms_korean) == {"배송", "늦다"}
    assert drivers.text_terms("late delivery", terms_korean=terms_korean) == {
        "late",
        "delivery",
        "late delivery",
    }
    assert seen == ["배송이 늦어요"]


def test_the_summary_keeps_the_drivers_and_the_extremes(db):
    job = make_job(texts=NEGATIVE * 5 + POSITIVE * 5 + ["The box is brown."])
    pipeline.job_process(job.pk)
    job.refresh_from_db()

    summary = job.summary
    assert "late" in [d["term"] for d in summary["drivers"]["negative"]]
    assert "great" in [d["term"] for d in summary["drivers"]["positive"]]
    worst = Result.objects.filter(job=job, label="negative").order_by("compound", "idx")[:5]
    best = Result.objects.filter(job=job, label="positive").order_by("-compound", "idx")[:5]
    assert [e["idx"] for e in summary["extremes"]["negative"]] == [r.idx for r in worst]
    assert [e["idx"] for e in summary["extremes"]["positive"]] == [r.idx for r in best]
    assert all(e["compound"] > 0 for e in summary["extremes"]["positive"])


def test_an_extreme_text_is_clipped():
    assert summary._clipped("short") == "short"
    clipped = summary._clipped("x" * 1000)
    assert len(clipped) == summary.EXTREME_CHARS and clipped.endswith("…")


def test_a_big_job_is_sampled_across_all_its_rows(db, monkeypatch):
    monkeypatch.setattr(summary, "DRIVERS_SAMPLE", 20)
    # The first 40 negative texts say "late", the last 40 "broken": a sample of
    # the first rows alone would never see "broken".
    texts = ["It came late, sadly."] * 40 + ["It came broken, sadly."] * 40 + POSITIVE * 8
    job = make_job(texts=texts)
    pipeline.job_process(job.pk)
    job.refresh_from_db()

    negative = {d["term"]: d for d in job.summary["drivers"]["negative"]}
    assert negative["late"]["negative"] == negative["broken"]["negative"] == 10


def test_the_job_page_shows_what_drives_it_with_links_to_the_texts(db, client):
    job = make_job(session_key=owner_session(client), texts=NEGATIVE * 5 + POSITIVE * 5)
    pipeline.job_process(job.pk)

    content = client.get(f"/jobs/{job.pk}/").content.decode()

    assert "What drives it" in content
    assert '<a class="term" href="?q=poor%20quality#results">poor quality</a>' in content
    assert 'id="extremes-negative"' in content and 'id="extremes-positive"' in content
