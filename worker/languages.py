"""Which language a text is in, roughly: enough to warn that an analyzer cannot read a job.

Writing systems tell most languages apart at once (Hangul is Korean, kana
Japanese); among texts in Latin letters, English is told by its most
common short words. This is a guess for a warning, not a classifier: a
text it cannot place (digits, emoji, a Latin-script text without English
function words, too few letters) counts as unknown and never triggers one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils.translation import gettext_lazy

from worker.analyzers.base import AnalyzerSpec

# Names for the languages this module can tell apart, for messages.
NAMES = {
    "en": gettext_lazy("English"),
    "ko": gettext_lazy("Korean"),
    "ja": gettext_lazy("Japanese"),
    "zh": gettext_lazy("Chinese"),
    "ru": gettext_lazy("Russian"),
    "ar": gettext_lazy("Arabic"),
    "he": gettext_lazy("Hebrew"),
    "el": gettext_lazy("Greek"),
    "th": gettext_lazy("Thai"),
    "hi": gettext_lazy("Hindi"),
    "latin": gettext_lazy("a language in Latin letters other than English"),
}


def _look(code: str) -> str:
    if code == "latin":
        return "are in Latin letters but not English"
    return f"look {NAMES[code]}"


_SCRIPTS = (
    ("ko", re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
)
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f']+")
# The commonest English words, seldom words of other Latin-script languages.
_ENGLISH = frozenset(
    "the and is are was were it this that to of for with not but you my i me we they have has had "
    "very so be been just would will can it's i'm don't didn't isn't was not at on from what all".split()
)
# Fewer Latin words than this, and no English one, says too little to place a text.
_MIN_WORDS = 4


def guess(text: str) -> str | None:
    """Return the language code of a text (a key of NAMES), or None if it cannot be told."""
    letters = 0
    best, best_count = None, 0
    for code, pattern in _SCRIPTS:
        n = len(pattern.findall(text))
        if n > best_count:
            best, best_count = code, n
        letters += n
    if best == "zh" and best_count and _SCRIPTS[1][1].search(text):
        best = "ja"  # Japanese mixes kanji with kana
    words = _LATIN_WORD.findall(text)
    latin = sum(len(w) for w in words)
    if best_count and best_count * 2 >= latin:
        return best
    if not words:
        return None
    if any(w.lower() in _ENGLISH for w in words):
        return "en"
    return "latin" if len(words) >= _MIN_WORDS else None


@dataclass(frozen=True, slots=True)
class LanguageMix:
    """How many of a sample of texts are in each language (None: could not tell)."""

    counts: Counter
    total: int

    def share_unread(self, languages: Iterable[str]) -> tuple[float, str | None]:
        """The share of texts in languages not in `languages`, and the commonest of those."""
        readable = set(languages)
        unread = Counter(
            {lang: n for lang, n in self.counts.items() if lang is not None and lang not in readable}
        )
        if not self.total or not unread:
            return 0.0, None
        return sum(unread.values()) / self.total, unread.most_common(1)[0][0]


def language_mix(texts: Iterable[str]) -> LanguageMix:
    """Count the guessed language of each text."""
    counts: Counter = Counter()
    total = 0
    for text in texts:
        counts[guess(text)] += 1
        total += 1
    return LanguageMix(counts=counts, total=total)


# Share of a job's texts in a language its analyzer does not read from which
# the job carries a warning: most of them, or a part worth knowing about.
MOSTLY_UNREAD = 0.5
PARTLY_UNREAD = 0.1


def warnings_for(mix: LanguageMix, *, spec: AnalyzerSpec, alternatives: Sequence[AnalyzerSpec]) -> list[dict]:
    """Warnings for a job whose texts are partly or mostly in languages its analyzer does not read.

    `alternatives` are the other analyzers; those that read the commonest
    unread language are named in the advice.
    """
    share, commonest = mix.share_unread(spec.languages)
    if share < PARTLY_UNREAD or commonest is None:
        return []
    reads = " and ".join(str(NAMES[lang]) for lang in spec.languages if lang in NAMES and lang != "latin")
    readers = [other.label for other in alternatives if other.name != spec.name and other.reads(commonest)]
    advice = f" Submit them again with the {readers[0]} analyzer." if readers else ""
    said = f"{share:.0%} of these texts {_look(commonest)}, but {spec.label} reads only {reads}"
    if share >= MOSTLY_UNREAD:
        return [
            {
                "code": "language_unread",
                "message": f"{said}, so its scores for them, and this job's summary, mean little.{advice}",
            }
        ]
    return [
        {"code": "language_partly_unread", "message": f"{said}, so its scores for them mean little.{advice}"}
    ]
