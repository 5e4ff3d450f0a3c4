"""Which column of a table holds the texts: judged by what its cells look like, then by its name.

Pure Python, no Django. `inspect()` (worker/inputs.py) calls `column_choose`
on the sample rows of an upload: each column's cells are sorted into kinds
(sentence, single word, number, date, id or code, empty), and the column
whose cells are most often sentences is the text. A name such as "review"
or "리뷰" breaks a near tie but never beats a column that holds sentences
when the named one holds dates or numbers: a CSV of `id, stars, when` had
its dates analyzed, all "neutral", before this.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from worker.exceptions import InputError
from worker.messages import Message, gettext_noop

# Words in a column name that say "the text" (English and Korean exports),
# matched anywhere in the name: "Review Text", "리뷰 내용", "customer_comment".
TEXT_NAME_WORDS = (
    "text",
    "review",
    "comment",
    "content",
    "body",
    "message",
    "feedback",
    "opinion",
    "remark",
    "description",
    "리뷰",
    "내용",
    "후기",
    "의견",
    "댓글",
    "본문",
    "텍스트",
    "코멘트",
    "평가",
    "문장",
)
# Words that make a name a short label however it goes on ("Review Title", "리뷰 제목").
NOT_TEXT_NAME_WORDS = ("title", "subject", "name", "date", "time", "id", "제목", "이름", "날짜", "번호")
# What a name match adds to a column's score (its share of sentences, 0-1):
# enough to choose between two columns of sentences, never enough to lift a
# column of dates or numbers over one of sentences.
NAME_BONUS = 0.2
# A column is the text when at least this share of its filled sample cells
# are sentences (or, when no column has sentences, single words).
TEXT_SHARE = 0.5

SENTENCE, WORD, NUMBER, DATE, ID, EMPTY, OTHER = "sentence", "word", "number", "date", "id", "empty", "other"

_NUMBER = re.compile(r"^[-+]?[$€£¥₩]?\s*(\d{1,3}([,.\s]\d{3})+|\d+)([.,]\d+)?\s*(%|[eE][-+]?\d+)?$")
_MONTHS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july|"
    "august|september|october|november|december"
)
_DATES = [
    # 2026-11-03, 2026/11/03, 2026.11.03, with a time or not (ISO 8601 too)
    re.compile(
        r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\.?([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?)?$"
    ),
    # 11/03/2026, 3.11.2026, 03-11-26
    re.compile(
        r"^\d{1,2}[-/.]\d{1,2}[-/.](\d{4}|\d{2})([ T]\d{1,2}:\d{2}(:\d{2})?\s*([ap]\.?m\.?)?)?$", re.I
    ),
    # 2026년 11월 3일 (오후 3:04)
    re.compile(
        r"^(\d{2,4}\s*년\s*)?\d{1,2}\s*월(\s*\d{1,2}\s*일)?(\s*\(?[월화수목금토일]\)?)?(\s*(오전|오후))?(\s*\d{1,2}:\d{2}(:\d{2})?)?$"
    ),
    # Nov 3, 2026 / 3 November 2026 / Tuesday, November 3, 2026
    re.compile(rf"^(\w+,?\s+)?({_MONTHS})\.?\s+\d{{1,2}}(st|nd|rd|th)?,?\s+\d{{4}}$", re.I),
    re.compile(rf"^\d{{1,2}}(st|nd|rd|th)?\s+({_MONTHS})\.?,?\s+\d{{4}}$", re.I),
    # 14:05, 2:05 pm
    re.compile(r"^\d{1,2}:\d{2}(:\d{2})?\s*([ap]\.?m\.?)?$", re.I),
]
# One token of letters and digits joined by - _ / . # : (A-17, SKU-00231, a UUID, an e-mail, a URL).
_CODE = re.compile(r"^[\w\-/.#:@+]+$")


def value_kind(value: str | None) -> str:
    """Say what one cell looks like: a sentence, a single word, a number, a date, an id or code, empty."""
    if value is None:
        return EMPTY
    value = value.strip()
    if not value:
        return EMPTY
    if _NUMBER.match(value):
        return NUMBER
    if any(pattern.match(value) for pattern in _DATES):
        return DATE
    letters = sum(1 for c in value if c.isalpha())
    words = [w for w in value.split() if any(c.isalpha() for c in w)]
    if len(words) >= 2 and letters >= 4:
        return SENTENCE
    if (
        len(words) <= 1
        and " " not in value.strip()
        and _CODE.match(value)
        and any(c.isdigit() for c in value)
    ):
        return ID
    if len(words) == 1 and letters >= 6 and not value.isascii() and letters == len(value.strip(".!?~ ")):
        # Chinese and Japanese write sentences without spaces; a long run of letters is one.
        if not _is_hangul(value):
            return SENTENCE
    if words:
        return WORD
    return OTHER


def _is_hangul(value: str) -> bool:
    # Korean separates words with spaces: a run of Hangul with none is one word.
    return any("\uac00" <= c <= "\ud7a3" for c in value)


@dataclass(frozen=True, slots=True)
class ColumnLook:
    """What a column's sample cells look like: how many of each kind, and the range of its numbers."""

    name: str
    kinds: Counter
    numbers: tuple[float, float] | None = None  # smallest and largest, when it holds numbers
    mean_words: float = 0.0  # per filled cell

    @property
    def filled(self) -> int:
        return sum(n for kind, n in self.kinds.items() if kind != EMPTY)

    def share(self, *kinds: str) -> float:
        """The share of filled cells of these kinds (0 for a column with none filled)."""
        return sum(self.kinds[k] for k in kinds) / self.filled if self.filled else 0.0

    @property
    def mostly(self) -> str:
        """The kind most of its filled cells are (EMPTY if none is filled)."""
        if not self.filled:
            return EMPTY
        kind, _ = max(((k, n) for k, n in self.kinds.items() if k != EMPTY), key=lambda kn: kn[1])
        return kind

    def describe(self) -> Message:
        """Say in a few words what the column holds: "dates", "numbers 1–5", "ids", "text"."""
        kind = self.mostly
        if kind == NUMBER and _name_says_id(self.name):
            return Message(_KINDS[ID])
        if kind == NUMBER and self.numbers:
            low, high = (_number_text(n) for n in self.numbers)
            if low != high:
                return Message(gettext_noop("numbers %(low)s–%(high)s"), {"low": low, "high": high})
            return Message(gettext_noop("numbers (%(number)s)"), {"number": low})
        return Message(_KINDS[kind])


# What a column holds, in a word (ColumnLook.describe).
_KINDS = {
    SENTENCE: gettext_noop("text"),
    WORD: gettext_noop("single words"),
    NUMBER: gettext_noop("numbers"),
    DATE: gettext_noop("dates"),
    ID: gettext_noop("ids"),
    EMPTY: gettext_noop("empty"),
    OTHER: gettext_noop("symbols"),
}


def _name_says_id(name: str) -> bool:
    folded = name.casefold()
    tokens = set(re.split(r"[\W_]+", folded))
    return bool(tokens & {"id", "no", "key", "uuid", "sku", "code"}) or "번호" in folded or "아이디" in folded


def _number_text(n: float) -> str:
    return f"{n:g}" if n != int(n) else str(int(n))


def _number_value(value: str) -> float | None:
    cleaned = re.sub(r"[\s$€£¥₩%,]", "", value.strip())
    try:
        return float(cleaned)
    except ValueError:
        return None


def column_look(name: str, values: Sequence[str | None]) -> ColumnLook:
    """Sort a column's sample cells into kinds."""
    kinds: Counter = Counter()
    low = high = None
    words = 0
    for value in values:
        kind = value_kind(value)
        kinds[kind] += 1
        if kind != EMPTY:
            words += len(value.split())
        if kind == NUMBER:
            number = _number_value(value)
            if number is not None:
                low = number if low is None else min(low, number)
                high = number if high is None else max(high, number)
    filled = sum(n for kind, n in kinds.items() if kind != EMPTY)
    return ColumnLook(
        name=name,
        kinds=kinds,
        numbers=None if low is None else (low, high),
        mean_words=words / filled if filled else 0.0,
    )


def name_says_text(name: str) -> bool:
    """Whether a column's name says it holds the text (review, comment, 리뷰, 내용, …), not a title."""
    folded = name.casefold()
    tokens = set(re.split(r"[\W_]+", folded))
    if any(word in tokens if word.isascii() else word in folded for word in NOT_TEXT_NAME_WORDS):
        return False
    return any(word in folded for word in TEXT_NAME_WORDS)


def columns_describe(looks: Sequence[ColumnLook]) -> Message:
    """List each column and what it holds: "when: dates; stars: numbers 1–5; id: ids"."""
    listed = None
    for look in looks:
        name = look.name or Message(gettext_noop("(no name)"))
        entry = Message(gettext_noop("%(name)s: %(holds)s"), {"name": name, "holds": look.describe()})
        listed = entry if listed is None else Message("%(first)s; %(then)s", {"first": listed, "then": entry})
    return listed or Message("")


def column_choose(
    headers: Sequence[str], rows: Sequence[Sequence[str | None]], wanted: str | None = None
) -> tuple[int, str]:
    """Choose the text column of a table from its header and sample rows: (its index, its name).

    `wanted` (the user's choice, any case) wins if it exists and does not hold
    only dates or numbers. Raises InputError when no column holds text,
    listing each column and what it holds.
    """
    names = [h.strip() for h in headers]
    looks = [
        column_look(name, [row[i] if i < len(row) else None for row in rows]) for i, name in enumerate(names)
    ]
    if wanted:
        folded = [n.casefold() for n in names]
        key = wanted.strip().casefold()
        if key not in folded:
            raise InputError(
                gettext_noop("There is no column %(wanted)s; the columns are: %(names)s."),
                params={"wanted": repr(wanted), "names": ", ".join(repr(n) for n in names)},
                code="no_such_column",
            )
        index = folded.index(key)
        look = looks[index]
        if look.filled and look.share(NUMBER, DATE) == 1.0:
            raise InputError(
                gettext_noop(
                    "Column %(column)s holds %(holds)s, not text: choose the column with "
                    "the texts. The columns are: %(columns)s."
                ),
                params={
                    "column": repr(names[index]),
                    "holds": look.describe(),
                    "columns": columns_describe(looks),
                },
                code="not_text_column",
            )
        return index, names[index]
    best = _best(looks, SENTENCE)
    if best is None:
        best = _best(looks, SENTENCE, WORD)
    if best is None:
        # A column named for text but empty in the sample (its texts may come
        # later; the worker names the rows without any) rather than a refusal.
        named = [i for i, look in enumerate(looks) if name_says_text(look.name) and not look.filled]
        best = named[0] if named else None
    if best is None:
        raise InputError(
            gettext_noop(
                "No column holds text to analyze. The columns are: %(columns)s. "
                "Upload a file with a column of texts (reviews, comments), or choose the column."
            ),
            params={"columns": columns_describe(looks)},
            code="no_text_column",
        )
    return best, names[best]


def _best(looks: Sequence[ColumnLook], *kinds: str) -> int | None:
    """The column most of whose cells are of these kinds, a name match breaking near ties."""
    scored = []
    for index, look in enumerate(looks):
        share = look.share(*kinds)
        if share < TEXT_SHARE:
            continue
        # Longer texts are the likelier reviews (a title or a product name is short): a small push.
        length = min(look.mean_words, 50) / 500
        scored.append((share + (NAME_BONUS if name_says_text(look.name) else 0.0) + length, -index))
    if not scored:
        return None
    _, negative_index = max(scored)
    return -negative_index
