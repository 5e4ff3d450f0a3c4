"""The language guess behind a job's warnings: a parametrized table, no database."""

import pytest

from worker.analyzers.registry import spec_get
from worker.languages import guess as language_guess
from worker.languages import language_mix, warnings_for


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("최악이에요 다시는 안 삽니다", "ko"),
        ("배송 빠르고 좋아요 ㅎㅎ", "ko"),
        ("Galaxy 버즈 음질이 별로예요", "ko"),  # a brand in Latin letters, the rest Korean
        ("I love it", "en"),
        ("The delivery was late and the box was crushed.", "en"),
        ("The 배송 was fast", "en"),  # one Korean word in an English sentence
        ("Das ist wirklich sehr schlecht", "latin"),
        ("Muy buen producto, llegó rápido", "latin"),
        ("これはとても良い商品です", "ja"),
        ("这个产品很好", "zh"),
        ("Очень плохо", "ru"),
        ("12345", None),
        ("😡😡😡", None),
        ("good", None),  # one word says too little
        ("", None),
    ],
)
def test_guess_tells_the_language_by_script_and_common_words(text, language):
    assert language_guess(text) == language


def test_mostly_korean_texts_warn_that_vader_cannot_read_them():
    mix = language_mix(["정말 좋아요", "최악이에요", "그냥 그래요", "I love it"])
    vader, e5 = spec_get("vader"), spec_get("e5")

    [warning] = warnings_for(mix, spec=vader, alternatives=[e5, vader])

    assert warning["code"] == "language_unread"
    assert "75% of these texts look Korean" in warning["message"]
    assert "reads only English" in warning["message"]
    assert str(e5.label) in warning["message"]  # the advice names the analyzer that reads them
    assert warnings_for(mix, spec=e5, alternatives=[e5, vader]) == []


def test_a_few_korean_texts_get_a_milder_warning_and_fewer_none():
    few = language_mix(["I love it"] * 8 + ["정말 좋아요"] * 2)
    fewer = language_mix(["I love it"] * 19 + ["정말 좋아요"])
    vader = spec_get("vader")

    [warning] = warnings_for(few, spec=vader, alternatives=[vader])

    assert warning["code"] == "language_partly_unread"
    assert "20% of these texts look Korean" in warning["message"]
    assert "Submit them again" not in warning["message"]  # no analyzer offered that reads them
    assert warnings_for(fewer, spec=vader, alternatives=[vader]) == []


def test_texts_that_cannot_be_placed_never_warn():
    mix = language_mix(["12345", "😀", "ok", "!!!"])

    assert warnings_for(mix, spec=spec_get("vader"), alternatives=[spec_get("e5")]) == []
