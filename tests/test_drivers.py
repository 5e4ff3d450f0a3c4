"""What drives a job's sentiment: terms, their log-odds ranking, and the summary that keeps them."""

import random
import string
from collections import Counter

import pytest
from django.template.loader import render_to_string
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.builders import make_job, make_results, owner_session
from web import selectors, views
from web.models import Result
from worker import drivers, pipeline, summary
from worker.analyzers.base import Scores

NEGATIVE = [
    "The delivery was late and the box was crushed.",
    "Late delivery, poor quality.",
    "Not worth the money, it arrived late.",
    "Poor quality and too small.",
    "Broken on arrival, not worth it.",
    "The strap broke after a week: poor quality.",
]
POSITIVE = [
    "Great quality, fast delivery.",
    "Love it, great value.",
    "Fast shipping and a great fit.",
    "Perfect fit, love the colour.",
    "Great value for the money.",
]


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("The box was crushed.", ["box", "crushed"]),
        ("Not good at all", ["not", "good", "not good"]),
        ("It wasn't sealed", ["wasn't", "sealed", "wasn't sealed"]),
        ("It isn’t sealed", ["isn't", "sealed", "isn't sealed"]),
        # Punctuation ends a phrase: no "late poor".
        ("Late, poor quality!", ["late", "poor", "quality", "poor quality"]),
        ("A 5 star product 10/10", ["star", "product", "star product"]),
        ("", []),
    ],
)
def test_terms_are_words_and_phrases_of_a_clause_without_stop_words(text, terms):
    assert drivers.terms_latin(text) == terms


def test_a_term_found_only_in_negative_texts_leads_the_negative_side():
    ranked = drivers.drivers(
        [(t, "negative") for t in NEGATIVE * 5] + [(t, "positive") for t in POSITIVE * 5]
    )

    negative = [d["term"] for d in ranked["negative"]]
    positive = [d["term"] for d in ranked["positive"]]
    assert {"late", "poor quality"} <= set(negative)
    assert positive[0] == "great"
    assert not set(negative) & set(positive)
    # "delivery" is in both sides' texts: it does not set either apart.
    assert "delivery" not in negative + positive
    late = next(d for d in ranked["negative"] if d["term"] == "late")
    assert (late["negative"], late["positive"]) == (15, 0) and late["z"] >= drivers.MIN_Z


def test_sides_are_symmetric():
    ranked = drivers.drivers(
        [(t, "negative") for t in NEGATIVE * 5] + [(t, "positive") for t in POSITIVE * 5]
    )
    swapped = drivers.drivers(
        [(t, "positive") for t in NEGATIVE * 5] + [(t, "negative") for t in POSITIVE * 5]
    )

    assert [d["term"] for d in ranked["negative"]] == [d["term"] for d in swapped["positive"]]
    assert [d["z"] for d in ranked["negative"]] == [-d["z"] for d in swapped["positive"]]


def test_a_rare_term_is_not_ranked_however_lopsided():
    texts = [("Zipper jammed.", "negative"), ("Zipper jammed again.", "negative")]
    texts += [(t, "positive") for t in POSITIVE * 5] + [(t, "negative") for t in NEGATIVE * 5]

    ranked = drivers.drivers(texts)

    assert "jammed" not in [d["term"] for d in ranked["negative"]]


def test_a_text_counts_each_term_once():
    rant = ("awful " * 200).strip()
    counted = Counter()
    counted.update(drivers.text_terms(rant))

    assert counted["awful"] == 1
    assert counted["awful awful"] == 1


def test_neutral_texts_take_no_part_and_nothing_in_gives_nothing_out():
    assert drivers.drivers([]) == {"negative": [], "positive": []}
    assert drivers.drivers([(t, "neutral") for t in NEGATIVE * 5]) == {"negative": [], "positive": []}


def test_korean_texts_go_to_the_korean_terms_function_given():
    seen = []

    def terms_korean(text):
        seen.append(text)
        return ["배송", "늦다"]

    assert drivers.text_terms("배송이 늦어요", terms_korean=terms_korean) == {"배송", "늦다"}
    assert drivers.text_terms("late delivery", terms_korean=terms_korean) == {
        "late",
        "delivery",
        "late delivery",
    }
    assert seen == ["배송이 늦어요"]


def test_the_summary_keeps_the_drivers_and_the_extremes(db):
    job = make_job(texts=NEGATIVE * 5 + POSITIVE * 5 + ["The box is brown."])
    pipeline.job_process(job.pk)
    job.refresh_from_db()

    summary = job.summary
    assert "late" in [d["term"] for d in summary["drivers"]["negative"]]
    assert "great" in [d["term"] for d in summary["drivers"]["positive"]]
    worst = Result.objects.filter(job=job, label="negative").order_by("compound", "idx")[:5]
    best = Result.objects.filter(job=job, label="positive").order_by("-compound", "idx")[:5]
    assert [e["idx"] for e in summary["extremes"]["negative"]] == [r.idx for r in worst]
    assert [e["idx"] for e in summary["extremes"]["positive"]] == [r.idx for r in best]
    assert all(e["compound"] > 0 for e in summary["extremes"]["positive"])


def _scores(compound: float, label: str) -> Scores:
    return Scores(compound=compound, pos=0.0, neu=1.0, neg=0.0, label=label)


def _tied_results(n: int, *, seed: int) -> list[tuple[float, str]]:
    rng = random.Random(seed)
    scores, labels = [-0.99, -0.95, -0.9, 0.9, 0.95, 0.99], ["positive", "negative", "neutral"]
    return [(rng.choice(scores), rng.choice(labels)) for _ in range(n)]


# Results (compound, label) in idx order. The extremes are read from a window at each end of the
# scale first: ties and other labels that run past it must give what the full query gives.
EXTREME_CASES = {
    "ties run past the window": [(0.5, "positive")] * 3 + [(0.9, "positive")] * 30,
    "other labels fill the window": (
        [(0.99, "neutral")] * 25 + [(0.3, "positive")] * 7 + [(-0.99, "neutral")] * 25
    ),
    "fewer than five of a label": [(0.7, "positive"), (-0.2, "negative"), (0.1, "neutral")],
    "a tie on the window's edge": (
        [(0.8, "positive")] * 4 + [(0.6, "neutral")] * 15 + [(0.6, "positive")] * 3
    ),
    "random scores with many ties": _tied_results(300, seed=7),
}


@pytest.mark.parametrize("case", EXTREME_CASES)
def test_the_extremes_are_the_first_of_each_label_by_score_then_row(db, case):
    results = EXTREME_CASES[case]
    job = make_job(texts=[f"text {i}" for i in range(len(results))])
    make_results(
        job, [f"text {i}" for i in range(len(results))], scores=[_scores(c, lb) for c, lb in results]
    )

    extremes = summary.extremes_of(Result.objects.filter(job=job))

    for side, order in (("positive", ("-compound", "idx")), ("negative", ("compound", "idx"))):
        expected = Result.objects.filter(job=job, label=side).order_by(*order)[: summary.EXTREMES]
        assert [e["idx"] for e in extremes[side]] == [r.idx for r in expected], side


def test_an_extreme_text_is_clipped():
    assert summary._clipped("short") == "short"
    clipped = summary._clipped("x" * 1000)
    assert len(clipped) == summary.EXTREME_CHARS and clipped.endswith("…")


def test_a_big_job_is_sampled_across_all_its_rows(db, monkeypatch):
    monkeypatch.setattr(summary, "DRIVERS_SAMPLE", 20)
    # The first 40 negative texts say "late", the last 40 "broken": a sample of
    # the first rows alone would never see "broken".
    texts = ["It came late, sadly."] * 40 + ["It came broken, sadly."] * 40 + POSITIVE * 8
    job = make_job(texts=texts)
    pipeline.job_process(job.pk)
    job.refresh_from_db()

    negative = {d["term"]: d for d in job.summary["drivers"]["negative"]}
    assert negative["late"]["negative"] == negative["broken"]["negative"] == 10


def test_the_job_page_shows_what_drives_it_with_links_to_the_texts(db, client):
    job = make_job(session_key=owner_session(client), texts=NEGATIVE * 5 + POSITIVE * 5)
    pipeline.job_process(job.pk)

    content = client.get(f"/jobs/{job.pk}/").content.decode()

    assert "What drives it" in content
    assert '<a class="term" href="?q=poor%20quality#results">poor quality</a>' in content
    assert 'id="extremes-negative"' in content and 'id="extremes-positive"' in content


# --- the log-odds ranking itself ---------------------------------------------------------


@pytest.mark.parametrize(
    ("negative", "positive", "expected"),
    [
        # Only on one side, often: far past the threshold, on that side.
        ({"late": 20, "box": 10}, {"great": 20, "box": 10}, {"late": "negative", "great": "positive"}),
        # Evenly on both sides: no side.
        ({"box": 10, "late": 10}, {"box": 10, "great": 10}, {"box": None}),
        # Below the minimum count (3 texts altogether): not ranked at all, however lopsided.
        ({"zipper": 2, "late": 30}, {"great": 30}, {"zipper": "unranked"}),
        # Rare but lopsided: ranked, yet not reported (|z| under 1.96).
        ({"dent": 2, "late": 40}, {"dent": 1, "great": 40}, {"dent": None}),
    ],
)
def test_log_odds_ranks_each_term_on_its_side(negative, positive, expected):
    ranked = dict(drivers.log_odds(Counter(negative), Counter(positive)))

    for term, side in expected.items():
        if side == "unranked":
            assert term not in ranked
        elif side is None:
            assert abs(ranked[term]) < drivers.MIN_Z
        else:
            assert (ranked[term] >= drivers.MIN_Z) if side == "negative" else (ranked[term] <= -drivers.MIN_Z)


@pytest.mark.parametrize(("negative", "positive"), [({"text": 3}, {"text": 3}), ({"text": 6}, {}), ({}, {})])
def test_a_single_term_ranks_nothing(negative, positive):
    # One term in every text (six texts "text 0" ... "text 5") once divided by zero and failed the job.
    assert drivers.log_odds(Counter(negative), Counter(positive)) == []


@pytest.mark.parametrize("n", [5, 20, 80])
def test_more_evidence_gives_a_stronger_z(n):
    weaker = dict(drivers.log_odds(Counter({"late": n, "x": n}), Counter({"x": n, "great": n})))
    stronger = dict(drivers.log_odds(Counter({"late": 2 * n, "x": n}), Counter({"x": n, "great": n})))

    assert stronger["late"] > weaker["late"] > 0


# --- Korean terms (MeCab-ko) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "included", "excluded"),
    [
        # Particles go: 배송이, 배송은, 배송도 are all 배송; endings too: 늦어요 is 늦다.
        ("배송이 늦어요", {"배송", "늦다", "배송 늦다"}, {"배송이", "늦어요"}),
        ("배송은 빨랐어요", {"배송", "빠르다"}, {"배송은", "빨랐"}),
        ("배송도 엉망이에요", {"배송", "엉망"}, {"배송도"}),
        # A root with its 하다 is the adjective.
        ("포장이 깔끔하고 좋네요", {"포장", "깔끔하다", "좋다"}, {"깔끔"}),
        # Negation before the verb makes one term, and the bare verb is not counted.
        ("정말 안 좋아요", {"안 좋다"}, {"좋다"}),
        ("하나도 안 촉촉해요", {"안 촉촉하다"}, {"촉촉하다"}),
        ("못 먹겠어요", {"못 먹다"}, {"먹다"}),
        # ... and after it (-지 않다, -지 못하다).
        ("나쁘지 않아요", {"나쁘지 않다"}, {"나쁘다"}),
        ("좋지 못했어요", {"좋지 못하다"}, {"좋다"}),
        # Stop words go (하다, 것, 그냥); a clause ends at punctuation: no phrase across it.
        ("그냥 그런 것 같아요. 배송이 좋았어요", {"배송", "좋다", "배송 좋다"}, {"그냥", "것", "같다"}),
        ("사이즈가 작아요. 색이 예뻐요", {"사이즈 작다", "색 예쁘다"}, {"작다 색"}),
        # Latin words inside a Korean text: lower case, English stop words removed.
        ("The 케이스 is 최고", {"케이스", "최고"}, {"the", "is"}),
    ],
)
def test_korean_terms_are_stems_without_particles_or_endings(text, included, excluded):
    terms = drivers.text_terms(text)

    assert included <= terms
    assert not excluded & terms


def test_korean_reviews_are_counted_by_their_stems_across_endings():
    negative = ["배송이 너무 늦어요", "배송은 늦었고 포장도 별로", "배송도 늦네요", "또 배송이 늦었어요"]
    positive = ["맛있어요 최고", "정말 맛있네요", "최고예요 맛있어요", "맛있고 좋아요"]

    ranked = drivers.drivers(
        [(t, "negative") for t in negative * 3] + [(t, "positive") for t in positive * 3]
    )

    negative_terms = {d["term"]: d for d in ranked["negative"]}
    assert negative_terms["늦다"]["negative"] == 12
    assert negative_terms["배송"]["negative"] == 12
    assert "맛있다" in [d["term"] for d in ranked["positive"]]


# --- per group ----------------------------------------------------------------------------


def _grouped_job(session_key=None):
    """A finished job of a product,review table: product "mug" reviews complain of cracks, "bag" of zips."""
    mugs_bad = ["The mug arrived cracked, awful.", "Cracked mug, terrible packing.", "Awful: cracked again."]
    mugs_good = ["Lovely mug, great colour.", "Great mug, I love it."]
    bags_bad = ["The zip broke, awful bag.", "Terrible zip, broken in a week.", "Awful, the zip is broken."]
    bags_good = ["Great bag, lovely leather.", "I love this bag, great size."]
    rows = [("mug", t) for t in (mugs_bad + mugs_good) * 4] + [("bag", t) for t in (bags_bad + bags_good) * 4]
    rows += [(None, "Terrible, awful, broken."), (None, "Great, lovely.")]
    extra = {"session_key": session_key} if session_key else {}
    job = make_job(texts=[t for _, t in rows], columns=["product", "review"], text_column="review", **extra)
    pipeline.job_process(job.pk)
    for idx, (product, _) in enumerate(rows):
        Result.objects.filter(job=job, idx=idx).update(cells=[product, None], row=idx + 2)
    job.refresh_from_db()
    return job, rows


def test_a_groups_drivers_and_extremes_come_from_its_rows_alone(db):
    job, rows = _grouped_job()

    mugs = summary.group_details(job.pk, column=0, value="mug")
    bags = summary.group_details(job.pk, column=0, value="bag")
    empty = summary.group_details(job.pk, column=0, value="")

    assert mugs["count"] == bags["count"] == 20 and empty["count"] == 2
    mug_terms = [d["term"] for d in mugs["drivers"]["negative"]]
    bag_terms = [d["term"] for d in bags["drivers"]["negative"]]
    assert "cracked" in mug_terms and "zip" not in mug_terms
    assert "zip" in bag_terms and "cracked" not in bag_terms
    mug_rows = {i for i, (product, _) in enumerate(rows) if product == "mug"}
    for side in ("negative", "positive"):
        assert {e["idx"] for e in mugs["extremes"][side]} <= mug_rows
        assert all(e["row"] == e["idx"] + 2 for e in mugs["extremes"][side])
    worst = Result.objects.filter(job=job, idx__in=mug_rows, label="negative").order_by("compound", "idx")[:5]
    assert [e["idx"] for e in mugs["extremes"]["negative"]] == [r.idx for r in worst]
    assert [e["idx"] for e in empty["extremes"]["negative"]] == [len(rows) - 2]


def test_the_api_gives_one_groups_drivers_and_refuses_an_unknown_column(db, client):
    job, _ = _grouped_job(session_key=owner_session(client))

    answer = client.get(f"/api/jobs/{job.pk}/drivers/", {"by": "product", "group": "bag"})
    whole = client.get(f"/api/jobs/{job.pk}/drivers/")
    unknown = client.get(f"/api/jobs/{job.pk}/drivers/", {"by": "colour", "group": "red"})
    text_column = client.get(f"/api/jobs/{job.pk}/drivers/", {"by": "review", "group": "x"})
    no_group = client.get(f"/api/jobs/{job.pk}/drivers/", {"by": "product"})

    assert answer.status_code == 200
    body = answer.json()
    assert (body["by"], body["group"], body["count"]) == ("product", "bag", 20)
    assert "zip" in [d["term"] for d in body["drivers"]["negative"]]
    assert whole.status_code == 200 and whole.json()["count"] == 42
    assert whole.json()["drivers"] == job.summary["drivers"]
    for refused in (unknown, text_column, no_group):
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "invalid_parameter"
    assert "product" in unknown.json()["error"]["message"]


def test_a_groups_drivers_are_cached_in_redis_and_computed_without_it(db, client, monkeypatch):
    job, _ = _grouped_job(session_key=owner_session(client))
    first = selectors.group_drivers(job, by="product", group="mug")
    calls = []
    monkeypatch.setattr(
        selectors, "group_details", lambda *a, **k: calls.append(1) or summary.group_details(*a, **k)
    )

    assert selectors.group_drivers(job, by="product", group="mug") == first
    assert calls == []  # from Redis

    def redis_down():
        raise RedisConnectionError("down")

    monkeypatch.setattr(selectors, "get_redis", redis_down)
    assert selectors.group_drivers(job, by="product", group="mug") == first
    assert calls == [1]


def test_the_group_block_keeps_the_group_in_its_links(db):
    job, _ = _grouped_job()
    details = selectors.group_drivers(job, by="product", group="mug")

    html = render_to_string(
        "web/_drivers.html", {"block": views.drivers_block(details, by="product", group="mug")}
    )

    assert 'id="group-drivers-negative"' in html and 'id="group-extremes-negative"' in html
    assert 'href="?by=product&amp;group=mug&amp;q=cracked#results"' in html
    assert "“mug”" in html


def test_an_ascii_text_is_split_as_the_unicode_pattern_splits_it():
    # terms_latin's quicker pattern for ASCII texts must find exactly what the general one finds.
    rng = random.Random(7)
    alphabet = string.printable + "''''aaaeeeiii   "
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))).lower() for _ in range(2000)]
    texts += ["don't stop", "it's 5 o'clock!", "a_b c1d 'quoted' words'", "end.\nnew line; (paren) [x]"]

    for text in texts:
        assert drivers._ASCII_WORD_OR_CLAUSE_END.findall(text) == drivers._WORD_OR_CLAUSE_END.findall(text), (
            text
        )
