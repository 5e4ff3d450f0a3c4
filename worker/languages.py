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

from worker.analyzers.base import AnalyzerSpec
from worker.messages import Message, gettext_noop

# Names for the languages this module can tell apart, for messages (said in the reader's language).
NAMES = {
    "en": gettext_noop("English"),
    "ko": gettext_noop("Korean"),
    "ja": gettext_noop("Japanese"),
    "zh": gettext_noop("Chinese"),
    "ru": gettext_noop("Russian"),
    "ar": gettext_noop("Arabic"),
    "he": gettext_noop("Hebrew"),
    "el": gettext_noop("Greek"),
    "th": gettext_noop("Thai"),
    "hi": gettext_noop("Hindi"),
    "latin": gettext_noop("a language in Latin letters other than English"),
}


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
    unread language are named in the advice. Each warning is {"code",
    "message" (English), "text" (its Message, said in the reader's language when shown)}.
    """
    share, commonest = mix.share_unread(spec.languages)
    if share < PARTLY_UNREAD or commonest is None:
        return []
    params = {
        "percent": round(share * 100),
        "analyzer": Message(spec.label),
        "reads": _names_joined(spec.languages),
    }
    if commonest == "latin":
        said = Message(
            gettext_noop(
                "%(percent)s%% of these texts are in Latin letters but not English, "
                "but %(analyzer)s reads only %(reads)s"
            ),
            params,
        )
    else:
        said = Message(
            gettext_noop(
                "%(percent)s%% of these texts look %(language)s, but %(analyzer)s reads only %(reads)s"
            ),
            {**params, "language": Message(NAMES[commonest])},
        )
    readers = [other.label for other in alternatives if other.name != spec.name and other.reads(commonest)]
    advice = (
        Message(
            gettext_noop(" Submit them again with the %(analyzer)s analyzer."),
            {"analyzer": Message(readers[0])},
        )
        if readers
        else ""
    )
    if share >= MOSTLY_UNREAD:
        code = "language_unread"
        template = gettext_noop(
            "%(said)s, so its scores for them, and this job's summary, mean little.%(advice)s"
        )
    else:
        code = "language_partly_unread"
        template = gettext_noop("%(said)s, so its scores for them mean little.%(advice)s")
    message = Message(template, {"said": said, "advice": advice})
    return [{"code": code, "message": message.english(), "text": message.to_json()}]


def _names_joined(languages: Iterable[str]) -> Message:
    """The languages an analyzer reads, by name: "English", "English and Korean"."""
    named = [Message(NAMES[lang]) for lang in languages if lang in NAMES and lang != "latin"]
    if len(named) <= 1:
        return named[0] if named else Message("")
    joined = named[0]
    for name in named[1:]:
        joined = Message(gettext_noop("%(first)s and %(second)s"), {"first": joined, "second": name})
    return joined
