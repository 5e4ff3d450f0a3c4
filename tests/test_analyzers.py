"""Analyzers are pure functions: a parametrized table, no database."""

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from worker.analyzers import (
    Scores,
    UnknownAnalyzer,
    VaderAnalyzer,
    analyzer_names,
    get_analyzer,
    label_for,
)

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

    assert scores == Scores(
        compound=expected["compound"], pos=expected["pos"], neu=expected["neu"], neg=expected["neg"]
    )
    assert scores.label == label_for(expected["compound"])


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
def test_label_for_follows_vaders_thresholds_inclusive(compound, label):
    assert label_for(compound) == label
    assert Scores(compound=compound, pos=0.0, neu=1.0, neg=0.0).label == label


def test_scores_are_frozen():
    scores = Scores(compound=0.1, pos=0.2, neu=0.8, neg=0.0)

    with pytest.raises(AttributeError):
        scores.compound = 0.9


def test_unknown_analyzer_is_refused_with_the_choices():
    with pytest.raises(UnknownAnalyzer, match=r"'nope'.*vader"):
        get_analyzer("nope")


def test_unknown_analyzer_is_a_lookup_error():
    assert issubclass(UnknownAnalyzer, LookupError)


def test_get_analyzer_returns_one_cached_instance():
    first = get_analyzer("vader")

    assert isinstance(first, VaderAnalyzer)
    assert first.name == "vader"
    assert get_analyzer("vader") is first


def test_vader_is_registered():
    assert "vader" in analyzer_names()
    assert analyzer_names() == sorted(analyzer_names())
