"""Korean word pieces with negation marked (worker/korean.py): pure functions, no database."""

import unicodedata

import pytest

from worker import korean


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("배송 빨라요", True, id="hangul"),
        pytest.param("Great phone, 최고", True, id="mixed"),
        pytest.param("Great phone", False, id="english"),
        pytest.param("ㅋㅋㅋ", False, id="jamo-only"),
        pytest.param("", False, id="empty"),
    ],
)
def test_has_hangul_means_a_hangul_syllable(text, expected):
    assert korean.has_hangul(text) is expected


def test_words_are_normalized_and_long_repeats_cut_to_two():
    decomposed = unicodedata.normalize("NFD", "좋아요ㅋㅋㅋㅋ!!! 진짜 GOOD")

    assert korean.words(decomposed) == ["좋아요ㅋㅋ", "진짜", "good"]


def test_a_text_without_hangul_has_no_pieces():
    assert korean.features("Not good at all, I want a refund.") == []


def test_pieces_are_syllable_grams_with_word_edges_and_joins():
    pieces = korean.features("맛있어요 최고")

    assert {"맛", "<맛", "맛있", "<맛있", "있어요", "요>", "어요>", "<최고", "최고>"} <= set(pieces)
    assert {"요_최", "어요_최고"} <= set(pieces)
    assert not any(p.startswith("NEG") for p in pieces)


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        pytest.param("하나도 안 촉촉해요", "촉촉", id="an-before"),
        pytest.param("이 가격이면 못 먹어요", "먹어", id="mot-before"),
        pytest.param("맛이 별로 없어요", "없어", id="byeollo-before"),
        pytest.param("나쁘지 않아요", "나쁘", id="ji-anta-after"),
        pytest.param("생각보다 편하지도 않네요", "편하", id="jido-anta-after"),
        pytest.param("전혀 달지 않아요", "달지", id="jeonhyeo-before"),
    ],
)
def test_the_word_a_negation_governs_is_marked(text, negated):
    pieces = korean.features(text)

    assert f"NEG:{negated}" in pieces
    assert f"NEG:{negated[:1]}" in pieces


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("촉촉하고 좋아요", id="plain-praise"),
        pytest.param("안경 케이스도 같이 왔어요", id="an-inside-a-noun"),
        pytest.param("맛있지만 비싸요", id="ji-without-negation"),
    ],
)
def test_nothing_is_marked_without_a_negation(text):
    assert not any(p.startswith("NEG") for p in korean.features(text))


def test_a_negation_at_the_end_marks_nothing_and_fails_nothing():
    assert not any(p.startswith("NEG") for p in korean.features("좋아요 안"))
