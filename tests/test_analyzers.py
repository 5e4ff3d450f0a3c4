"""VADER, the registry and what analyzers share: pure functions, parametrized tables, no database.

The multilingual analyzer has its own module: tests/test_analyzer_e5.py.
"""

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from worker.analyzers.base import CostModel, NeutralBand, Scores
from worker.analyzers.registry import (
    UnknownAnalyzer,
    analyzer_names,
    analyzer_specs,
    get_analyzer,
    spec_for_job,
    spec_get,
)
from worker.analyzers.vader import BAND, VaderAnalyzer
from worker.exceptions import InputError

REFERENCE = SentimentIntensityAnalyzer()

TEXTS = [
    pytest.param("I love this product!", id="positive"),
    pytest.param("This is the worst purchase I have ever made.", id="negative"),
    pytest.param("The package arrived on Tuesday.", id="neutral"),
    pytest.param("The food was GREAT!!!", id="caps-and-exclamations"),
    pytest.param("The food was great", id="no-emphasis"),
    pytest.param("The movie was not good at all", id="negation"),
    pytest.param("The plot was good, but the acting was terrible", id="contrast-but"),
    pytest.param("I'm kinda happy, sort of", id="hedging"),
    pytest.param("Best day ever 😀🎉", id="emoji-positive"),
    pytest.param("😡😡😡", id="emoji-only"),
    pytest.param("I 💔 Mondays", id="emoji-heart"),
    pytest.param(":) :( :D", id="emoticons"),
    pytest.param("lol this is sooo bad lmao", id="slang"),
    pytest.param("이 영화 정말 좋아요", id="korean"),
    pytest.param("Das ist wirklich sehr schlecht", id="german"),
    pytest.param("C'est génial, j'adore", id="french-accents"),
    pytest.param("...", id="ellipsis"),
    pytest.param("!!!???", id="punctuation-only"),
    pytest.param("-", id="dash"),
    pytest.param("", id="empty"),
    pytest.param("   \t ", id="whitespace"),
    pytest.param("12345", id="digits"),
    pytest.param("good " * 300, id="long-repetition"),
]


@pytest.mark.parametrize("text", TEXTS)
def test_vader_matches_the_reference_exactly(text):
    expected = REFERENCE.polarity_scores(text)

    [scores] = VaderAnalyzer().analyze([text])

    assert scores == BAND.scores(
        compound=expected["compound"], pos=expected["pos"], neu=expected["neu"], neg=expected["neg"]
    )


def test_vader_keeps_order_and_length_of_a_batch():
    texts = [p.values[0] for p in TEXTS]

    scores = VaderAnalyzer().analyze(texts)

    assert len(scores) == len(texts)
    assert [s.compound for s in scores] == [REFERENCE.polarity_scores(t)["compound"] for t in texts]


def test_vader_analyzes_an_empty_batch():
    assert VaderAnalyzer().analyze([]) == []


@pytest.mark.parametrize(
    ("compound", "label"),
    [
        (1.0, "positive"),
        (0.5, "positive"),
        (0.05, "positive"),
        (0.0499, "neutral"),
        (0.0, "neutral"),
        (-0.0499, "neutral"),
        (-0.05, "negative"),
        (-0.5, "negative"),
        (-1.0, "negative"),
    ],
)
def test_vaders_band_follows_its_thresholds_inclusive(compound, label):
    assert BAND.label(compound) == label
    assert BAND.scores(compound=compound, pos=0.0, neu=1.0, neg=0.0).label == label


def test_a_band_of_its_own_labels_by_its_own_thresholds():
    band = NeutralBand(negative_at=-0.3, positive_at=0.2)

    assert [band.label(c) for c in (-0.31, -0.3, -0.29, 0.0, 0.19, 0.2)] == [
        "negative",
        "negative",
        "neutral",
        "neutral",
        "neutral",
        "positive",
    ]


def test_scores_are_frozen():
    scores = Scores(compound=0.1, pos=0.2, neu=0.8, neg=0.0, label="positive")

    with pytest.raises(AttributeError):
        scores.compound = 0.9


def test_unknown_analyzer_is_refused_with_the_choices():
    with pytest.raises(UnknownAnalyzer, match=r"'nope'.*vader"):
        get_analyzer("nope")


def test_unknown_analyzer_is_a_lookup_error():
    assert issubclass(UnknownAnalyzer, LookupError)


def test_a_jobs_analyzer_gone_since_its_submit_is_its_bad_input_with_the_choices():
    assert spec_for_job("vader") is spec_get("vader")
    with pytest.raises(InputError, match=r"'nope'.*vader") as caught:
        spec_for_job("nope")
    assert caught.value.code == "unknown_analyzer"


def test_get_analyzer_returns_one_cached_instance():
    first = get_analyzer("vader")

    assert isinstance(first, VaderAnalyzer)
    assert get_analyzer("vader") is first


def test_both_analyzers_are_registered_with_what_they_read():
    assert analyzer_names() == ["e5", "vader"]
    assert spec_get("vader").languages == ("en",)
    assert {"en", "ko"} <= set(spec_get("e5").languages)
    assert [spec.name for spec in analyzer_specs()] == analyzer_names()


@pytest.mark.parametrize(
    ("cost", "text", "seconds"),
    [
        (CostModel(per_text=0.5, per_unit=0.25), "abcd", 1.5),
        (CostModel(per_text=0.0, per_unit=1.0, per_unit_squared=0.5), "ab", 4.0),
        # Hangul syllables are three UTF-8 bytes each.
        (CostModel(per_text=0.0, per_unit=1.0, unit="utf8_byte"), "좋아", 6.0),
        (CostModel(per_text=0.0, per_unit=1.0), "좋아", 2.0),
        # Past the cap, the analyzer reads no more: the text costs no more.
        (CostModel(per_text=1.0, per_unit=1.0, cap=3), "abcdefgh", 4.0),
    ],
)
def test_the_cost_model_estimates_seconds_per_text(cost, text, seconds):
    assert cost.seconds(text) == pytest.approx(seconds)


def test_the_cost_model_guesses_a_batch_of_unknown_lengths_as_even():
    cost = CostModel(per_text=1.0, per_unit=0.0, per_unit_squared=1.0)

    assert cost.seconds_guess(count=2, units=6) == pytest.approx(2 * (1 + 9))
    assert cost.seconds_guess(count=0, units=0) == 0.0
    assert cost.seconds_total(["abc", "abc"]) == pytest.approx(20.0)


def test_vaders_cost_model_says_what_the_api_reports():
    # ~20 words: thousands of texts a second on one core (README, Analyzers).
    assert 5_000 < spec_get("vader").texts_per_second < 50_000
