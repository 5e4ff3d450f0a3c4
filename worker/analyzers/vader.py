"""Sentiment analyzers: batches of texts in, batches of scores out.

Nothing here imports Django, so analyzers are tested as pure functions. An
analyzer is registered under a name that jobs choose (`"vader"` by default);
a slower multilingual one can join behind the same small interface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Protocol

# VADER's own convention (github.com/cjhutto/vaderSentiment, "About the Scoring").
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05


@dataclass(frozen=True, slots=True)
class Scores:
    compound: float
    pos: float
    neu: float
    neg: float

    @property
    def label(self) -> str:
        return label_for(self.compound)


def label_for(compound: float) -> str:
    """Return the label VADER's convention gives a compound score."""
    if compound >= POSITIVE_THRESHOLD:
        return "positive"
    if compound <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


class Analyzer(Protocol):
    name: str

    def analyze(self, texts: Sequence[str]) -> list[Scores]: ...


class UnknownAnalyzer(LookupError):
    """No analyzer is registered under the requested name."""


class VaderAnalyzer:
    """VADER: fast, lexicon- and rule-based, tuned for English social media text."""

    name = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._sia = SentimentIntensityAnalyzer()

    def analyze(self, texts: Sequence[str]) -> list[Scores]:
        polarity = self._sia.polarity_scores
        out = []
        for text in texts:
            s = polarity(text)
            out.append(Scores(compound=s["compound"], pos=s["pos"], neu=s["neu"], neg=s["neg"]))
        return out


_REGISTRY: dict[str, Callable[[], Analyzer]] = {
    VaderAnalyzer.name: VaderAnalyzer,
}


def analyzer_names() -> list[str]:
    """Return the names jobs may choose from."""
    return sorted(_REGISTRY)


@cache
def get_analyzer(name: str) -> Analyzer:
    """Return the shared instance of the named analyzer, loading it on first use."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise UnknownAnalyzer(
            f"Unknown analyzer {name!r}; choose one of: {', '.join(analyzer_names())}."
        ) from None
    return factory()
