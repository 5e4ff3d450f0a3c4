"""Korean text as features a linear model can weigh: word pieces, with negation marked.

Korean glues endings and particles to its stems (좋아요, 좋지만, 좋았는데), so
whole words repeat too rarely to learn from. The pieces here are the
syllable 1- to 3-grams of each word (eojeol) with its edges marked (`<좋`,
`요>`), the joins between neighbouring words (`안_좋`), and a mark on the
word a negation governs: `안`/`못`/`별로`/`전혀`/`하나도` before it (`안
촉촉해요`), or `-지 않다`/`-지 못하다`/`-지 아니하다` after it (`나쁘지 않아요`).
The mark is the negated word's first one and two syllables (`NEG:촉`,
`NEG:촉촉`: roughly its stem), so "not moist" differs from "moist" for a
model that otherwise sees the same pieces.

Why no morphological analyzer: Kiwi (kiwipiepy 0.24.1, its `cong` model, the
only one kiwipiepy-model 0.24.0 ships) keeps 230-370 MB resident once it has
read a few hundred sentences, even without its typo and multi-word
dictionaries; beside the multilingual model that breaks the worker's 350 MB
budget. In the e5 analyzer's head its lemmas and negation scopes did no better
than these pieces (README, "Analyzers").
"""

from __future__ import annotations

import re
import unicodedata

HANGUL = re.compile(r"[\uac00-\ud7a3]")
# Words: runs of Hangul syllables and jamo (ㅋㅋ, ㅠㅠ), or of Latin letters and digits.
WORD = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]+|[a-z0-9]+")
# Three or more of one character say no more than two (ㅋㅋㅋㅋ, 너무너무: left alone).
REPEAT = re.compile(r"(.)\1{2,}")
# Words that negate the word after them.
NEGATORS = frozenset({"안", "못", "별로", "전혀", "하나도"})
# A word in -지 (-지도, -지는, …) negates itself when the next word begins with one of these.
NEGATED_BY_NEXT = ("않", "못", "안", "아니")
NEGATED_ENDING = re.compile(r"(지|지도|지는|진|질|지가)$")
LONGEST_PIECE = 3


def has_hangul(text: str) -> bool:
    """Return whether the text holds a Hangul syllable."""
    return HANGUL.search(text) is not None


def words(text: str) -> list[str]:
    """Return the text's words (eojeol), normalized: NFC, lower case, long repeats cut to two."""
    normalized = REPEAT.sub(r"\1\1", unicodedata.normalize("NFC", text).lower())
    return WORD.findall(normalized)


def features(text: str) -> list[str]:
    """Return the pieces of a Korean text (none for a text without Hangul), with negation marked."""
    if not has_hangul(text):
        return []
    ws = words(text)
    out = []
    for w in ws:
        edged = f"<{w}>"
        for n in range(1, LONGEST_PIECE + 1):
            out.extend(p for i in range(len(edged) - n + 1) if (p := edged[i : i + n]) not in ("<", ">"))
    for before, after in zip(ws, ws[1:], strict=False):
        out.append(f"{before[-1:]}_{after[:1]}")
        out.append(f"{before[-2:]}_{after[:2]}")
    for i, w in enumerate(ws[:-1]):
        following = ws[i + 1]
        if w in NEGATORS:
            out.extend((f"NEG:{following[:1]}", f"NEG:{following[:2]}", f"NEG{w}:{following[:2]}"))
        if following.startswith(NEGATED_BY_NEXT) and NEGATED_ENDING.search(w):
            out.extend((f"NEG:{w[:1]}", f"NEG:{w[:2]}"))
    return out
