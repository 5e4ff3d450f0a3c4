"""What every analyzer shares: its scores, its neutral band, its cost model and its spec."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol


def gettext_noop(message: str) -> str:
    """Mark an analyzer's words for translation without importing Django here.

    makemessages collects them (gettext_noop is one of its keywords); the pages
    translate them when they show them (`gettext(spec.label)`), the worker keeps
    them in English.
    """
    return message


POSITIVE = "positive"
NEUTRAL = "neutral"
NEGATIVE = "negative"
LABELS = (POSITIVE, NEUTRAL, NEGATIVE)


@dataclass(frozen=True, slots=True)
class Scores:
    """One text's result: a score in [-1, 1], per-class values and the label."""

    compound: float
    pos: float
    neu: float
    neg: float
    label: str


@dataclass(frozen=True, slots=True)
class NeutralBand:
    """Scores at or below `negative_at` are negative, at or above `positive_at` positive.

    For analyzers that label by their score alone (VADER); others label as
    they see fit (e5: the most probable class) and say so in their module.
    """

    negative_at: float
    positive_at: float

    def label(self, compound: float) -> str:
        """Return the label this band gives a score."""
        if compound >= self.positive_at:
            return POSITIVE
        if compound <= self.negative_at:
            return NEGATIVE
        return NEUTRAL

    def scores(self, *, compound: float, pos: float, neu: float, neg: float) -> Scores:
        """Return Scores labelled by this band."""
        return Scores(compound=compound, pos=pos, neu=neu, neg=neg, label=self.label(compound))


@dataclass(frozen=True, slots=True)
class CostModel:
    """Seconds of one core to analyze a text of n units: per_text + per_unit·n + per_unit_squared·n².

    The unit is a character, or a UTF-8 byte for a model that reads
    sub-word tokens (a Hangul syllable is three bytes and about one token,
    an English word about five bytes and one token). An analyzer that reads
    at most `cap` units of a text (and drops the rest) costs no more past it.
    """

    per_text: float
    per_unit: float
    per_unit_squared: float = 0.0
    unit: Literal["char", "utf8_byte"] = "char"
    cap: int | None = None

    def units(self, text: str) -> int:
        """Return the size of a text in this model's unit."""
        return len(text.encode("utf-8", "surrogatepass")) if self.unit == "utf8_byte" else len(text)

    def seconds_for(self, units: int) -> float:
        """Return the estimated seconds for a text of this many units."""
        n = min(units, self.cap) if self.cap is not None else units
        return self.per_text + self.per_unit * n + self.per_unit_squared * n * n

    def seconds(self, text: str) -> float:
        """Return the estimated seconds to analyze this text."""
        return self.seconds_for(self.units(text))

    def seconds_total(self, texts: Sequence[str]) -> float:
        """Return the estimated seconds to analyze all these texts on one core."""
        return sum(self.seconds_for(self.units(t)) for t in texts)

    def seconds_guess(self, *, count: int, units: int) -> float:
        """Return the estimated seconds for `count` texts of `units` in all (lengths unknown: even)."""
        if count <= 0:
            return 0.0
        return count * self.seconds_for(units // count)


# The text the API's `texts_per_second` describes: a short review of about
# twenty English words (120 characters; as many UTF-8 bytes).
TYPICAL_TEXT_UNITS = 120


class Analyzer(Protocol):
    """A loaded analyzer: a batch of texts in, their scores out, in order."""

    def analyze(self, texts: Sequence[str]) -> list[Scores]: ...


@dataclass(frozen=True, slots=True)
class AnalyzerSpec:
    """What an analyzer declares; chunk sizes, routing, the form and the API derive from it.

    `languages` are ISO 639-1 codes of the languages it reads well; a job
    whose texts are mostly in another language gets a warning. `load`
    builds the analyzer (once per process: it may load a model).
    """

    name: str
    label: str
    description: str
    languages: tuple[str, ...]
    batch_size: int
    cost: CostModel
    load: Callable[[], Analyzer]

    @property
    def texts_per_second(self) -> float:
        """Texts of about twenty words one core analyzes per second (from the cost model)."""
        return 1.0 / self.cost.seconds_for(TYPICAL_TEXT_UNITS)

    def reads(self, language: str) -> bool:
        """Return whether this analyzer reads texts in that language."""
        return language in self.languages
