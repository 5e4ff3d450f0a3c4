"""VADER: fast, lexicon- and rule-based, tuned for English social-media text.

It reads English words only: a text in another language scores 0.0 and is
labelled neutral (the job then carries a warning, see worker/languages.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from worker.analyzers.base import AnalyzerSpec, CostModel, NeutralBand, Scores, gettext_noop

# VADER's own convention (github.com/cjhutto/vaderSentiment, "About the Scoring").
BAND = NeutralBand(negative_at=-0.05, positive_at=0.05)


class VaderAnalyzer:
    """Score each text with vaderSentiment's SentimentIntensityAnalyzer."""

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._sia = SentimentIntensityAnalyzer()

    def analyze(self, texts: Sequence[str]) -> list[Scores]:
        polarity = self._sia.polarity_scores
        label = BAND.label
        out = []
        for text in texts:
            s = polarity(text)
            out.append(
                Scores(
                    compound=s["compound"],
                    pos=s["pos"],
                    neu=s["neu"],
                    neg=s["neg"],
                    label=label(s["compound"]),
                )
            )
        return out


SPEC = AnalyzerSpec(
    name="vader",
    label=gettext_noop("VADER (English, fast)"),
    description=gettext_noop(
        "Rules and a word list tuned for English social-media posts. Very fast; "
        "reads English only: texts in other languages come out neutral."
    ),
    languages=("en",),
    batch_size=1000,
    # VADER slows per character as texts grow (README, Benchmarks: ~1.8M characters/s
    # at ~15 words, 1.2M at ~80, 0.69M at ~200); n + n²/600 follows that within a few
    # per cent. Measured with tests/benchmarks/bench_analyzer.py.
    cost=CostModel(per_text=0.0, per_unit=5.0e-7, per_unit_squared=5.0e-7 / 600),
    load=VaderAnalyzer,
)
