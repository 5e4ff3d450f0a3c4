"""What drives a job's sentiment: the words and phrases that set its negative texts apart from its positive.

Each text contributes its terms once (a review that says "late" five times
counts once), so one long rant cannot lead the list. Terms are words and
two-word phrases with stop words removed; negations stay ("not good" is a
phrase, "good" another). A text with Hangul goes through a morphological
analyzer (worker/morphemes.py, MeCab-ko), since Korean words carry their
particles and endings: 배송이, 배송은 and 배송도 are all 배송.

The ranking is the log-odds ratio with an informative Dirichlet prior
(Monroe, Colaresi and Quinn, "Fightin' Words", 2008): for each term, the
difference of its log-odds in the negative and in the positive texts,
shrunk towards the two groups' pooled frequency and divided by its standard
error. A z-score over ~2 is a difference that chance would rarely make; rare
terms cannot reach it, unlike a plain ratio, which crowns a word seen once.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from worker import morphemes

# Terms a text must share with this many texts before they are ranked.
MIN_TEXTS = 3
# A term is reported when its z-score says so at about the 5 % level...
MIN_Z = 1.96
# ...and at most this many per side.
TOP = 10
# The prior weighs this share of the counted terms: enough to quiet a term seen in a
# handful of texts, little beside a common one.
PRIOR_SHARE = 0.1

# Function words that say nothing of sentiment. Negations (not, no, never, nor and
# the n't forms) and intensifiers (very, too) are left out of it on purpose: "not
# worth" and "too small" are what drives a review.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to under until up was we were what when where which while who
    whom why will with would you your yours yourself yourselves i'm i've i'd i'll it's that's
    there's they're we're you're he's she's let's im ive get got us
    """.split()
)

# A word, or a run of the punctuation that ends a clause (matched as an empty word):
# one pass over a text finds both.
_WORD_OR_CLAUSE_END = re.compile(r"([^\W\d_]+(?:'[^\W\d_]+)?)|[.!?;:,()\[\]\n\u2026\u3002\uff01\uff1f]+")
# The same for a lowercased ASCII text, where a letter is a-z: a plain character set
# is matched about twice as fast as a Unicode category.
_ASCII_WORD_OR_CLAUSE_END = re.compile(r"([a-z]+(?:'[a-z]+)?)|[.!?;:,()\[\]\n]+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def terms_latin(text: str) -> list[str]:
    """Words and two-word phrases of a text in Latin (or other spaced) script, stop words removed.

    The words in order, then the phrases in order. A phrase is two
    neighbouring words of one clause: punctuation ends a clause. It runs on
    every sampled text when a big job ends, so it is one regex pass.
    """
    # The typographic apostrophe is written as ' (isn’t and isn't are one term).
    text = text.lower().replace("’", "'")
    pattern = _ASCII_WORD_OR_CLAUSE_END if text.isascii() else _WORD_OR_CLAUSE_END
    kept = [None if not w or w in STOP_WORDS or len(w) < 2 else w for w in pattern.findall(text)]
    words = [w for w in kept if w]
    return words + [f"{a} {b}" for a, b in zip(kept, kept[1:], strict=False) if a and b]


def has_hangul(text: str) -> bool:
    return _HANGUL.search(text) is not None


def korean_terms(text: str) -> list[str]:
    """Words and two-word phrases of a text with Hangul (worker/morphemes.py), less English stop words."""
    return [t for t in morphemes.terms(text) if not STOP_WORDS.intersection(t.split())]


def text_terms(text: str, *, terms_korean: Callable[[str], list[str]] | None = korean_terms) -> set[str]:
    """The distinct terms of one text: Korean ones by `terms_korean` when the text has Hangul."""
    if terms_korean is not None and has_hangul(text):
        return set(terms_korean(text))
    return set(terms_latin(text))


def log_odds(negative: Counter, positive: Counter, *, min_texts: int = MIN_TEXTS) -> list[tuple[str, float]]:
    """Each term's z-scored log-odds ratio, negative texts against positive ones (above 0: more negative).

    `negative` and `positive` count, per term, the texts of each side that have it.
    Terms in fewer than `min_texts` texts altogether are left out.
    """
    pooled = negative + positive
    total = sum(pooled.values())
    # One term alone has nothing to be over-represented against (and its
    # odds' denominators would be zero when it is in every text).
    if len(pooled) < 2:
        return []
    n_neg, n_pos = sum(negative.values()), sum(positive.values())
    weight = PRIOR_SHARE * total
    ranked = []
    for term, count in pooled.items():
        if count < min_texts:
            continue
        alpha = weight * count / total
        y_neg, y_pos = negative[term], positive[term]
        delta = math.log((y_neg + alpha) / (n_neg + weight - y_neg - alpha)) - math.log(
            (y_pos + alpha) / (n_pos + weight - y_pos - alpha)
        )
        variance = 1.0 / (y_neg + alpha) + 1.0 / (y_pos + alpha)
        ranked.append((term, delta / math.sqrt(variance)))
    return ranked


def drivers(
    texts: Iterable[tuple[str, str]],
    *,
    terms_korean: Callable[[str], list[str]] | None = korean_terms,
    top: int = TOP,
    min_texts: int = MIN_TEXTS,
) -> dict[str, list[dict]]:
    """Rank the terms that set negative texts apart from positive ones, from (text, label) pairs.

    Returns {"negative": [...], "positive": [...]}, each a list of up to `top`
    {"term", "z", "negative", "positive"} (the last two: how many texts of each
    side have the term), strongest first. Neutral texts take no part.
    """
    counts = {"negative": Counter(), "positive": Counter()}
    for text, label in texts:
        if label in counts:
            counts[label].update(text_terms(text, terms_korean=terms_korean))
    ranked = log_odds(counts["negative"], counts["positive"], min_texts=min_texts)
    return {
        side: _strongest(ranked, counts, sign=1 if side == "negative" else -1, top=top)
        for side in ("negative", "positive")
    }


def _strongest(
    ranked: Sequence[tuple[str, float]], counts: dict[str, Counter], *, sign: int, top: int
) -> list[dict]:
    chosen = sorted(
        ((term, z) for term, z in ranked if sign * z >= MIN_Z), key=lambda tz: (-sign * tz[1], tz[0])
    )
    out = []
    for term, z in chosen:
        # A phrase whose words already lead the list adds nothing ("late" and "late delivery"
        # both in, fine; "delivery late" after "late delivery" is the same thing twice).
        if any(_same_words(term, earlier["term"]) for earlier in out):
            continue
        out.append(
            {
                "term": term,
                "z": round(z, 2),
                "negative": counts["negative"][term],
                "positive": counts["positive"][term],
            }
        )
        if len(out) == top:
            break
    return out


def _same_words(a: str, b: str) -> bool:
    return a != b and sorted(a.split()) == sorted(b.split())
