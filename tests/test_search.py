"""The job page's text search: bounded slices of the job's texts, and searching further from a cursor.

SEARCH_SECONDS = 0 makes every request read exactly one slice of
SEARCH_SLICE_ROWS texts (the first slice always runs), so a job of a few
hundred results stands in for a million that outlast the time budget.
"""

import html as html_lib
import re

import pytest

from tests.builders import browser, make_job, make_results, owner_session, vader_scores
from web import selectors, views
from web.models import Job

SLICE = 40
N = 300
# Every 7th text holds the word in some case; every 11th is Korean; the rest match nothing.
WORD_CASES = ("needle", "NEEDLE", "Needle in a haystack", "a neEdLe")


def text_of(i: int) -> str:
    if i % 7 == 3:
        return f"{WORD_CASES[i % 4]} number {i}"
    if i % 11 == 5:
        return f"배송이 빨라서 좋아요 {i}"
    return f"plain text {i} 100% sure_thing"


TEXTS = [text_of(i) for i in range(N)]


@pytest.fixture
def page(db):
    return browser()


@pytest.fixture
def sliced(sentimeter_settings):
    """Read one slice of SLICE texts a request."""
    sentimeter_settings["SEARCH_SECONDS"] = 0
    sentimeter_settings["SEARCH_SLICE_ROWS"] = SLICE
    return sentimeter_settings


def searched_job(client, texts=TEXTS) -> Job:
    job = make_job(texts=texts, status=Job.Status.SUCCEEDED, session_key=owner_session(client))
    make_results(job, texts)
    return job


def get(client, job: Job, query: str) -> str:
    response = client.get(f"/jobs/{job.pk}/{query}")
    assert response.status_code == 200
    return response.content.decode()


def shown(content: str) -> list[str]:
    table = content.split('class="results"')[1].split("</table>")[0]
    return [html_lib.unescape(t) for t in re.findall(r'<td class="text">([^<]*)</td>', table)]


def link(content: str, element_id: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)#results" id="{element_id}">', content)
    return html_lib.unescape(found.group(1)) if found else None


def text(content: str, element_id: str) -> str | None:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</p>', content, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found.group(1))).strip() if found else None


def search_all(client, job: Job, query: str) -> tuple[list[str], list[str]]:
    """Follow "Search further" from the first request to the job's end: every text shown, every scope line."""
    found, scopes = [], []
    url = query
    while url:
        content = get(client, job, url)
        found += shown(content)
        scopes.append(text(content, "search-scope"))
        url = link(content, "search-further")
    return found, scopes


def test_a_search_longer_than_its_budget_reads_one_slice_and_offers_to_go_on(page, sliced):
    job = searched_job(page)

    content = get(page, job, "?q=needle")

    assert shown(content) == [t for t in TEXTS[:SLICE] if "needle" in t.lower()]
    assert text(content, "search-scope") == f"Searched texts 1–{SLICE} of {N}. Search further"
    assert text(content, "result-count") == "Showing 1–6 of at least 6 matching results."
    assert link(content, "search-further") == f"?q=needle&from={SLICE}"
    assert link(content, "search-again") is None


def test_searching_further_finds_exactly_the_matches_in_order(page, sliced):
    job = searched_job(page)

    found, scopes = search_all(page, job, "?q=needle")

    assert found == [t for t in TEXTS if "needle" in t.lower()]
    assert len(scopes) == -(-N // SLICE)
    assert (
        scopes[1]
        == f"Searched texts {SLICE + 1}–{2 * SLICE} of {N}. Search further Search from the first text"
    )
    assert scopes[-1] == f"Searched texts {N // SLICE * SLICE + 1}–{N} of {N}. Search from the first text"


def test_a_continued_search_keeps_its_filters_and_start_in_its_links(page, sliced):
    job = searched_job(page)

    content = get(page, job, "?q=needle&label=neutral&sort=compound&from=80")

    assert link(content, "search-further") == "?label=neutral&q=needle&sort=compound&from=120"
    assert link(content, "search-again") == "?label=neutral&q=needle&sort=compound"
    results = {r.idx: r for r in job.results.all()}
    expected = sorted(
        (
            r
            for i, r in results.items()
            if 80 <= i < 120 and "needle" in r.text.lower() and r.label == "neutral"
        ),
        key=lambda r: (r.compound, r.idx),
    )
    assert shown(content) == [r.text for r in expected]


def test_a_search_sorted_by_score_sorts_the_texts_searched(page, sliced):
    scores = [round((i * 37 % 101) / 50.0 - 1.0, 4) for i in range(N)]
    job = make_job(texts=TEXTS, status=Job.Status.SUCCEEDED, session_key=owner_session(page))
    make_results(job, TEXTS, scores=[vader_scores(s) for s in scores])
    matches = [i for i in range(SLICE) if "needle" in TEXTS[i].lower()]

    most_positive = get(page, job, "?q=needle&sort=-compound")

    assert shown(most_positive) == [TEXTS[i] for i in sorted(matches, key=lambda i: (-scores[i], i))]


def test_a_search_with_no_match_anywhere_says_so_on_every_slice(page, sliced):
    job = searched_job(page)

    first = get(page, job, "?q=zzz")
    found, scopes = search_all(page, job, "?q=zzz")

    assert text(first, "result-count") == "No match in the texts searched so far."
    assert "No results containing “zzz”." in first
    assert found == []
    assert scopes[-1] == f"Searched texts {N // SLICE * SLICE + 1}–{N} of {N}. Search from the first text"


def test_a_search_within_its_budget_is_whole_and_exact(page, sentimeter_settings):
    sentimeter_settings["SEARCH_SLICE_ROWS"] = SLICE
    sentimeter_settings["SEARCH_SECONDS"] = 60  # every slice fits: the whole job in one request
    job = searched_job(page)

    content = get(page, job, "?q=needle")
    none = get(page, job, "?q=zzz")

    matches = [t for t in TEXTS if "needle" in t.lower()]
    assert shown(content) == matches[:50]
    assert text(content, "result-count") == f"Showing 1–{len(matches)} of {len(matches)} matching results."
    assert text(content, "search-scope") is None
    assert text(none, "result-count") == "No results match."
    assert text(none, "search-scope") is None


def test_korean_is_searched_across_slices(page, sliced):
    job = searched_job(page)

    found, _ = search_all(page, job, "?q=" + "배송")

    assert found == [t for t in TEXTS if "배송" in t]


@pytest.mark.parametrize("q", ["%", "_", "0% s"])
def test_like_wildcards_match_only_themselves(page, sliced, q):
    texts = ["50 percent", "100% sure", "a_b", "ab", "plain"] * 20
    job = searched_job(page, texts)

    found, _ = search_all(page, job, "?q=" + q.replace("%", "%25").replace(" ", "+"))

    assert found == [t for t in texts if q in t]


def test_a_frequent_word_stops_at_the_pages_cap_and_goes_on_from_the_next_match(
    page, sentimeter_settings, monkeypatch
):
    monkeypatch.setattr(views, "MAX_PAGES", 1)
    sentimeter_settings["SEARCH_SECONDS"] = 60
    texts = [f"plain {i}" if i % 3 else f"word {i}" for i in range(400)]
    job = searched_job(page, texts)
    matches = [t for t in texts if "word" in t]

    first = get(page, job, "?q=word")
    second = get(page, job, link(first, "search-further"))
    found, _ = search_all(page, job, "?q=word")

    # The 51st match is idx 150: the first request searched texts 1–150, holding exactly 50.
    assert shown(first) == matches[:50]
    assert link(first, "search-further") == "?q=word&from=150"
    assert text(first, "result-count") == "Showing 1–50 of more than 50 matching results."
    assert shown(second) == matches[50:100]
    assert found == matches


@pytest.mark.parametrize("start", ["100000", "-5", "abc"])
def test_a_start_out_of_range_searches_from_the_first_text(page, sliced, start):
    job = searched_job(page)

    content = get(page, job, f"?q=needle&from={start}")

    assert shown(content) == [t for t in TEXTS[:SLICE] if "needle" in t.lower()]
    assert text(content, "search-scope").startswith(f"Searched texts 1–{SLICE} of {N}.")


def test_the_scope_line_is_korean_for_a_korean_reader(sliced, db):
    client = browser(HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9")
    job = searched_job(client)

    content = get(client, job, "?q=zzz")

    assert text(content, "search-scope") == f"텍스트 {N}개 중 1–{SLICE}번째를 검색했습니다. 이어서 검색"
    assert text(content, "result-count") == "지금까지 검색한 텍스트에는 맞는 결과가 없습니다."


def test_results_search_reads_slices_until_its_time_is_spent(db):
    job = make_job(texts=TEXTS, status=Job.Status.SUCCEEDED)
    make_results(job, TEXTS)
    kwargs = {"job": job, "q": "needle", "cap": 1000, "slice_rows": SLICE}

    one = selectors.results_search(**kwargs, seconds=0)
    whole = selectors.results_search(**kwargs, seconds=60)
    later = selectors.results_search(**kwargs, seconds=0, start=one.end)

    needles = [i for i, t in enumerate(TEXTS) if "needle" in t.lower()]
    assert (one.start, one.end, one.span, one.complete) == (0, SLICE, N, False)
    assert one.matches == [i for i in needles if i < SLICE]
    assert (whole.end, whole.complete, whole.matches) == (N, True, needles)
    assert later.matches == [i for i in needles if SLICE <= i < 2 * SLICE]


def test_results_search_of_a_job_with_gaps_in_its_numbering(db):
    job = make_job(texts=TEXTS, status=Job.Status.CANCELED)
    make_results(job, TEXTS)
    job.results.filter(idx__gte=50, idx__lt=150).delete()

    scan = selectors.results_search(job=job, q="needle", cap=1000, slice_rows=SLICE, seconds=60)

    assert scan.matches == [i for i, t in enumerate(TEXTS) if "needle" in t.lower() and not 50 <= i < 150]
    assert scan.complete


def test_a_running_jobs_search_shows_the_latest_stored_first(page, sliced):
    job = make_job(texts=TEXTS, status=Job.Status.RUNNING, session_key=owner_session(page))
    make_results(job, TEXTS)

    content = get(page, job, "?q=needle")

    assert shown(content) == [t for t in TEXTS[:SLICE] if "needle" in t.lower()][::-1]
    assert link(content, "search-further") == f"?q=needle&from={SLICE}"
